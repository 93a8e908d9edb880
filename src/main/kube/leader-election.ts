/**
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's algorithm
 * (tools/leaderelection: tryAcquireOrRenew, renew, release), as Istio's
 * pilot/pkg/leaderelection uses it for its singleton controllers:
 *
 * - A candidate reads the Lease every retryPeriod. It is free when absent (create it; a 409
 *   AlreadyExists means another replica created it first: re-read), when its holderIdentity is
 *   empty (released), or when the record has not changed for leaseDurationSeconds. "Not changed"
 *   is measured with the LOCAL clock from the moment this replica last saw the record change,
 *   never from the remote acquireTime/renewTime, so clock skew between replicas does not matter.
 * - Taking over writes holderIdentity, leaseDurationSeconds, acquireTime, renewTime (MicroTime)
 *   and leaseTransitions + 1 with a PUT carrying the resourceVersion read: a 409 Conflict means
 *   someone else wrote first, and the next round re-reads.
 * - The leader renews every retryPeriod (renewTime only, same acquireTime and transitions). If no
 *   renew succeeded within renewDeadline of the last successful one, it stops its duties at once
 *   (onStoppedLeading) and becomes a candidate again. renewDeadline < leaseDuration, so the old
 *   leader has stopped before any other replica can consider the lease expired. Seeing another
 *   holder in the Lease while leading also stops the duties at once (client-go would keep trying
 *   until the deadline; stepping down earlier can only shorten an overlap).
 * - stop() releases the Lease (client-go ReleaseOnCancel: empty holderIdentity,
 *   leaseDurationSeconds 1) after stopping the duties, so a successor takes over on its next
 *   round instead of waiting for the lease to expire. stop({ release: false }) leaves it as a
 *   dead process would.
 */
import type { KubeConfig as KubeSettings } from '../config';
import { KubeClient, isStatus } from './client';
import { scope } from '../log';
import { Clock, realClock as systemClock } from '../push/debounce';

const log = scope('leader');

// One clock abstraction for the main thread's timers (push/debounce.ts), re-exported for the kube modules.
export type { Clock } from '../push/debounce';
export { realClock as systemClock } from '../push/debounce';
/** The Lease spec fields client-go's LeaseLock reads and writes (LeaderElectionRecord). */
export interface LeaseRecord {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number | null;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number | null;
}

interface LeaseObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; resourceVersion?: string; [k: string]: unknown };
  spec?: LeaseRecord;
}

/** Kubernetes MicroTime: RFC 3339 with exactly six fractional digits (2026-11-27T16:00:00.123456Z). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export type ElectorSettings = Pick<KubeSettings, 'leaseName' | 'leaseNamespace' | 'leaseDurationMs' | 'identity'>;

export interface LeaderElectorOptions {
  readonly client: KubeClient;
  readonly settings: ElectorSettings;
  readonly clock?: Clock;
  /** This replica became the leader: start the singleton duties. */
  onStartedLeading(): void;
  /** This replica is no longer the leader (lost, could not renew, or stopping): stop them at once. */
  onStoppedLeading(): void;
  /** The observed holder changed (our own identity included); '' or undefined = nobody. */
  onNewLeader?(identity: string | undefined): void;
}

type State = 'idle' | 'candidate' | 'leading' | 'stopped';

export class LeaderElector {
  readonly leaseDurationMs: number;
  /** client-go RenewDeadline; Istio uses half the lease duration */
  readonly renewDeadlineMs: number;
  /** client-go RetryPeriod; Istio uses a quarter of the lease duration */
  readonly retryPeriodMs: number;
  private readonly clock: Clock;
  private readonly path: string;
  private state: State = 'idle';
  private observed?: LeaseRecord;
  private observedKey = '';
  private observedAt = 0;
  private tickTimer?: unknown;
  private deadlineTimer?: unknown;
  /** the attempt in flight (never two at once) */
  private inFlight?: Promise<void>;
  /** bumped whenever leadership starts or ends: results of older attempts are ignored */
  private epoch = 0;
  private lastLeader: string | undefined;
  /** Lease calls time out after the renew deadline (client-go bounds them by its context the same way) */
  private readonly client: KubeClient;

  constructor(private readonly opts: LeaderElectorOptions) {
    const s = opts.settings;
    if (!s.leaseName) throw new TypeError('leader election: leaseName is empty');
    if (!s.leaseNamespace) throw new TypeError('leader election: leaseNamespace is empty');
    if (!s.identity) throw new TypeError('leader election: identity is empty (set POD_NAME)');
    if (!(s.leaseDurationMs >= 1000)) throw new RangeError(`leader election: leaseDurationMs must be at least 1000, got ${s.leaseDurationMs}`);
    this.clock = opts.clock ?? systemClock;
    this.leaseDurationMs = s.leaseDurationMs;
    this.renewDeadlineMs = s.leaseDurationMs / 2;
    this.retryPeriodMs = s.leaseDurationMs / 4;
    this.client = opts.client.kc ? new KubeClient(opts.client.kc, Math.max(500, this.renewDeadlineMs)) : opts.client;
    this.path = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(s.leaseNamespace)}/leases/${encodeURIComponent(s.leaseName)}`;
  }

  get isLeader(): boolean { return this.state === 'leading'; }

  /** The holder of the lease as last observed (undefined when nobody holds it). */
  get leader(): string | undefined { return this.observed?.holderIdentity || undefined; }

  get identity(): string { return this.opts.settings.identity; }

  /** Campaign (again, after stop()). */
  start(): void {
    if (this.state !== 'idle' && this.state !== 'stopped') return;
    this.state = 'candidate';
    log.info('leader election started', { lease: `${this.opts.settings.leaseNamespace}/${this.opts.settings.leaseName}`, identity: this.identity, leaseDurationMs: this.leaseDurationMs });
    this.schedule(0);
  }

  /**
   * Stop campaigning. When leading, the duties stop first (onStoppedLeading), then the lease is
   * released unless `release` is false (a dead process: the lease just expires).
   */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    if (this.state === 'stopped') return;
    const wasLeading = this.state === 'leading';
    this.state = 'stopped';
    this.epoch++;
    this.clearTimers();
    if (wasLeading) this.notifyStopped('stopping');
    await this.inFlight?.catch(() => undefined);
    if (wasLeading && opts.release !== false) await this.release();
  }

  private clearTimers(): void {
    if (this.tickTimer !== undefined) this.clock.clearTimeout(this.tickTimer);
    if (this.deadlineTimer !== undefined) this.clock.clearTimeout(this.deadlineTimer);
    this.tickTimer = this.deadlineTimer = undefined;
  }

  private schedule(ms: number): void {
    if (this.state === 'stopped') return;
    if (this.tickTimer !== undefined) this.clock.clearTimeout(this.tickTimer);
    this.tickTimer = this.clock.setTimeout(() => { this.tickTimer = undefined; this.tick(); }, ms);
  }

  private tick(): void {
    if (this.state === 'stopped' || this.inFlight) return;
    const epoch = this.epoch;
    const startedAt = this.clock.now();
    this.inFlight = this.tryAcquireOrRenew(startedAt)
      .then((ok) => this.afterAttempt(ok, epoch, startedAt))
      .catch((e) => log.error('leader election round failed', { error: (e as Error).message }))
      .finally(() => {
        this.inFlight = undefined;
        if (this.state === 'leading') this.schedule(this.retryPeriodMs);
        // client-go's candidate loop is JitterUntil(retryPeriod); a small jitter keeps replicas out of lockstep
        else if (this.state === 'candidate') this.schedule(this.retryPeriodMs * (1 + Math.random() * 0.2));
      });
  }

  private afterAttempt(ok: boolean, epoch: number, startedAt: number): void {
    if (this.state === 'stopped' || epoch !== this.epoch) return;
    if (ok) {
      // The renew deadline counts from when the successful request was sent (conservative).
      if (this.deadlineTimer !== undefined) this.clock.clearTimeout(this.deadlineTimer);
      const left = Math.max(0, startedAt + this.renewDeadlineMs - this.clock.now());
      this.deadlineTimer = this.clock.setTimeout(() => this.loseLeadership(`failed to renew lease ${this.describe()} within the renew deadline (${this.renewDeadlineMs} ms)`), left);
      if (this.state === 'candidate') {
        this.state = 'leading';
        this.epoch++;
        log.info('successfully acquired lease', { lease: this.describe(), identity: this.identity });
        try { this.opts.onStartedLeading(); } catch (e) { log.error('onStartedLeading failed', { error: (e as Error).message }); }
      }
    } else if (this.state === 'leading' && this.observed?.holderIdentity && this.observed.holderIdentity !== this.identity) {
      this.loseLeadership(`lease ${this.describe()} is now held by ${this.observed.holderIdentity}`);
    }
  }

  private loseLeadership(why: string): void {
    if (this.state !== 'leading') return;
    this.state = 'candidate';
    this.epoch++;
    if (this.deadlineTimer !== undefined) this.clock.clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    log.warn('leader lost', { reason: why, identity: this.identity });
    this.notifyStopped(why);
    if (!this.inFlight) this.schedule(this.retryPeriodMs);
  }

  private notifyStopped(why: string): void {
    try { this.opts.onStoppedLeading(); } catch (e) { log.error('onStoppedLeading failed', { error: (e as Error).message, reason: why }); }
  }

  private describe(): string { return `${this.opts.settings.leaseNamespace}/${this.opts.settings.leaseName}`; }

  private observe(rec: LeaseRecord | undefined, now: number): void {
    const key = recordKey(rec);
    if (key !== this.observedKey) {
      this.observedKey = key;
      this.observed = rec;
      this.observedAt = now;
    }
    const holder = rec?.holderIdentity || undefined;
    if (holder !== this.lastLeader) {
      this.lastLeader = holder;
      if (holder) log.info('new leader elected', { leader: holder, lease: this.describe() });
      try { this.opts.onNewLeader?.(holder); } catch (e) { log.error('onNewLeader failed', { error: (e as Error).message }); }
    }
  }

  private desired(now: number): LeaseRecord {
    return {
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
  }

  /** One round of client-go's tryAcquireOrRenew. Resolves true when we hold the lease afterwards. */
  private async tryAcquireOrRenew(now: number): Promise<boolean> {
    const c = this.client;
    const s = this.opts.settings;
    const want = this.desired(now);
    let lease: LeaseObject;
    try {
      lease = await c.request<LeaseObject>('GET', this.path);
    } catch (e) {
      if (!isStatus(e, 404)) {
        log.warn('error retrieving lease', { lease: this.describe(), error: (e as Error).message });
        return false;
      }
      const fresh: LeaseObject = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: s.leaseName, namespace: s.leaseNamespace }, spec: want };
      try {
        await c.request('POST', `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(s.leaseNamespace)}/leases`, fresh);
      } catch (err) {
        if (isStatus(err, 409)) {
          // Another replica created it first: read what it wrote (counts as a change observed now).
          try {
            this.observe((await c.request<LeaseObject>('GET', this.path)).spec, this.clock.now());
          } catch { /* next round re-reads */ }
          return false;
        }
        log.warn('error creating lease', { lease: this.describe(), error: (err as Error).message });
        return false;
      }
      this.observe(want, this.clock.now());
      return true;
    }

    const rec = lease.spec ?? {};
    this.observe(rec, now);
    const holder = rec.holderIdentity ?? '';
    const mine = holder === this.identity;
    const durationMs = Math.max(1, rec.leaseDurationSeconds ?? 0) * 1000;
    if (holder !== '' && !mine && this.observedAt + durationMs > now) {
      log.debug('lock is held and has not yet expired', { holder, lease: this.describe() });
      return false;
    }
    if (mine) {
      want.acquireTime = rec.acquireTime ?? want.acquireTime;
      want.leaseTransitions = rec.leaseTransitions ?? 0;
    } else {
      want.leaseTransitions = (rec.leaseTransitions ?? 0) + 1;
    }
    const updated: LeaseObject = { ...lease, apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', spec: { ...rec, ...want } };
    try {
      await c.request('PUT', this.path, updated);
    } catch (e) {
      if (isStatus(e, 409)) log.info('lease was written by another replica; re-reading', { lease: this.describe() });
      else log.warn('failed to update lease', { lease: this.describe(), error: (e as Error).message });
      return false;
    }
    if (!mine) log.info('taking over lease', { lease: this.describe(), previousHolder: holder || undefined, transitions: want.leaseTransitions });
    this.observe(updated.spec, this.clock.now());
    return true;
  }

  /** client-go release(): give the lease up so a successor need not wait for it to expire. */
  private async release(): Promise<void> {
    const c = this.client;
    try {
      const lease = await c.request<LeaseObject>('GET', this.path);
      if ((lease.spec?.holderIdentity ?? '') !== this.identity) return;
      const now = this.clock.now();
      const spec: LeaseRecord = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: lease.spec?.leaseTransitions ?? 0 };
      await c.request('PUT', this.path, { ...lease, spec });
      this.observe(spec, now);
      log.info('released lease', { lease: this.describe(), identity: this.identity });
    } catch (e) {
      log.warn('failed to release lease; it expires after its duration', { lease: this.describe(), error: (e as Error).message });
    }
  }
}

function recordKey(r: LeaseRecord | undefined): string {
  if (!r) return '';
  return JSON.stringify([r.holderIdentity ?? '', r.leaseDurationSeconds ?? 0, r.acquireTime ?? '', r.renewTime ?? '', r.leaseTransitions ?? 0]);
}
