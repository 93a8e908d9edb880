/**
 * Connection admission (Istio's WaitForRequestLimit): a token bucket refilled at
 * PILOT_MAX_REQUESTS_PER_SECOND with capacity PILOT_PUSH_BURST (ours; Istio hard-codes 1). A new
 * stream waits at most `maxWaitMs` (Istio: 1 s) for a token and is otherwise refused with
 * RESOURCE_EXHAUSTED. Waiters are served FIFO; a rate of 0 disables the limit.
 */
import { Clock, realClock } from '../push/debounce';

export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly queue: Array<{ resolve: (ok: boolean) => void; deadline: number; timer: unknown }> = [];
  private timer: unknown;

  constructor(private readonly ratePerSec: number, private readonly burst: number, private readonly clock: Clock = realClock) {
    this.tokens = burst;
    this.last = clock.now();
  }

  /** Resolves true when a token was taken, false when none came within maxWaitMs. */
  acquire(maxWaitMs: number): Promise<boolean> {
    if (this.ratePerSec <= 0) return Promise.resolve(true);
    this.refill();
    if (this.queue.length === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => {
      const entry = { resolve, deadline: this.clock.now() + maxWaitMs, timer: undefined as unknown };
      entry.timer = this.clock.setTimeout(() => {
        const i = this.queue.indexOf(entry);
        if (i >= 0) { this.queue.splice(i, 1); resolve(false); }
      }, maxWaitMs);
      this.queue.push(entry);
      this.schedule();
    });
  }

  get waiting(): number { return this.queue.length; }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.ratePerSec);
    this.last = now;
  }

  private schedule(): void {
    if (this.timer !== undefined || this.queue.length === 0) return;
    const need = Math.max(0, 1 - this.tokens);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.refill();
      while (this.queue.length > 0 && this.tokens >= 1) {
        const e = this.queue.shift()!;
        this.clock.clearTimeout(e.timer);
        this.tokens -= 1;
        e.resolve(true);
      }
      this.schedule();
    }, Math.ceil((need / this.ratePerSec) * 1000));
  }
}
