/**
 * Polls `cond` until it returns true (or a truthy value), for tests that wait on real I/O such as
 * fs events. Rejects with `what` after `timeoutMs`, so a failure names the awaited condition.
 */
export async function waitFor<T>(cond: () => T | Promise<T>, timeoutMs = 5000, what = 'condition', intervalMs = 10): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      lastError = err; // e.g. a file read racing a write; keep polling
    }
    if (Date.now() >= deadline) {
      const cause = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Resolves after `ms`. Only for asserting that something does NOT happen within a window. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
