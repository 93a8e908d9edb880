/**
 * One load-test run, start to finish: generate the mesh into the config dir (or, with a
 * kubeconfig, into the cluster through its API), spawn the server (unless --target), start the simulator workers, wait for the fleet to sync (warmup), run the
 * churn programme, wait for stragglers (drain), collect, stop the workers and the spawned server,
 * measure the fan-out floor (scenario floor.rounds > 0; floor/floor-phase.ts), assemble the result.
 * Every phase is bounded by the scenario's durations; cleanup runs on every path (Kubernetes
 * mode: after the spawned server stopped, the objects and namespaces the run created are deleted
 * unless --keep).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { wallNow } from '../clock';
import { WorkerFinal } from '../protocol';
import { openCluster } from '../kube/cluster';
import { CONTROL_PLANE_NAMESPACE, KubeMesh, KubeSummary } from '../kube/kube-mesh';
import { ChangeRecord, ChurnDriver, MeshWriter } from '../scenario/churn';
import { buildMesh } from '../scenario/mesh-model';
import { FileMeshWriter, writeMesh } from '../scenario/mesh-files';
import { Scenario } from '../scenario/schema';
import { FloorResult, floorPayload, runFloor } from '../floor/floor-phase';
import { LoadTestResult, Phase, Sample, assembleResult } from './result';
import { ServerProcess, spawnServer } from './server-process';
import { ServerReading, readProc, scrapeMetrics } from './server-metrics';
import { PushTraceCollector } from './push-trace';
import { GLOBAL_NAME, GLOBAL_NAMESPACE } from '../scenario/render';
import { objectKey } from '../../src/shared/model/objects';
import { SimWorkers } from './sim-workers';

export interface RunOptions {
  scenario: Scenario;
  /** an already running server (host:port); without it the server is spawned */
  target?: string;
  /** the running server's config dir (required with target in file mode) */
  configDir?: string;
  /** Kubernetes mode: the mesh and its churn go to this cluster instead of a config dir */
  kubeconfig?: string;
  /** Kubernetes mode: allow a kubeconfig whose API server is not on loopback */
  allowRemoteCluster?: boolean;
  /** Kubernetes mode: prefix of the generated namespaces (default 'load-test-') */
  namespacePrefix?: string;
  /** the running server's monitoring address, for /metrics (optional with target) */
  monitoringAddr?: string;
  workers: number;
  /** keep the generated config dir and server log (spawned mode); Kubernetes mode: keep the objects in the cluster */
  keep?: boolean;
  /** one-line progress, called about once a second */
  progress?: (line: string, final: boolean) => void;
  /** informational lines (where things are) */
  info?: (line: string) => void;
  /** false: skip the floor phase even if the scenario asks for it (--no-floor) */
  floor?: boolean;
  /** aborted (Ctrl-C): the run stops at the next check and cleans up (Kubernetes mode: deletes what it created) */
  signal?: AbortSignal;
}

const SAMPLE_MS = 1000;
/** Kubernetes mode: API requests in flight while the mesh is created or cleaned up */
const KUBE_CONCURRENCY = 16;
export const DEFAULT_NAMESPACE_PREFIX = 'load-test-';
/** how long a stopped churn driver may take to finish the change in hand */
const REPLY_GRACE_MS = 35_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runLoadTest(opts: RunOptions): Promise<LoadTestResult> {
  const s = opts.scenario;
  const startedAt = Date.now();
  const t0 = wallNow();
  const kube = opts.kubeconfig ? new KubeMesh(openCluster(opts.kubeconfig, !!opts.allowRemoteCluster), KUBE_CONCURRENCY) : undefined;
  const mesh = buildMesh(s, kube ? (opts.namespacePrefix ?? DEFAULT_NAMESPACE_PREFIX) : '');
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'istiod-ts-load-test-'));
  const meshSummary = `${mesh.services.length} services, ${mesh.services.reduce((a, x) => a + x.pods.length, 0)} pods`;
  let configDir = '';
  let writer: MeshWriter;
  if (kube) {
    writer = kube;
  } else {
    configDir = opts.configDir ?? path.join(workDir, 'config');
    fs.mkdirSync(configDir, { recursive: true });
    const files = writeMesh(configDir, s, mesh);
    opts.info?.(`mesh: ${meshSummary}, ${files} files in ${configDir}`);
    writer = new FileMeshWriter(configDir);
  }

  let kubeSummary: KubeSummary | undefined;
  let kubeSetupMs = 0;
  let result: LoadTestResult | undefined;
  let server: ServerProcess | undefined;
  let workers: SimWorkers | undefined;
  let driver: ChurnDriver | undefined;
  let sampler: NodeJS.Timeout | undefined;
  let ok = false;
  try {
    if (kube) {
      const t = wallNow();
      const abort = () => kube.abort();
      opts.signal?.addEventListener('abort', abort);
      const objects = await kube.create(s, mesh).finally(() => opts.signal?.removeEventListener('abort', abort));
      kubeSetupMs = wallNow() - t;
      opts.info?.(`mesh: ${meshSummary}, ${objects} objects written to ${kube.server} in ${(kubeSetupMs / 1000).toFixed(1)} s (${KUBE_CONCURRENCY} requests in flight)`);
    }
    let target = opts.target;
    let monitoringAddr = opts.monitoringAddr;
    if (!target) {
      server = await spawnServer({ ...(kube ? { kubeconfig: opts.kubeconfig } : { configDir }), stateDir: path.join(workDir, 'state'), logFile: path.join(workDir, 'server.log'), env: s.server.env });
      target = server.grpcTarget;
      monitoringAddr = server.monitoringAddr;
      opts.info?.(`server: pid ${server.pid}, xDS ${target}, metrics http://${monitoringAddr}/metrics, log ${server.logFile}`);
    } else {
      await sleep(2000); // let the running server's file watcher (or informers) pick up the new mesh
    }

    // ---- sampling: server metrics + process, generator process + workers
    let phase: Phase = 'warmup';
    const samples: Sample[] = [];
    let sampling = false;
    // the server's own timing of the global pushes (its push trace is a ring: polled with every sample)
    const pushTrace = monitoringAddr && s.churn.globalEditsPerMinute > 0
      ? new PushTraceCollector(monitoringAddr, objectKey('networking.istio.io', 'ServiceEntry', GLOBAL_NAMESPACE, GLOBAL_NAME)) : undefined;
    const takeSample = async () => {
      if (sampling) return;
      sampling = true;
      try {
        const [scraped] = await Promise.all([monitoringAddr ? scrapeMetrics(monitoringAddr) : undefined, pushTrace?.poll()]);
        const reading: ServerReading = scraped ?? {};
        const proc = server && !server.hasExited() ? readProc(server.pid) : undefined;
        if (proc) { reading.cpuSeconds = proc.cpuSeconds; reading.rssBytes = proc.rssBytes; }
        const stats = workers!.latest.filter((w) => w !== undefined);
        const cpu = process.cpuUsage();
        samples.push({
          t: Math.round(wallNow() - t0), phase, server: reading,
          generator: {
            cpuSeconds: (cpu.user + cpu.system) / 1e6, rssBytes: process.memoryUsage.rss(),
            connected: stats.reduce((a, w) => a + w!.connected, 0), synced: stats.reduce((a, w) => a + w!.synced, 0),
            converged: stats.reduce((a, w) => a + w!.converged, 0),
            eventLoopDelayP99Ms: Math.max(0, ...stats.map((w) => w!.eventLoopDelay.p99)),
            utilization: stats.length ? stats.reduce((a, w) => a + w!.utilization, 0) / stats.length : 0,
          },
        });
      } finally {
        sampling = false;
      }
    };

    workers = new SimWorkers({ count: opts.workers, target, proxies: mesh.proxies, scenario: s, statsIntervalMs: 500 });
    let failure: Error | undefined;
    workers.onFailure((e) => { failure = e; driver?.stop(); });
    sampler = setInterval(() => { void takeSample(); report(); }, SAMPLE_MS);

    const synced = () => workers!.latest.reduce((a, w) => a + (w?.synced ?? 0), 0);
    const converged = () => workers!.latest.reduce((a, w) => a + (w?.converged ?? 0), 0);
    const nacks = () => workers!.latest.reduce((a, w) => a + (w ? w.byType.cds.nacks + w.byType.eds.nacks + w.byType.lds.nacks + w.byType.rds.nacks : 0), 0);
    const nsCount = new Map<string, number>();
    for (const p of mesh.proxies) nsCount.set(p.namespace, (nsCount.get(p.namespace) ?? 0) + 1);
    const expectedFor = (c: ChangeRecord) => (c.namespaces ? c.namespaces.reduce((a, ns) => a + (nsCount.get(ns) ?? 0), 0) : mesh.proxies.length);
    let expectedPairs = 0;
    let phaseStart = wallNow();
    const checkServer = () => {
      if (opts.signal?.aborted) throw new Error('interrupted');
      if (server?.hasExited()) throw new Error(`the server exited during the run; see ${server.logFile}`);
      if (failure) throw failure;
    };
    function report(final = false): void {
      if (!opts.progress) return;
      const last = samples[samples.length - 1];
      const prev = samples[samples.length - 2];
      const cores = last && prev && last.server.cpuSeconds !== undefined && prev.server.cpuSeconds !== undefined ? (last.server.cpuSeconds - prev.server.cpuSeconds) / ((last.t - prev.t) / 1000) : undefined;
      const elapsed = (wallNow() - phaseStart) / 1000;
      const limit = phase === 'warmup' ? s.warmupSeconds : phase === 'churn' ? s.durationSeconds : s.drainSeconds;
      const ws = workers!.latest.filter((w) => w !== undefined);
      opts.progress(
        `[${phase.padEnd(6)} ${elapsed.toFixed(0).padStart(4)}s/${limit}s] synced ${synced()}/${mesh.proxies.length}` +
        ` | changes ${driver?.changes.length ?? 0} converged ${converged()}/${expectedPairs}` +
        ` | NACK ${nacks()}` +
        ` | server cpu ${cores === undefined ? '-' : cores.toFixed(2)} rss ${last?.server.rssBytes ? Math.round(last.server.rssBytes / 2 ** 20) + 'MB' : '-'} xds ${last?.server.xdsConnections ?? '-'}` +
        ` | gen util ${ws.length ? Math.round((ws.reduce((a, w) => a + w!.utilization, 0) / ws.length) * 100) : 0}% eld99 ${Math.max(0, ...ws.map((w) => w!.eventLoopDelay.p99)).toFixed(0)}ms`,
        final,
      );
    }

    // ---- warmup: until every proxy synced, bounded by warmupSeconds
    const warmupDeadline = wallNow() + s.warmupSeconds * 1000;
    while (wallNow() < warmupDeadline && synced() < mesh.proxies.length) {
      checkServer();
      await sleep(100);
    }
    checkServer();
    const warmup = { ms: wallNow() - phaseStart, complete: synced() >= mesh.proxies.length, syncedAtEnd: synced() };
    if (!warmup.complete) opts.info?.(`warmup: only ${warmup.syncedAtEnd}/${mesh.proxies.length} proxies synced within ${s.warmupSeconds}s; churn starts anyway`);
    await takeSample();

    // ---- churn
    phase = 'churn';
    phaseStart = wallNow();
    const churnStartedAt = phaseStart;
    const w = workers;
    driver = new ChurnDriver(writer, s, mesh, {
      register: async (watch) => {
        await w.watch(watch);
        expectedPairs += watch.namespaces ? watch.namespaces.reduce((a, ns) => a + (nsCount.get(ns) ?? 0), 0) : mesh.proxies.length;
      },
      storm: async (id, fraction) => {
        const dropped = await w.storm(id, fraction, s.seed + id);
        opts.info?.(`reconnect storm: dropped ${dropped} streams`);
      },
    });
    // the programme ends before durationSeconds (events sit mid-slot); churn lasts the full
    // duration regardless, and a driver stuck past it (a worker not answering) is stopped
    let churnError: unknown;
    let churnFinished = false;
    const churnDone = driver.run().catch((e) => { churnError = e; }).finally(() => { churnFinished = true; });
    const churnDeadline = phaseStart + s.durationSeconds * 1000;
    while ((!churnFinished || wallNow() < churnDeadline) && wallNow() < churnDeadline + 5000) {
      checkServer();
      if (churnError) break;
      await sleep(100);
    }
    driver.stop();
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([churnDone, new Promise((r) => { grace = setTimeout(r, REPLY_GRACE_MS); })]);
    clearTimeout(grace);
    if (churnError) throw churnError;
    if (!churnFinished) throw new Error('the churn driver did not stop (a simulator worker stopped answering)');
    checkServer();
    const churnMs = wallNow() - phaseStart;

    // ---- drain: until every expected (change, proxy) converged and every proxy is synced
    phase = 'drain';
    phaseStart = wallNow();
    const drainDeadline = phaseStart + s.drainSeconds * 1000;
    // the worker stats lag by up to one interval: require two consecutive good readings
    let good = 0;
    while (wallNow() < drainDeadline) {
      checkServer();
      good = converged() >= expectedPairs && synced() >= mesh.proxies.length ? good + 1 : 0;
      if (good >= 2) break;
      await sleep(500);
    }
    const drainMs = wallNow() - phaseStart;
    clearInterval(sampler);
    sampler = undefined;
    await takeSample();
    report(true);

    const finals: WorkerFinal[] = await workers.stop();
    workers = undefined;
    if (finals.length < opts.workers) throw new Error(`only ${finals.length} of ${opts.workers} simulator workers reported`);

    // ---- floor: a bare grpc-js server writes the global change's bytes to as many streams
    let floor: FloorResult | undefined;
    const floorRounds = opts.floor === false ? 0 : s.floor.rounds;
    if (floorRounds > 0) {
      if (server) await server.stop(); // idle by now; stopped so the floor has the machine to itself
      const payload = floorPayload(finals);
      floor = await runFloor({
        proxies: mesh.proxies, workers: opts.workers, streamsPerChannel: s.streamsPerChannel, bytesPerStream: payload.bytes, bytesSource: payload.source,
        rounds: floorRounds, info: opts.info, signal: opts.signal,
      });
      if (floor.error) opts.info?.(`floor phase failed: ${floor.error}`);
    }
    ok = true;
    result = assembleResult({
      scenario: s, startedAt, runT0: t0, workers: opts.workers, target, spawnedServer: !!server, serverPid: server?.pid ?? null,
      proxies: { total: mesh.proxies.length, delta: mesh.proxies.filter((p) => p.delta).length },
      expectedFor, warmup, churnStartedAt, churnMs, drainMs,
      changes: driver.changes, storms: driver.storms, finals, samples, floor, globalServerPush: pushTrace?.summary(),
    });
    if (kube) result.kube = kubeSummary = kube.summary(kubeSetupMs, opts.keep ? 'kept' : 'pending', mesh);
    return result;
  } finally {
    if (sampler) clearInterval(sampler);
    driver?.stop();
    if (workers) await workers.stop(5000).catch(() => undefined);
    if (server) await server.stop();
    if (kube) await cleanupCluster(kube, opts, !!server, kubeSummary);
    // a failed run keeps the generated config and the server log for a look (an interrupted one does not)
    const kept = fs.readdirSync(workDir);
    if ((ok || opts.signal?.aborted || kept.length === 0) && !opts.keep) fs.rmSync(workDir, { recursive: true, force: true });
    else opts.info?.(`kept ${workDir} (${kept.join(', ') || 'empty'})`);
  }
}

/**
 * Kubernetes mode, every path: delete what the run created (unless --keep), after the spawned
 * server stopped. istio-system is kept when the run did not start the server (it still runs there).
 * The outcome lands in the result's kube.cleanup; a failure is reported, never thrown over the run's own outcome.
 */
async function cleanupCluster(kube: KubeMesh, opts: RunOptions, spawned: boolean, summary: KubeSummary | undefined): Promise<void> {
  if (opts.keep) {
    opts.info?.(`kept the mesh in ${kube.server}: namespaces ${kube.namespacesCreated.join(', ') || '(none created)'}`);
    return;
  }
  const before = kube.api.counts.deleted;
  if (kube.api.written.size === 0 && kube.namespacesCreated.length === 0) return; // nothing was written
  try {
    await kube.cleanup(spawned ? [] : [CONTROL_PLANE_NAMESPACE]);
    if (summary) { summary.cleanup = 'deleted'; summary.objects = { ...kube.api.counts }; }
    const names = kube.namespacesCreated;
    opts.info?.(`cleanup: ${kube.api.counts.deleted - before} deletions in ${kube.server} (namespaces ${names.length === 0 ? 'none' : names.length <= 4 ? names.join(', ') : `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`})`);
  } catch (e) {
    const msg = `failed: ${(e as Error).message}`;
    if (summary) summary.cleanup = msg;
    opts.info?.(`cleanup ${msg}`);
  }
}
