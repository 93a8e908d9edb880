/**
 * The floor phase of a load-test run (after drain, once the simulator workers and the spawned
 * server have stopped): the coordinator forks the floor server (floor-server.ts, its own process
 * and event loop), starts floor workers (floor-worker.ts) that open one stream per simulated proxy
 * with the run's channel layout and SotW/Delta split, and has the server write `rounds` rounds of
 * prebuilt responses whose size is what istiod-ts sent per proxy for the global change
 * (floorPayload). Every step is bounded; the child and the workers are stopped on every path.
 */
import { ChildProcess, fork } from 'node:child_process';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ProxySpec, WorkerFinal } from '../protocol';
import { percentiles } from '../run/percentiles';
import type { FloorCommand, FloorEvent, FloorRound } from './floor-server';
import type { FloorWorkerInit, FloorWorkerMessage } from './floor-worker';

export interface FloorResult {
  streams: number;
  sotw: number;
  delta: number;
  streamsPerChannel: number;
  /** bytes of the DiscoveryResponse written to each stream per round */
  bytesPerStream: number;
  /** 'global': mean bytes istiod-ts sent per proxy and global push; 'cds-mean': mean CDS response (no global change measured) */
  bytesSource: 'global' | 'cds-mean';
  rounds: number;
  /** per round: streams that ACKed in time */
  acked: number[];
  /** per round: ms to queue every write */
  writeMs: number[];
  /** per round: ms from the first write to the last ACK (null: not every stream ACKed within the round's limit) */
  allAckedMs: Array<number | null>;
  /** per-stream ms from the first write to its ACK, over every round */
  p50Ms: number | null;
  p99Ms: number | null;
  /** set when the phase failed (the run's other results stand) */
  error?: string;
}

/** The payload size: bytes per proxy and global push, else the mean CDS response. */
export function floorPayload(finals: readonly WorkerFinal[]): { bytes: number; source: FloorResult['bytesSource'] } {
  let bytes = 0, pushes = 0, cdsBytes = 0, cdsResponses = 0;
  for (const f of finals) {
    bytes += f.markerBytes?.bytes ?? 0;
    pushes += f.markerBytes?.pushes ?? 0;
    cdsBytes += f.stats.byType.cds.bytes;
    cdsResponses += f.stats.byType.cds.responses;
  }
  if (pushes > 0) return { bytes: Math.round(bytes / pushes), source: 'global' };
  return { bytes: Math.max(1, Math.round(cdsResponses ? cdsBytes / cdsResponses : 1)), source: 'cds-mean' };
}

export interface FloorOptions {
  proxies: readonly ProxySpec[];
  workers: number;
  streamsPerChannel: number;
  bytesPerStream: number;
  bytesSource: FloorResult['bytesSource'];
  rounds: number;
  /** longest wait for every stream to open, and for one round to be ACKed everywhere */
  openTimeoutMs?: number;
  roundTimeoutMs?: number;
  info?: (line: string) => void;
  signal?: AbortSignal;
}

const PAUSE_MS = 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runFloor(o: FloorOptions): Promise<FloorResult> {
  const result: FloorResult = {
    streams: o.proxies.length, sotw: o.proxies.filter((p) => !p.delta).length, delta: o.proxies.filter((p) => p.delta).length,
    streamsPerChannel: o.streamsPerChannel, bytesPerStream: o.bytesPerStream, bytesSource: o.bytesSource, rounds: o.rounds,
    acked: [], writeMs: [], allAckedMs: [], p50Ms: null, p99Ms: null,
  };
  const openTimeoutMs = o.openTimeoutMs ?? 60_000 + o.proxies.length * 5;
  const roundTimeoutMs = o.roundTimeoutMs ?? 60_000;
  let child: ChildProcess | undefined;
  const workers: Worker[] = [];
  const latencies: number[] = [];
  try {
    child = fork(path.join(__dirname, 'floor-server.js'), ['--streams', String(o.proxies.length), '--bytes', String(o.bytesPerStream)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const events: FloorEvent[] = [];
    let wake: (() => void) | undefined;
    let exited = false;
    child.on('message', (m: FloorEvent) => { events.push(m); wake?.(); });
    child.on('exit', () => { exited = true; wake?.(); });
    const next = async <T extends FloorEvent['type']>(type: T, timeoutMs: number, what: string): Promise<Extract<FloorEvent, { type: T }>> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const i = events.findIndex((e) => e.type === type || e.type === 'error');
        if (i >= 0) {
          const e = events.splice(i, 1)[0]!;
          if (e.type === 'error') throw new Error(`floor server: ${e.message}`);
          return e as Extract<FloorEvent, { type: T }>;
        }
        if (exited) throw new Error(`floor server exited while waiting for ${what}`);
        if (o.signal?.aborted) throw new Error('interrupted');
        if (Date.now() > deadline) throw new Error(`floor: no ${what} within ${Math.round(timeoutMs / 1000)} s`);
        await new Promise<void>((r) => { wake = r; setTimeout(r, 200); });
        wake = undefined;
      }
    };
    const send = (c: FloorCommand) => child!.send(c);
    const { port } = await next('listening', 10_000, 'listening port');

    // the same split as the simulator workers: proxy i goes to worker i mod N, channels in local order
    let workerError: string | undefined;
    for (let w = 0; w < o.workers; w++) {
      const init: FloorWorkerInit = { target: `127.0.0.1:${port}`, proxies: o.proxies.filter((p) => p.index % o.workers === w), streamsPerChannel: o.streamsPerChannel, istioVersion: '1.30.0', clusterId: 'Kubernetes' };
      const worker = new Worker(path.join(__dirname, 'floor-worker.js'), { workerData: init });
      worker.on('message', (m: FloorWorkerMessage) => { if (m.type === 'error') workerError = m.message; });
      worker.on('error', (e) => { workerError = e.message; });
      workers.push(worker);
    }
    const ready = await next('ready', openTimeoutMs, `all ${o.proxies.length} floor streams open`).catch((e: Error) => { throw new Error(workerError ? `floor worker: ${workerError}` : e.message); });
    o.info?.(`floor: ${ready.streams} streams open (${ready.sotw} SotW) on a bare grpc-js server, ${o.rounds} rounds of ${o.bytesPerStream} bytes per stream`);
    for (let round = 1; round <= o.rounds; round++) {
      await sleep(PAUSE_MS);
      send({ type: 'round', round, timeoutMs: roundTimeoutMs });
      const r: FloorRound = (await next('round', roundTimeoutMs + 10_000, `round ${round}`)).result;
      result.acked.push(r.acked);
      result.writeMs.push(r.writeMs);
      result.allAckedMs.push(r.allAckedMs);
      latencies.push(...r.latencies);
      o.info?.(`floor round ${round}: ${r.acked}/${r.streams} ACKed, last after ${r.allAckedMs ?? '-'} ms (writes queued in ${r.writeMs} ms)`);
    }
  } catch (e) {
    result.error = e instanceof Error ? e.message : String(e);
  } finally {
    if (child && child.connected) child.send({ type: 'stop' } satisfies FloorCommand);
    for (const w of workers) w.postMessage({ type: 'stop' });
    await sleep(200);
    await Promise.all(workers.map((w) => w.terminate()));
    if (child && child.exitCode === null) {
      const gone = new Promise<void>((r) => child!.once('exit', () => r()));
      const timer = setTimeout(() => child!.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(timer);
    }
  }
  const p = percentiles(latencies);
  result.p50Ms = p.p50;
  result.p99Ms = p.p99;
  return result;
}
