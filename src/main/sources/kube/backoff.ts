/**
 * Jittered exponential backoff for API-server retries (client-go's wait.Backoff shape): the first
 * delay is `initialMs`, each failure multiplies it by `factor` up to `maxMs`, and every delay is
 * spread by ±`jitter` so replicas that lost the API server together do not return in lockstep.
 */
export interface BackoffOptions {
  /** first delay (default 200 ms) */
  initialMs?: number;
  /** ceiling (default 30 s) */
  maxMs?: number;
  /** growth per failure (default 2) */
  factor?: number;
  /** relative spread, 0..1 (default 0.2) */
  jitter?: number;
}

export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly factor: number;
  private readonly jitter: number;
  private nextMs: number;

  constructor(opts: BackoffOptions = {}) {
    this.initialMs = opts.initialMs ?? 200;
    this.maxMs = opts.maxMs ?? 30_000;
    this.factor = opts.factor ?? 2;
    this.jitter = opts.jitter ?? 0.2;
    if (!(this.initialMs >= 0)) throw new RangeError(`backoff.initialMs: expected a non-negative number, got ${opts.initialMs}`);
    if (!(this.maxMs >= this.initialMs)) throw new RangeError(`backoff.maxMs: expected at least initialMs (${this.initialMs}), got ${opts.maxMs}`);
    if (!(this.factor >= 1)) throw new RangeError(`backoff.factor: expected at least 1, got ${opts.factor}`);
    if (!(this.jitter >= 0 && this.jitter <= 1)) throw new RangeError(`backoff.jitter: expected 0..1, got ${opts.jitter}`);
    this.nextMs = this.initialMs;
  }

  /** The delay before the next attempt; grows the one after. */
  next(): number {
    const base = this.nextMs;
    this.nextMs = Math.min(this.maxMs, Math.max(1, this.nextMs * this.factor));
    const spread = base * this.jitter * (Math.random() * 2 - 1);
    return Math.max(0, Math.round(base + spread));
  }

  /** Back to the first delay (after a success). */
  reset(): void { this.nextMs = this.initialMs; }
}
