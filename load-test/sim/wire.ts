/**
 * Just enough protobuf wire format for a simulated Envoy: a reader that walks the top-level
 * fields of a message without decoding it (the hot path reads DiscoveryResponse framing and
 * leaves the resources as byte ranges), and a writer for the small requests Envoy sends.
 *
 * Only the wire types xDS framing uses are written: varint (0) and length-delimited (2). The
 * reader also skips fixed32/fixed64 so any valid message can be walked.
 */

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

/** Thrown for bytes that are not a well-formed protobuf message. */
export class WireFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireFormatError';
  }
}

/**
 * Cursor over the fields of one message in `buf[start, end)`. After `next()` returns true,
 * `field` and `wireType` describe the field; a varint's value is in `value`, a length-delimited
 * field's payload is `buf[valueStart, valueEnd)`.
 */
export class WireReader {
  field = 0;
  wireType = 0;
  value = 0;
  valueStart = 0;
  valueEnd = 0;
  private pos: number;

  constructor(private readonly buf: Uint8Array, start = 0, private readonly end = buf.length) {
    this.pos = start;
  }

  next(): boolean {
    if (this.pos >= this.end) return false;
    const tag = this.varint();
    this.field = Math.floor(tag / 8);
    this.wireType = tag & 7;
    if (this.field === 0) throw new WireFormatError(`field number 0 at offset ${this.pos}`);
    switch (this.wireType) {
      case WIRE_VARINT:
        this.value = this.varint();
        break;
      case WIRE_LEN: {
        const len = this.varint();
        this.valueStart = this.pos;
        this.valueEnd = this.pos + len;
        if (this.valueEnd > this.end) throw new WireFormatError(`field ${this.field}: length ${len} runs past the end of the message`);
        this.pos = this.valueEnd;
        break;
      }
      case WIRE_FIXED64:
        this.skip(8);
        break;
      case WIRE_FIXED32:
        this.skip(4);
        break;
      default:
        throw new WireFormatError(`field ${this.field}: unsupported wire type ${this.wireType}`);
    }
    return true;
  }

  /** The current length-delimited payload as UTF-8. */
  string(): string {
    return Buffer.from(this.buf.buffer, this.buf.byteOffset + this.valueStart, this.valueEnd - this.valueStart).toString('utf8');
  }

  /** The current length-delimited payload, sharing memory with the input. */
  bytes(): Buffer {
    return Buffer.from(this.buf.buffer, this.buf.byteOffset + this.valueStart, this.valueEnd - this.valueStart);
  }

  private skip(n: number): void {
    if (this.pos + n > this.end) throw new WireFormatError('truncated fixed-width field');
    this.pos += n;
  }

  /** Varints up to 2^53 are exact; larger ones (never used for tags or lengths) lose precision. */
  private varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new WireFormatError('truncated varint');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    throw new WireFormatError('varint longer than 10 bytes');
  }
}

/** Appends fields to a growing list of chunks; `finish()` concatenates them once. */
export class WireWriter {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;

  string(field: number, value: string): this {
    if (value === '') return this; // proto3 default: not written
    return this.bytes(field, Buffer.from(value, 'utf8'));
  }

  /** Always written, even when empty (repeated strings keep empty entries). */
  repeatedString(field: number, values: readonly string[]): this {
    for (const v of values) this.bytes(field, Buffer.from(v, 'utf8'));
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.push(encodeVarint(field * 8 + WIRE_LEN));
    this.push(encodeVarint(value.length));
    this.push(value);
    return this;
  }

  /** A pre-framed run of fields (already tag + length encoded). */
  raw(framed: Uint8Array): this {
    this.push(framed);
    return this;
  }

  varint(field: number, value: number): this {
    if (value === 0) return this;
    this.push(encodeVarint(field * 8 + WIRE_VARINT));
    this.push(encodeVarint(value));
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.size += b.length;
  }
}

/** One-byte varints are most tags and lengths: share them. */
const SMALL_VARINTS: readonly Uint8Array[] = Array.from({ length: 128 }, (_, i) => Uint8Array.of(i));

export function encodeVarint(n: number): Uint8Array {
  if (n < 128) return SMALL_VARINTS[n]!;
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Uint8Array.from(out);
}
