/**
 * The body of a config job, separate from the Piscina entry so benchmarks can run the exact same
 * code inline ("without the pool") and tests can call it directly.
 *
 * Dependencies: the snapshot view records what each generation reads. Named requests run the
 * generator once per name, so every resource carries exactly its own dependencies and a change
 * invalidates only the resources that read it.
 */
import { SnapshotReader } from '../shared/snapshot/snapshot-view';
import { ConfigGenToMain, GeneratedEntry, MainToConfigGen } from '../shared/protocol';
import { ErrorData } from '../shared/errors';
import { resourceEncodeCount } from '../shared/envoy/proto';
import { FACET_GENERATORS, GENERATORS } from './generators/index';
import { Generated } from './generators/types';

export function runGeneration(
  reader: SnapshotReader,
  msg: MainToConfigGen,
  encode: (typeUrl: string, resource: Record<string, unknown>) => Uint8Array,
  hash: (bytes: Uint8Array) => string,
  toError: (e: unknown) => ErrorData,
): ConfigGenToMain {
  const snap = reader.open(msg.root);
  const generator = msg.facet ? FACET_GENERATORS[msg.generator]?.[msg.typeUrl]?.[msg.facet] : GENERATORS[msg.generator][msg.typeUrl];
  const errors: ErrorData[] = [];
  const depList: string[] = [];
  const depIndex = new Map<string, number>();
  const indicesOf = (set: Set<string>): number[] => [...set].map((d) => {
    let i = depIndex.get(d);
    if (i === undefined) { i = depList.length; depList.push(d); depIndex.set(d, i); }
    return i;
  });
  const run = (names: readonly string[] | null): { out: Generated[]; deps: number[]; names: readonly string[] | null } => {
    const recorder = new Set<string>();
    snap.recorder = recorder;
    let out: Generated[];
    try {
      out = generator ? generator(snap, msg.context, names) : [];
      // A generator that builds its whole set regardless of names (sidecar LDS/CDS) must not
      // answer one name with everything.
      if (names !== null) out = out.filter((g) => names.includes(g.name));
    } finally {
      snap.recorder = undefined;
    }
    return { out, deps: indicesOf(recorder), names };
  };
  const batches = msg.names === null ? [run(null)] : msg.names.map((n) => run([n]));

  const encoded: Array<{ name: string; bytes: Uint8Array; deps: number[] }> = [];
  for (const b of batches) {
    for (const g of b.out) {
      try {
        encoded.push({ name: g.name, bytes: encode(msg.typeUrl, g.resource), deps: b.deps });
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
    resources.push({ name: e.name, hash: hash(e.bytes), offset, length: e.bytes.length, deps: e.deps });
    offset += e.bytes.length;
  }
  const produced = new Set(resources.map((r) => r.name));
  const missing = batches
    .filter((b) => b.names !== null && !produced.has(b.names[0]!))
    .map((b) => ({ name: b.names![0]!, deps: b.deps }));
  return {
    id: msg.id,
    snapshotVersion: msg.snapshotVersion,
    buffer,
    resources,
    missing,
    deps: depList,
    errors,
    workerEncodeCount: resourceEncodeCount(),
  };
}
