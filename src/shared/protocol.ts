/**
 * Messages between the main thread and the pools, named by direction (piscina ResponseMessage,
 * synckit). Every job carries the snapshot version it reads and its root reference; errors cross
 * as data ({code, message}), never as thrown objects.
 */
import { ErrorData } from './errors';
import { GenContext } from './generation';
import { SegmentRef } from './snapshot/layout';
import { XdsTypeUrl } from './resources';

/** Data given to each config worker at start (Piscina workerData). */
export interface ConfigWorkerData {
  readonly arena: SharedArrayBuffer;
}

export interface MainToConfigGen {
  readonly id: number;
  readonly snapshotVersion: number;
  readonly root: SegmentRef;
  readonly typeUrl: XdsTypeUrl;
  /** projected context (only the fields the generator reads) */
  readonly context: Partial<GenContext>;
  readonly generator: GenContext['generator'];
  /** one facet of the type (GENERATOR_FACETS); absent = the whole type */
  readonly facet?: string;
  /** resource names wanted; null = every resource of the type (wildcard) */
  readonly names: readonly string[] | null;
}

export interface GeneratedEntry {
  readonly name: string;
  /** content hash of the encoded Any (Delta version) */
  readonly hash: string;
  readonly offset: number;
  readonly length: number;
  /** indices into ConfigGenToMain.deps: what this resource was built from */
  readonly deps: readonly number[];
}

export interface ConfigGenToMain {
  readonly id: number;
  readonly snapshotVersion: number;
  /** encoded `google.protobuf.Any` messages, back to back; `resources` index into it */
  readonly buffer: ArrayBuffer;
  readonly resources: readonly GeneratedEntry[];
  /** names that were asked for but do not exist in this snapshot, and what decided that */
  readonly missing: ReadonlyArray<{ readonly name: string; readonly deps: readonly number[] }>;
  /** dependency keys read by this job (see DependencyKey in snapshot-view.ts) */
  readonly deps: readonly string[];
  /** per-resource generation failures (the rest of the job still succeeded) */
  readonly errors: readonly ErrorData[];
  /** resources encoded by this worker so far (proves generation runs off the main thread) */
  readonly workerEncodeCount: number;
}
