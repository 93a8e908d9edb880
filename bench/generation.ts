/**
 * Generation benchmark: what a full push to N proxies costs, with and without the config pool.
 *
 * How to run (no npm script needed):
 *   npx tsc -p tsconfig.json
 *   node dist/bench/generation.js [--services 1000] [--quick] [--threads N]
 *        [--proxies 100,1000,10000] [--scopes 1,10,50] [--throttle 100] [--naive-real 100]
 *        [--modes pool,inline,naive]
 * `--quick` (~25 s): proxies 100,1000 only; naive cost measured once per scope, no real naive run.
 * A full run takes about 2–2.5 minutes on 2 cores. It prints markdown tables and never asserts.
 *
 * What it does:
 * 1. Builds a synthetic mesh (bench/synthetic-mesh.ts: 1,000 services in 20 namespaces, 1–3
 *    ports each, 10,500 endpoints, VirtualServices/DestinationRules with subsets, Sidecars with
 *    egress host scoping) as a SnapshotInput and publishes it with SnapshotWriter into a
 *    SnapshotArena; then re-publishes after changing one service's endpoints / one VirtualService
 *    (segment reuse).
 * 2. Simulates N proxies spread round-robin over S distinct scopes (GenContext: namespace, Sidecar,
 *    own service, generator; every fifth scope is a proxyless gRPC client). Each proxy resolves what
 *    it subscribes to, in the server's push order, through GenerationService.resolve:
 *      sidecar: CDS (wildcard), EDS (its EDS clusters), LDS (wildcard), RDS (its route names);
 *      grpc:    CDS, EDS, LDS, RDS by name for 8 target services (what grpc-js-xds requests).
 *    At most --throttle proxies are in flight at once (PILOT_PUSH_THROTTLE's default, 100), each
 *    proxy's context object is rebuilt per request, and after every resolve the proxy registers
 *    with the answer group it got (GenerationService.watch), as the connection does.
 *    Modes:
 *      pool   GenerationService (keyed cache + in-flight dedupe) on a real Piscina config pool
 *      inline the same GenerationService, but its "pool" runs runGeneration on the main thread
 *      naive  no key sharing: every proxy's resources generated inline, once per proxy. Measured
 *             once per scope (one proxy of each scope) and extrapolated to N proxies; with
 *             --naive-real N' a real per-proxy naive run checks the extrapolation at N'.
 *    Every case gets a fresh GenerationService (an empty cache, as after a push-all change); the
 *    pool, its workers' decoded-segment caches and protobufjs codegen stay warm across cases.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { execSync } from 'node:child_process';
import { SnapshotArena } from '../src/shared/snapshot/arena';
import { SnapshotWriter } from '../src/shared/snapshot/snapshot-writer';
import { SnapshotReader, SnapshotView } from '../src/shared/snapshot/snapshot-view';
import { SegmentRef } from '../src/shared/snapshot/layout';
import { GenContext, projectContext } from '../src/shared/generation';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL, XdsTypeUrl } from '../src/shared/resources';
import { SnapshotInput } from '../src/shared/model/service';
import { ConfigGenToMain, MainToConfigGen } from '../src/shared/protocol';
import { encodeAny, resourceEncodeCount } from '../src/shared/envoy/proto';
import { contentHash } from '../src/shared/hash';
import { toErrorData } from '../src/shared/errors';
import { createConfigPool, ConfigPool } from '../src/main/pools/config-pool';
import { GenerationService, Resolved, subscriptionToken } from '../src/main/push/generation-service';
import { runGeneration } from '../src/workers/run-generation';
import { GENERATORS } from '../src/workers/generators/index';
import { buildMesh, collect, NAMESPACES } from './synthetic-mesh';
import { bytes, flag, int, Meter, median, ms, option, optionList, secs, table, tick, Usage } from './common';

function sourceState(): string {
  try {
    const repo = path.join(__dirname, '..', '..'); // dist/bench → repository root
    const head = execSync('git rev-parse --short HEAD', { cwd: repo, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const dirty = execSync('git status --porcelain -- src', { cwd: repo, stdio: ['ignore', 'pipe', 'ignore'] }).toString().split('\n').filter(Boolean).length;
    return `${head}${dirty ? ` + ${dirty} uncommitted path(s) under src/` : ''}`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

/** Push order of the server (PUSH_ORDER without SDS). */
const TYPES: readonly XdsTypeUrl[] = [CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL];

/** What one proxy of a scope subscribes to, per type (null = wildcard). */
type Subscriptions = Record<string, readonly string[] | null>;

interface Scope { ctx: GenContext; subs: Subscriptions; kind: string }

function scopeKind(ctx: GenContext): string {
  if (ctx.generator === 'grpc') return 'grpc (named, 8 targets)';
  return ctx.sidecar ? 'sidecar + Sidecar egress scope' : 'sidecar, whole mesh';
}

/** Derive the names a real client would request, from the generators' plain output (untimed). */
function subscriptionsFor(view: SnapshotView, ctx: GenContext, i: number, mesh: ReturnType<typeof buildMesh>): Subscriptions {
  const gen = GENERATORS[ctx.generator];
  const run = (t: XdsTypeUrl, names: readonly string[] | null) => gen[t]!(view, projectContext(ctx, t), names);
  if (ctx.generator === 'sidecar') {
    const clusters = run(CLUSTER_TYPE_URL, null);
    const eds = clusters.filter((c) => c.resource['type'] === 'EDS').map((c) => c.name);
    const listeners = run(LISTENER_TYPE_URL, null);
    const rds = [...new Set(collect(listeners.map((l) => l.resource), 'route_config_name') as string[])].sort();
    return { [CLUSTER_TYPE_URL]: null, [ENDPOINT_TYPE_URL]: eds, [LISTENER_TYPE_URL]: null, [ROUTE_TYPE_URL]: rds };
  }
  // proxyless gRPC: 8 targets, 4 services of its own namespace and 4 of the next one
  const nsIndex = NAMESPACES.indexOf(ctx.namespace);
  const targets: string[] = [];
  for (const n of [nsIndex, (nsIndex + 1) % NAMESPACES.length]) {
    for (let k = 0; k < 4; k++) {
      const svc = mesh.service(n, (k + i) % 20);
      if (svc) targets.push(`${svc.hostname}:${svc.ports[0]!.port}`);
    }
  }
  const listeners = run(LISTENER_TYPE_URL, targets);
  const lds = listeners.map((l) => l.name);
  const rds = [...new Set(collect(listeners.map((l) => l.resource), 'route_config_name') as string[])].sort();
  const routes = run(ROUTE_TYPE_URL, rds).map((r) => r.resource);
  const clusters = new Set<string>();
  for (const c of collect(routes, 'cluster')) if (typeof c === 'string') clusters.add(c);
  for (const w of collect(routes, 'weighted_clusters') as Array<{ clusters: Array<{ name: string }> }>) for (const c of w.clusters) clusters.add(c.name);
  const cds = [...clusters].sort();
  return { [CLUSTER_TYPE_URL]: cds, [ENDPOINT_TYPE_URL]: cds, [LISTENER_TYPE_URL]: lds, [ROUTE_TYPE_URL]: rds };
}

/** A ConfigPool that counts jobs' output bytes. */
function countingPool(inner: ConfigPool, counter: { bytes: number; jobs: number }): ConfigPool {
  return {
    run: async (msg, signal) => {
      const res = await inner.run(msg, signal);
      counter.bytes += res.buffer.byteLength;
      counter.jobs++;
      return res;
    },
    stats: () => inner.stats(),
    close: () => inner.close(),
  };
}

/** "Without the pool": runGeneration on the main thread, same encode + hash as the worker. */
function inlinePool(reader: SnapshotReader): ConfigPool {
  let completed = 0;
  return {
    run: async (msg: MainToConfigGen): Promise<ConfigGenToMain> => {
      const res = runGeneration(reader, msg, encodeAny, contentHash, toErrorData);
      completed++;
      return res;
    },
    stats: () => ({ threads: 0, queueSize: 0, completed, utilization: 0 }),
    close: async () => undefined,
  };
}

interface CaseResult extends Usage { jobs: number; genBytes: number; servedBytes: number; cacheHits: number; shared: number; groupHits: number; watchedKeys: number; maxRssMiB: number }

/** Fresh context object per request (the connection calls registry.contextFor each time). */
function contextOf(s: Scope): GenContext {
  return { ...s.ctx, inbound: s.ctx.inbound.slice() };
}


async function runCase(pool: ConfigPool, writer: SnapshotWriter, version: number, scopes: Scope[], nProxies: number, throttle: number, recordWatches: boolean): Promise<CaseResult> {
  const counter = { bytes: 0, jobs: 0 };
  const service = new GenerationService(countingPool(pool, counter), writer, { timeoutMs: 300_000, retries: 0 });
  service.setSnapshot(version);
  const first: Resolved[][] = scopes.map(() => []);
  await tick();
  const meter = new Meter();
  let next = 0;
  let watchedKeys = 0;
  // The connection records what it was sent (GenerationService.watch) after every resolve.
  // Tokens live on each stream's watch state and change only when its subscription does.
  const tokens = scopes.map((s) => Object.fromEntries(TYPES.map((t) => [t, subscriptionToken(s.subs[t]!)])));
  const lane = async (): Promise<void> => {
    while (next < nProxies) {
      const p = next++;
      const s = scopes[p % scopes.length]!;
      for (const t of TYPES) {
        const res = await service.resolve(contextOf(s), t, s.subs[t]!, tokens[p % scopes.length]![t]);
        if (recordWatches) { service.watch(`proxy-${p}`, t, res); watchedKeys++; }
        if (p < scopes.length) first[p]!.push(res);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(throttle, nProxies) }, lane));
  const usage = meter.stop();
  // bytes a push would carry: every proxy of a scope gets the same resources
  let servedBytes = 0;
  first.forEach((results, si) => {
    let b = 0;
    for (const r of results) for (const e of r.resources.values()) b += e.any.length;
    const proxiesInScope = Math.floor(nProxies / scopes.length) + (si < nProxies % scopes.length ? 1 : 0);
    servedBytes += b * proxiesInScope;
  });
  const maxRssMiB = process.resourceUsage().maxRSS / 1024;
  return { ...usage, jobs: counter.jobs, genBytes: counter.bytes, servedBytes, cacheHits: service.stats.cacheHits, shared: service.stats.sharedInFlight, groupHits: service.stats.groupHits, watchedKeys, maxRssMiB };
}

/** One proxy's resources, generated inline with no sharing at all. */
function naiveProxy(reader: SnapshotReader, root: SegmentRef, version: number, s: Scope): { ms: number; bytes: number; resources: number } {
  const t0 = performance.now();
  let b = 0, n = 0;
  for (const t of TYPES) {
    const res = runGeneration(reader, {
      id: 0, snapshotVersion: version, root, typeUrl: t, context: projectContext(s.ctx, t), generator: s.ctx.generator, names: s.subs[t]!,
    }, encodeAny, contentHash, toErrorData);
    b += res.buffer.byteLength;
    n += res.resources.length;
  }
  return { ms: performance.now() - t0, bytes: b, resources: n };
}

function publishTimed(writer: SnapshotWriter, input: SnapshotInput): { ms: number; encoded: number; reused: number; written: number; version: number } {
  const prev = writer.latestVersion;
  // Pin the previous version so nothing is released during the publish: the live-bytes delta is
  // then exactly what this publish wrote.
  if (prev) writer.pin(prev);
  const before = writer.arena.stats().liveBytes;
  const t0 = performance.now();
  const snap = writer.publish(input);
  const elapsed = performance.now() - t0;
  const written = writer.arena.stats().liveBytes - before;
  if (prev) writer.unpin(prev);
  return { ms: elapsed, encoded: snap.encodedSegments, reused: snap.reusedSegments, written, version: snap.version };
}

async function main(): Promise<void> {
  await tick();
  const quick = flag('quick');
  const nServices = option('services', 1000);
  const threads = option('threads', os.availableParallelism());
  const proxyCounts = optionList('proxies', quick ? [100, 1000] : [100, 1000, 10_000]);
  const scopeCounts = optionList('scopes', [1, 10, 50]);
  const throttle = option('throttle', 100);
  const naiveReal = quick ? 0 : option('naive-real', 100);
  const modesArg = process.argv.indexOf('--modes');
  const modes = new Set(modesArg > 0 ? process.argv[modesArg + 1]!.split(',') : ['pool', 'inline', 'naive']);
  const started = performance.now();

  console.log(`# Generation benchmark (node ${process.version}, ${os.availableParallelism()} cores, ${os.cpus()[0]?.model ?? 'cpu'})`);
  console.log(`mode: ${quick ? 'quick' : 'full'}; services ${nServices}; pool threads ${threads}; push throttle ${throttle}; source ${sourceState()}\n`);

  // ------------------------------------------------------------------ mesh + publish
  const mesh = buildMesh({ services: nServices });
  const c = mesh.counts;
  console.log(`mesh: ${int(c.services)} services in ${NAMESPACES.length} namespaces, ${int(c.ports)} service ports, ${int(c.endpoints)} endpoints, ` +
    `${c.virtualServices} VirtualServices, ${c.destinationRules} DestinationRules (2 subsets each), ${c.sidecars} Sidecars\n`);

  const arena = SnapshotArena.allocate(64 * 1024 * 1024, 1024 * 1024 * 1024);
  const writer = new SnapshotWriter(arena);
  const pubRows: Array<Array<string | number>> = [];
  const p1 = publishTimed(writer, mesh.input);
  pubRows.push(['full mesh, first publish (cold JIT)', ms(p1.ms), p1.encoded, p1.reused, bytes(p1.written)]);
  const full = buildMesh({ services: nServices });
  const warmFull: number[] = [];
  let pw = publishTimed(writer, full.input);
  for (let i = 0; i < (quick ? 2 : 4); i++) { pw = publishTimed(writer, buildMesh({ services: nServices }).input); warmFull.push(pw.ms); }
  pubRows.push([`full mesh, all objects new (warm, median of ${warmFull.length})`, ms(median(warmFull)), pw.encoded, pw.reused, bytes(pw.written)]);
  let input = mesh.input;
  const p0 = publishTimed(writer, input); // the original objects again: nothing to reuse from the previous version
  const same: number[] = [];
  let ps = p0;
  for (let i = 0; i < 10; i++) { ps = publishTimed(writer, input); same.push(ps.ms); }
  pubRows.push(['re-publish, nothing changed (median of 10)', ms(median(same)), ps.encoded, ps.reused, bytes(ps.written)]);
  const epTimes: number[] = [];
  let pe = ps;
  for (let i = 0; i < 20; i++) {
    input = mesh.withEndpointsChanged(input, 37 * i + 5, i + 1);
    pe = publishTimed(writer, input);
    epTimes.push(pe.ms);
  }
  pubRows.push(["re-publish, one service's endpoints changed (median of 20)", ms(median(epTimes)), pe.encoded, pe.reused, bytes(pe.written)]);
  const vsTimes: number[] = [];
  let pv = pe;
  for (let i = 0; i < 10; i++) {
    input = mesh.withVirtualServiceChanged(input, i);
    pv = publishTimed(writer, input);
    vsTimes.push(pv.ms);
  }
  pubRows.push(['re-publish, one VirtualService changed (median of 10)', ms(median(vsTimes)), pv.encoded, pv.reused, bytes(pv.written)]);
  console.log('## Snapshot publish (SnapshotWriter → SnapshotArena, main thread)\n');
  console.log(table(['publish', 'time ms', 'encodedSegments', 'reusedSegments', 'bytes written'], pubRows));
  const st = arena.stats();
  console.log(`\nlive snapshot: ${bytes(st.liveBytes)} in the arena (capacity ${bytes(st.capacityBytes)}, ${st.freeBlocks} free blocks); ` +
    `${int(c.endpoints)} endpoints ≈ ${(p1.written / c.endpoints).toFixed(0)} B per endpoint incl. services and configs\n`);

  // ------------------------------------------------------------------ scopes and subscriptions
  const version = writer.latestVersion;
  const root = writer.pin(version)!;
  const reader = new SnapshotReader(arena); // main-thread reader: inline and naive modes
  const view = reader.open(root);
  const maxScopes = Math.max(...scopeCounts);
  const scopes: Scope[] = [];
  for (let i = 0; i < maxScopes; i++) {
    const ctx = mesh.scope(i);
    scopes.push({ ctx, subs: subscriptionsFor(view, ctx, i, mesh), kind: scopeKind(ctx) });
  }

  // naive cost per scope: one proxy of each scope generated inline, the median of `naiveReps` runs
  // after a warm-up (JIT, protobufjs codegen and this thread's decode cache)
  const naiveReps = quick ? 1 : 3;
  for (let i = 0; i < 3; i++) naiveProxy(reader, root, version, scopes[0]!);
  for (const s of scopes.slice(0, 10)) naiveProxy(reader, root, version, s);
  const naiveOf: Array<{ ms: number; bytes: number; resources: number }> = scopes.map((s) => {
    const runs = Array.from({ length: naiveReps }, () => naiveProxy(reader, root, version, s));
    return { ...runs[0]!, ms: median(runs.map((r) => r.ms)) };
  });

  const kinds = [...new Set(scopes.map((s) => s.kind))];
  const scopeRows = kinds.map((k) => {
    const idx = scopes.map((s, i) => (s.kind === k ? i : -1)).filter((i) => i >= 0);
    const avg = (f: (i: number) => number) => idx.reduce((a, i) => a + f(i), 0) / idx.length;
    const count = (i: number, t: XdsTypeUrl): number => {
      const n = scopes[i]!.subs[t];
      if (n) return n.length;
      // wildcard: count what the generator produced
      return GENERATORS[scopes[i]!.ctx.generator][t]!(view, projectContext(scopes[i]!.ctx, t), null).length;
    };
    return [k, `${idx.length}`, int(avg((i) => count(i, CLUSTER_TYPE_URL))), int(avg((i) => count(i, ENDPOINT_TYPE_URL))),
      int(avg((i) => count(i, LISTENER_TYPE_URL))), int(avg((i) => count(i, ROUTE_TYPE_URL))),
      bytes(avg((i) => naiveOf[i]!.bytes)), ms(avg((i) => naiveOf[i]!.ms))];
  });
  console.log(`## Proxy scopes (the first ${maxScopes}; a case with S scopes uses scopes 0..S-1)\n`);
  console.log(table(['scope kind', 'scopes', 'clusters', 'EDS names', 'listeners', 'routes', 'bytes / proxy', 'inline gen ms / proxy'], scopeRows));
  console.log();

  // ------------------------------------------------------------------ pool start
  await tick();
  const coldMeter = new Meter();
  const pool = createConfigPool(arena.sab, threads);
  {
    // warm every worker: concurrent jobs of several scopes
    const svc = new GenerationService(pool, writer, { timeoutMs: 300_000, retries: 0 });
    svc.setSnapshot(version);
    await Promise.all(scopes.slice(0, Math.min(scopes.length, threads * 2)).map(async (s) => { for (const t of TYPES) await svc.resolve(s.ctx, t, s.subs[t]!); }));
  }
  const cold = coldMeter.stop();
  console.log(`config pool cold start (${threads} Piscina workers: spawn, load the Envoy descriptor, decode the snapshot, protobufjs codegen, ` +
    `first ${Math.min(scopes.length, threads * 2)} scopes' generations): ${secs(cold.wallMs)}\n`);
  const inline = inlinePool(reader);
  { // warm the inline path the same way
    const svc = new GenerationService(inline, writer, { timeoutMs: 300_000, retries: 0 });
    svc.setSnapshot(version);
    for (const s of scopes.slice(0, Math.min(scopes.length, threads * 2))) for (const t of TYPES) await svc.resolve(s.ctx, t, s.subs[t]!);
  }
  let mainEncodesInPoolCases = 0;

  // ------------------------------------------------------------------ cases
  const rows: Array<Array<string | number>> = [];
  const summary: Array<Array<string | number>> = [];
  for (const n of proxyCounts) {
    for (const sc of scopeCounts) {
      const sel = scopes.slice(0, sc);
      const skipped: CaseResult = { wallMs: NaN, mainBusyMs: NaN, mainUtil: NaN, cpuMs: NaN, jobs: NaN, genBytes: NaN, servedBytes: NaN, cacheHits: NaN, shared: NaN, groupHits: NaN, watchedKeys: NaN, maxRssMiB: NaN };
      const recordWatches = true;
      const poolEncodesBefore = resourceEncodeCount();
      const poolRes = modes.has('pool') ? await runCase(pool, writer, version, sel, n, throttle, recordWatches) : skipped;
      mainEncodesInPoolCases += resourceEncodeCount() - poolEncodesBefore;
      const encodesBefore = resourceEncodeCount();
      const inlRes = modes.has('inline') ? await runCase(inline, writer, version, sel, n, throttle, recordWatches) : skipped;
      const inlineEncodes = resourceEncodeCount() - encodesBefore;
      // naive: Σ over proxies of the measured cost of the proxy's scope
      let naiveMs = 0, naiveBytes = 0;
      for (let si = 0; si < sc; si++) {
        const k = Math.floor(n / sc) + (si < n % sc ? 1 : 0);
        naiveMs += k * naiveOf[si]!.ms;
        naiveBytes += k * naiveOf[si]!.bytes;
      }
      const row = (mode: string, workers: number | string, r: { wallMs: number; jobs: number | string; genBytes: number; servedBytes: number; mainBusyMs: number; cpuMs: number | string; watchedKeys?: number; maxRssMiB?: number }) => [
        int(n), sc, mode, workers, secs(r.wallMs), typeof r.jobs === 'number' ? int(r.jobs) : r.jobs, bytes(r.genBytes), bytes(r.servedBytes),
        secs(r.mainBusyMs), `${(r.mainBusyMs * 1000 / n).toFixed(0)} µs`, typeof r.cpuMs === 'number' ? secs(r.cpuMs) : r.cpuMs,
        r.watchedKeys === undefined ? '' : int(r.watchedKeys), r.maxRssMiB === undefined ? '' : `${r.maxRssMiB.toFixed(0)} MiB`,
      ];
      if (modes.has('pool')) rows.push(row('pool', threads, poolRes));
      if (modes.has('inline')) rows.push(row('inline', 0, inlRes));
      if (modes.has('naive')) rows.push(row('naive (extrapolated)', 0, { wallMs: naiveMs, jobs: `${int(n * TYPES.length)}`, genBytes: naiveBytes, servedBytes: poolRes.servedBytes, mainBusyMs: naiveMs, cpuMs: '≈ wall' }));
      summary.push([int(n), sc, `${(inlRes.wallMs / poolRes.wallMs).toFixed(2)}×`, `${(inlRes.mainBusyMs / Math.max(poolRes.mainBusyMs, 0.001)).toFixed(0)}×`,
        `${(naiveMs / poolRes.wallMs).toFixed(0)}×`, `${(naiveMs / inlRes.wallMs).toFixed(0)}×`, `${int(poolRes.cacheHits + poolRes.shared + poolRes.groupHits)}`, int(inlineEncodes)]);
      process.stderr.write(`  done: ${n} proxies × ${sc} scopes (${secs(performance.now() - started)} elapsed)\n`);
    }
  }
  console.log('## Full push: CDS + EDS + LDS + RDS for every proxy\n');
  console.log(table(['proxies', 'scopes', 'mode', 'workers', 'wall', 'jobs', 'generated', 'served', 'main busy', 'main busy / proxy', 'process CPU', 'watched', 'max RSS so far'], rows,
    ['r', 'r', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']));
  console.log(`
- jobs: distinct generations run (GenerationService jobs; naive: one per proxy and type).
- generated: bytes of encoded Any resources the jobs produced; served: bytes the proxies receive in total.
- main busy: main-thread event-loop active time (performance.eventLoopUtilization delta);
  process CPU: process.cpuUsage delta, all threads (main + workers).
- watched: (connection, type) registrations with answer groups (GenerationService.watch), as the connection
  does after every resolve; max RSS so far: process.resourceUsage().maxRSS after the case (a lifetime peak).
- naive: one proxy of each scope generated inline (no cache) and measured (median of ${naiveReps}), times the
  number of proxies in that scope; it was not run per proxy (see the check below).
`);
  console.log('## Speed-ups\n');
  console.log(table(['proxies', 'scopes', 'inline wall / pool wall', 'inline main / pool main', 'naive / pool (wall)', 'naive / inline (wall)', 'resolves served from cache or in-flight (pool)', 'encodes on main (inline)'], summary));
  console.log(`\nresources encoded on the main thread during the pool cases: ${mainEncodesInPoolCases}`);

  // ------------------------------------------------------------------ real naive check
  if (naiveReal > 0 && modes.has('naive')) {
    const checkRows: Array<Array<string | number>> = [];
    for (const sc of scopeCounts) {
      const sel = scopes.slice(0, sc);
          await tick();
      const meter = new Meter();
      let b = 0;
      for (let p = 0; p < naiveReal; p++) b += naiveProxy(reader, root, version, sel[p % sc]!).bytes;
      const u = meter.stop();
      let est = 0;
      for (let si = 0; si < sc; si++) est += (Math.floor(naiveReal / sc) + (si < naiveReal % sc ? 1 : 0)) * naiveOf[si]!.ms;
      checkRows.push([naiveReal, sc, secs(u.wallMs), secs(est), `${((u.wallMs / est - 1) * 100).toFixed(0)}%`, bytes(b), secs(u.mainBusyMs)]);
    }
    console.log(`\n## Naive baseline check: a real per-proxy naive run of ${naiveReal} proxies vs the extrapolation\n`);
    console.log(table(['proxies', 'scopes', 'measured wall', 'extrapolated', 'difference', 'generated', 'main busy'], checkRows));
  }

  await pool.close();
  writer.unpin(version);
  console.log(`\ntotal benchmark time ${secs(performance.now() - started)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
