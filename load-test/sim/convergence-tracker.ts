/**
 * Per-worker convergence bookkeeping. The coordinator registers a marker before it applies a
 * change; from then on every accepted response of an expected proxy that is still pending is
 * scanned for the marker bytes (on the raw response: no decode). The ACK time of the first such
 * response is the proxy's convergence time for that change.
 *
 * Scanning cost does not grow with the number of markers in flight: markers come in families
 * that share a prefix and a length (markers.ts: IPs `10.2xx.1xx.1xx`, tokens `ltm…z`), so a
 * response is searched once per family for the prefix (Buffer.indexOf), and each hit is looked
 * up among the family's active markers. A proxy with nothing pending is not scanned at all.
 *
 * Markers of one chain (successive edits of the same object, seen in the same xDS type) are
 * ordered: a proxy that ACKs marker k has converged on every earlier marker j < k of the chain it
 * had not seen yet, because the config carrying k was generated from a state that already
 * included j (the debouncer may merge both edits into one push, and then j's bytes never reach
 * anyone).
 */
import { MarkerResult, MarkerWatch } from '../protocol';

interface Marker {
  readonly watch: MarkerWatch;
  /** 1 = expected and not converged yet, per local proxy */
  readonly pending: Uint8Array;
  readonly ackTimes: Float64Array;
  readonly expected: number;
  remaining: number;
}

interface Family {
  readonly prefix: Buffer;
  readonly length: number;
  /** marker text → marker, while it has pending proxies */
  readonly active: Map<string, Marker>;
}

const PREFIX_LENGTH = 4;

export class ConvergenceTracker {
  private readonly all: Marker[] = [];
  private readonly chains = new Map<string, Marker[]>();
  private readonly families = new Map<string, Family>();
  /** markers each local proxy still waits for */
  private readonly pendingPerProxy: Uint32Array;
  private convergedCount = 0;

  /** `namespaces[i]` is the namespace of local proxy i. */
  constructor(private readonly namespaces: readonly string[]) {
    this.pendingPerProxy = new Uint32Array(namespaces.length);
  }

  watch(w: MarkerWatch): void {
    if (w.marker.length < PREFIX_LENGTH) throw new RangeError(`marker '${w.marker}' is shorter than ${PREFIX_LENGTH} bytes`);
    const n = this.namespaces.length;
    const pending = new Uint8Array(n);
    const allowed = w.namespaces ? new Set(w.namespaces) : undefined;
    let expected = 0;
    for (let i = 0; i < n; i++) {
      if (!allowed || allowed.has(this.namespaces[i]!)) { pending[i] = 1; expected++; this.pendingPerProxy[i]!++; }
    }
    const m: Marker = { watch: w, pending, ackTimes: new Float64Array(n).fill(NaN), expected, remaining: expected };
    this.all.push(m);
    const chain = this.chains.get(w.chain) ?? [];
    chain.push(m);
    chain.sort((a, b) => a.watch.seq - b.watch.seq);
    this.chains.set(w.chain, chain);
    if (expected === 0) return;
    const key = `${w.marker.slice(0, PREFIX_LENGTH)}/${w.marker.length}`;
    let fam = this.families.get(key);
    if (!fam) {
      fam = { prefix: Buffer.from(w.marker.slice(0, PREFIX_LENGTH), 'latin1'), length: w.marker.length, active: new Map() };
      this.families.set(key, fam);
    }
    fam.active.set(w.marker, m);
  }

  /** Called for every response a proxy validated and ACKed. */
  onAccepted(local: number, raw: Buffer, ackAt: number): void {
    if (this.pendingPerProxy[local] === 0) return;
    for (const fam of this.families.values()) {
      if (fam.active.size === 0) continue;
      let at = raw.indexOf(fam.prefix);
      while (at >= 0 && at + fam.length <= raw.length) {
        const m = fam.active.get(raw.toString('latin1', at, at + fam.length));
        if (m && m.pending[local] === 1) this.converge(local, m, ackAt);
        at = raw.indexOf(fam.prefix, at + 1);
      }
    }
  }

  /** `m` was seen by `local`: it and every earlier pending marker of its chain converge now. */
  private converge(local: number, m: Marker, ackAt: number): void {
    for (const x of this.chains.get(m.watch.chain)!) {
      if (x.watch.seq > m.watch.seq) break;
      if (x.pending[local] !== 1) continue;
      x.pending[local] = 0;
      x.ackTimes[local] = ackAt;
      this.pendingPerProxy[local]!--;
      this.convergedCount++;
      if (--x.remaining === 0) {
        for (const fam of this.families.values()) if (fam.active.get(x.watch.marker) === x) fam.active.delete(x.watch.marker);
      }
    }
  }

  get converged(): number {
    return this.convergedCount;
  }

  results(): MarkerResult[] {
    return this.all.map((m) => ({
      changeId: m.watch.changeId,
      expected: m.expected,
      ackTimes: Array.from(m.ackTimes).filter((t) => !Number.isNaN(t)),
    }));
  }
}
