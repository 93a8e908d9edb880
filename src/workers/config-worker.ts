/**
 * Piscina entry of the config pool. Runs in a worker thread: opens the snapshot the job names
 * (zero-copy from the shared arena), runs the generator, encodes every resource as an `Any`,
 * hashes it, and returns all bytes in one transferred ArrayBuffer.
 *
 * Pure function of (snapshot version, request): no I/O, no env, no clock. The only state is the
 * decoded-segment cache, keyed by segment id (ids are never reused).
 */
import { workerData } from 'node:worker_threads';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { SnapshotArena } from '../shared/snapshot/arena';
import { SnapshotReader } from '../shared/snapshot/snapshot-view';
import { ConfigGenToMain, ConfigWorkerData, MainToConfigGen } from '../shared/protocol';
import { encodeAny, resourceEncodeCount } from '../shared/envoy/proto';
import { contentHash } from '../shared/hash';
import { toErrorData } from '../shared/errors';
import { runGeneration } from './run-generation';

let reader: SnapshotReader | undefined;

function getReader(): SnapshotReader {
  if (!reader) reader = new SnapshotReader(SnapshotArena.attach((workerData as ConfigWorkerData).arena));
  return reader;
}

export default function generate(msg: MainToConfigGen): ConfigGenToMain {
  const result = runGeneration(getReader(), msg, encodeAny, contentHash, toErrorData);
  // Transfer the bytes instead of copying them (Piscina's Transferable protocol).
  return move({ [transferableSymbol]: [result.buffer], [valueSymbol]: result } as never) as unknown as ConfigGenToMain;
}

export function encodeCount(): number { return resourceEncodeCount(); }
