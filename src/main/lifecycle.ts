/**
 * Lifecycle of one istiod-ts process, visible in /ready and as `istiod_ts_lifecycle_state`:
 *
 *   Initializing ─► Starting ─► Running ⇄ Degraded ─► Stopping ─► Stopped
 *   (HTTP up,       (sources    (sources synced, pools      (SIGTERM: 503, GOAWAY,
 *    sources         synced)      started, xDS listening;    drain pushes, pools down)
 *    loading)                     Degraded = serving, but something needs attention)
 *
 * Ready (HTTP 200 on /ready) means Running or Degraded, as Istio's readiness probe: the sources
 * have synced, the worker pools are up and xDS is listening. Degraded stays ready on purpose: the
 * instance still serves the last good config, and pulling it out of the Service would only move
 * its proxies onto the other replicas without fixing anything; the reasons are in /ready's body.
 */
import * as grpc from '@grpc/grpc-js';
import * as client from 'prom-client';
import type { AdsServer } from './xds/ads-server';
import type { WritableStream } from './xds/connection';
import type { Logger } from './log';

export const LIFECYCLE_STATES = ['Initializing', 'Starting', 'Running', 'Degraded', 'Stopping', 'Stopped'] as const;
export type LifecycleState = typeof LIFECYCLE_STATES[number];

/** The readiness conditions (all must hold for Running). */
export interface ReadinessChecks {
  sourcesSynced: boolean;
  poolsStarted: boolean;
  xdsListening: boolean;
}

export interface ReadyReport {
  ready: boolean;
  state: LifecycleState;
  since: string;
  checks: ReadinessChecks;
  /** why the instance is Degraded (empty otherwise) */
  degraded: string[];
}

const ORDER: Record<LifecycleState, number> = { Initializing: 0, Starting: 1, Running: 2, Degraded: 2, Stopping: 3, Stopped: 4 };

export class Lifecycle {
  private current: LifecycleState = 'Initializing';
  private sinceMs = Date.now();
  private readonly checks: ReadinessChecks = { sourcesSynced: false, poolsStarted: false, xdsListening: false };
  private readonly listeners: Array<(s: LifecycleState) => void> = [];
  /** probes re-read on every evaluation; a probe that returns reasons makes Running → Degraded */
  private degradedProbe: () => string[] = () => [];
  private lastDegraded: string[] = [];
  /** live check of the pools (threads may die after start) */
  private poolsProbe: () => boolean = () => true;

  get state(): LifecycleState { return this.current; }

  /** Transitions only move forward, except Running ⇄ Degraded. */
  private to(next: LifecycleState): void {
    if (next === this.current) return;
    if (ORDER[next] < ORDER[this.current]) return;
    this.current = next;
    this.sinceMs = Date.now();
    for (const l of this.listeners) l(next);
  }

  onChange(fn: (s: LifecycleState) => void): void { this.listeners.push(fn); }

  /** Mark a readiness condition met; when all are, Starting → Running. */
  mark(check: keyof ReadinessChecks): void {
    this.checks[check] = true;
    if (check === 'sourcesSynced') this.to('Starting');
    this.evaluate();
  }

  watchPools(probe: () => boolean): void { this.poolsProbe = probe; }
  watchDegraded(probe: () => string[]): void { this.degradedProbe = probe; }

  stopping(): void { this.to('Stopping'); }
  stopped(): void { this.to('Stopped'); }

  /** Re-read the probes: Running ⇄ Degraded, and readiness. */
  evaluate(): void {
    if (ORDER[this.current] > ORDER.Running) return;
    const all = this.checks.sourcesSynced && this.checks.poolsStarted && this.checks.xdsListening && this.poolsProbe();
    if (!all) return;
    let reasons: string[];
    try { reasons = this.degradedProbe(); } catch (e) { reasons = [`degraded probe failed: ${e instanceof Error ? e.message : String(e)}`]; }
    this.lastDegraded = reasons;
    this.to(reasons.length > 0 ? 'Degraded' : 'Running');
  }

  report(): ReadyReport {
    this.evaluate();
    const ready = (this.current === 'Running' || this.current === 'Degraded') && this.poolsProbe();
    return {
      ready, state: this.current, since: new Date(this.sinceMs).toISOString(),
      checks: { ...this.checks, poolsStarted: this.checks.poolsStarted && this.poolsProbe() },
      degraded: this.current === 'Degraded' ? this.lastDegraded : [],
    };
  }

  /** `istiod_ts_lifecycle_state{state}`: 1 for the current state, 0 for the others. */
  registerMetric(registry: client.Registry): void {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    new client.Gauge({
      name: 'istiod_ts_lifecycle_state',
      help: '(istiod-ts) Lifecycle state of this instance: 1 for the current state (Initializing, Starting, Running, Degraded, Stopping, Stopped).',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        self.evaluate();
        for (const s of LIFECYCLE_STATES) this.set({ state: s }, s === self.current ? 1 : 0);
      },
    });
  }
}

/** What a graceful shutdown stops, in order. */
export interface ShutdownSteps {
  lifecycle: Lifecycle;
  /** stop the sources and the debouncer: no new pushes start */
  stopSources(): Promise<void>;
  ads: AdsServer;
  /** after the xDS servers: HTTP listeners, CA, worker pools */
  closeRest(): Promise<void>;
  log: Logger;
}

// Timers here are deliberately NOT unref'd: they are what keeps the event loop alive while the
// shutdown waits (every socket may already be closed), and every wait is bounded.
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolve with true when `p` settles within `ms`, false otherwise. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((r) => { timer = setTimeout(() => r(false), ms); });
  try { return await Promise.race([p.then(() => true), timeout]); } finally { clearTimeout(timer); }
}

/**
 * SIGTERM/SIGINT (Istio: GracefulStop, then Stop after the shutdown duration):
 *  1. Stopping: /ready answers 503, so load balancers stop sending new proxies here.
 *  2. Sources and debouncer stop: no new push starts.
 *  3. GOAWAY: grpc-js `tryShutdown` closes the listeners and calls `session.close()` on every
 *     HTTP/2 session, which sends GOAWAY(NO_ERROR): no new stream is admitted from here on.
 *  4. In-flight pushes finish on their streams (the push queue drains), for at most half of
 *     `timeoutMs`.
 *  5. At least `settleMs` after the GOAWAY (which precedes the trailers on the same TCP connection),
 *     every ADS stream ends with UNAVAILABLE, so proxies reconnect, on a new connection that
 *     the Service routes to another replica.
 *  6. Once the sessions have closed (bounded), `forceShutdown` destroys what is left; HTTP
 *     servers, CA and pools close; Stopped.
 * Resolves when everything is closed; the caller exits 0. The whole sequence is bounded by
 * `timeoutMs` (cli.ts exits 1 if it is not done by then).
 */
export async function gracefulShutdown(s: ShutdownSteps, opts: { timeoutMs: number; settleMs?: number }): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  const left = () => Math.max(0, deadline - Date.now());
  const t0 = Date.now();
  s.lifecycle.stopping();
  await s.stopSources();
  // GOAWAY first: from here no stream is admitted (listeners closed; clients open no new stream
  // on a session that sent GOAWAY), while pushes already under way finish on their streams.
  const sessionsClosed = Promise.all([s.ads.server, s.ads.secureServer].map((server) =>
    server ? new Promise<void>((resolve) => server.tryShutdown(() => resolve())) : undefined));
  const goawayAt = Date.now();
  const drained = await within(s.ads.queue.idle(), left() / 2);
  if (!drained) s.log.warn('shutdown: in-flight pushes did not finish in time', { pending: s.ads.queue.pendingSize, processing: s.ads.queue.processingSize });
  const streams = s.ads.connections.size;
  await sleep(Math.max(0, Math.min((opts.settleMs ?? 100) - (Date.now() - goawayAt), left())));
  for (const c of s.ads.connections.values()) {
    // End the stream with a status (XdsConnection keeps its call protected: this is the one
    // place outside xds/ that needs it, to say why the stream ends).
    const call = (c as unknown as { stream: WritableStream }).stream;
    try { call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'istiod-ts is shutting down; reconnect' }); } catch { /* already ended */ }
  }
  // The statuses are written asynchronously: let the sessions finish (clients close them once
  // their streams are done) before anything is destroyed, or the clients would see CANCELLED.
  const closedCleanly = await within(sessionsClosed, Math.min(2000, left()));
  await s.ads.close(Math.min(1000, left()));
  await s.closeRest();
  s.lifecycle.stopped();
  s.log.info('shutdown complete', { streams, drained, closedCleanly, ms: Date.now() - t0 });
}
