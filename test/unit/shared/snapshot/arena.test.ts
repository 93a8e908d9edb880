import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { SnapshotArena } from '../../../../src/shared/snapshot/arena';
import { HEADER_BYTES, H_LAYOUT_VERSION, H_MAGIC, SEGMENT_ALIGN, SegmentRef } from '../../../../src/shared/snapshot/layout';
import { MeshError } from '../../../../src/shared/errors';

// ---- fixtures ------------------------------------------------------------------------------------

/** `length` bytes that start with `seed` and count up (mod 256), so two segments never look alike. */
function bytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (seed + i) & 0xff;
  return out;
}

const aligned = (n: number): number => Math.ceil(Math.max(n, 1) / SEGMENT_ALIGN) * SEGMENT_ALIGN;
const end = (seg: SegmentRef): number => seg.offset + aligned(seg.length);

function assertMeshError(code: string, fn: () => unknown, messageIncludes?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof MeshError, `expected a MeshError, got ${String(e)}`);
    assert.equal(e.code, code);
    if (messageIncludes) assert.match(e.message, new RegExp(messageIncludes));
    return true;
  });
}

// ---- write / release / reuse -------------------------------------------------------------------

describe('SnapshotArena allocation', () => {
  it('writes a segment after the header, aligned, and reads the same bytes back in place', () => {
    const arena = SnapshotArena.allocate(4096, 65536);
    const a = arena.write(bytes(13, 7));
    const b = arena.write(bytes(5, 99));
    assert.equal(a.offset, HEADER_BYTES);
    assert.equal(a.length, 13);
    assert.equal(b.offset % SEGMENT_ALIGN, 0);
    assert.equal(b.offset, HEADER_BYTES + aligned(13));
    assert.deepEqual(arena.view(a), bytes(13, 7));
    assert.deepEqual(arena.view(b), bytes(5, 99));
    assert.equal(arena.view(a).buffer, arena.sab, 'view is a window on the shared buffer, not a copy');
  });

  it('gives every segment a fresh id, even when it reuses freed memory', () => {
    const arena = SnapshotArena.allocate(4096, 65536);
    const a = arena.write(bytes(16));
    arena.write(bytes(16)); // keep a from being the tail
    arena.release(a);
    const c = arena.write(bytes(16));
    assert.equal(c.offset, a.offset);
    assert.notEqual(c.id, a.id);
  });

  it('reuses a freed block for a write that fits and splits off the rest', () => {
    const arena = SnapshotArena.allocate(4096, 65536);
    const a = arena.write(bytes(64, 1));
    const guard = arena.write(bytes(8, 2));
    arena.release(a);
    const small = arena.write(bytes(24, 3));
    assert.equal(small.offset, a.offset, 'first fit takes the freed block');
    const rest = arena.write(bytes(40, 4));
    assert.equal(rest.offset, a.offset + 24, 'the split-off remainder is used next');
    assert.equal(arena.stats().usedBytes, end(guard), 'the bump pointer did not move');
    assert.equal(arena.stats().freeBlocks, 0);
    assert.deepEqual(arena.view(guard), bytes(8, 2), 'neighbours are untouched');
  });

  it('does not place a segment in a free block that is too small', () => {
    const arena = SnapshotArena.allocate(4096, 65536);
    const a = arena.write(bytes(8));
    const guard = arena.write(bytes(8));
    arena.release(a);
    const big = arena.write(bytes(16));
    assert.equal(big.offset, end(guard));
    assert.equal(arena.stats().freeBlocks, 1);
  });

  it('coalesces a released block with free neighbours on both sides', () => {
    const arena = SnapshotArena.allocate(4096, 65536);
    const a = arena.write(bytes(16));
    const b = arena.write(bytes(24));
    const c = arena.write(bytes(8));
    const guard = arena.write(bytes(8));
    arena.release(a);
    arena.release(c);
    assert.equal(arena.stats().freeBlocks, 2);
    arena.release(b);
    assert.equal(arena.stats().freeBlocks, 1, 'a, b and c are one block');
    const whole = arena.write(bytes(16 + 24 + 8, 5));
    assert.equal(whole.offset, a.offset, 'a segment as big as a+b+c fits where a was');
    assert.equal(arena.stats().freeBlocks, 0);
    assert.equal(arena.stats().usedBytes, end(guard));
  });

  it('coalesces in whatever order blocks are released', () => {
    const arena = SnapshotArena.allocate(4096, 65536);
    const segs = [8, 16, 24, 32, 40].map((n, i) => arena.write(bytes(n, i)));
    arena.write(bytes(8)); // guard
    for (const i of [3, 0, 4, 2, 1]) arena.release(segs[i]!);
    assert.equal(arena.stats().freeBlocks, 1);
    assert.equal(arena.write(bytes(120)).offset, segs[0]!.offset);
  });

  it('gives a free tail back to the bump pointer, including blocks that coalesce into it', () => {
    const arena = SnapshotArena.allocate(4096, 65536);
    const a = arena.write(bytes(16));
    const b = arena.write(bytes(16));
    const c = arena.write(bytes(16));
    arena.release(b);
    assert.equal(arena.stats().usedBytes, end(c));
    arena.release(c);
    assert.deepEqual({ used: arena.stats().usedBytes, free: arena.stats().freeBlocks }, { used: end(a), free: 0 });
    arena.release(a);
    assert.deepEqual({ used: arena.stats().usedBytes, free: arena.stats().freeBlocks }, { used: HEADER_BYTES, free: 0 });
    assert.equal(arena.write(bytes(8)).offset, HEADER_BYTES);
  });

  it('counts live bytes in aligned units and returns to zero when everything is released', () => {
    const arena = SnapshotArena.allocate(4096, 65536);
    const segs = [1, 8, 9, 0, 100].map((n) => arena.write(bytes(n)));
    assert.equal(arena.stats().liveBytes, [1, 8, 9, 0, 100].reduce((s, n) => s + aligned(n), 0));
    for (const s of segs) arena.release(s);
    assert.equal(arena.stats().liveBytes, 0);
    assert.equal(arena.stats().usedBytes, HEADER_BYTES);
  });

  it('keeps reusing memory when the same amount is written and released over and over', () => {
    const arena = SnapshotArena.allocate(4096, 65536);
    const keep = arena.write(bytes(32));
    let prev = arena.write(bytes(200));
    const high = arena.stats().usedBytes;
    for (let i = 0; i < 500; i++) {
      const next = arena.write(bytes(200, i));
      arena.release(prev);
      prev = next;
    }
    assert.ok(arena.stats().usedBytes <= high + aligned(200), `arena crept to ${arena.stats().usedBytes} bytes`);
    assert.deepEqual(arena.view(keep), bytes(32));
  });
});

// ---- growth ------------------------------------------------------------------------------------

describe('SnapshotArena growth', () => {
  it('grows the same SharedArrayBuffer in place and keeps earlier segments intact', () => {
    const arena = SnapshotArena.allocate(256, 64 * 1024);
    const sab = arena.sab;
    const a = arena.write(bytes(100, 3));
    assert.equal(arena.stats().capacityBytes, 256);
    const big = arena.write(bytes(5000, 9));
    assert.equal(arena.sab, sab, 'one identity while growing');
    assert.ok(sab.byteLength >= end(big), `capacity ${sab.byteLength} < ${end(big)}`);
    assert.deepEqual(arena.view(a), bytes(100, 3));
    assert.deepEqual(arena.view(big), bytes(5000, 9));
  });

  it('grows up to exactly maxByteLength, then fails with MESH_SNAPSHOT_ARENA_FULL', () => {
    const max = 4096;
    const arena = SnapshotArena.allocate(256, max);
    const fill = arena.write(bytes(max - HEADER_BYTES));
    assert.equal(arena.stats().capacityBytes, max);
    assert.equal(end(fill), max);
    assertMeshError('MESH_SNAPSHOT_ARENA_FULL', () => arena.write(bytes(1)), 'arena full');
  });

  it('is still usable after a full error: the failed write reserved nothing', () => {
    const arena = SnapshotArena.allocate(256, 4096);
    const a = arena.write(bytes(1000));
    const before = arena.stats();
    assertMeshError('MESH_SNAPSHOT_ARENA_FULL', () => arena.write(bytes(5000)));
    assert.deepEqual(arena.stats(), before);
    arena.release(a);
    assert.equal(arena.write(bytes(3000)).offset, HEADER_BYTES, 'released memory serves the next write');
  });
});

// ---- attach / bounds ---------------------------------------------------------------------------

describe('SnapshotArena.attach', () => {
  it('rejects a buffer without the arena magic', () => {
    assertMeshError('MESH_SNAPSHOT_DECODE', () => SnapshotArena.attach(new SharedArrayBuffer(256)), 'bad magic');
  });

  it('rejects an arena of another layout version', () => {
    const arena = SnapshotArena.allocate(256, 4096);
    Atomics.store(new Int32Array(arena.sab, 0, 16), H_LAYOUT_VERSION, 999);
    assertMeshError('MESH_SNAPSHOT_DECODE', () => SnapshotArena.attach(arena.sab));
  });

  it('accepts a real arena and reads its segments and published version', () => {
    const arena = SnapshotArena.allocate(256, 4096);
    const seg = arena.write(bytes(20, 4));
    arena.publishRoot(7, seg);
    const attached = SnapshotArena.attach(arena.sab);
    assert.equal(attached.publishedVersion(), 7);
    assert.deepEqual(attached.view(seg), bytes(20, 4));
    assert.equal(Atomics.load(new Int32Array(arena.sab, 0, 16), H_MAGIC), 0x15710d75);
  });

  it('rejects views that reach into the header or past the end of the buffer', () => {
    const arena = SnapshotArena.allocate(256, 4096);
    assertMeshError('MESH_SNAPSHOT_DECODE', () => arena.view({ offset: 0, length: 8 }), 'out of bounds');
    assertMeshError('MESH_SNAPSHOT_DECODE', () => arena.view({ offset: HEADER_BYTES - 8, length: 8 }));
    assertMeshError('MESH_SNAPSHOT_DECODE', () => arena.view({ offset: 200, length: 57 }));
    assert.equal(arena.view({ offset: 200, length: 56 }).length, 56, 'a view ending exactly at byteLength is fine');
  });
});

// ---- a real worker thread ----------------------------------------------------------------------

type WorkerReply = { bytes?: number[]; byteLength?: number; version?: number; error?: { code: string; message: string } };

/** A worker that attaches the arena from workerData and answers read requests. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { SnapshotArena } = require(workerData.arenaModule);
let arena;
try { arena = SnapshotArena.attach(workerData.sab); } catch (e) { parentPort.postMessage({ error: { code: e.code, message: e.message } }); }
parentPort.on('message', (m) => {
  try {
    if (m.op === 'read') parentPort.postMessage({ bytes: Array.from(arena.view(m.seg)), byteLength: arena.sab.byteLength });
    else if (m.op === 'version') parentPort.postMessage({ version: arena.publishedVersion() });
    else if (m.op === 'poke') { new Uint8Array(workerData.sab)[m.offset] = m.value; parentPort.postMessage({}); }
  } catch (e) { parentPort.postMessage({ error: { code: e.code, message: e.message } }); }
});
`;

function startWorker(sab: SharedArrayBuffer): Worker {
  return new Worker(WORKER_SOURCE, { eval: true, workerData: { sab, arenaModule: require.resolve('../../../../src/shared/snapshot/arena') } });
}

function ask(worker: Worker, msg: unknown): Promise<WorkerReply> {
  return new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.postMessage(msg);
  });
}

describe('SnapshotArena shared with a worker thread', () => {
  let arena: SnapshotArena;
  let worker: Worker;

  before(() => {
    arena = SnapshotArena.allocate(256, 1024 * 1024);
    worker = startWorker(arena.sab);
  });
  after(async () => { await worker.terminate(); });

  it('sees bytes written on main after it attached, without any copy being sent', async () => {
    const seg = arena.write(bytes(40, 11));
    arena.publishRoot(3, seg);
    const reply = await ask(worker, { op: 'read', seg });
    assert.equal(reply.error, undefined);
    assert.deepEqual(reply.bytes, Array.from(bytes(40, 11)));
    assert.equal((await ask(worker, { op: 'version' })).version, 3);
  });

  it('shares the same memory both ways (a worker write is visible on main)', async () => {
    const seg = arena.write(bytes(8, 0));
    await ask(worker, { op: 'poke', offset: seg.offset + 2, value: 0xab });
    assert.equal(arena.view(seg)[2], 0xab);
  });

  it('sees the buffer grow and reads segments placed beyond the original capacity', async () => {
    const before = arena.sab.byteLength;
    const seg = arena.write(bytes(20_000, 42));
    assert.ok(arena.sab.byteLength > before && seg.offset + seg.length > before, 'the segment lies in grown memory');
    const reply = await ask(worker, { op: 'read', seg });
    assert.equal(reply.error, undefined);
    assert.equal(reply.byteLength, arena.sab.byteLength);
    assert.deepEqual(reply.bytes, Array.from(bytes(20_000, 42)));
  });

  it('rejects an out-of-bounds view in the worker as a decode error', async () => {
    const reply = await ask(worker, { op: 'read', seg: { offset: arena.sab.byteLength - 4, length: 8 } });
    assert.equal(reply.error?.code, 'MESH_SNAPSHOT_DECODE');
  });

  it('fails to attach in a worker given a buffer that is not an arena', async () => {
    const stranger = startWorker(new SharedArrayBuffer(128));
    try {
      const reply = await new Promise<WorkerReply>((resolve, reject) => { stranger.once('message', resolve); stranger.once('error', reject); });
      assert.equal(reply.error?.code, 'MESH_SNAPSHOT_DECODE');
    } finally {
      await stranger.terminate();
    }
  });
});
