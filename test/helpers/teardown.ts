/** Ordered cleanup for tests that start several processes and servers. */
import { TestContext } from 'node:test';

/**
 * Returns a function that registers closers. After the test they run last-registered first (so a
 * proxy stops before the server it talks to), every one of them even if some fail; the first
 * failure is then rethrown.
 */
export function teardown(t: TestContext): (close: () => unknown) => void {
  const closers: Array<() => unknown> = [];
  t.after(async () => {
    const errors: unknown[] = [];
    for (const close of closers.reverse()) await Promise.resolve().then(close).catch((e) => errors.push(e));
    if (errors.length > 0) throw errors[0];
  });
  return (close) => closers.push(close);
}
