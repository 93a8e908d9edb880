/**
 * The body of a config job, separate from the Piscina entry so benchmarks can run the exact same
 * code inline ("without the pool") and tests can call it directly.
 */
import { SnapshotReader } from '../shared/snapshot/snapshot-view';
import { ConfigGenToMain, GeneratedEntry, MainToConfigGen } from '../shared/protocol';
import { ErrorData } from '../shared/errors';
import { resourceEncodeCount } from '../shared/envoy/proto';
import { GENERATORS } from './generators/index';

export function runGeneration(
  reader: SnapshotReader,
  msg: MainToConfigGen,
  encode: (typeUrl: string, resource: Record<string, unknown>) => Uint8Array,
  hash: (bytes: Uint8Array) => string,
  toError: (e: unknown) => ErrorData,
): ConfigGenToMain {
  const snap = reader.open(msg.root);
  const generator = GENERATORS[msg.generator][msg.typeUrl];
  const errors: ErrorData[] = [];
  const encoded: Array<{ name: string; bytes: Uint8Array }> = [];
  if (generator) {
    for (const g of generator(snap, msg.context, msg.names)) {
      try {
        encoded.push({ name: g.name, bytes: encode(msg.typeUrl, g.resource) });
      } catch (e) {
        errors.push({ ...toError(e), message: `${g.name}: ${toError(e).message}` });
      }
    }
  }
  let total = 0;
  for (const e of encoded) total += e.bytes.length;
  const buffer = new ArrayBuffer(total);
  const view = new Uint8Array(buffer);
  const resources: GeneratedEntry[] = [];
  let offset = 0;
  for (const e of encoded) {
    view.set(e.bytes, offset);
    resources.push({ name: e.name, hash: hash(e.bytes), offset, length: e.bytes.length });
    offset += e.bytes.length;
  }
  const produced = new Set(resources.map((r) => r.name));
  return {
    id: msg.id,
    snapshotVersion: msg.snapshotVersion,
    buffer,
    resources,
    missing: msg.names ? msg.names.filter((n) => !produced.has(n)) : [],
    errors,
    workerEncodeCount: resourceEncodeCount(),
  };
}
