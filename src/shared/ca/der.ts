/**
 * The small part of ASN.1 DER that certificate signing needs, written for speed: a reader that
 * walks TLVs without copying (it hands back subarrays of the input) and a writer that builds
 * TLVs from byte arrays. Signing a workload certificate is a fixed template (see leaf-cert.ts),
 * so a general ASN.1 library is not on the hot path; @peculiar/x509 builds the rare, richer
 * certificates (roots) instead. Pure, no I/O.
 *
 * Invariants: the reader accepts DER only (definite lengths, minimal long-form lengths) and
 * never reads past its input; every failure is a DerError naming what was expected and where.
 */

export class DerError extends Error {
  constructor(message: string) { super(message); this.name = 'DerError'; }
}

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** One TLV: `tag`, its content (`value`) and the whole encoding (`raw`), both views of the input. */
export interface Tlv {
  readonly tag: number;
  readonly value: Uint8Array;
  readonly raw: Uint8Array;
}

/** Read the TLV at `offset` of `buf`; `end` is the offset after it. */
export function readTlv(buf: Uint8Array, offset = 0): Tlv & { end: number } {
  if (offset + 2 > buf.length) throw new DerError(`truncated DER at byte ${offset}`);
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-byte DER tags are not supported (byte ${offset})`);
  let len = buf[offset + 1]!;
  let pos = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw new DerError(`indefinite length is not DER (byte ${offset})`);
    if (n > 4) throw new DerError(`DER length too large (byte ${offset})`);
    if (pos + n > buf.length) throw new DerError(`truncated DER length at byte ${offset}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos + i]!;
    if (len < 0x80 || (n > 1 && buf[pos] === 0)) throw new DerError(`non-minimal DER length at byte ${offset}`);
    pos += n;
  }
  const end = pos + len;
  if (end > buf.length) throw new DerError(`DER value overruns its input at byte ${offset} (length ${len}, ${buf.length - pos} left)`);
  return { tag, value: buf.subarray(pos, end), raw: buf.subarray(offset, end), end };
}

/** The TLVs inside a constructed value (SEQUENCE, SET, [n] EXPLICIT). */
export function children(value: Uint8Array): Tlv[] {
  const out: Tlv[] = [];
  let pos = 0;
  while (pos < value.length) {
    const t = readTlv(value, pos);
    out.push(t);
    pos = t.end;
  }
  return out;
}

/** Read exactly one TLV spanning all of `buf` with the expected tag. */
export function readOnly(buf: Uint8Array, tag: number, what: string): Tlv {
  const t = readTlv(buf, 0);
  if (t.end !== buf.length) throw new DerError(`${what}: ${buf.length - t.end} trailing bytes`);
  expectTag(t, tag, what);
  return t;
}

export function expectTag(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t) throw new DerError(`${what}: missing`);
  if (t.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${t.tag.toString(16)}`);
  return t;
}

/** Dotted form of an OBJECT IDENTIFIER's content octets. */
export function decodeOid(value: Uint8Array): string {
  if (value.length === 0) throw new DerError('empty OBJECT IDENTIFIER');
  const parts: number[] = [];
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const b = value[i]!;
    n = n * 128 + (b & 0x7f);
    if (!(b & 0x80)) { parts.push(n); n = 0; }
  }
  if (value[value.length - 1]! & 0x80) throw new DerError('truncated OBJECT IDENTIFIER');
  const first = parts.shift()!;
  const a = first < 80 ? Math.floor(first / 40) : 2;
  return [a, first - a * 40, ...parts].join('.');
}

// ---- writer --------------------------------------------------------------------------------------

function lengthBytes(len: number): number[] {
  if (len < 0x80) return [len];
  const out: number[] = [];
  for (let l = len; l > 0; l = Math.floor(l / 256)) out.unshift(l & 0xff);
  return [0x80 | out.length, ...out];
}

/** Encode one TLV from a tag and content parts (concatenated). */
export function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const head = lengthBytes(len);
  const out = new Uint8Array(1 + head.length + len);
  out[0] = tag;
  out.set(head, 1);
  let pos = 1 + head.length;
  for (const p of parts) { out.set(p, pos); pos += p.length; }
  return out;
}

export const seq = (...parts: Uint8Array[]): Uint8Array => tlv(TAG.SEQUENCE, ...parts);

/** [n] EXPLICIT (context-specific, constructed). */
export const explicit = (n: number, ...parts: Uint8Array[]): Uint8Array => tlv(0xa0 | n, ...parts);

export function oid(dotted: string): Uint8Array {
  const nums = dotted.split('.').map(Number);
  const bytes: number[] = [nums[0]! * 40 + nums[1]!];
  for (const n of nums.slice(2)) {
    const enc: number[] = [n & 0x7f];
    for (let v = Math.floor(n / 128); v > 0; v = Math.floor(v / 128)) enc.unshift(0x80 | (v & 0x7f));
    bytes.push(...enc);
  }
  return tlv(TAG.OID, Uint8Array.from(bytes));
}

/** INTEGER from unsigned big-endian magnitude bytes (a 0x00 is prepended when the top bit is set). */
export function unsignedInteger(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const m = magnitude.subarray(start);
  return m[0]! & 0x80 ? tlv(TAG.INTEGER, Uint8Array.of(0), m) : tlv(TAG.INTEGER, m);
}

export const smallInteger = (n: number): Uint8Array => unsignedInteger(Uint8Array.of(n));
export const boolean = (v: boolean): Uint8Array => tlv(TAG.BOOLEAN, Uint8Array.of(v ? 0xff : 0));
export const octetString = (b: Uint8Array): Uint8Array => tlv(TAG.OCTET_STRING, b);
export const bitString = (b: Uint8Array, unusedBits = 0): Uint8Array => tlv(TAG.BIT_STRING, Uint8Array.of(unusedBits), b);
export const NULL = Uint8Array.of(TAG.NULL, 0);

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; always whole seconds, Z. */
export function time(d: Date): Uint8Array {
  const y = d.getUTCFullYear();
  const p2 = (n: number) => String(n).padStart(2, '0');
  const rest = `${p2(d.getUTCMonth() + 1)}${p2(d.getUTCDate())}${p2(d.getUTCHours())}${p2(d.getUTCMinutes())}${p2(d.getUTCSeconds())}Z`;
  if (y >= 1950 && y < 2050) return tlv(TAG.UTC_TIME, Buffer.from(p2(y % 100) + rest, 'latin1'));
  return tlv(TAG.GENERALIZED_TIME, Buffer.from(String(y).padStart(4, '0') + rest, 'latin1'));
}
