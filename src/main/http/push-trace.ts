/**
 * /debug/push_trace (ours): the last pushes, each with its trigger, the proxies it reached, the
 * bytes it sent and how long each stage took. A bounded ring, main thread only.
 *
 * Stages, in order: `debounce` (first event → flush), `snapshot` (registry build + snapshot
 * publish), `invalidate` (cache invalidation and the affected-connection set), `push` (queue and
 * send to every affected proxy until the queue is idle). Pushes are serialised by the debouncer
 * (one flush at a time), so responses sent while a trace is open belong to it.
 */
import { SHORT_NAME, XdsTypeUrl } from '../../shared/resources';
import { PushRequest } from '../push/push-request';
import { XdsCallbacks } from '../xds/callbacks';

export interface PushTraceEntry {
  id: number;
  /** version of the snapshot the push published (0 until known) */
  version: number;
  startedAt: string;
  /** trigger reasons with counts (Istio's pilot_push_triggers types) */
  trigger: Record<string, number>;
  configsUpdated: string[];
  endpointsOnly: boolean;
  forced: boolean;
  /** connections the change invalidated / queued */
  affected: number;
  queued: number;
  /** proxies that received at least one response in this push */
  proxies: string[];
  responses: number;
  bytes: number;
  bytesByType: Record<string, number>;
  /** stage → milliseconds */
  stages: Record<string, number>;
  totalMs: number;
  /** slowest proxy's convergence (change entered the debouncer → all types sent), ms */
  convergenceMaxMs: number;
  error?: string;
  done: boolean;
}

export interface OpenTrace {
  /** close the stage that started at the previous mark */
  stage(name: string): void;
  end(result: { version: number; affected: number; queued: number }): void;
  fail(error: string): void;
}

const MAX_PROXY_NAMES = 50;

export class PushTracer {
  private readonly ring: PushTraceEntry[] = [];
  private current?: PushTraceEntry;
  private proxies = new Set<string>();
  private nextId = 1;
  private readonly listeners: Array<(e: PushTraceEntry) => void> = [];

  constructor(private readonly capacity = 100, private readonly now: () => number = Date.now) {}

  /** Called when a push finishes (dashboard). */
  onDone(fn: (e: PushTraceEntry) => void): void { this.listeners.push(fn); }

  begin(req: PushRequest, debounceMs: number): OpenTrace {
    const entry: PushTraceEntry = {
      id: this.nextId++, version: 0, startedAt: new Date(this.now()).toISOString(),
      trigger: { ...req.reasons } as Record<string, number>, configsUpdated: [...req.configsUpdated].slice(0, 100),
      endpointsOnly: req.endpointsOnly, forced: req.forced, affected: 0, queued: 0, proxies: [], responses: 0, bytes: 0,
      bytesByType: {}, stages: { debounce: Math.round(debounceMs * 1000) / 1000 }, totalMs: 0, convergenceMaxMs: 0, done: false,
    };
    this.current = entry;
    this.proxies = new Set();
    this.ring.push(entry);
    if (this.ring.length > this.capacity) this.ring.shift();
    const t0 = performance.now();
    let mark = t0;
    const finish = () => {
      entry.totalMs = round(performance.now() - t0 + debounceMs);
      entry.proxies = [...this.proxies].slice(0, MAX_PROXY_NAMES);
      entry.done = true;
      if (this.current === entry) this.current = undefined;
      for (const l of this.listeners) l(entry);
    };
    return {
      stage: (name) => { const t = performance.now(); entry.stages[name] = round(t - mark); mark = t; },
      end: (r) => { entry.version = r.version; entry.affected = r.affected; entry.queued = r.queued; finish(); },
      fail: (error) => { entry.error = error; finish(); },
    };
  }

  /** Newest first. */
  list(limit = this.capacity): PushTraceEntry[] {
    return this.ring.slice(-limit).reverse();
  }

  callbacks(): XdsCallbacks {
    return {
      onResponse: (s, type: XdsTypeUrl, _n, bytes, reason) => {
        const e = this.current;
        if (!e || reason !== 'push') return;
        e.responses++;
        e.bytes += bytes;
        const t = SHORT_NAME[type];
        e.bytesByType[t] = (e.bytesByType[t] ?? 0) + bytes;
        this.proxies.add(s.proxy.id);
      },
      onPushComplete: (_s, startMs) => {
        const e = this.current;
        if (e) e.convergenceMaxMs = Math.max(e.convergenceMaxMs, this.now() - startMs);
      },
    };
  }
}

function round(ms: number): number { return Math.round(ms * 1000) / 1000; }
