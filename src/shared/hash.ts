/**
 * Content hashes of encoded resources. A resource's hash is its Delta xDS version and decides
 * "does this proxy need this resource again". 64 bits of SHA-1 printed as 16 hex digits: collision
 * odds are negligible at mesh scale, and node's crypto hashes small buffers in ~1 µs.
 */
import { createHash } from 'node:crypto';

export function contentHash(bytes: Uint8Array): string {
  return createHash('sha1').update(bytes).digest('hex').slice(0, 16);
}

/** Hash of a set of (name, hash) pairs, order-independent: the version of a whole SotW response. */
export function combineHashes(entries: Iterable<[string, string]>): string {
  const sorted = [...entries].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const h = createHash('sha1');
  for (const [name, hash] of sorted) h.update(name).update('\0').update(hash).update('\n');
  return h.digest('hex').slice(0, 16);
}
