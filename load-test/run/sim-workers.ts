/**
 * The coordinator's side of the simulator workers: starts N worker threads with their share of
 * the proxies (round-robin, so every worker gets a like mix of namespaces and SotW/Delta), keeps
 * each worker's latest stats, and turns request/reply messages into promises.
 */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { CoordinatorToWorker, MarkerWatch, ProxySpec, WorkerFinal, WorkerInit, WorkerStats, WorkerToCoordinator } from '../protocol';
import { Scenario } from '../scenario/schema';

/** Longest a worker may take to answer a watch or storm message. */
const REPLY_TIMEOUT_MS = 30_000;

export interface SimWorkersOptions {
  count: number;
  target: string;
  proxies: readonly ProxySpec[];
  scenario: Scenario;
  statsIntervalMs: number;
  istioVersion?: string;
}

export class SimWorkers {
  readonly latest: Array<WorkerStats | undefined>;
  private readonly workers: Worker[] = [];
  private readonly watchWaiters = new Map<number, { left: number; resolve: () => void }>();
  private readonly stormWaiters = new Map<number, { left: number; dropped: number; resolve: (n: number) => void }>();
  private readonly finals: Array<WorkerFinal | undefined>;
  private finalWaiter: (() => void) | undefined;
  private failure: Error | undefined;
  private readonly failureListeners: Array<(e: Error) => void> = [];

  constructor(opts: SimWorkersOptions) {
    if (!Number.isInteger(opts.count) || opts.count < 1) throw new RangeError(`workers: expected a positive integer, got ${opts.count}`);
    this.latest = new Array(opts.count).fill(undefined);
    this.finals = new Array(opts.count).fill(undefined);
    const script = path.join(__dirname, '..', 'sim', 'worker-main.js');
    for (let w = 0; w < opts.count; w++) {
      const init: WorkerInit = {
        workerId: w,
        target: opts.target,
        proxies: opts.proxies.filter((p) => p.index % opts.count === w),
        streamsPerChannel: opts.scenario.streamsPerChannel,
        connectsPerSecond: opts.scenario.connectsPerSecond / opts.count,
        reconnect: opts.scenario.reconnect,
        istioVersion: opts.istioVersion ?? '1.30.0',
        clusterId: 'Kubernetes',
        statsIntervalMs: opts.statsIntervalMs,
      };
      const worker = new Worker(script, { workerData: init });
      worker.on('message', (m: WorkerToCoordinator) => this.onMessage(w, m));
      worker.on('error', (e) => this.fail(new Error(`simulator worker ${w} crashed: ${e.stack ?? e.message}`)));
      worker.on('exit', (code) => { if (!this.finals[w] && code !== 0) this.fail(new Error(`simulator worker ${w} exited with code ${code}`)); });
      this.workers.push(worker);
    }
  }

  /** Called once if a worker fails; the run should stop. */
  onFailure(f: (e: Error) => void): void {
    if (this.failure) f(this.failure); else this.failureListeners.push(f);
  }

  /**
   * Resolves when every worker watches the marker; rejects if one does not confirm within
   * `timeoutMs` (a worker that far behind makes every measurement meaningless).
   */
  watch(watch: MarkerWatch, timeoutMs = REPLY_TIMEOUT_MS): Promise<void> {
    return this.withTimeout(new Promise((resolve, reject) => {
      if (this.failure) { reject(this.failure); return; }
      this.watchWaiters.set(watch.changeId, { left: this.workers.length, resolve });
      this.broadcast({ type: 'watch', watch });
    }), timeoutMs, `a simulator worker did not confirm marker ${watch.marker} within ${timeoutMs} ms`);
  }

  /** Drop `fraction` of the connected streams; resolves to the number dropped. */
  storm(stormId: number, fraction: number, seed: number, timeoutMs = REPLY_TIMEOUT_MS): Promise<number> {
    return this.withTimeout(new Promise((resolve, reject) => {
      if (this.failure) { reject(this.failure); return; }
      this.stormWaiters.set(stormId, { left: this.workers.length, dropped: 0, resolve });
      this.broadcast({ type: 'storm', stormId, fraction, seed });
    }), timeoutMs, `a simulator worker did not confirm the reconnect storm within ${timeoutMs} ms`);
  }

  private withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(message)), ms); });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  /** Stop every proxy and collect the final reports (workers that do not answer are terminated). */
  async stop(timeoutMs = 30_000): Promise<WorkerFinal[]> {
    const done = new Promise<void>((resolve) => { this.finalWaiter = resolve; });
    this.broadcast({ type: 'stop' });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise<void>((r) => { timer = setTimeout(r, timeoutMs); })]);
    clearTimeout(timer);
    await Promise.all(this.workers.map((w) => w.terminate()));
    return this.finals.filter((f): f is WorkerFinal => f !== undefined);
  }

  private broadcast(msg: CoordinatorToWorker): void {
    for (const w of this.workers) w.postMessage(msg);
  }

  private fail(e: Error): void {
    if (this.failure) return;
    this.failure = e;
    for (const f of this.failureListeners.splice(0)) f(e);
  }

  private onMessage(w: number, m: WorkerToCoordinator): void {
    switch (m.type) {
      case 'stats':
        this.latest[w] = m.stats;
        break;
      case 'watching': {
        const waiter = this.watchWaiters.get(m.changeId);
        if (waiter && --waiter.left === 0) { this.watchWaiters.delete(m.changeId); waiter.resolve(); }
        break;
      }
      case 'stormed': {
        const waiter = this.stormWaiters.get(m.stormId);
        if (!waiter) break;
        waiter.dropped += m.dropped;
        if (--waiter.left === 0) { this.stormWaiters.delete(m.stormId); waiter.resolve(waiter.dropped); }
        break;
      }
      case 'final':
        this.finals[w] = m.final;
        this.latest[w] = m.final.stats;
        if (this.finals.every((f) => f !== undefined)) this.finalWaiter?.();
        break;
      case 'error':
        this.fail(new Error(`simulator worker ${w}: ${m.error.message}`));
        break;
    }
  }
}
