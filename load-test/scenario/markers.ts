/**
 * Fresh, unique marker values for changes. A marker must appear in the generated config only
 * once its change is in it, and must never be a substring of anything else the server sends:
 *
 * - Marker IPs live in 10.200.0.0–10.254.255.255 with every octet after the first three digits
 *   long (10.2xx.1xx.1xx). Mesh pod IPs use 10.1-199.x.x and cluster IPs 172.20.x.x, so no other
 *   address contains a marker, and a 3-digit octet cannot be the prefix of a longer one.
 * - Marker tokens are `ltm` + 7 base-36 digits + `z`: fixed width with a terminator, so no token
 *   is a prefix of another. They are valid DNS labels (DestinationRule subset names) and header
 *   values.
 * - Global tokens (the ServiceEntry host every proxy reads) are `ltg` + 7 base-36 digits + `z`:
 *   the same shape with their own prefix, so a worker can find them without scanning for the
 *   other tokens.
 */
/** prefix of every global marker (globalToken) */
export const GLOBAL_TOKEN_PREFIX = 'ltg';

const OCTET_SPAN = 155; // 100..254

export class MarkerAllocator {
  private ipSeq = 0;
  private tokenSeq = 0;
  private globalSeq = 0;

  /** A fresh endpoint IP that no other address contains. */
  ip(): string {
    const n = this.ipSeq++;
    const perSecond = OCTET_SPAN * OCTET_SPAN;
    const second = 200 + Math.floor(n / perSecond);
    if (second > 254) throw new RangeError('marker IP space exhausted (1.3 million changes)');
    return `10.${second}.${100 + (Math.floor(n / OCTET_SPAN) % OCTET_SPAN)}.${100 + (n % OCTET_SPAN)}`;
  }

  /** A fresh token (DNS label, header value). */
  token(): string {
    return `ltm${(this.tokenSeq++).toString(36).padStart(7, '0')}z`;
  }

  /** A fresh token for the global change (a DNS label). */
  globalToken(): string {
    return `${GLOBAL_TOKEN_PREFIX}${(this.globalSeq++).toString(36).padStart(7, '0')}z`;
  }
}
