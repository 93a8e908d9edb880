/**
 * Bytes of the responses that carried byte-counted markers (MarkerWatch.bytes: the global
 * changes) to a worker's proxies: what the server wrote to each proxy for such a change, the
 * payload size the fan-out floor phase then writes (floor/floor-phase.ts).
 *
 * A response counts when it carries a counted marker newer (by watch seq) than any its proxy had
 * seen in that xDS type: the CDS, EDS and RDS responses of one push all count, a later SotW
 * response that merely still lists the same cluster does not. A push is counted once per proxy,
 * when the proxy first sees a newer marker in any type, so bytes / pushes is the mean per proxy
 * and push.
 */
import { MarkerBytes, MarkerWatch } from '../protocol';

const TYPES = 4;
const PREFIX_LENGTH = 3;

export class MarkerByteCounter {
  private readonly seqOf = new Map<string, number>();
  private prefix: Buffer | undefined;
  private length = 0;
  private readonly lastPerType: Float64Array;
  private readonly lastAny: Float64Array;
  private responses = 0;
  private bytes = 0;
  private pushes = 0;

  constructor(proxies: number) {
    this.lastPerType = new Float64Array(proxies * TYPES);
    this.lastAny = new Float64Array(proxies);
  }

  watch(w: MarkerWatch): void {
    if (!w.bytes) return;
    const prefix = w.marker.slice(0, PREFIX_LENGTH);
    if (this.prefix && (this.prefix.toString('latin1') !== prefix || this.length !== w.marker.length)) {
      throw new RangeError(`byte-counted markers must share a ${PREFIX_LENGTH}-byte prefix and a length: '${w.marker}' does not match '${this.prefix.toString('latin1')}…' (${this.length})`);
    }
    this.prefix = Buffer.from(prefix, 'latin1');
    this.length = w.marker.length;
    this.seqOf.set(w.marker, w.seq);
  }

  /** Called for every response a proxy validated and ACKed. */
  onAccepted(local: number, type: number, raw: Buffer): void {
    const prefix = this.prefix;
    if (!prefix) return;
    let best = 0;
    let at = raw.indexOf(prefix);
    while (at >= 0 && at + this.length <= raw.length) {
      const seq = this.seqOf.get(raw.toString('latin1', at, at + this.length));
      if (seq !== undefined && seq > best) best = seq;
      at = raw.indexOf(prefix, at + 1);
    }
    const slot = local * TYPES + type;
    if (best === 0 || best <= this.lastPerType[slot]!) return;
    this.lastPerType[slot] = best;
    this.responses++;
    this.bytes += raw.length;
    if (best > this.lastAny[local]!) { this.lastAny[local] = best; this.pushes++; }
  }

  get totals(): MarkerBytes {
    return { responses: this.responses, bytes: this.bytes, pushes: this.pushes };
  }
}
