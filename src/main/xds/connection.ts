/**
 * XdsConnection: one ADS stream (SotW or Delta). Owns its watches and serialises all work on the
 * stream (requests and pushes) through one promise chain, so at most one response per stream is
 * being built at a time and watch state is never raced. Writes honour stream backpressure.
 */
import { randomUUID } from 'node:crypto';
import { ProxyView } from '../../shared/model/proxy';
import { PUSH_ORDER, SECRET_TYPE_URL, XdsTypeUrl, SHORT_NAME } from '../../shared/resources';
import { GenContext } from '../../shared/generation';
import { GenerationService } from '../push/generation-service';
import { PushRequest } from '../push/push-request';
import { XdsCallbacks, StreamInfo } from './callbacks';
import { WatchState, versionString, wantedNames } from './subscription';
import { scope } from '../log';

const log = scope('ads');

export interface ConnectionDeps {
  readonly generation: GenerationService;
  contextFor(proxy: ProxyView): GenContext;
  /** publish time (ms) of the snapshot version, for version strings */
  publishedAt(version: number): number;
  readonly callbacks: XdsCallbacks;
  /** delay before re-pushing a type whose generation failed */
  readonly retryDelayMs: number;
  /** a stream whose buffer does not drain within this long is disconnected (0 = never) */
  readonly drainTimeoutMs: number;
}

export interface WritableStream {
  write(buf: Buffer): boolean;
  once(event: 'drain', fn: () => void): unknown;
  /** grpc-js: emitting 'error' with a status object ends the call with that status */
  emit(event: 'error', status: { code: number; details: string }): unknown;
}

let conCounter = 0;

export abstract class XdsConnection implements StreamInfo {
  abstract readonly kind: 'sotw' | 'delta';
  readonly watches = new Map<XdsTypeUrl, WatchState>();
  readonly connectedAt = Date.now();
  conId = '';
  proxy!: ProxyView;
  closed = false;
  private chain: Promise<void> = Promise.resolve();
  private retryTimer?: NodeJS.Timeout;
  /** responses written on this stream */
  sends = 0;
  /**
   * Clusters whose definition changed in the CDS response just sent. Envoy re-warms a changed EDS
   * cluster and needs its ClusterLoadAssignment again even when the endpoints are unchanged (xDS
   * protocol: warming); without it Envoy waits initial_fetch_timeout (15 s). The EDS step of the
   * same push re-sends these.
   */
  protected clustersToRefresh = new Set<string>();
  /** consecutive failed retries, for exponential backoff (a deterministic failure must not spin) */
  private retryFailures = 0;
  private readonly drainWaiters: Array<() => void> = [];

  /**
   * The proxy's identity was verified on this stream: it came through the secure port's
   * authenticator and authorize() accepted the proxy (Istio's VerifiedIdentity). Set by the server
   * before the first request is handled. Gateway credentials (SDS) go only to such streams.
   */
  identityVerified = false;
  private sdsRefusalLogged = false;

  constructor(protected readonly deps: ConnectionDeps, protected readonly stream: WritableStream) {}

  /**
   * What to resolve for a watch: its names and subscription token. SDS on a stream whose identity
   * is not verified resolves nothing (Istio SecretGen: "proxy … is not authorized to receive
   * credscontroller. Ensure you are connecting over TLS port and are authenticated."), under the
   * empty subscription's own token, so it never shares an answer group with a verified stream.
   */
  protected resolveArgs(w: WatchState): { names: string[] | null; token: string | undefined } {
    if (w.typeUrl === SECRET_TYPE_URL && !this.identityVerified) {
      if (!this.sdsRefusalLogged) {
        this.sdsRefusalLogged = true;
        log.warn(`proxy ${this.proxy.id} is not authorized to receive credscontroller. Ensure you are connecting over TLS port and are authenticated.`, { conId: this.conId });
      }
      return { names: [], token: undefined };
    }
    return { names: wantedNames(w), token: w.token };
  }

  /** SDS names reported as not served on this stream and still not served (each reported once). */
  private readonly unservedSecrets = new Set<string>();

  /**
   * Istio logs each credential it cannot serve (sds.go "failed to fetch key and certificate for
   * …"). The worker knows the reason but cannot log; here each name this stream asked for and did
   * not get is reported once (a Secret that is missing, unusable, or in another namespace).
   */
  protected noteUnservedSecrets(w: WatchState, missing: readonly string[]): void {
    if (w.typeUrl !== SECRET_TYPE_URL || !this.identityVerified) return;
    for (const n of this.unservedSecrets) if (!missing.includes(n)) this.unservedSecrets.delete(n); // served again: report a later loss
    const fresh = missing.filter((n) => !this.unservedSecrets.has(n));
    if (fresh.length === 0) return;
    for (const n of fresh) this.unservedSecrets.add(n);
    log.warn(`proxy ${this.proxy.id} asked for credentials that cannot be served: ${fresh.join(', ')} (no such Secret in namespace ${this.proxy.namespace}, keys missing or empty, or a cross namespace reference)`, { conId: this.conId });
  }

  get initialized(): boolean { return this.conId !== ''; }

  protected init(proxy: ProxyView): void {
    this.proxy = proxy;
    this.conId = `${proxy.id}-${++conCounter}`;
  }

  /** Run `fn` after everything already queued on this stream. Errors are logged, never thrown. */
  enqueue(fn: () => Promise<void>): Promise<void> {
    const next = this.chain.then(() => (this.closed ? undefined : fn())).catch((e) => {
      log.error('stream task failed', { conId: this.conId, error: e instanceof Error ? e.message : String(e) });
    });
    this.chain = next;
    return next;
  }

  /** Push every watched type, in PUSH_ORDER (CDS, EDS, LDS, RDS, SDS). */
  push(req: PushRequest): Promise<void> {
    return this.enqueue(async () => {
      const sendsBefore = this.sends;
      for (const type of PUSH_ORDER) {
        const w = this.watches.get(type);
        if (w) await this.pushType(w, false);
      }
      // pilot_proxy_convergence_time: only pushes that delivered something count
      if (this.sends > sendsBefore) this.deps.callbacks.onPushComplete?.(this, req.start);
    });
  }

  /** Build and send one type if what the client would get differs from what it has. */
  protected abstract sendType(w: WatchState, force: boolean, newlySubscribed?: ReadonlySet<string>): Promise<void>;

  protected async pushType(w: WatchState, force: boolean, newlySubscribed?: ReadonlySet<string>): Promise<void> {
    const t0 = performance.now();
    try {
      await this.sendType(w, force || w.dirty, newlySubscribed);
      w.dirty = false;
      this.retryFailures = 0;
      this.deps.callbacks.onTypePushed?.(this, w.typeUrl, performance.now() - t0);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      w.dirty = true;
      this.deps.callbacks.onPushError?.(this, w.typeUrl, msg);
      log.warn('push failed; will retry', { conId: this.conId, type: SHORT_NAME[w.typeUrl], error: msg });
      this.scheduleRetry();
    }
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.closed) return;
    const delay = Math.min(30_000, this.deps.retryDelayMs * 2 ** this.retryFailures++);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.enqueue(async () => {
        for (const type of PUSH_ORDER) {
          const w = this.watches.get(type);
          if (w?.dirty) await this.pushType(w, true);
        }
      });
    }, delay);
    this.retryTimer.unref();
  }

  /** JSON of the context this stream's config is built for. */
  private ctxFingerprint = '';
  private ctx: GenContext | undefined;

  /**
   * The proxy's generation context, computed once and kept until refreshContext(): a push reads it
   * for every type it sends, and recomputing it (plus its fingerprint) per type per connection was
   * a large share of the main thread's cost of a push that touches every proxy.
   */
  protected context(): GenContext {
    if (!this.ctx) {
      this.ctx = this.deps.contextFor(this.proxy);
      this.ctxFingerprint = JSON.stringify(this.ctx);
    }
    return this.ctx;
  }

  /**
   * Recompute the context after a registry build that may have changed it (Registry.contextChange);
   * true when it did change. Every build that may change a proxy's context must call this for it,
   * or the stream keeps generating for the old one (AdsServer.pushAll does, on every push).
   */
  refreshContext(): boolean {
    if (!this.initialized) return false;
    const before = this.ctxFingerprint;
    this.ctx = undefined;
    this.context();
    return this.ctxFingerprint !== before;
  }

  protected newNonce(version: string): string { return `${version}-${randomUUID()}`; }

  protected version(snapshotVersion: number): string {
    return versionString(snapshotVersion, this.deps.publishedAt(snapshotVersion));
  }

  /** Write honouring backpressure: wait for 'drain' when the stream's buffer is full. */
  protected async write(buf: Buffer): Promise<void> {
    if (this.closed) return;
    this.sends++;
    const t0 = performance.now();
    if (this.stream.write(buf)) { this.deps.callbacks.onWrite?.(this, performance.now() - t0); return; }
    // Buffer full (at most this one response is held beyond the HTTP/2 window): wait for drain,
    // for close (so a dead stream never wedges its task chain), or for the drain timeout, after
    // which a stuck proxy is disconnected so it cannot hold a push slot or memory any longer.
    const drained = await new Promise<boolean>((resolve) => {
      const timer = this.deps.drainTimeoutMs > 0 ? setTimeout(() => resolve(false), this.deps.drainTimeoutMs) : undefined;
      const done = () => { if (timer) clearTimeout(timer); resolve(true); };
      this.drainWaiters.push(done);
      this.stream.once('drain', done);
    });
    if (!drained && !this.closed) {
      log.warn('xDS client is not reading its responses; disconnecting', { conId: this.conId, drainTimeoutMs: this.deps.drainTimeoutMs });
      this.deps.callbacks.onWriteTimeout?.(this);
      this.stream.emit('error', { code: 14, details: `xDS client did not read responses within ${this.deps.drainTimeoutMs} ms; reconnect` });
      this.close();
      return;
    }
    this.deps.callbacks.onWrite?.(this, performance.now() - t0);
  }

  close(): void {
    if (!this.closed && this.conId) this.deps.generation.unwatch(this.conId);
    this.closed = true;
    for (const resolve of this.drainWaiters.splice(0)) resolve();
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }
}
