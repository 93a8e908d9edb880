/**
 * Protobuf wire-format concatenation, so the main thread can assemble a DiscoveryResponse from
 * bytes the workers returned without encoding any resource: protobuf fields concatenate, so a
 * response is header fields + pre-encoded `Any` resources + nonce.
 *
 * Only length-delimited (wire type 2) fields are written here: strings and embedded messages.
 */

/** Bytes needed for an unsigned varint. */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) { n = Math.floor(n / 128); size++; }
  return size;
}

function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) { buf[pos++] = (n & 0x7f) | 0x80; n = Math.floor(n / 128); }
  buf[pos++] = n;
  return pos;
}

/** One length-delimited field: tag, length, payload. */
export type Field = { field: number; bytes: Uint8Array };

const encoder = new TextEncoder();

export function stringField(field: number, value: string): Field {
  return { field, bytes: encoder.encode(value) };
}

export function bytesField(field: number, bytes: Uint8Array): Field {
  return { field, bytes };
}

/** Size of a field once framed. */
export function framedSize(f: Field): number {
  return varintSize((f.field << 3) | 2) + varintSize(f.bytes.length) + f.bytes.length;
}

/** Concatenate framed fields into one buffer (a complete message body). */
export function concatFields(fields: readonly Field[]): Uint8Array {
  let total = 0;
  for (const f of fields) total += framedSize(f);
  const out = new Uint8Array(total);
  let pos = 0;
  for (const f of fields) {
    pos = writeVarint(out, pos, (f.field << 3) | 2);
    pos = writeVarint(out, pos, f.bytes.length);
    out.set(f.bytes, pos);
    pos += f.bytes.length;
  }
  return out;
}

/**
 * A message of string fields followed by an already framed block, written into one buffer with no
 * intermediate encodings (the per-stream part of every response; strings are UTF-8).
 */
export function stringFieldsThenBlock(strings: ReadonlyArray<readonly [field: number, value: string]>, block: Uint8Array): Buffer {
  let total = block.length;
  const lengths = strings.map(([field, value]) => {
    const len = Buffer.byteLength(value, 'utf8');
    total += varintSize((field << 3) | 2) + varintSize(len) + len;
    return len;
  });
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  strings.forEach(([field, value], i) => {
    pos = writeVarint(out, pos, (field << 3) | 2);
    pos = writeVarint(out, pos, lengths[i]!);
    pos += out.write(value, pos, 'utf8');
  });
  out.set(block, pos);
  return out;
}

