import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Clock, DebounceOptions, Debouncer } from '../../../../src/main/push/debounce';
import { PushRequest, TriggerReason } from '../../../../src/main/push/push-request';

// ---- fixtures ------------------------------------------------------------------------------------

/** A clock that only moves when told to; timers fire in due order, microtasks settle after each. */
class ManualClock implements Clock {
  private t = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number { return this.t; }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }
  clearTimeout(handle: unknown): void { this.timers.delete(handle as number); }
  pendingTimers(): number { return this.timers.size; }

  /** Move time forward by `ms`, firing every timer that falls due (including ones armed on the way). */
  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    await settle();
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= target && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
      await settle();
    }
    this.t = target;
    await settle();
  }
}

/** Let pending promise callbacks (the flush's `finally`) run. */
function settle(): Promise<void> { return new Promise((resolve) => setImmediate(resolve)); }

interface Flush { req: PushRequest; debounceMs: number; at: number }

/** A debouncer whose flushes are recorded; `gate()` makes the next flushes wait until `open()`. */
function harness(opts: Partial<DebounceOptions> = {}) {
  const clock = new ManualClock();
  const flushes: Flush[] = [];
  let gate: { promise: Promise<void>; open: () => void } | undefined;
  let running = 0;
  let maxRunning = 0;
  const debouncer = new Debouncer({ quietMs: 100, maxDelayMs: 1000, debounceEndpoints: true, clock, ...opts }, async (req, debounceMs) => {
    flushes.push({ req, debounceMs, at: clock.now() });
    running++;
    maxRunning = Math.max(maxRunning, running);
    try { if (gate) await gate.promise; } finally { running--; }
  });
  return {
    clock, flushes, debouncer,
    get maxRunning() { return maxRunning; },
    gate(): () => void {
      let open!: () => void;
      const promise = new Promise<void>((r) => { open = r; });
      gate = { promise, open };
      return () => { gate = undefined; open(); };
    },
  };
}

function request(clock: Clock, opts: { configs?: string[]; endpointsOnly?: boolean; reasons?: Partial<Record<TriggerReason, number>>; start?: number; forced?: boolean } = {}): PushRequest {
  const endpointsOnly = opts.endpointsOnly ?? false;
  return {
    configsUpdated: new Set(opts.configs ?? []),
    endpointsOnly,
    reasons: opts.reasons ?? { [endpointsOnly ? 'endpoint' : 'config']: 1 },
    start: opts.start ?? clock.now(),
    forced: opts.forced ?? false,
  };
}

// ---- quiet period and max delay ----------------------------------------------------------------

describe('Debouncer quiet period', () => {
  it('pushes after quietMs without events, not before', async () => {
    const h = harness();
    h.debouncer.push(request(h.clock, { configs: ['a'] }));
    await h.clock.advance(99);
    assert.equal(h.flushes.length, 0);
    await h.clock.advance(1);
    assert.equal(h.flushes.length, 1);
    assert.deepEqual({ at: h.flushes[0]!.at, debounceMs: h.flushes[0]!.debounceMs }, { at: 100, debounceMs: 100 });
    assert.deepEqual([...h.flushes[0]!.req.configsUpdated], ['a']);
  });

  it('restarts the quiet period at every event', async () => {
    const h = harness();
    h.debouncer.push(request(h.clock));
    await h.clock.advance(60);
    h.debouncer.push(request(h.clock));
    await h.clock.advance(99);
    assert.equal(h.flushes.length, 0, 'the second event at 60 moved the push to 160');
    await h.clock.advance(1);
    assert.deepEqual(h.flushes.map((f) => [f.at, f.debounceMs]), [[160, 160]]);
  });

  it('keeps delaying while events arrive, but never past maxDelayMs', async () => {
    const h = harness({ quietMs: 100, maxDelayMs: 1000 });
    for (let t = 0; t < 2500; t += 50) {
      h.debouncer.push(request(h.clock));
      await h.clock.advance(50);
      if (h.clock.now() < 1000) assert.equal(h.flushes.length, 0, `flushed early at ${h.clock.now()}`);
    }
    assert.deepEqual(h.flushes.map((f) => [f.at, f.debounceMs]), [[1000, 1000], [2000, 1000]]);
    assert.equal(h.flushes[0]!.req.reasons.config, 20, 'the events at 0..950 went into the first push');
  });

  it('does nothing without events', async () => {
    const h = harness();
    await h.clock.advance(60_000);
    assert.equal(h.flushes.length, 0);
    assert.equal(h.clock.pendingTimers(), 0);
  });
});

// ---- merging -----------------------------------------------------------------------------------

describe('Debouncer merging', () => {
  it('merges a batch: union of configs, summed reasons, earliest start, endpointsOnly only if all are', async () => {
    const h = harness();
    h.debouncer.push(request(h.clock, { configs: ['ns/a'], reasons: { config: 1 }, start: 5 }));
    await h.clock.advance(10);
    h.debouncer.push(request(h.clock, { configs: ['ns/b'], endpointsOnly: true, reasons: { endpoint: 2, config: 1 }, start: 3 }));
    h.debouncer.push(request(h.clock, { configs: ['ns/a', 'ns/c'], endpointsOnly: true, reasons: { service: 1 }, start: 12, forced: true }));
    await h.clock.advance(100);
    assert.equal(h.flushes.length, 1);
    const req = h.flushes[0]!.req;
    assert.deepEqual([...req.configsUpdated].sort(), ['ns/a', 'ns/b', 'ns/c']);
    assert.deepEqual(req.reasons, { config: 2, endpoint: 2, service: 1 });
    assert.equal(req.start, 3);
    assert.equal(req.endpointsOnly, false);
    assert.equal(req.forced, true);
    assert.equal(h.debouncer.stats.mergedEvents, 2);
  });

  it('keeps a batch endpoint-only when every request in it is', async () => {
    const h = harness();
    h.debouncer.push(request(h.clock, { endpointsOnly: true }));
    h.debouncer.push(request(h.clock, { endpointsOnly: true }));
    await h.clock.advance(100);
    assert.equal(h.flushes[0]!.req.endpointsOnly, true);
    assert.deepEqual(h.flushes[0]!.req.reasons, { endpoint: 2 });
  });
});

// ---- one flush at a time -----------------------------------------------------------------------

describe('Debouncer flush concurrency', () => {
  it('holds events that arrive during a slow flush and pushes them once it ends', async () => {
    const h = harness();
    const open = h.gate();
    h.debouncer.push(request(h.clock, { configs: ['first'] }));
    await h.clock.advance(100);
    assert.equal(h.flushes.length, 1);
    await h.clock.advance(50);
    h.debouncer.push(request(h.clock, { configs: ['x'] }));
    await h.clock.advance(50);
    h.debouncer.push(request(h.clock, { configs: ['y'] }));
    await h.clock.advance(5000);
    assert.equal(h.flushes.length, 1, 'no second flush while the first runs, even past maxDelayMs');
    open();
    await h.clock.advance(0);
    assert.equal(h.flushes.length, 2);
    assert.deepEqual([...h.flushes[1]!.req.configsUpdated].sort(), ['x', 'y']);
    assert.equal(h.flushes[1]!.at, 5200);
    assert.equal(h.maxRunning, 1);
  });

  it('gives events that arrived during a flush the rest of their quiet period', async () => {
    const h = harness();
    const open = h.gate();
    h.debouncer.push(request(h.clock));
    await h.clock.advance(100); // flush starts at 100
    await h.clock.advance(50);
    h.debouncer.push(request(h.clock, { configs: ['late'] })); // at 150
    await h.clock.advance(20);
    open(); // flush ends at 170
    await h.clock.advance(0);
    await h.clock.advance(79);
    assert.equal(h.flushes.length, 1, 'still quiet-waiting at 249');
    await h.clock.advance(1);
    assert.deepEqual(h.flushes.map((f) => f.at), [100, 250]);
  });

  it('keeps flushing normally after a flush that failed', async () => {
    const clock = new ManualClock();
    const seen: number[] = [];
    const d = new Debouncer({ quietMs: 100, maxDelayMs: 1000, debounceEndpoints: true, clock }, async () => {
      seen.push(clock.now());
      if (seen.length === 1) throw new Error('push failed');
    });
    d.push(request(clock));
    await clock.advance(100);
    d.push(request(clock));
    await clock.advance(100);
    assert.deepEqual(seen, [100, 200]);
  });
});

// ---- endpoint debounce switch ------------------------------------------------------------------

describe('Debouncer with debounceEndpoints=false', () => {
  it('pushes an endpoint-only request at once', () => {
    const h = harness({ debounceEndpoints: false });
    h.debouncer.push(request(h.clock, { endpointsOnly: true, configs: ['ep'] }));
    assert.equal(h.flushes.length, 1, 'flushed synchronously, no timer');
    assert.deepEqual([h.flushes[0]!.at, h.flushes[0]!.debounceMs, h.flushes[0]!.req.endpointsOnly], [0, 0, true]);
  });

  it('still debounces config requests', async () => {
    const h = harness({ debounceEndpoints: false });
    h.debouncer.push(request(h.clock, { configs: ['cfg'] }));
    assert.equal(h.flushes.length, 0);
    await h.clock.advance(100);
    assert.deepEqual(h.flushes.map((f) => [f.at, f.req.endpointsOnly]), [[100, false]]);
  });

  it('pushes an endpoint-only request at once even while a config batch waits for quiet', async () => {
    const h = harness({ debounceEndpoints: false });
    h.debouncer.push(request(h.clock, { configs: ['cfg'] }));
    await h.clock.advance(30);
    h.debouncer.push(request(h.clock, { configs: ['ep'], endpointsOnly: true }));
    await h.clock.advance(0);
    assert.deepEqual(h.flushes.map((f) => [f.at, [...f.req.configsUpdated]]), [[30, ['ep']]]);
    await h.clock.advance(70);
    assert.deepEqual(h.flushes.map((f) => [f.at, [...f.req.configsUpdated]]), [[30, ['ep']], [100, ['cfg']]], 'the config batch kept its own schedule');
  });

  it('holds endpoint-only requests during a running flush, merges them, and pushes them right after', async () => {
    const h = harness({ debounceEndpoints: false });
    const open = h.gate();
    h.debouncer.push(request(h.clock, { configs: ['cfg'] }));
    await h.clock.advance(100);
    h.debouncer.push(request(h.clock, { configs: ['e1'], endpointsOnly: true }));
    await h.clock.advance(10);
    h.debouncer.push(request(h.clock, { configs: ['e2'], endpointsOnly: true }));
    await h.clock.advance(10);
    assert.equal(h.flushes.length, 1);
    open();
    await h.clock.advance(0);
    assert.equal(h.flushes.length, 2);
    assert.deepEqual([...h.flushes[1]!.req.configsUpdated].sort(), ['e1', 'e2']);
    assert.deepEqual([h.flushes[1]!.at, h.flushes[1]!.debounceMs, h.flushes[1]!.req.endpointsOnly], [120, 20, true]);
    assert.equal(h.maxRunning, 1);
  });

  it('debounces endpoint-only requests when debounceEndpoints is true', async () => {
    const h = harness({ debounceEndpoints: true });
    h.debouncer.push(request(h.clock, { endpointsOnly: true }));
    assert.equal(h.flushes.length, 0);
    await h.clock.advance(100);
    assert.equal(h.flushes.length, 1);
  });
});

// ---- stop --------------------------------------------------------------------------------------

describe('Debouncer.stop', () => {
  it('drops the pending batch and its timer', async () => {
    const h = harness();
    h.debouncer.push(request(h.clock));
    await h.clock.advance(50);
    h.debouncer.stop();
    assert.equal(h.clock.pendingTimers(), 0);
    await h.clock.advance(10_000);
    assert.equal(h.flushes.length, 0);
  });

  it('drops what arrived during a running flush', async () => {
    const h = harness({ debounceEndpoints: false });
    const open = h.gate();
    h.debouncer.push(request(h.clock));
    await h.clock.advance(100);
    h.debouncer.push(request(h.clock));
    h.debouncer.push(request(h.clock, { endpointsOnly: true }));
    h.debouncer.stop();
    open();
    await h.clock.advance(10_000);
    assert.equal(h.flushes.length, 1);
  });
});
