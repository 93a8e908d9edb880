import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { TokenBucket } from '../../../../src/main/xds/admission';
import { Clock } from '../../../../src/main/push/debounce';

/** A manual clock: timers fire only when the test advances time. */
class ManualClock implements Clock {
  t = 0;
  private timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private nextId = 1;
  now(): number { return this.t; }
  setTimeout(fn: () => void, ms: number): unknown { const id = this.nextId++; this.timers.push({ at: this.t + ms, fn, id }); return id; }
  clearTimeout(h: unknown): void { this.timers = this.timers.filter((x) => x.id !== h); }
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
      await Promise.resolve();
    }
    this.t = end;
    await Promise.resolve();
  }
}

test('admits a burst at once, then one stream per 1/rate seconds', async () => {
  const clock = new ManualClock();
  const bucket = new TokenBucket(10, 3, clock);
  const results: boolean[] = [];
  const all = Array.from({ length: 5 }, () => bucket.acquire(1000).then((ok) => { results.push(ok); return clock.t; }));
  await clock.advance(0);
  assert.equal(results.length, 3, 'burst of 3 admitted immediately');
  await clock.advance(100);
  assert.equal(results.length, 4);
  await clock.advance(100);
  const times = await Promise.all(all);
  assert.deepEqual(times, [0, 0, 0, 100, 200]);
  assert.ok(results.every(Boolean));
});

test("Istio's default burst of 1 serialises a storm; waiters past 1 s are refused", async () => {
  const clock = new ManualClock();
  const bucket = new TokenBucket(5, 1, clock); // 5 per second
  const outcomes = Array.from({ length: 10 }, () => bucket.acquire(1000));
  await clock.advance(1000);
  await clock.advance(1);
  const res = await Promise.all(outcomes);
  // t=0: 1 token; then at 200, 400, 600, 800 ms → 5 admitted before the 1 s deadline; the rest are refused
  assert.equal(res.filter(Boolean).length, 5);
  assert.equal(res.filter((ok) => !ok).length, 5);
  assert.equal(bucket.waiting, 0);
});

test('a rate of 0 disables admission control', async () => {
  const bucket = new TokenBucket(0, 1, new ManualClock());
  const res = await Promise.all(Array.from({ length: 100 }, () => bucket.acquire(1000)));
  assert.ok(res.every(Boolean));
});

test('tokens refill while idle, up to the burst', async () => {
  const clock = new ManualClock();
  const bucket = new TokenBucket(10, 2, clock);
  await bucket.acquire(1000);
  await bucket.acquire(1000);
  await clock.advance(5000);
  const a = bucket.acquire(1000), b = bucket.acquire(1000);
  let thirdDone = false;
  const c = bucket.acquire(1000).then((ok) => { thirdDone = true; return ok; });
  await clock.advance(0);
  assert.deepEqual(await Promise.all([a, b]), [true, true]);
  assert.equal(thirdDone, false, 'refill is capped at the burst');
  await clock.advance(100);
  assert.equal(await c, true);
});
