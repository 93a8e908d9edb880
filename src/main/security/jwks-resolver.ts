/**
 * The control plane's JWKS fetcher for RequestAuthentication jwksUri (Istio pilot/pkg/model
 * jwks_resolver.go), main thread.
 *
 * Generators are pure and never do I/O, so the keys reach them as config: the resolver writes one
 * internal `JwksCache` object per key source into the model store (origin `jwks`), and the
 * request-authentication generator reads it from the snapshot like any config. A fetch never
 * blocks a push: until the first fetch of a source completes, or when it failed, there is no usable
 * cache object and the generator inlines Istio's fake JWKS (tokens of that issuer get 401, requests
 * without a token pass). When a fetch lands, the store change triggers an ordinary debounced push
 * that regenerates exactly the proxies whose filter read that source.
 *
 * Sources come from the RequestAuthentications in the store (jwksUri, or OpenID discovery
 * `<issuer>/.well-known/openid-configuration` for a rule with only an issuer); inline jwks need
 * nothing. Each source is fetched when it first appears, then every `refreshMs` (Istio
 * PILOT_JWT_PUB_KEY_REFRESH_INTERVAL, 20m); after a failure every `refreshOnFailureMs` (Istio
 * JwtPubKeyRefreshIntervalOnFailure, 1m), doubling while it keeps failing up to 60m. A failed
 * refresh keeps the last good keys (as Istio does) for up to 7 days without a success; a source no policy uses any more is dropped
 * with its cache object. Each fetch has a timeout (the rule's `timeout`, else 5s as Istio's
 * jwksHTTPTimeOutInSec) and a size limit; only http and https URIs are fetched. The store is only
 * written when a source's keys or error change, so an unchanged refresh pushes nothing.
 */
import * as client from 'prom-client';
import { ModelStore, ConfigChange } from '../model/store';
import { K8sObject, keyOf } from '../../shared/model/objects';
import { parseGoDuration } from '../../shared/duration';
import {
  JWKS_CACHE_API_VERSION, JWKS_CACHE_KIND, JwksCacheSpec, OPENID_PREFIX, jwksCacheName, jwksError, jwksSource,
} from '../../shared/istio/validate-request-authentication';
import { scope } from '../log';

const log = scope('jwks');

/** The store origin of the resolver's objects. */
export const JWKS_ORIGIN = 'jwks';
export const DEFAULT_JWKS_TIMEOUT_MS = 5_000;
export const DEFAULT_JWKS_REFRESH_MS = 20 * 60_000;
export const DEFAULT_JWKS_REFRESH_ON_FAILURE_MS = 60_000;
export const DEFAULT_JWKS_EVICT_AFTER_MS = 7 * 24 * 60 * 60_000;
/** Istio JwtPubKeyRefreshIntervalOnFailureResetThreshold: the failure backoff stops growing here. */
const MAX_FAILURE_INTERVAL_MS = 60 * 60_000;
const DEFAULT_MAX_BYTES = 1 << 20;
const OPENID_SUFFIX = '/.well-known/openid-configuration';

export interface ResolverClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const REAL_CLOCK: ResolverClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => { const t = setTimeout(fn, ms); t.unref(); return t; },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export type FetchFn = (url: string, init: { signal: AbortSignal; headers?: Record<string, string> }) => Promise<Response>;

export interface JwksResolverOptions {
  store: ModelStore;
  /** HTTP client (default: Node's global fetch) */
  fetch?: FetchFn;
  /** per-fetch timeout when the rule sets none (default 5s) */
  timeoutMs?: number;
  /** refresh interval of a source that fetched fine (default 20m, PILOT_JWT_PUB_KEY_REFRESH_INTERVAL) */
  refreshMs?: number;
  /** first retry after a failure, doubled per further failure up to 60m (default 1m) */
  refreshOnFailureMs?: number;
  /** keys that could not be refreshed for this long are dropped (default 7 days, Istio JwtPubKeyEvictionDuration) */
  evictAfterMs?: number;
  /** largest accepted response body (default 1 MiB) */
  maxBytes?: number;
  clock?: ResolverClock;
  /** registers pilot_jwks_resolver_network_fetch_{success,fail}_total here */
  registry?: client.Registry;
}

interface SourceState {
  readonly source: string;
  timeoutMs: number;
  timer?: unknown;
  inFlight?: AbortController;
  /** resolves when the running fetch has been applied */
  running?: Promise<void>;
  failures: number;
  /** clock time of the last successful fetch */
  lastSuccess?: number;
  /** what the store holds for this source (undefined: nothing written yet) */
  written?: { jwks?: string; error?: string };
}

export class JwksResolver {
  private readonly store: ModelStore;
  private readonly fetchFn: FetchFn;
  private readonly timeoutMs: number;
  private readonly refreshMs: number;
  private readonly refreshOnFailureMs: number;
  private readonly maxBytes: number;
  private readonly evictAfterMs: number;
  private readonly clock: ResolverClock;
  private readonly sources = new Map<string, SourceState>();
  private readonly fetchOk?: client.Counter;
  private readonly fetchFail?: client.Counter;
  private started = false;
  private stopped = false;
  private syncQueued = false;

  constructor(opts: JwksResolverOptions) {
    this.store = opts.store;
    this.fetchFn = opts.fetch ?? ((url, init) => fetch(url, init));
    this.timeoutMs = positive('timeoutMs', opts.timeoutMs, DEFAULT_JWKS_TIMEOUT_MS);
    this.refreshMs = positive('refreshMs', opts.refreshMs, DEFAULT_JWKS_REFRESH_MS);
    this.refreshOnFailureMs = positive('refreshOnFailureMs', opts.refreshOnFailureMs, DEFAULT_JWKS_REFRESH_ON_FAILURE_MS);
    this.maxBytes = positive('maxBytes', opts.maxBytes, DEFAULT_MAX_BYTES);
    this.evictAfterMs = positive('evictAfterMs', opts.evictAfterMs, DEFAULT_JWKS_EVICT_AFTER_MS);
    this.clock = opts.clock ?? REAL_CLOCK;
    if (opts.registry) {
      this.fetchOk = new client.Counter({ name: 'pilot_jwks_resolver_network_fetch_success_total', help: 'Total number of successfully network fetch by pilot jwks resolver', registers: [opts.registry] });
      this.fetchFail = new client.Counter({ name: 'pilot_jwks_resolver_network_fetch_fail_total', help: 'Total number of failed network fetch by pilot jwks resolver', registers: [opts.registry] });
    }
  }

  /** Follow the store's RequestAuthentications (fetching what they name now). Idempotent. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    // ModelStore listeners cannot be removed: after stop() this one just returns.
    this.store.onChange((changes) => this.onStoreChange(changes));
    this.sync();
  }

  /** Stop timers and in-flight fetches. The cache objects stay in the store (the last known keys). */
  async stop(): Promise<void> {
    this.stopped = true;
    const running: Promise<void>[] = [];
    for (const s of this.sources.values()) {
      if (s.timer !== undefined) this.clock.clearTimeout(s.timer);
      s.timer = undefined;
      s.inFlight?.abort();
      if (s.running) running.push(s.running);
    }
    await Promise.allSettled(running);
  }

  /** The sources being followed, sorted. */
  sourceList(): string[] { return [...this.sources.keys()].sort(); }

  /** Resolves when no fetch is running (tests; a fetch started meanwhile is awaited too). */
  async idle(): Promise<void> {
    for (;;) {
      const running = [...this.sources.values()].map((s) => s.running).filter((p): p is Promise<void> => p !== undefined);
      if (running.length === 0 && !this.syncQueued) return;
      if (running.length === 0) { await new Promise<void>((r) => setImmediate(r)); continue; }
      await Promise.allSettled(running);
    }
  }

  /** Fetch every followed source now (an operator's "refresh", and tests). */
  async refreshAll(): Promise<void> {
    await Promise.allSettled([...this.sources.values()].map((s) => this.fetchNow(s)));
  }

  private onStoreChange(changes: ConfigChange[]): void {
    if (this.stopped || this.syncQueued) return;
    if (!changes.some((c) => c.kind === 'RequestAuthentication' && c.group === 'security.istio.io')) return;
    // The store calls listeners inside its own update: re-sync (which may write the store) later.
    this.syncQueued = true;
    setImmediate(() => { this.syncQueued = false; if (!this.stopped) this.sync(); });
  }

  /** Bring the followed sources in line with the store's RequestAuthentications. */
  private sync(): void {
    const wanted = new Map<string, number>();
    for (const ra of this.store.list('RequestAuthentication', 'security.istio.io')) {
      const rules = (ra as { spec?: { jwtRules?: unknown } }).spec?.jwtRules;
      if (!Array.isArray(rules)) continue;
      for (const rule of rules) {
        if (!rule || typeof rule !== 'object') continue;
        const source = jwksSource(rule as Record<string, unknown>);
        if (source === undefined) continue;
        const t = (rule as { timeout?: unknown }).timeout;
        const ms = typeof t === 'string' ? parseGoDuration(t) : undefined;
        const timeout = ms !== undefined && ms > 0 ? ms : this.timeoutMs;
        wanted.set(source, Math.max(wanted.get(source) ?? 0, timeout));
      }
    }
    const dropped: string[] = [];
    for (const [source, s] of this.sources) {
      if (wanted.has(source)) continue;
      if (s.timer !== undefined) this.clock.clearTimeout(s.timer);
      s.inFlight?.abort();
      this.sources.delete(source);
      dropped.push(source);
    }
    if (dropped.length > 0) {
      log.info('dropping JWKS no RequestAuthentication uses any more', { sources: dropped });
      const keys = dropped.map((src) => keyOf(cacheObject(src, { uri: src, fetchedAt: '' })));
      this.store.patchOrigin(JWKS_ORIGIN, [], keys);
    }
    for (const [source, timeout] of wanted) {
      const s = this.sources.get(source);
      if (s) { s.timeoutMs = timeout; continue; }
      const state: SourceState = { source, timeoutMs: timeout, failures: 0 };
      this.sources.set(source, state);
      void this.fetchNow(state);
    }
  }

  private schedule(s: SourceState, ms: number): void {
    if (this.stopped || this.sources.get(s.source) !== s) return;
    if (s.timer !== undefined) this.clock.clearTimeout(s.timer);
    s.timer = this.clock.setTimeout(() => { s.timer = undefined; void this.fetchNow(s); }, ms);
  }

  /** One fetch of a source, applied to the store; never rejects. A running fetch is joined, not repeated. */
  private fetchNow(s: SourceState): Promise<void> {
    if (s.running) return s.running;
    if (s.timer !== undefined) { this.clock.clearTimeout(s.timer); s.timer = undefined; }
    const ctl = new AbortController();
    s.inFlight = ctl;
    s.running = this.resolve(s.source, s.timeoutMs, ctl)
      .then((jwks) => ({ jwks }), (e: unknown) => ({ error: errorText(e) }))
      .then((r) => {
        s.inFlight = undefined;
        s.running = undefined;
        if (this.stopped || this.sources.get(s.source) !== s) return; // stopped, or dropped meanwhile
        this.apply(s, r);
      });
    return s.running;
  }

  private apply(s: SourceState, r: { jwks?: string; error?: string }): void {
    if (r.jwks !== undefined) {
      this.fetchOk?.inc();
      s.failures = 0;
      s.lastSuccess = this.clock.now();
      if (s.written?.jwks !== r.jwks) {
        log.info('fetched JWKS', { source: s.source, changed: s.written?.jwks !== undefined });
        this.write(s, { jwks: r.jwks });
      }
      this.schedule(s, this.refreshMs);
      return;
    }
    this.fetchFail?.inc();
    s.failures++;
    // Istio keeps the last good keys when a refresh fails, for at most JwtPubKeyEvictionDuration
    // (7 days) without a successful refresh; a source that never fetched records the error.
    const stale = s.lastSuccess !== undefined && this.clock.now() - s.lastSuccess >= this.evictAfterMs;
    if (s.written?.jwks === undefined || stale) {
      if (s.written?.error !== r.error) this.write(s, { error: r.error });
      log.error(stale ? 'JWKS not refreshed for too long: dropped; tokens of this issuer are rejected until a fetch succeeds' : 'failed to fetch JWKS; tokens of this issuer are rejected until it succeeds', { source: s.source, error: r.error });
    } else {
      log.warn('failed to refresh JWKS; keeping the last keys fetched', { source: s.source, error: r.error });
    }
    this.schedule(s, Math.min(MAX_FAILURE_INTERVAL_MS, this.refreshOnFailureMs * 2 ** (s.failures - 1)));
  }

  private write(s: SourceState, state: { jwks?: string; error?: string }): void {
    s.written = state;
    const spec: JwksCacheSpec = { uri: s.source, ...state, fetchedAt: new Date(this.clock.now()).toISOString() };
    this.store.patchOrigin(JWKS_ORIGIN, [cacheObject(s.source, spec)]);
  }

  /** The JWKS document of a source: the jwksUri, or OpenID discovery from the issuer. */
  private async resolve(source: string, timeoutMs: number, ctl: AbortController): Promise<string> {
    let uri = source;
    if (source.startsWith(OPENID_PREFIX)) {
      const issuer = source.slice(OPENID_PREFIX.length).replace(/\/+$/, '');
      const doc = await this.get(`${issuer}${OPENID_SUFFIX}`, timeoutMs, ctl);
      let parsed: unknown;
      try { parsed = JSON.parse(doc); } catch (e) { throw new Error(`OpenID discovery ${issuer}${OPENID_SUFFIX}: not JSON (${errorText(e)})`); }
      const jwksUri = (parsed as { jwks_uri?: unknown } | null)?.jwks_uri;
      if (typeof jwksUri !== 'string' || jwksUri === '') throw new Error(`invalid jwks_uri ${JSON.stringify(jwksUri)} in openID discovery configuration`);
      uri = jwksUri;
    }
    const body = await this.get(uri, timeoutMs, ctl);
    const err = jwksError(body);
    if (err) throw new Error(`${uri}: invalid JWKS: ${err}`);
    return body;
  }

  /** GET with a timeout covering the whole exchange, a 2xx status and a size limit. */
  private async get(uri: string, timeoutMs: number, ctl: AbortController): Promise<string> {
    let u: URL;
    try { u = new URL(uri); } catch { throw new Error(`parse "${uri}": invalid URI`); }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`URI scheme "${u.protocol.replace(/:$/, '')}" is not supported`);
    let timedOut = false;
    const timer = this.clock.setTimeout(() => { timedOut = true; ctl.abort(); }, timeoutMs);
    try {
      const res = await this.fetchFn(uri, { signal: ctl.signal, headers: { accept: 'application/json' } });
      const body = await readLimited(res, this.maxBytes);
      if (res.status < 200 || res.status >= 300) {
        const message = JSON.stringify(body);
        throw new Error(`GET ${uri}: status ${res.status}, message ${message.length > 100 ? `${message.slice(0, 100)}(truncated)` : message}`);
      }
      return body;
    } catch (e) {
      if (timedOut) throw new Error(`GET ${uri}: timed out after ${timeoutMs}ms`);
      if (ctl.signal.aborted) throw new Error(`GET ${uri}: aborted`);
      if (e instanceof Error && e.message.startsWith('GET ')) throw e;
      throw new Error(`GET ${uri}: ${errorText(e)}`);
    } finally {
      this.clock.clearTimeout(timer);
    }
  }
}

function cacheObject(source: string, spec: JwksCacheSpec): K8sObject {
  return { apiVersion: JWKS_CACHE_API_VERSION, kind: JWKS_CACHE_KIND, metadata: { name: jwksCacheName(source), namespace: '' }, spec } as unknown as K8sObject;
}

async function readLimited(res: Response, maxBytes: number): Promise<string> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) { await reader.cancel(); throw new Error(`response larger than ${maxBytes} bytes`); }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function errorText(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as { cause?: unknown }).cause;
    return cause instanceof Error ? `${e.message} (${cause.message})` : e.message;
  }
  return String(e);
}

function positive(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`JwksResolver ${name}: expected a positive number of milliseconds, got ${String(v)}`);
  return v;
}
