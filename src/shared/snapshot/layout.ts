/**
 * The shared-memory layout of the snapshot arena. Every offset and Int32 index is named here.
 *
 *   byte 0                                   64                                  byteLength
 *   ┌──────────────── header (Int32 x 16) ────┬──────── segments (flatbuffers) ──────────┐
 *   │ MAGIC VERSION PUBLISHED ROOT_OFF ROOT_LEN│ seg │ free │ seg │ seg │ ... │ top ...   │
 *   └─────────────────────────────────────────┴──────────────────────────────────────────┘
 *
 * Single writer: the main thread. It writes a segment's bytes into memory no published snapshot
 * references, and only then stores the new root in the header with Atomics. Readers (config
 * workers) are given the root reference in each job, so they never race with the header; the
 * header's PUBLISHED field is for health checks and debug views (Atomics.load).
 * A segment is freed only after no live snapshot version refers to it (refcounts on main).
 */
export const HEADER_BYTES = 64;
export const ARENA_MAGIC = 0x15710d75;
export const LAYOUT_VERSION = 1;

/** Int32 indices into the header. */
export const H_MAGIC = 0;
export const H_LAYOUT_VERSION = 1;
export const H_PUBLISHED_VERSION = 2;
export const H_ROOT_OFFSET = 3;
export const H_ROOT_LENGTH = 4;

/** Segment alignment in bytes (flatbuffers needs at most 8). */
export const SEGMENT_ALIGN = 8;

/** A segment's place in the arena; `id` is unique for the arena's lifetime (never reused). */
export interface SegmentRef {
  readonly id: number;
  readonly offset: number;
  readonly length: number;
}
