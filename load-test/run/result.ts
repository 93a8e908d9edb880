/**
 * The JSON result of a run (schemaVersion 1) and how it is assembled from the workers' final
 * reports, the churn log and the server samples. Times are milliseconds unless a field name says
 * otherwise; `atMs` fields are relative to the start of the churn phase.
 */
import * as os from 'node:os';
import { ServerPushSummary } from './push-trace';
import { ShortType, TypeCounters, WorkerFinal } from '../protocol';
import { ChangeRecord, ChangeType, CHANGE_TYPES, StormRecord } from '../scenario/churn';
import { Scenario } from '../scenario/schema';
import type { KubeSummary } from '../kube/kube-mesh';
import { Percentiles, percentiles } from './percentiles';
import { ServerReading, bucketQuantile } from './server-metrics';
import { SparseHistogram, sparseHistogram } from '../report/histogram';
import type { FloorResult } from '../floor/floor-phase';

export interface Sample {
  /** ms since the run started */
  t: number;
  phase: Phase;
  server: ServerReading;
  generator: { cpuSeconds: number; rssBytes: number; connected: number; synced: number; converged: number; eventLoopDelayP99Ms: number; utilization: number };
}

export type Phase = 'warmup' | 'churn' | 'drain';

export interface ChangeResult {
  id: number;
  type: ChangeType;
  file: string;
  marker: string;
  /** applied, ms after the churn phase started */
  atMs: number;
  /** applied minus planned: how far the driver fell behind its programme */
  lagMs: number;
  expected: number;
  converged: number;
  convergence: Percentiles;
}

export interface LoadTestResult {
  schemaVersion: 1;
  /** Kubernetes mode only: the cluster the run drove and what it wrote there */
  kube?: KubeSummary;
  scenario: Scenario;
  startedAt: string;
  environment: { node: string; cpus: number; platform: string; workers: number; target: string; spawnedServer: boolean; serverPid: number | null };
  /** churnStartT: when churn began, in ms since the run started (the time base of samples[].t) */
  phases: { warmupMs: number; churnMs: number; drainMs: number; warmupComplete: boolean; churnStartT?: number };
  proxies: { total: number; sotw: number; delta: number; syncedAtChurnStart: number; everSynced: number; syncedAtEnd: number; neverSynced: string[] };
  admission: { firstStream: Percentiles; reconnectStream: Percentiles; initialSync: Percentiles };
  convergence: {
    byType: Record<ChangeType, { changes: number; expected: number; converged: number; changesFullyConverged: number; convergence: Percentiles }>;
    all: { changes: number; expected: number; converged: number; changesFullyConverged: number; convergence: Percentiles };
    /** every (change, proxy) convergence per change type, as sparse [ms rounded up, count] pairs (report/histogram.ts) */
    histogram?: Record<ChangeType, SparseHistogram>;
  };
  changes: ChangeResult[];
  storms: Array<{ id: number; atMs: number; fraction: number; dropped: number; resynced: number; resync: Percentiles }>;
  xds: {
    byType: Record<ShortType, TypeCounters>;
    nacks: number;
    nackSamples: string[];
    streamsOpened: number;
    reconnects: number;
    retries: number;
    refused: number;
    decodes: number;
    decodeCacheHits: number;
    responseCacheHits: number;
  };
  server: {
    /** average cores used during the churn phase */
    cpuCoresChurn: number | null;
    cpuSecondsChurn: number | null;
    cpuSecondsTotal: number | null;
    peakRssBytes: number | null;
    endRssBytes: number | null;
    /** pilot_xds_pushes increase during churn + drain, by type */
    pushesChurn: Record<string, number>;
    rejects: number | null;
    eventLoopLagP99MaxMs: number | null;
    /** the server's own pilot_proxy_convergence_time during churn + drain (bucket upper bounds, seconds) */
    serverConvergence: { count: number; p50: number | null; p99: number | null };
  };
  generator: {
    workers: Array<{ workerId: number; proxies: number; eventLoopDelay: { p50: number; p99: number; max: number }; utilization: number }>;
    cpuCoresChurn: number | null;
    peakRssBytes: number;
    saturated: boolean;
    warnings: string[];
  };
  samples: Sample[];
  /** the fan-out floor phase (scenario floor.rounds > 0, not --no-floor) */
  floor?: FloorReport;
  /** the server's own timing of the pushes carrying the global change (its /debug/push_trace) */
  globalServerPush?: ServerPushSummary;
  checks: { allConnected: boolean; everyChangeConverged: boolean; zeroNacks: boolean };
}

/** ARCHITECTURE §6: a change touching every proxy converges within this factor of the floor */
export const FLOOR_BUDGET = 1.5;

export interface FloorReport extends FloorResult {
  /** every round ran and every stream ACKed it (a run whose floor phase is incomplete exits 1) */
  complete: boolean;
  /**
   * global-change convergence over the floor: P50 / floor P50, P99 / floor P99, max / the median
   * round's all-ACKed time (null where either side is missing)
   */
  ratio: { p50: number | null; p99: number | null; max: number | null; budget: number };
  /**
   * the server's push of the global change (debounce end → last response handed to gRPC, from
   * its push trace) over the median round's all-ACKed time: P50 and max of the pushes
   */
  serverRatio?: { p50: number | null; max: number | null };
}

export interface AssembleInput {
  scenario: Scenario;
  startedAt: number;
  /** wallNow() when the run started: the zero of samples[].t */
  runT0?: number;
  workers: number;
  target: string;
  spawnedServer: boolean;
  serverPid: number | null;
  proxies: { total: number; delta: number };
  /** expected proxy count per change id (all proxies in the change's namespaces) */
  expectedFor: (c: ChangeRecord) => number;
  warmup: { ms: number; complete: boolean; syncedAtEnd: number };
  churnStartedAt: number;
  churnMs: number;
  drainMs: number;
  changes: readonly ChangeRecord[];
  storms: readonly StormRecord[];
  finals: readonly WorkerFinal[];
  samples: Sample[];
  floor?: FloorResult;
  globalServerPush?: ServerPushSummary;
}

function floorReport(f: FloorResult, global: Percentiles, server: ServerPushSummary | undefined): FloorReport {
  const done = f.allAckedMs.filter((x): x is number => x !== null).sort((a, b) => a - b);
  const median = done.length ? done[Math.floor((done.length - 1) / 2)]! : null;
  const ratio = (a: number | null, b: number | null) => (a === null || b === null || b <= 0 ? null : Math.round((a / b) * 100) / 100);
  const complete = !f.error && f.allAckedMs.length === f.rounds && f.allAckedMs.every((v) => v !== null);
  return {
    ...f, complete, ratio: { p50: ratio(global.p50, f.p50Ms), p99: ratio(global.p99, f.p99Ms), max: ratio(global.max, median), budget: FLOOR_BUDGET },
    ...(server ? { serverRatio: { p50: ratio(server.pushMs.p50, median), max: ratio(server.pushMs.max, median) } } : {}),
  };
}

const TYPES: readonly ShortType[] = ['cds', 'eds', 'lds', 'rds'];

function delta(a: number | undefined, b: number | undefined): number | null {
  return a === undefined || b === undefined ? null : b - a;
}

export function assembleResult(x: AssembleInput): LoadTestResult {
  // ---- convergence per change: ACK time − applied time, over every proxy that converged
  const ackTimes = new Map<number, number[]>();
  for (const f of x.finals) for (const m of f.markers) {
    const list = ackTimes.get(m.changeId) ?? [];
    for (const t of m.ackTimes) list.push(t);
    ackTimes.set(m.changeId, list);
  }
  const changes: ChangeResult[] = x.changes.map((c) => {
    const times = (ackTimes.get(c.id) ?? []).map((t) => Math.max(0, t - c.appliedAt));
    const expected = x.expectedFor(c);
    return {
      id: c.id, type: c.type, file: c.file, marker: c.marker,
      atMs: Math.round(c.appliedAt - x.churnStartedAt), lagMs: Math.round(c.appliedAt - x.churnStartedAt - c.plannedMs),
      expected, converged: times.length, convergence: percentiles(times),
    };
  });
  const appliedAt = new Map(x.changes.map((c) => [c.id, c.appliedAt]));
  const group = (list: ChangeResult[]) => {
    const all: number[] = [];
    for (const c of list) for (const t of (ackTimes.get(c.id) ?? [])) all.push(Math.max(0, t - appliedAt.get(c.id)!));
    return {
      changes: list.length,
      expected: list.reduce((a, c) => a + c.expected, 0),
      converged: list.reduce((a, c) => a + c.converged, 0),
      changesFullyConverged: list.filter((c) => c.converged >= c.expected).length,
      convergence: percentiles(all),
    };
  };
  const byType = Object.fromEntries(CHANGE_TYPES.map((t) => [t, group(changes.filter((c) => c.type === t))])) as LoadTestResult['convergence']['byType'];
  const pairTimes = (c: ChangeResult) => (ackTimes.get(c.id) ?? []).map((t) => Math.max(0, t - appliedAt.get(c.id)!));
  const histogram = Object.fromEntries(CHANGE_TYPES.map((t) => [t, sparseHistogram(changes.filter((c) => c.type === t).flatMap(pairTimes))])) as Record<ChangeType, SparseHistogram>;

  // ---- storms
  const storms = x.storms.map((s) => {
    const results = x.finals.flatMap((f) => f.storms.filter((r) => r.stormId === s.id));
    const resync = results.flatMap((r) => r.resyncMs);
    return { id: s.id, atMs: Math.round(s.at - x.churnStartedAt), fraction: s.fraction, dropped: results.reduce((a, r) => a + r.expected, 0), resynced: resync.length, resync: percentiles(resync) };
  });

  // ---- xDS counters summed over workers
  const xdsByType = Object.fromEntries(TYPES.map((t) => [t, { responses: 0, bytes: 0, resources: 0, acks: 0, nacks: 0 }])) as Record<ShortType, TypeCounters>;
  let streamsOpened = 0, reconnects = 0, retries = 0, refused = 0, decodes = 0, hits = 0, responseHits = 0, syncedAtEnd = 0;
  const nackSamples: string[] = [];
  for (const f of x.finals) {
    for (const t of TYPES) for (const k of Object.keys(xdsByType[t]) as Array<keyof TypeCounters>) xdsByType[t][k] += f.stats.byType[t][k];
    streamsOpened += f.stats.streamsOpened; reconnects += f.stats.reconnects; retries += f.stats.retries; refused += f.stats.refused;
    decodes += f.stats.decodes; hits += f.stats.decodeCacheHits; responseHits += f.stats.responseCacheHits; syncedAtEnd += f.stats.synced;
    nackSamples.push(...f.stats.nackSamples);
  }
  const nacks = TYPES.reduce((a, t) => a + xdsByType[t].nacks, 0);
  const initialSync = x.finals.flatMap((f) => f.initialSyncMs);
  const neverSynced = x.finals.flatMap((f) => f.unsyncedProxies);

  // ---- server and generator over the churn + drain window
  const churnSamples = x.samples.filter((s) => s.phase !== 'warmup');
  const firstChurn = churnSamples[0];
  const lastSample = x.samples[x.samples.length - 1];
  const windowS = firstChurn && lastSample ? (lastSample.t - firstChurn.t) / 1000 : 0;
  const serverCpuChurn = delta(firstChurn?.server.cpuSeconds, lastSample?.server.cpuSeconds);
  const genCpuChurn = delta(firstChurn?.generator.cpuSeconds, lastSample?.generator.cpuSeconds);
  const pushesChurn: Record<string, number> = {};
  for (const [type, n] of Object.entries(lastSample?.server.pushes ?? {})) pushesChurn[type] = n - (firstChurn?.server.pushes?.[type] ?? 0);
  const rss = x.samples.map((s) => s.server.rssBytes).filter((v): v is number => v !== undefined);
  const lags = x.samples.map((s) => s.server.eventLoopLagP99Ms).filter((v): v is number => v !== undefined);
  const convBuckets: Record<string, number> = {};
  for (const [le, n] of Object.entries(lastSample?.server.convergence?.buckets ?? {})) convBuckets[le] = n - (firstChurn?.server.convergence?.buckets[le] ?? 0);
  const convCount = (lastSample?.server.convergence?.count ?? 0) - (firstChurn?.server.convergence?.count ?? 0);

  const workers = x.finals.map((f) => ({ workerId: f.stats.workerId, proxies: f.stats.proxies, eventLoopDelay: f.eventLoopDelay, utilization: Math.round(f.utilization * 1000) / 1000 }));
  const warnings: string[] = [];
  const worstInterval = Math.max(0, ...x.samples.filter((s) => s.phase !== 'warmup').map((s) => s.generator.eventLoopDelayP99Ms));
  for (const w of workers) {
    if (w.utilization > 0.8) warnings.push(`worker ${w.workerId} was busy ${(w.utilization * 100).toFixed(0)}% of the run: add --workers or lower the load`);
    if (w.eventLoopDelay.p99 > 100) warnings.push(`worker ${w.workerId} event-loop delay p99 ${w.eventLoopDelay.p99} ms: ACK times include generator lag`);
  }
  if (worstInterval > 250) warnings.push(`a worker's event-loop delay reached p99 ${worstInterval} ms in some second of churn: convergence in that second includes generator lag`);
  const lateChanges = changes.filter((c) => c.lagMs > 1000).length;
  if (lateChanges > 0) warnings.push(`${lateChanges} changes were applied more than 1 s behind the programme`);

  const all = group(changes);
  return {
    schemaVersion: 1,
    scenario: x.scenario,
    startedAt: new Date(x.startedAt).toISOString(),
    environment: { node: process.version, cpus: os.availableParallelism(), platform: `${os.platform()} ${os.arch()}`, workers: x.workers, target: x.target, spawnedServer: x.spawnedServer, serverPid: x.serverPid },
    phases: {
      warmupMs: Math.round(x.warmup.ms), churnMs: Math.round(x.churnMs), drainMs: Math.round(x.drainMs), warmupComplete: x.warmup.complete,
      ...(x.runT0 === undefined ? {} : { churnStartT: Math.round(x.churnStartedAt - x.runT0) }),
    },
    proxies: { total: x.proxies.total, sotw: x.proxies.total - x.proxies.delta, delta: x.proxies.delta, syncedAtChurnStart: x.warmup.syncedAtEnd, everSynced: x.proxies.total - x.finals.reduce((a, f) => a + f.unsyncedCount, 0), syncedAtEnd, neverSynced },
    admission: {
      firstStream: percentiles(x.finals.flatMap((f) => f.admissionMs)),
      reconnectStream: percentiles(x.finals.flatMap((f) => f.reconnectAdmissionMs)),
      initialSync: percentiles(initialSync),
    },
    convergence: { byType, all, histogram },
    changes,
    storms,
    xds: { byType: xdsByType, nacks, nackSamples: nackSamples.slice(0, 10), streamsOpened, reconnects, retries, refused, decodes, decodeCacheHits: hits, responseCacheHits: responseHits },
    server: {
      cpuCoresChurn: serverCpuChurn !== null && windowS > 0 ? Math.round((serverCpuChurn / windowS) * 100) / 100 : null,
      cpuSecondsChurn: serverCpuChurn === null ? null : Math.round(serverCpuChurn * 100) / 100,
      cpuSecondsTotal: lastSample?.server.cpuSeconds === undefined ? null : Math.round(lastSample.server.cpuSeconds * 100) / 100,
      peakRssBytes: rss.length ? Math.max(...rss) : null,
      endRssBytes: rss.length ? rss[rss.length - 1]! : null,
      pushesChurn,
      rejects: lastSample?.server.rejects ?? null,
      eventLoopLagP99MaxMs: lags.length ? Math.round(Math.max(...lags) * 10) / 10 : null,
      serverConvergence: { count: convCount, p50: bucketQuantile(convBuckets, 0.5) ?? null, p99: bucketQuantile(convBuckets, 0.99) ?? null },
    },
    generator: {
      workers,
      cpuCoresChurn: genCpuChurn !== null && windowS > 0 ? Math.round((genCpuChurn / windowS) * 100) / 100 : null,
      peakRssBytes: Math.max(0, ...x.samples.map((s) => s.generator.rssBytes)),
      saturated: warnings.some((w) => w.startsWith('worker')),
      warnings,
    },
    samples: x.samples,
    ...(x.floor ? { floor: floorReport(x.floor, byType.global.convergence, x.globalServerPush) } : {}),
    ...(x.globalServerPush ? { globalServerPush: x.globalServerPush } : {}),
    checks: {
      allConnected: neverSynced.length === 0 && x.finals.every((f) => f.unsyncedCount === 0),
      everyChangeConverged: changes.every((c) => c.converged >= c.expected) && storms.every((s) => s.resynced >= s.dropped),
      zeroNacks: nacks === 0,
    },
  };
}
