/**
 * Envoy's reconnect policy for the ADS stream (JitteredExponentialBackOffStrategy, base 500 ms,
 * cap 30 s): attempt n waits a uniformly random time in [0, min(base * 2^n, cap)). "Full jitter"
 * spreads a fleet that lost its control plane at the same instant over the whole window, which
 * is what keeps a reconnect storm from arriving as one spike.
 */
export interface BackoffOptions { initialMs: number; maxMs: number }

export class Backoff {
  private attempt = 0;

  constructor(private readonly opts: BackoffOptions, private readonly random: () => number = Math.random) {
    if (!(opts.initialMs > 0)) throw new RangeError(`reconnect.initialMs: expected a positive number, got ${opts.initialMs}`);
    if (!(opts.maxMs >= opts.initialMs)) throw new RangeError(`reconnect.maxMs: expected a number >= initialMs, got ${opts.maxMs}`);
  }

  /** Delay before the next attempt; each call doubles the window up to the cap. */
  next(): number {
    const window = Math.min(this.opts.initialMs * 2 ** this.attempt, this.opts.maxMs);
    if (window < this.opts.maxMs) this.attempt++;
    return Math.floor(this.random() * window);
  }

  /** A stream that delivered a response counts as healthy: start over from the base window. */
  reset(): void {
    this.attempt = 0;
  }
}
