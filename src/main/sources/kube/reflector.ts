/**
 * A reflector (client-go's tools/cache.Reflector) for one resource path: list, then watch from the
 * list's resourceVersion, keeping a cache of the objects it has seen and handing batched changes
 * to a handler.
 *
 * - Watches ask for bookmarks (allowWatchBookmarks) and a server-side timeout randomised between
 *   5 and 10 minutes, as client-go does; bookmarks only advance the resourceVersion.
 * - A watch that ends normally is resumed from the last resourceVersion.
 * - 410 Gone (an ERROR event with code 410, or an HTTP 410 answer): the resourceVersion is too old;
 *   relist and diff the new list against the cache, so objects that vanished meanwhile are
 *   reported as removed and unchanged ones are not reported at all (no lost or duplicated object).
 * - Any other failure (connection refused or reset, 5xx, 401/403, a watch that ends at once with
 *   nothing received) is retried with jittered exponential backoff; the cache — the last good
 *   objects — stays as it is meanwhile, and health() reports the failure.
 *
 * Events arriving within `batchMs` are coalesced into one batch (the last change of a key wins).
 * A list is always delivered as one batch. After stop() no timer or connection is left behind and
 * the handler is not called again.
 */
import { KubeClient, KubeList, KubeObject, isStatus } from '../../kube/client';
import { Logger, scope } from '../../log';
import { Backoff, BackoffOptions } from './backoff';

export interface ReflectorBatch {
  /** objects added or changed (after `transform`) */
  put: KubeObject[];
  /** objects deleted, as last seen */
  remove: KubeObject[];
  /** the first list: the handler now holds the complete initial state */
  initial: boolean;
  /** the batch is the diff of a (re)list against the cache */
  relist: boolean;
}

export interface ReflectorHealth {
  /** the first list has been delivered */
  synced: boolean;
  /** false while lists or watches fail (a relist in progress is healthy) */
  healthy: boolean;
  /** the most recent failure, kept after recovery */
  lastError?: string;
  /** which operation is failing: 'list' or 'watch' */
  failingOp?: 'list' | 'watch';
  /** when the current run of failures began (epoch ms); undefined when healthy */
  failingSinceMs?: number;
  /** relists after 410 Gone */
  relists: number;
  /** watches started again after they ended or failed */
  watchRestarts: number;
  /** objects in the cache */
  objects: number;
  resourceVersion: string;
}

export interface ReflectorOptions {
  client: KubeClient;
  /** collection path, e.g. /api/v1/services or /apis/networking.istio.io/v1/virtualservices */
  path: string;
  /** extra list/watch parameters (labelSelector, fieldSelector) */
  query?: Record<string, string>;
  handler: (batch: ReflectorBatch) => void;
  /** name in logs and health messages (default: the path) */
  name?: string;
  backoff?: BackoffOptions;
  /** watch timeoutSeconds for each new watch (default: random 300..600, as client-go) */
  watchTimeoutSeconds?: () => number;
  /** coalescing window for watch events (default 5 ms) */
  batchMs?: number;
  /** applied to every object before it is cached and delivered (client-go SetTransform) */
  transform?: (obj: KubeObject) => KubeObject;
  log?: Logger;
}

type WatchOutcome =
  | { kind: 'ended'; short: boolean }
  | { kind: 'gone' }
  | { kind: 'error'; err: unknown }
  | { kind: 'stopped' };

/** A watch that ends this soon having delivered nothing counts as a failure (client-go: "very short watch"). */
const SHORT_WATCH_MS = 1000;
/** Grace beyond timeoutSeconds before a silent watch is abandoned (a half-open connection). */
const WATCH_GUARD_EXTRA_MS = 30_000;

export function objectKeyOf(obj: KubeObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

export class Reflector {
  readonly name: string;
  private readonly client: KubeClient;
  private readonly path: string;
  private readonly query: Record<string, string>;
  private readonly handler: (batch: ReflectorBatch) => void;
  private readonly backoff: Backoff;
  private readonly watchTimeout: () => number;
  private readonly batchMs: number;
  private readonly transform: (obj: KubeObject) => KubeObject;
  private readonly log: Logger;

  private state: 'new' | 'running' | 'stopped' = 'new';
  private loop: Promise<void> | undefined;
  private cache = new Map<string, KubeObject>();
  private rv = '';
  private readonly pendingPut = new Map<string, KubeObject>();
  private readonly pendingRemove = new Map<string, KubeObject>();
  private flushTimer: NodeJS.Timeout | undefined;
  private sleeper: { timer: NodeJS.Timeout; resolve: () => void } | undefined;
  private activeWatch: { stop(): void } | undefined;

  private isSynced = false;
  private syncWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private failingSince: number | undefined;
  private failingOp: 'list' | 'watch' | undefined;
  private lastError: string | undefined;
  private relists = 0;
  private watchRestarts = 0;

  constructor(opts: ReflectorOptions) {
    this.client = opts.client;
    this.path = opts.path;
    this.query = { ...(opts.query ?? {}) };
    this.handler = opts.handler;
    this.name = opts.name ?? opts.path;
    this.backoff = new Backoff(opts.backoff);
    this.watchTimeout = opts.watchTimeoutSeconds ?? (() => 300 + Math.floor(Math.random() * 300));
    this.batchMs = opts.batchMs ?? 5;
    if (!(this.batchMs >= 0)) throw new RangeError(`batchMs: expected a non-negative number, got ${opts.batchMs}`);
    this.transform = opts.transform ?? ((o) => o);
    this.log = opts.log ?? scope('kube');
  }

  get synced(): boolean { return this.isSynced; }

  /** Starts listing and watching in the background. */
  start(): void {
    if (this.state !== 'new') throw new Error(`reflector ${this.name}: can only be started once`);
    this.state = 'running';
    this.loop = this.run().catch((err: unknown) => {
      this.log.error('reflector stopped unexpectedly', { resource: this.name, reason: errText(err) });
    });
  }

  /** Resolves after the first list has been delivered; rejects if stopped before. */
  whenSynced(): Promise<void> {
    if (this.isSynced) return Promise.resolve();
    if (this.state === 'stopped') return Promise.reject(new Error(`reflector ${this.name} stopped before its first list`));
    return new Promise((resolve, reject) => this.syncWaiters.push({ resolve, reject }));
  }

  /** Stops the loop, the open watch and any pending timer; no handler call after this resolves. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') { await this.loop; return; }
    this.state = 'stopped';
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.pendingPut.clear();
    this.pendingRemove.clear();
    if (this.sleeper) { clearTimeout(this.sleeper.timer); this.sleeper.resolve(); this.sleeper = undefined; }
    this.activeWatch?.stop();
    for (const w of this.syncWaiters.splice(0)) w.reject(new Error(`reflector ${this.name} stopped before its first list`));
    await this.loop;
  }

  health(): ReflectorHealth {
    return {
      synced: this.isSynced,
      healthy: this.failingSince === undefined,
      lastError: this.lastError,
      failingOp: this.failingSince === undefined ? undefined : this.failingOp,
      failingSinceMs: this.failingSince,
      relists: this.relists,
      watchRestarts: this.watchRestarts,
      objects: this.cache.size,
      resourceVersion: this.rv,
    };
  }

  /** The cached objects (a fresh array). */
  objects(): KubeObject[] { return [...this.cache.values()]; }

  private get running(): boolean { return this.state === 'running'; }

  private async run(): Promise<void> {
    let needList = true;
    let listedAt = 0;
    while (this.running) {
      if (needList) {
        let list: KubeList;
        try {
          list = await this.client.list(this.path, this.query);
        } catch (err) {
          if (!this.running) return;
          this.failed('list', err);
          await this.sleep(this.retryDelay(err));
          continue;
        }
        if (!this.running) return;
        this.applyList(list);
        listedAt = Date.now();
        this.recovered();
        this.backoff.reset();
        needList = false;
      }
      const outcome = await this.watchOnce();
      if (!this.running || outcome.kind === 'stopped') return;
      if (outcome.kind === 'gone') {
        this.relists++;
        this.log.info('watch expired (410 Gone), relisting', { resource: this.name, resourceVersion: this.rv });
        needList = true;
        // A fresh list's resourceVersion expiring at once means a confused server: do not spin.
        if (Date.now() - listedAt < SHORT_WATCH_MS) await this.sleep(this.backoff.next());
        continue;
      }
      this.watchRestarts++;
      if (outcome.kind === 'ended' && !outcome.short) {
        this.log.debug('watch ended, resuming', { resource: this.name, resourceVersion: this.rv });
        continue;
      }
      const err = outcome.kind === 'error' ? outcome.err : new Error('very short watch: the API server ended it at once without sending anything');
      this.failed('watch', err);
      await this.sleep(this.retryDelay(err));
    }
  }

  /**
   * The wait before retrying after `err`. 429 and 503 are an API server (re)starting — "storage
   * is (re)initializing", "not all HTTP paths installed yet" — with Retry-After of 1–5 s: retry
   * about a second later and do not grow the backoff, or a restart of the API server would leave
   * the kinds that failed most waiting up to the 30 s ceiling after it is back.
   */
  private retryDelay(err: unknown): number {
    const code = (err as { statusCode?: number } | undefined)?.statusCode;
    if (code === 429 || code === 503) {
      this.backoff.reset();
      return 1000 + Math.floor(Math.random() * 500);
    }
    return this.backoff.next();
  }

  /** One watch from the current resourceVersion, until it ends, fails, expires or is stopped. */
  private watchOnce(): Promise<WatchOutcome> {
    return new Promise<WatchOutcome>((resolve) => {
      const timeoutSeconds = this.watchTimeout();
      const started = Date.now();
      let settled = false;
      let received = 0;
      let gone = false;
      let statusError: Error | undefined;
      let ctl: AbortController | undefined;
      let established = false;
      const finish = (o: WatchOutcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(guard);
        this.activeWatch = undefined;
        ctl?.abort();
        resolve(o);
      };
      const guard = setTimeout(() => {
        finish({ kind: 'error', err: new Error(`watch silent for ${timeoutSeconds}s beyond its timeout, reconnecting`) });
      }, timeoutSeconds * 1000 + WATCH_GUARD_EXTRA_MS);
      this.activeWatch = { stop: () => finish({ kind: 'stopped' }) };

      const done = (err: unknown) => {
        if (gone || isStatus(err, 410)) finish({ kind: 'gone' });
        else if (statusError) finish({ kind: 'error', err: statusError });
        else {
          const short = received === 0 && Date.now() - started < SHORT_WATCH_MS;
          if (err && (!established || !isConnectionDrop(err) || short)) finish({ kind: 'error', err });
          else finish({ kind: 'ended', short });
        }
      };
      const onEvent = (type: string, obj: any) => {
        if (settled) return;
        received++;
        if (type === 'ERROR') {
          const code = obj?.code;
          if (code === 410) gone = true;
          else statusError = new Error(`watch error event: ${code ?? '?'} ${obj?.reason ?? ''}: ${obj?.message ?? JSON.stringify(obj)}`.replace(/ {2,}/g, ' '));
          done(null);
          return;
        }
        try {
          this.onEvent(type, obj);
        } catch (e) {
          this.log.error('cannot handle watch event', { resource: this.name, type, reason: errText(e) });
        }
      };
      const params = { ...this.query, resourceVersion: this.rv || undefined, allowWatchBookmarks: true, timeoutSeconds };
      this.client.watch.watch(this.path, params, onEvent, done).then((c) => {
        ctl = c;
        if (settled) { c.abort(); return; }
        // The stream is open: the API server answered 200.
        established = true;
        this.recovered();
      }, done);
    });
  }

  private onEvent(type: string, raw: any): void {
    const rv = raw?.metadata?.resourceVersion;
    if (type === 'BOOKMARK') {
      if (typeof rv === 'string' && rv !== '') this.rv = rv;
      return;
    }
    if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') {
      this.log.debug('ignoring watch event of unknown type', { resource: this.name, type });
      return;
    }
    if (typeof raw !== 'object' || raw === null || typeof raw.metadata?.name !== 'string') {
      this.log.warn('ignoring malformed watch event', { resource: this.name, type });
      return;
    }
    if (typeof rv === 'string' && rv !== '') this.rv = rv;
    const key = objectKeyOf(raw);
    if (type === 'DELETED') {
      const last = this.cache.get(key) ?? this.transform(raw);
      this.cache.delete(key);
      this.pendingPut.delete(key);
      this.pendingRemove.set(key, last);
    } else {
      const obj = this.transform(raw);
      this.cache.set(key, obj);
      this.pendingRemove.delete(key);
      this.pendingPut.set(key, obj);
    }
    if (this.flushTimer === undefined) {
      this.flushTimer = setTimeout(() => { this.flushTimer = undefined; this.flush(); }, this.batchMs);
    }
  }

  private flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.pendingPut.size === 0 && this.pendingRemove.size === 0) return;
    const batch: ReflectorBatch = { put: [...this.pendingPut.values()], remove: [...this.pendingRemove.values()], initial: false, relist: false };
    this.pendingPut.clear();
    this.pendingRemove.clear();
    this.deliver(batch);
  }

  /** Replaces the cache with a list, delivering the difference as one batch. */
  private applyList(list: KubeList): void {
    this.flush(); // events already cached must reach the handler before the diff against the cache
    const next = new Map<string, KubeObject>();
    for (const item of list.items ?? []) {
      if (typeof item !== 'object' || item === null || typeof item.metadata?.name !== 'string') continue;
      try {
        next.set(objectKeyOf(item), this.transform(item));
      } catch (e) {
        this.log.error('cannot handle listed object', { resource: this.name, name: item.metadata.name, reason: errText(e) });
      }
    }
    const put: KubeObject[] = [];
    const remove: KubeObject[] = [];
    for (const [key, obj] of next) {
      const old = this.cache.get(key);
      const rv = obj.metadata.resourceVersion;
      if (!old || !rv || old.metadata.resourceVersion !== rv) put.push(obj);
    }
    for (const [key, obj] of this.cache) if (!next.has(key)) remove.push(obj);
    this.cache = next;
    this.rv = list.metadata?.resourceVersion ?? '';
    const initial = !this.isSynced;
    if (!initial) this.log.info('relisted', { resource: this.name, objects: next.size, changed: put.length, removed: remove.length });
    this.deliver({ put, remove, initial, relist: true });
    if (initial) {
      this.isSynced = true;
      for (const w of this.syncWaiters.splice(0)) w.resolve();
    }
  }

  private deliver(batch: ReflectorBatch): void {
    if (!this.running) return;
    try {
      this.handler(batch);
    } catch (err) {
      this.log.error('reflector handler failed', { resource: this.name, reason: errText(err) });
    }
  }

  private failed(op: 'list' | 'watch', err: unknown): void {
    const reason = errText(err);
    if (this.failingSince === undefined) {
      this.failingSince = Date.now();
      this.log.warn(`${op} failed, retrying with backoff`, { resource: this.name, reason });
    } else if (reason !== this.lastError) {
      this.log.debug(`${op} still failing`, { resource: this.name, reason });
    }
    this.failingOp = op;
    this.lastError = reason;
  }

  private recovered(): void {
    if (this.failingSince === undefined) return;
    this.log.info('API server reachable again', { resource: this.name, failedForMs: Date.now() - this.failingSince });
    this.failingSince = undefined;
    this.failingOp = undefined;
  }

  private sleep(ms: number): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.sleeper = undefined; resolve(); }, ms);
      this.sleeper = { timer, resolve };
    });
  }
}

/**
 * An open watch stream cut by the peer (API server restart, load balancer): resumed like a watch
 * that ended; if the server is really gone, the reconnect fails and reports it.
 */
function isConnectionDrop(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || code === 'EPIPE';
}

export function errText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    const msg = err.message || err.name;
    // node-fetch wraps socket errors as "request to URL failed, reason: connect ECONNREFUSED ..."
    const m = /reason: (.*)$/.exec(msg);
    if (m) return m[1]!;
    // client-node's Watch rejects a non-200 answer with only the status text ("Forbidden")
    const status = (err as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number' && status > 0 && !msg.includes(String(status))) return `${status} ${msg}`;
    return code && !msg.includes(code) ? `${code}: ${msg}` : msg;
  }
  return String(err);
}
