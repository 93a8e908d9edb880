/**
 * SnapshotArena: one growable SharedArrayBuffer holding every snapshot segment.
 * `SnapshotArena.allocate(initial, max)` on main (the single writer); `SnapshotArena.attach(sab)`
 * in workers (read-only use). A growable SAB keeps one identity while it grows, so workers get it
 * once (workerData) and see growth without any message.
 */
import { MeshError } from '../errors';
import {
  ARENA_MAGIC, HEADER_BYTES, H_LAYOUT_VERSION, H_MAGIC, H_PUBLISHED_VERSION, H_ROOT_LENGTH, H_ROOT_OFFSET,
  LAYOUT_VERSION, SEGMENT_ALIGN, SegmentRef,
} from './layout';

type Growable = SharedArrayBuffer & { grow(n: number): void; readonly maxByteLength: number };

export class SnapshotArena {
  readonly sab: Growable;
  private readonly header: Int32Array;
  /** Free blocks, sorted by offset, never adjacent (coalesced). Main thread only. */
  private free: Array<{ offset: number; length: number }> = [];
  private top = HEADER_BYTES;
  private nextId = 1;
  private liveBytes = 0;

  private constructor(sab: Growable) {
    this.sab = sab;
    this.header = new Int32Array(sab, 0, HEADER_BYTES / 4);
  }

  static allocate(initialBytes: number, maxBytes: number): SnapshotArena {
    const SAB = SharedArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => Growable;
    const arena = new SnapshotArena(new SAB(Math.max(initialBytes, HEADER_BYTES * 2), { maxByteLength: maxBytes }));
    Atomics.store(arena.header, H_MAGIC, ARENA_MAGIC);
    Atomics.store(arena.header, H_LAYOUT_VERSION, LAYOUT_VERSION);
    return arena;
  }

  static attach(sab: SharedArrayBuffer): SnapshotArena {
    const arena = new SnapshotArena(sab as Growable);
    if (Atomics.load(arena.header, H_MAGIC) !== ARENA_MAGIC || Atomics.load(arena.header, H_LAYOUT_VERSION) !== LAYOUT_VERSION) {
      throw new MeshError('MESH_SNAPSHOT_DECODE', 'snapshot arena: bad magic or layout version');
    }
    return arena;
  }

  /** Copy `bytes` into a fresh segment. Main thread only. */
  write(bytes: Uint8Array): SegmentRef {
    const length = bytes.length;
    const need = Math.ceil(Math.max(length, 1) / SEGMENT_ALIGN) * SEGMENT_ALIGN;
    let offset = -1;
    for (let i = 0; i < this.free.length; i++) {
      const block = this.free[i]!;
      if (block.length >= need) {
        offset = block.offset;
        if (block.length === need) this.free.splice(i, 1);
        else { block.offset += need; block.length -= need; }
        break;
      }
    }
    if (offset < 0) {
      offset = this.top;
      this.ensureCapacity(offset + need);
      this.top += need;
    }
    new Uint8Array(this.sab, offset, length).set(bytes);
    this.liveBytes += need;
    return { id: this.nextId++, offset, length };
  }

  /** Return a segment's memory. Main thread only; the caller guarantees no live snapshot uses it. */
  release(seg: SegmentRef): void {
    const length = Math.ceil(Math.max(seg.length, 1) / SEGMENT_ALIGN) * SEGMENT_ALIGN;
    this.liveBytes -= length;
    let i = 0;
    while (i < this.free.length && this.free[i]!.offset < seg.offset) i++;
    this.free.splice(i, 0, { offset: seg.offset, length });
    // coalesce with the next, then the previous block
    const cur = this.free[i]!;
    const next = this.free[i + 1];
    if (next && cur.offset + cur.length === next.offset) { cur.length += next.length; this.free.splice(i + 1, 1); }
    const prev = this.free[i - 1];
    if (prev && prev.offset + prev.length === cur.offset) { prev.length += cur.length; this.free.splice(i, 1); }
    // give the tail back to the bump pointer
    const last = this.free[this.free.length - 1];
    if (last && last.offset + last.length === this.top) { this.top = last.offset; this.free.pop(); }
  }

  /** Make `root` the published snapshot (for observers; jobs carry their own root reference). */
  publishRoot(version: number, root: SegmentRef): void {
    Atomics.store(this.header, H_ROOT_OFFSET, root.offset);
    Atomics.store(this.header, H_ROOT_LENGTH, root.length);
    Atomics.store(this.header, H_PUBLISHED_VERSION, version);
  }

  publishedVersion(): number { return Atomics.load(this.header, H_PUBLISHED_VERSION); }

  /** Zero-copy view of a segment's bytes. */
  view(seg: { offset: number; length: number }): Uint8Array {
    if (seg.offset < HEADER_BYTES || seg.offset + seg.length > this.sab.byteLength) {
      throw new MeshError('MESH_SNAPSHOT_DECODE', `snapshot segment out of bounds: ${seg.offset}+${seg.length} > ${this.sab.byteLength}`);
    }
    return new Uint8Array(this.sab, seg.offset, seg.length);
  }

  stats(): { capacityBytes: number; maxBytes: number; usedBytes: number; liveBytes: number; freeBlocks: number } {
    return { capacityBytes: this.sab.byteLength, maxBytes: this.sab.maxByteLength, usedBytes: this.top, liveBytes: this.liveBytes, freeBlocks: this.free.length };
  }

  private ensureCapacity(end: number): void {
    if (end <= this.sab.byteLength) return;
    const max = this.sab.maxByteLength;
    if (end > max) throw new MeshError('MESH_SNAPSHOT_ARENA_FULL', `snapshot arena full: need ${end} bytes, max ${max} (raise --snapshotArenaMaxMB)`);
    this.sab.grow(Math.min(max, Math.max(end, Math.floor(this.sab.byteLength * 1.5))));
  }
}
