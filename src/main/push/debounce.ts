/**
 * Istio's debounce (pilot/pkg/xds/discovery.go): the first event of a batch arms a timer for
 * `quietMs` (PILOT_DEBOUNCE_AFTER); later events merge in. When the timer fires, the batch is
 * flushed if nothing arrived for quietMs or the batch is older than `maxDelayMs`
 * (PILOT_DEBOUNCE_MAX); otherwise the timer is re-armed for the rest of the quiet period.
 * Only one flush runs at a time: events arriving meanwhile wait for the next one. Endpoint-only
 * requests skip the wait when `debounceEndpoints` is false (PILOT_ENABLE_EDS_DEBOUNCE=false).
 * The clock is injected so tests never sleep.
 */
import { PushRequest, mergePushRequests } from './push-request';

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => { const t = setTimeout(fn, ms); t.unref?.(); return t; },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface DebounceOptions {
  quietMs: number;
  maxDelayMs: number;
  debounceEndpoints: boolean;
  clock?: Clock;
}

export interface DebounceStats { flushes: number; mergedEvents: number }

export class Debouncer {
  private pending?: PushRequest;
  /** endpoint-only requests that skip the debounce (debounceEndpoints false) */
  private pendingEds?: PushRequest;
  private edsFirstAt = 0;
  private lastEventAt = 0;
  private firstEventAt = 0;
  private timer: unknown;
  private flushing = false;
  private readonly clock: Clock;
  readonly stats: DebounceStats = { flushes: 0, mergedEvents: 0 };

  /** `onFlush` receives the merged request and how long the batch waited (ms). */
  constructor(private readonly opts: DebounceOptions, private readonly onFlush: (req: PushRequest, debounceMs: number) => Promise<void>) {
    this.clock = opts.clock ?? realClock;
  }

  push(req: PushRequest): void {
    const now = this.clock.now();
    if (!this.opts.debounceEndpoints && req.endpointsOnly) {
      // Istio pushes these at once, beside any config batch still waiting for quiet
      // (discovery.go debounce); they only wait for a flush already running.
      if (this.pendingEds) this.pendingEds = mergePushRequests(this.pendingEds, req);
      else { this.pendingEds = req; this.edsFirstAt = now; }
      if (!this.flushing) this.flushEds();
      return;
    }
    if (this.pending) {
      this.pending = mergePushRequests(this.pending, req);
      this.stats.mergedEvents++;
    } else {
      this.pending = req;
      this.firstEventAt = now;
    }
    this.lastEventAt = now;
    if (this.timer === undefined && !this.flushing) this.arm(this.opts.quietMs);
  }

  /** Drop pending work (shutdown). */
  stop(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
    this.pendingEds = undefined;
  }

  private arm(ms: number): void {
    this.timer = this.clock.setTimeout(() => { this.timer = undefined; this.tryFlush(); }, ms);
  }

  private tryFlush(): void {
    if (!this.pending || this.flushing) return;
    const now = this.clock.now();
    const quiet = now - this.lastEventAt;
    const age = now - this.firstEventAt;
    if (quiet < this.opts.quietMs && age < this.opts.maxDelayMs) {
      this.arm(Math.min(this.opts.quietMs - quiet, this.opts.maxDelayMs - age));
      return;
    }
    const req = this.pending;
    this.pending = undefined;
    this.run(req, age);
  }

  private flushEds(): void {
    const req = this.pendingEds!;
    this.pendingEds = undefined;
    this.run(req, this.clock.now() - this.edsFirstAt);
  }

  private run(req: PushRequest, waitedMs: number): void {
    this.flushing = true;
    this.stats.flushes++;
    this.onFlush(req, waitedMs).catch(() => { /* onFlush reports its own errors */ }).finally(() => {
      this.flushing = false;
      if (this.pendingEds) this.flushEds();
      else if (this.pending && this.timer === undefined) {
        // events arrived during the flush: they get their own quiet period from their last event
        const waited = this.clock.now() - this.lastEventAt;
        this.arm(Math.max(0, this.opts.quietMs - waited));
      }
    });
  }
}
