/**
 * Protobuf encode benchmark: protobufjs reflection from our build-time descriptor (what the config
 * workers use: src/shared/envoy/proto.ts encodeAny / messageType) against pbjs-style static code.
 *
 * How to run (no npm script needed):
 *   npx tsc -p tsconfig.json
 *   node dist/bench/protobuf-encode.js [--quick]
 * Full run ~1 minute; --quick ~15 s. Prints markdown tables; never asserts.
 *
 * protobufjs-cli (pbjs) is not installed and is not to be installed, so bench/static-protobuf.ts
 * emits the static module the way pbjs -t static does (protobufjs's own code generators, printed to
 * a file under dist/bench/generated/ with direct `$root.x.y.Z` references) and loads it with
 * require. Methods compared per message:
 *   encodeAny             production path: fromObject + encode + wrap in google.protobuf.Any
 *   reflect fromObject+encode   the same without the Any wrapper
 *   reflect create+encode       Type.create over a message-shaped object (numeric enums, nested Any
 *                               already {type_url, value}) — what generators would have to emit to
 *                               skip fromObject
 *   reflect encode (pre-built)  encode only, message built by fromObject beforehand
 *   static fromObject+encode / static encode (pre-built)   the same on the static module
 * Samples are real generator output (bench/synthetic-mesh.ts, src/workers/generators): an outbound
 * Cluster with DestinationRule settings, the 0.0.0.0_80 Listener (HttpConnectionManager in an Any),
 * a RouteConfiguration with 20 virtual hosts and a ClusterLoadAssignment with 50 endpoints.
 */
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { SnapshotArena } from '../src/shared/snapshot/arena';
import { SnapshotWriter } from '../src/shared/snapshot/snapshot-writer';
import { SnapshotReader } from '../src/shared/snapshot/snapshot-view';
import { projectContext } from '../src/shared/generation';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL, MESSAGE_OF, XdsTypeUrl } from '../src/shared/resources';
import { encodeAny, envoyRoot, messageType } from '../src/shared/envoy/proto';
import { contentHash } from '../src/shared/hash';
import { GENERATORS } from '../src/workers/generators/index';
import { loadAssignment } from '../src/workers/generators/endpoints';
import { buildMesh, collect } from './synthetic-mesh';
import { emitStatic, loadStatic } from './static-protobuf';
import { bytes, flag, median, ms, table, tick } from './common';

type Obj = Record<string, unknown>;
const DESCRIPTOR = path.join(__dirname, '..', 'generated', 'envoy-descriptor.json');

interface Sample { label: string; typeUrl: XdsTypeUrl; resource: Obj }

/**
 * µs per call for several methods, interleaved so that GC and JIT drift hit all of them alike:
 * every method is warmed up for ~roundMs, then each round runs every method for ~roundMs (in a
 * rotating order); the result is each method's median round.
 */
function measureAll(fns: Array<() => Uint8Array>, roundMs: number, rounds: number): Array<{ us: number; size: number }> {
  const sizes = fns.map((fn) => fn().length);
  const perRound = fns.map((fn) => {
    const end = performance.now() + roundMs;
    let n = 0;
    while (performance.now() < end || n < 50) { fn(); n++; }
    return n;
  });
  const results: number[][] = fns.map(() => []);
  let sink = 0;
  for (let r = 0; r < rounds; r++) {
    for (let j = 0; j < fns.length; j++) {
      const k = (j + r) % fns.length;
      const fn = fns[k]!, n = perRound[k]!;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) sink += fn().length;
      results[k]!.push(((performance.now() - t0) * 1000) / n);
    }
  }
  if (sink < 0) console.log(sink);
  return fns.map((_, k) => ({ us: median(results[k]!), size: sizes[k]! }));
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

async function main(): Promise<void> {
  await tick();
  const quick = flag('quick');
  const roundMs = quick ? 40 : 150;
  const rounds = quick ? 5 : 9;
  const started = performance.now();
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const pbVersion = (require('protobufjs/package.json') as { version: string }).version;
  console.log(`# Protobuf encode benchmark (node ${process.version}, protobufjs ${pbVersion})`);
  console.log(`mode: ${quick ? 'quick' : 'full'}; per message, the methods run interleaved: ${rounds} rounds of ~${roundMs} ms each after a ${roundMs} ms warm-up; median round\n`);

  // ------------------------------------------------------------------ one-time costs (fresh roots)
  const fs = await import('node:fs');
  const descriptorText = fs.readFileSync(DESCRIPTOR, 'utf8');
  let t0 = performance.now();
  const json = JSON.parse(descriptorText);
  const parseMs = performance.now() - t0;
  t0 = performance.now();
  const freshRoot = protobuf.Root.fromJSON(json);
  const fromJsonMs = performance.now() - t0;

  // ------------------------------------------------------------------ samples from the generators
  // Service 1 (namespace "checkout", HTTP 80 + gRPC 9090, DestinationRule with LEAST_REQUEST,
  // connection pool and subsets, a VirtualService) gets 52 endpoints (50 healthy).
  const mesh = buildMesh({ services: 1000, endpointsOf: (i) => (i === 1 ? 52 : 4 + ((i * 5) % 14)) });
  const arena = SnapshotArena.allocate(32 * 1024 * 1024, 512 * 1024 * 1024);
  const writer = new SnapshotWriter(arena);
  const snap = writer.publish(mesh.input);
  const view = new SnapshotReader(arena).open(snap.root);
  const whole = mesh.scope(0); // sidecar, namespace frontend, no Sidecar resource: the whole mesh
  const svc1 = mesh.service(1, 0)!;
  const gen = GENERATORS.sidecar;
  const clusters = gen[CLUSTER_TYPE_URL]!(view, projectContext(whole, CLUSTER_TYPE_URL), null);
  const cluster = clusters.find((c) => c.name === `outbound|9090|v1|${svc1.hostname}`)!;
  const listeners = gen[LISTENER_TYPE_URL]!(view, projectContext(whole, LISTENER_TYPE_URL), null);
  const listener = listeners.find((l) => l.name === '0.0.0.0_80')!;
  const routes = gen[ROUTE_TYPE_URL]!(view, projectContext(whole, ROUTE_TYPE_URL), ['80'])[0]!.resource;
  const vhosts = routes['virtual_hosts'] as Obj[];
  const withRoutes = vhosts.filter((v) => (v['routes'] as Obj[]).length > 1 || (v['routes'] as Obj[])[0]!['name'] !== 'default');
  const picked = [...withRoutes.slice(0, 6), ...vhosts.filter((v) => !withRoutes.includes(v)).slice(0, 19 - Math.min(6, withRoutes.length)), vhosts[vhosts.length - 1]!];
  const route = { ...routes, virtual_hosts: picked };
  const cla = loadAssignment(view, 'frontend', `outbound|80||${svc1.hostname}`)!;
  const samples: Sample[] = [
    { label: `Cluster (EDS, LEAST_REQUEST, circuit breakers, HTTP/2 options Any)`, typeUrl: CLUSTER_TYPE_URL, resource: cluster.resource },
    { label: `Listener 0.0.0.0_80 (HttpConnectionManager Any, RDS)`, typeUrl: LISTENER_TYPE_URL, resource: listener.resource },
    { label: `RouteConfiguration (${picked.length} virtual hosts, ${collect(picked, 'match').length} routes)`, typeUrl: ROUTE_TYPE_URL, resource: route },
    { label: `ClusterLoadAssignment (${collect(cla, 'lb_endpoints').flat().length} endpoints, ${(cla['endpoints'] as unknown[]).length} localities)`, typeUrl: ENDPOINT_TYPE_URL, resource: cla },
  ];

  // first use of each type in the fresh root: protobufjs generates encoders for the closure
  const firstUse: Array<Array<string | number>> = [];
  for (const s of samples) {
    const T = freshRoot.lookupType(MESSAGE_OF[s.typeUrl]);
    const a = performance.now();
    T.encode(T.fromObject(s.resource)).finish();
    const first = performance.now() - a;
    const b = performance.now();
    T.encode(T.fromObject(s.resource)).finish();
    firstUse.push([s.label.split(' ')[0]!, ms(first), ms(performance.now() - b)]);
  }

  // static module
  const anyPayloads = new Set<string>();
  for (const u of collect([...clusters, ...listeners].map((g) => g.resource), '@type') as string[]) anyPayloads.add(u.slice(u.lastIndexOf('/') + 1));
  const entries = [...samples.map((s) => MESSAGE_OF[s.typeUrl]), ...anyPayloads, 'google.protobuf.Any'];
  const emitted = emitStatic(envoyRoot(), entries, path.join(__dirname, 'generated', 'envoy-static.js'));
  t0 = performance.now();
  const st = loadStatic(emitted.file);
  const loadMs = performance.now() - t0;
  const staticFirst: number[] = [];
  for (const s of samples) {
    const S = st[MESSAGE_OF[s.typeUrl]]!;
    const a = performance.now();
    S.encode(S.fromObject(s.resource)).finish();
    staticFirst.push(performance.now() - a);
  }

  console.log('## One-time costs\n');
  console.log(table(['step', 'ms', 'note'], [
    ['JSON.parse of the descriptor', ms(parseMs), `dist/generated/envoy-descriptor.json, ${bytes(descriptorText.length)}`],
    ['protobuf.Root.fromJSON', ms(fromJsonMs), 'reflection objects for every type in the descriptor'],
    ...firstUse.map((r) => [`first fromObject+encode, ${r[0]} (reflection)`, r[1]!, `generates encoder/decoder/converters for the type and its fields' types; second call ${r[2]} ms`]),
    ['emit static module (pbjs-style)', ms(emitted.emitMs), `${emitted.types} message types, ${bytes(emitted.sourceBytes)} of JS; a build step, not paid at run time`],
    ['require the static module', ms(loadMs), 'parse + compile'],
    ...samples.map((s, i) => [`first fromObject+encode, ${s.label.split(' ')[0]} (static)`, ms(staticFirst[i]!), '']),
  ], ['l', 'r', 'l']));
  console.log();

  // ------------------------------------------------------------------ per-message encode speed
  const rows: Array<Array<string | number>> = [];
  const checks: string[] = [];
  for (const s of samples) {
    const T = messageType(MESSAGE_OF[s.typeUrl]);
    const S = st[MESSAGE_OF[s.typeUrl]]!;
    const reflectBytes = T.encode(T.fromObject(s.resource)).finish();
    const prebuilt = T.fromObject(s.resource);
    // message-shaped plain object: numeric enums, nested Any as { type_url, value }
    const shaped = T.toObject(prebuilt, { enums: Number, longs: Number, bytes: Buffer as unknown as typeof String, defaults: false }) as Obj;
    const staticPrebuilt = S.fromObject(s.resource);
    const staticBytes = S.encode(staticPrebuilt).finish();
    const createBytes = T.encode(T.create(shaped)).finish();
    checks.push(`${s.label.split(' ')[0]}: static ${same(staticBytes, reflectBytes) ? 'identical' : 'DIFFERENT'}, create+encode ${same(createBytes, reflectBytes) ? 'identical' : 'DIFFERENT'}`);
    const methods: Array<[string, () => Uint8Array]> = [
      ['encodeAny (production)', () => encodeAny(s.typeUrl, s.resource)],
      ['reflect fromObject+encode', () => T.encode(T.fromObject(s.resource)).finish()],
      ['reflect create+encode', () => T.encode(T.create(shaped)).finish()],
      ['reflect encode (pre-built)', () => T.encode(prebuilt).finish()],
      ['static fromObject+encode', () => S.encode(S.fromObject(s.resource)).finish()],
      ['static encode (pre-built)', () => S.encode(staticPrebuilt).finish()],
    ];
    const measured = measureAll(methods.map((m) => m[1]), roundMs, rounds);
    const base = measured[0]!.us;
    methods.forEach(([name], k) => {
      const r = measured[k]!;
      rows.push([s.label, name, bytes(r.size), r.us.toFixed(2), Math.round(1e6 / r.us).toLocaleString('en-US'), `${(r.us / base).toFixed(2)}`]);
    });
    process.stderr.write(`  done: ${s.label.split(' ')[0]} (${((performance.now() - started) / 1000).toFixed(0)} s)\n`);
  }
  console.log('## Encode speed per message\n');
  console.log(table(['message', 'method', 'bytes', 'µs / msg', 'msgs / s', 'vs encodeAny'], rows, ['l', 'l', 'r', 'r', 'r', 'r']));
  console.log(`\nbyte-for-byte checks against reflection fromObject+encode: ${checks.join('; ')}\n`);

  // ------------------------------------------------------------------ where a generation's time goes
  // One whole-mesh sidecar proxy's CDS + EDS + LDS + RDS: generator (plain objects), encodeAny,
  // static fromObject+encode, content hash.
  const edsNames = clusters.filter((c) => c.resource['type'] === 'EDS').map((c) => c.name);
  const rdsNames = [...new Set(collect(listeners.map((l) => l.resource), 'route_config_name') as string[])];
  const types: Array<[XdsTypeUrl, readonly string[] | null]> = [[CLUSTER_TYPE_URL, null], [ENDPOINT_TYPE_URL, edsNames], [LISTENER_TYPE_URL, null], [ROUTE_TYPE_URL, rdsNames]];
  const breakdown: Array<Array<string | number>> = [];
  const reps = quick ? 3 : 7;
  for (const [t, names] of types) {
    const T = messageType(MESSAGE_OF[t]);
    const S = st[MESSAGE_OF[t]]!;
    const out = gen[t]!(view, projectContext(whole, t), names);
    const enc = out.map((g) => encodeAny(t, g.resource));
    // the encoders run interleaved, in a rotating order, so GC and JIT drift hit them alike
    const encoders: Array<() => void> = [
      () => { for (const g of out) encodeAny(t, g.resource); },
      () => { for (const g of out) T.encode(T.fromObject(g.resource)).finish(); },
      () => { for (const g of out) S.encode(S.fromObject(g.resource)).finish(); },
      () => { for (const e of enc) contentHash(e); },
      () => { gen[t]!(view, projectContext(whole, t), names); },
    ];
    const times: number[][] = encoders.map(() => []);
    for (let r = 0; r < reps; r++) {
      for (let j = 0; j < encoders.length; j++) {
        const k = (j + r) % encoders.length;
        const a = performance.now();
        encoders[k]!();
        times[k]!.push(performance.now() - a);
      }
    }
    const [anyT, reflT, statT, hashT, genT] = times.map((x) => median(x));
    breakdown.push([t.slice(t.lastIndexOf('.') + 1), out.length.toLocaleString('en-US'), bytes(enc.reduce((x, e) => x + e.length, 0)),
      ms(genT!), ms(anyT!), ms(reflT!), ms(statT!), ms(hashT!)]);
  }
  console.log('## One whole-mesh sidecar proxy (1,000 services): where generation time goes (ms, median)\n');
  console.log(table(['type', 'resources', 'bytes', 'generator (plain objects)', 'encodeAny', 'reflect fromObject+encode', 'static fromObject+encode', 'contentHash'], breakdown));
  console.log(`\nstatic module: ${path.relative(process.cwd(), emitted.file)} (${emitted.types} message types: the closure of the four samples and of every Any payload the generators emit)`);
  console.log(`total benchmark time ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
