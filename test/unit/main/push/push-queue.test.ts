import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { PushQueue } from '../../../../src/main/push/push-queue';
import { PushRequest } from '../../../../src/main/push/push-request';

function req(keys: string[], start = 0, reasons: PushRequest['reasons'] = { config: 1 }): PushRequest {
  return { configsUpdated: new Set(keys), endpointsOnly: false, reasons, start, forced: false };
}

test('dequeues connections in FIFO order', async () => {
  const q = new PushQueue<string>();
  q.enqueue('a', req(['x']));
  q.enqueue('b', req(['y']));
  assert.equal((await q.dequeue())!.conn, 'a');
  assert.equal((await q.dequeue())!.conn, 'b');
});

test('merges requests for a connection that is already pending', async () => {
  const q = new PushQueue<string>();
  q.enqueue('a', req(['x'], 5));
  q.enqueue('b', req(['y']));
  q.enqueue('a', req(['z'], 3, { endpoint: 2 }));
  assert.equal(q.pendingSize, 2);
  const first = (await q.dequeue())!;
  assert.equal(first.conn, 'a', 'a keeps its place in the queue');
  assert.deepEqual([...first.req.configsUpdated].sort(), ['x', 'z']);
  assert.equal(first.req.start, 3, 'earliest start wins');
  assert.deepEqual(first.req.reasons, { config: 1, endpoint: 2 });
});

test('a request for a connection being pushed is parked and re-queued on markDone', async () => {
  const q = new PushQueue<string>();
  q.enqueue('a', req(['x']));
  const item = (await q.dequeue())!;
  q.enqueue('a', req(['y']));
  q.enqueue('a', req(['z']));
  assert.equal(q.pendingSize, 0, 'not queued twice while in flight');
  q.markDone(item.conn);
  assert.equal(q.pendingSize, 1);
  const again = (await q.dequeue())!;
  assert.deepEqual([...again.req.configsUpdated].sort(), ['y', 'z'], 'follow-ups coalesced');
});

test('dequeue waits for work, and close releases waiters', async () => {
  const q = new PushQueue<string>();
  const waiting = q.dequeue();
  setImmediate(() => q.enqueue('late', req([])));
  assert.equal((await waiting)!.conn, 'late');
  const blocked = q.dequeue();
  q.close();
  assert.equal(await blocked, undefined);
});

test('idle resolves once nothing is pending or in flight', async () => {
  const q = new PushQueue<string>();
  q.enqueue('a', req([]));
  let idle = false;
  const p = q.idle().then(() => { idle = true; });
  const item = (await q.dequeue())!;
  await new Promise((r) => setImmediate(r));
  assert.equal(idle, false, 'still in flight');
  q.markDone(item.conn);
  await p;
  assert.equal(idle, true);
});

test('reports how long a connection waited in the queue', async () => {
  let now = 1000;
  const q = new PushQueue<string>(() => now);
  q.enqueue('a', req([]));
  now = 1250;
  q.enqueue('a', req([])); // merge does not reset the wait
  now = 1400;
  assert.equal((await q.dequeue())!.queuedMs, 400);
});

test('throttle: N workers never run more than N pushes at once', async () => {
  const q = new PushQueue<number>();
  const limit = 3;
  let active = 0;
  let peak = 0;
  let done = 0;
  const worker = async () => {
    for (;;) {
      const item = await q.dequeue();
      if (!item) return;
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 1 + (item.conn % 3)));
      active--;
      done++;
      q.markDone(item.conn);
    }
  };
  const workers = Array.from({ length: limit }, worker);
  for (let i = 0; i < 40; i++) q.enqueue(i, req([]));
  await q.idle();
  q.close();
  await Promise.all(workers);
  assert.equal(done, 40);
  assert.equal(peak, limit);
});
