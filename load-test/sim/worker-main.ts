/**
 * Entry point of one simulator worker thread (worker_threads): runs its share of the simulated
 * proxies over a few gRPC channels, and reports to the coordinator with the typed messages of
 * protocol.ts. Each worker measures its own event-loop delay and utilisation, so the report can
 * say when the generator, not the server, was the bottleneck.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { monitorEventLoopDelay, performance, EventLoopUtilization } from 'node:perf_hooks';
import { CoordinatorToWorker, ShortType, StormResult, TypeCounters, WorkerFinal, WorkerInit, WorkerStats, WorkerToCoordinator } from '../protocol';
import { wallNow } from '../clock';
import { ChannelPool } from './channel-pool';
import { ResourceChecker } from './resource-check';
import { ConvergenceTracker } from './convergence-tracker';
import { MarkerByteCounter } from './marker-bytes';
import { SimEnvoy, SimHooks, TypeIndex } from './envoy-sim';
import { encodeNode } from './xds-codec';
import { proxyNode } from './node';
import { mulberry32 } from '../scenario/random';

const SHORT: readonly ShortType[] = ['cds', 'eds', 'lds', 'rds'];
const MAX_NACK_SAMPLES = 5;

function post(msg: WorkerToCoordinator): void {
  parentPort!.postMessage(msg);
}

function counters(): Record<ShortType, TypeCounters> {
  const c = (): TypeCounters => ({ responses: 0, bytes: 0, resources: 0, acks: 0, nacks: 0 });
  return { cds: c(), eds: c(), lds: c(), rds: c() };
}

const ELD_RESOLUTION_MS = 10;

/**
 * Node's histogram records the whole interval between its timer's callbacks, resolution
 * included (an idle loop reads about 10 ms at resolution 10): subtract it to get the delay.
 */
function percentilesMs(h: ReturnType<typeof monitorEventLoopDelay>): { p50: number; p99: number; max: number } {
  const ms = (ns: number) => (Number.isFinite(ns) ? Math.max(0, Math.round(ns / 1e4 - ELD_RESOLUTION_MS * 100) / 100) : 0);
  return { p50: ms(h.percentile(50)), p99: ms(h.percentile(99)), max: ms(h.max) };
}

function run(init: WorkerInit): void {
  const pool = new ChannelPool(init.target, init.streamsPerChannel);
  const checker = new ResourceChecker();
  const tracker = new ConvergenceTracker(init.proxies.map((p) => p.namespace));
  const markerBytes = new MarkerByteCounter(init.proxies.length);
  const byType = counters();
  const nackSamples: string[] = [];
  const admissionMs: number[] = [];
  const reconnectAdmissionMs: number[] = [];
  const initialSyncMs: number[] = [];
  let streamsOpened = 0, reconnects = 0, retries = 0, refused = 0, connected = 0, synced = 0;
  const storms: Array<{ stormId: number; droppedAt: number; expected: number; resyncMs: number[] }> = [];
  /** local proxy index → storm awaiting its resync */
  const awaitingResync = new Map<number, (typeof storms)[number]>();

  /** per local proxy: counted in `synced` (the sim clears its own flag before streamEnded runs) */
  const countedSynced = new Uint8Array(init.proxies.length);

  const hooks: SimHooks = {
    response: (t: TypeIndex, bytes, resources) => {
      const c = byType[SHORT[t]!];
      c.responses++; c.bytes += bytes; c.resources += resources;
    },
    ack: (t) => { byType[SHORT[t]!].acks++; },
    nack: (t, reason) => {
      byType[SHORT[t]!].nacks++;
      if (nackSamples.length < MAX_NACK_SAMPLES) nackSamples.push(`${SHORT[t]}: ${reason}`);
    },
    streamOpened: (_sim, after) => {
      streamsOpened++;
      if (after === 'reconnect') reconnects++;
      else if (after === 'retry') retries++;
    },
    firstResponse: (_sim, ms, reconnect) => { connected++; (reconnect ? reconnectAdmissionMs : admissionMs).push(ms); },
    synced: (sim, at) => {
      if (countedSynced[sim.local] === 0) { countedSynced[sim.local] = 1; synced++; }
      if (sim.firstSyncedAt === at) initialSyncMs.push(at - sim.firstAttemptAt);
      const storm = awaitingResync.get(sim.local);
      if (storm) { awaitingResync.delete(sim.local); storm.resyncMs.push(at - storm.droppedAt); }
    },
    accepted: (sim, raw, at, t) => { tracker.onAccepted(sim.local, raw, at); markerBytes.onAccepted(sim.local, t, raw); },
    streamEnded: (sim, gotResponse) => {
      if (gotResponse) connected--; else refused++;
      if (countedSynced[sim.local] === 1) { countedSynced[sim.local] = 0; synced--; }
    },
  };

  const sims = init.proxies.map((spec, local) => new SimEnvoy(local, spec, {
    open: (i, delta) => pool.open(i, delta ? 'DeltaAggregatedResources' : 'StreamAggregatedResources'),
    checker,
    backoff: init.reconnect,
    hooks,
    node: encodeNode(proxyNode(spec, init)),
  }));

  // Ramp up at connectsPerSecond (a fleet does not start in one instant, and the server's
  // admission limiter would refuse most of an instantaneous burst anyway).
  let started = 0;
  let credit = 0;
  const rampTick = 20;
  const ramp = setInterval(() => {
    credit += (init.connectsPerSecond * rampTick) / 1000;
    while (credit >= 1 && started < sims.length) { sims[started++]!.start(); credit--; }
    if (started >= sims.length) clearInterval(ramp);
  }, rampTick);

  const intervalDelay = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
  const runDelay = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
  intervalDelay.enable();
  runDelay.enable();
  const eluStart = performance.eventLoopUtilization();
  let eluPrev: EventLoopUtilization = eluStart;

  const snapshot = (): WorkerStats => {
    const elu = performance.eventLoopUtilization(eluPrev);
    eluPrev = performance.eventLoopUtilization();
    const s = checker.stats;
    const stats: WorkerStats = {
      workerId: init.workerId, at: wallNow(), proxies: sims.length, connected, synced, streamsOpened, reconnects, retries, refused,
      byType: JSON.parse(JSON.stringify(byType)), nackSamples: [...nackSamples], converged: tracker.converged,
      eventLoopDelay: percentilesMs(intervalDelay), utilization: elu.utilization, decodes: s.decodes, decodeCacheHits: s.cacheHits, responseCacheHits: s.responseHits,
    };
    intervalDelay.reset();
    return stats;
  };
  const statsTimer = setInterval(() => post({ type: 'stats', stats: snapshot() }), init.statsIntervalMs);

  parentPort!.on('message', (msg: CoordinatorToWorker) => {
    switch (msg.type) {
      case 'watch':
        tracker.watch(msg.watch);
        markerBytes.watch(msg.watch);
        post({ type: 'watching', changeId: msg.watch.changeId });
        break;
      case 'storm': {
        const rnd = mulberry32(msg.seed + init.workerId * 7919);
        const storm = { stormId: msg.stormId, droppedAt: wallNow(), expected: 0, resyncMs: [] as number[] };
        for (const sim of sims) {
          if (rnd() >= msg.fraction || !sim.connected) continue;
          storm.expected++;
          awaitingResync.set(sim.local, storm);
          sim.drop();
        }
        storms.push(storm);
        post({ type: 'stormed', stormId: msg.stormId, dropped: storm.expected });
        break;
      }
      case 'stop': {
        clearInterval(ramp);
        clearInterval(statsTimer);
        const stats = snapshot();
        for (const sim of sims) sim.stop();
        pool.close();
        runDelay.disable();
        intervalDelay.disable();
        const final: WorkerFinal = {
          stats, admissionMs, reconnectAdmissionMs, initialSyncMs, markers: tracker.results(), markerBytes: markerBytes.totals,
          storms: storms.map((s): StormResult => ({ stormId: s.stormId, droppedAt: s.droppedAt, expected: s.expected, resyncMs: s.resyncMs })),
          eventLoopDelay: percentilesMs(runDelay), utilization: performance.eventLoopUtilization(eluStart).utilization,
          unsyncedCount: sims.filter((s) => s.firstSyncedAt === 0).length,
          unsyncedProxies: sims.filter((s) => s.firstSyncedAt === 0).map((s) => s.spec.nodeId).slice(0, 20),
        };
        post({ type: 'final', final });
        parentPort!.close();
        break;
      }
    }
  });
}

try {
  run(workerData as WorkerInit);
} catch (e) {
  post({ type: 'error', error: { code: 'LOAD_TEST_WORKER', message: e instanceof Error ? e.stack ?? e.message : String(e) } });
}
