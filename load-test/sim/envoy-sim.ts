/**
 * One simulated Envoy on ADS, SotW or Delta, following what Envoy does on the wire:
 *
 * - First stream: wildcard CDS with the node; on the CDS response, EDS for the EDS clusters it
 *   got; LDS once the clusters have warmed (on the first EDS response, or on the CDS response when
 *   there are no EDS clusters); on the LDS response, RDS for the route names its
 *   HttpConnectionManagers reference. As a real Envoy (1.40, SotW and Delta, observed against this
 *   server) does, the request a response triggers goes out before that response's ACK:
 *   CDS, EDS, CDS-ACK, LDS, EDS-ACK, RDS, LDS-ACK, RDS-ACK.
 * - Every response is validated (resource-check.ts). Valid: ACK (SotW: the new version, the
 *   nonce, the current names; Delta: the nonce). Invalid: NACK with error_detail and, in SotW, the
 *   last accepted version.
 * - CDS/LDS changes update the EDS/RDS subscriptions (SotW: the full name list; Delta:
 *   subscribe/unsubscribe). SotW also re-sends the EDS request, names unchanged, when a CDS
 *   update adds, replaces or removes an EDS cluster (Envoy's SotW mux queues a request per watch
 *   added or removed, one while CDS is being applied).
 * - Cluster warming (Envoy's ClusterManagerImpl::updateClusterCounts): once the initial clusters
 *   are up, a CDS update that adds an EDS cluster or changes one (different bytes: Envoy builds a
 *   new cluster) leaves it warming until an EDS response carries its ClusterLoadAssignment, or
 *   its eds_config.initial_fetch_timeout (15 s unless set; 0 = forever) passes. While any
 *   cluster warms, CDS is paused: the CDS ACK is held and goes out when the last one warms, for
 *   the latest CDS response. A replaced SotW cluster that warms by timeout drops the old
 *   cluster's EDS watch, which sends one more EDS request (names unchanged).
 * - Listener drain: route names that only a removed (or changed) listener referenced stay
 *   subscribed while that listener drains (Envoy --drain-time-s; istio-agent passes its
 *   drainDuration, 45 s by default), then RDS unsubscribes them.
 * - A stream that ends is reopened after jittered exponential backoff. A reopened stream
 *   re-requests every type subscribed so far, at once, in subscription order; SotW sends the last
 *   accepted versions, Delta sends initial_resource_versions.
 *
 * Per-type version, nonce and names persist across streams (Envoy keeps its config); nonces
 * are only sent back on the stream that produced them. test/e2e/load-test-fidelity.test.ts
 * checks all of this against a real Envoy.
 */
import * as grpc from '@grpc/grpc-js';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL } from '../../src/shared/resources';
import { ProxySpec } from '../protocol';
import { wallNow } from '../clock';
import { AdsCall } from './channel-pool';
import { Backoff, BackoffOptions } from './backoff';
import { ResourceChecker, ResourceFacts } from './resource-check';
import { ResponseFrame, encodeDeltaRequest, encodeSotwRequest, internNames, parseResponse } from './xds-codec';

/** ORDER MATTERS: Envoy subscribes in this order, and re-requests in it after a reconnect. */
export const CDS = 0, EDS = 1, LDS = 2, RDS = 3;
export type TypeIndex = 0 | 1 | 2 | 3;
export const TYPE_URLS = [CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL] as const;
const INDEX_OF: Record<string, TypeIndex> = { [CLUSTER_TYPE_URL]: CDS, [ENDPOINT_TYPE_URL]: EDS, [LISTENER_TYPE_URL]: LDS, [ROUTE_TYPE_URL]: RDS };
const NO_NAMES: readonly string[] = Object.freeze([]);

/** What the simulator reports; the worker turns it into counters and convergence records. */
export interface SimHooks {
  response(type: TypeIndex, bytes: number, resources: number): void;
  ack(type: TypeIndex): void;
  nack(type: TypeIndex, reason: string): void;
  /**
   * A stream was opened. `after`: 'first' for the proxy's first stream, 'reconnect' after a
   * stream that had delivered responses ended, 'retry' after one that was refused or failed
   * before any response.
   */
  streamOpened(sim: SimEnvoy, after: 'first' | 'reconnect' | 'retry'): void;
  /** first response on a stream, `ms` after the stream was opened; `reconnect`: the proxy had been connected before */
  firstResponse(sim: SimEnvoy, ms: number, reconnect: boolean): void;
  /** every subscribed type has been ACKed on the current stream */
  synced(sim: SimEnvoy, at: number): void;
  /** a response of type `type` was validated and ACKed at `at`; `raw` is the response as received */
  accepted(sim: SimEnvoy, raw: Buffer, at: number, type: TypeIndex): void;
  streamEnded(sim: SimEnvoy, gotResponse: boolean, code: grpc.status, details: string): void;
}

export interface SimDeps {
  open(local: number, delta: boolean): AdsCall;
  checker: ResourceChecker;
  backoff: BackoffOptions;
  hooks: SimHooks;
  node: Buffer;
  /** how long a removed listener drains before its route names are unsubscribed (default 45 s) */
  listenerDrainMs?: number;
}

/** istio-agent's default drainDuration, which it passes to Envoy as --drain-time-s */
export const DEFAULT_LISTENER_DRAIN_MS = 45_000;

/** A cluster warming after a CDS update: it waits for its ClusterLoadAssignment. */
interface Warming {
  readonly eds: string;
  /** wallNow() ms at which initial_fetch_timeout fires (Infinity: never) */
  readonly deadline: number;
  /** it replaces an active cluster of the same name (whose EDS watch goes when it warms) */
  readonly replaced: boolean;
}

/** What a CDS update does to EDS clusters. Shared between proxies: never mutate. */
interface ClusterDiff {
  /** added or changed EDS clusters: they warm */
  readonly warm: ReadonlyArray<{ readonly name: string; readonly eds: string; readonly timeoutMs: number; readonly replaced: boolean }>;
  /** names of EDS clusters removed (or no longer EDS) */
  readonly removed: readonly string[];
}

interface TypeState {
  /** SotW: last accepted version_info */
  version: string;
  /** nonce of the last response received on the current stream */
  nonce: string;
  /** subscribed names (wildcard types: empty = wildcard) */
  names: readonly string[];
  /** requested on some stream: re-requested on every new stream */
  everRequested: boolean;
  requested: boolean;
  /** a response was accepted on this stream (set before its ACK is sent) */
  acceptedOnStream: boolean;
  ackedOnStream: boolean;
  /** Delta: what we hold, name → version (sent as initial_resource_versions) */
  held: Map<string, string>;
  /** Delta CDS/LDS: facts of held resources by name */
  facts: Map<string, ResourceFacts>;
}

function newType(): TypeState {
  return { version: '', nonce: '', names: NO_NAMES, everRequested: false, requested: false, acceptedOnStream: false, ackedOnStream: false, held: new Map(), facts: new Map() };
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class SimEnvoy {
  private call: AdsCall | undefined;
  private readonly types: TypeState[] = [newType(), newType(), newType(), newType()];
  private readonly backoff: Backoff;
  private openedAt = 0;
  private gotResponse = false;
  /** some earlier stream delivered a response */
  private everConnected = false;
  private streams = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** something was sent on the current stream (the node goes on the first message only) */
  private sentOnStream = false;
  /** the initial clusters have warmed (Envoy's cluster manager initialised): warming pauses CDS from now on */
  private clustersInitialized = false;
  /** the first LDS request waits for the ACK that completes cluster warming (SDS-backed clusters) */
  private ldsAfterAck = false;
  /** SotW: the CDS facts last accepted (Delta keeps them in types[CDS].facts) */
  private sotwClusters: readonly ResourceFacts[] = NO_FACTS;
  /** cluster name → warming state; non-empty = CDS paused */
  private readonly warming = new Map<string, Warming>();
  private warmTimer: NodeJS.Timeout | undefined;
  /** CDS paused: responses accepted meanwhile, ACKed (once, for the latest) when the last cluster warms */
  private cdsHeld: Buffer[] | undefined;
  /** CDS paused: the latest CDS response was rejected; the resumed request is a NACK */
  private cdsHeldError: string | undefined;
  /** route names referenced by the current listeners */
  private listenerRoutes: readonly string[] = NO_NAMES;
  /** route name → wallNow() ms when the listener holding it finishes draining */
  private readonly drainingRoutes = new Map<string, number>();
  private drainTimer: NodeJS.Timeout | undefined;
  /** first connection attempt (for time-to-first-sync) */
  firstAttemptAt = 0;
  /** set once the first full sync happened */
  firstSyncedAt = 0;
  connected = false;
  synced = false;

  constructor(readonly local: number, readonly spec: ProxySpec, private readonly deps: SimDeps) {
    this.backoff = new Backoff(deps.backoff);
  }

  start(): void {
    if (this.call || this.stopped) return;
    if (this.firstAttemptAt === 0) this.firstAttemptAt = wallNow();
    const after = this.streams === 0 ? 'first' : this.gotResponse ? 'reconnect' : 'retry';
    this.streams++;
    this.gotResponse = false;
    this.connected = false;
    this.synced = false;
    for (const t of this.types) { t.requested = false; t.acceptedOnStream = false; t.ackedOnStream = false; t.nonce = ''; }
    const call = this.deps.open(this.local, this.spec.delta);
    this.call = call;
    this.openedAt = wallNow();
    call.on('data', (buf: Buffer) => { if (this.call === call) this.onResponse(buf); });
    call.on('error', () => { /* the same status arrives on 'status' */ });
    call.on('status', (s: grpc.StatusObject) => { if (this.call === call) this.onEnd(s.code, s.details); });
    this.sentOnStream = false;
    this.ldsAfterAck = false;
    this.deps.hooks.streamOpened(this, after);
    const typeOrder: TypeIndex[] = [CDS, EDS, LDS, RDS];
    for (const ti of typeOrder) {
      const t = this.types[ti]!;
      // first stream: CDS only; the rest follows the warming order. Later streams: every type held.
      // A paused CDS (clusters warming) sends its request when it resumes.
      if (ti === CDS && this.cdsHeld) continue;
      if (ti === CDS || t.everRequested) this.requestInitial(ti);
    }
  }

  /** Drop the stream as if the connection broke (reconnect storm); it reopens after backoff. */
  drop(): void {
    if (!this.call) return;
    const call = this.call;
    call.cancel(); // 'status' CANCELLED → onEnd → backoff → start()
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.warmTimer) clearTimeout(this.warmTimer);
    this.warmTimer = undefined;
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    const call = this.call;
    this.call = undefined;
    this.connected = false;
    this.synced = false;
    call?.cancel();
  }

  // ------------------------------------------------------------------ requests

  private send(buf: Buffer): void {
    if (!this.call) return;
    this.sentOnStream = true;
    this.call.write(buf);
  }

  private requestInitial(ti: TypeIndex): void {
    const t = this.types[ti]!;
    t.requested = true;
    t.everRequested = true;
    const typeUrl = TYPE_URLS[ti];
    const node = this.sentOnStream ? undefined : this.deps.node;
    if (this.spec.delta) {
      this.send(encodeDeltaRequest({ typeUrl, node, subscribe: t.names, initialVersions: t.held, nonce: '' }));
    } else {
      this.send(encodeSotwRequest({ typeUrl, node, versionInfo: t.version, names: t.names, nonce: '' }));
    }
  }

  /** SotW: the subscription changed after the type's first request on this stream. */
  private sotwUpdate(ti: TypeIndex): void {
    const t = this.types[ti]!;
    this.send(encodeSotwRequest({ typeUrl: TYPE_URLS[ti], versionInfo: t.version, names: t.names, nonce: t.nonce }));
  }

  // ------------------------------------------------------------------ responses

  private onResponse(raw: Buffer): void {
    const now = wallNow();
    if (!this.gotResponse) {
      this.gotResponse = true;
      this.connected = true;
      this.backoff.reset();
      this.deps.hooks.firstResponse(this, now - this.openedAt, this.everConnected);
      this.everConnected = true;
    }
    if (this.spec.delta) this.onDelta(raw); else this.onSotw(raw);
  }

  private onSotw(raw: Buffer): void {
    const frame = this.frame(raw);
    if (!frame) return;
    const ti = INDEX_OF[frame.typeUrl];
    if (ti === undefined) return; // a type we never asked for: Envoy ignores it
    const t = this.types[ti]!;
    this.deps.hooks.response(ti, raw.length, frame.resourceRanges.length / 2);
    t.nonce = frame.nonce;
    const res = this.deps.checker.check(frame, raw);
    if (!res.ok) {
      this.deps.hooks.nack(ti, res.error);
      if (ti === CDS && this.cdsHeld) { this.cdsHeldError = res.error; return; } // sent when CDS resumes
      this.send(encodeSotwRequest({ typeUrl: frame.typeUrl, versionInfo: t.version, names: t.names, nonce: frame.nonce, error: { code: grpc.status.INVALID_ARGUMENT, message: res.error } }));
      return;
    }
    t.version = frame.versionInfo;
    t.acceptedOnStream = true;
    // SotW CDS/LDS responses are the complete set; their facts decide the secondary subscriptions
    if (ti === CDS) {
      const diff = sotwClusterDiff(this.sotwClusters, res.facts);
      this.sotwClusters = res.facts;
      this.onClusters(edsNames(res.facts), diff);
    } else if (ti === LDS) {
      this.onListeners(routeNames(res.facts));
    } else if (ti === EDS) {
      this.onEndpoints(res.facts, NO_NAMES);
    }
    this.afterApply();
    if (ti === CDS && this.holdCdsAck(raw)) return;
    this.send(encodeSotwRequest({ typeUrl: frame.typeUrl, versionInfo: t.version, names: t.names, nonce: frame.nonce }));
    this.afterAck(ti, [raw]);
  }

  private onDelta(raw: Buffer): void {
    const frame = this.frame(raw);
    if (!frame) return;
    const ti = INDEX_OF[frame.typeUrl];
    if (ti === undefined) return;
    const t = this.types[ti]!;
    this.deps.hooks.response(ti, raw.length, frame.resourceRanges.length / 2);
    t.nonce = frame.nonce;
    const res = this.deps.checker.check(frame, raw);
    if (!res.ok) {
      this.deps.hooks.nack(ti, res.error);
      if (ti === CDS && this.cdsHeld) { this.cdsHeldError = res.error; return; } // sent when CDS resumes
      this.send(encodeDeltaRequest({ typeUrl: frame.typeUrl, nonce: frame.nonce, error: { code: grpc.status.INVALID_ARGUMENT, message: res.error } }));
      return;
    }
    const keepFacts = ti === CDS || ti === LDS;
    const warm: Array<ClusterDiff['warm'][number]> = [];
    const removedEds: string[] = [];
    for (let i = 0; i < res.facts.length; i++) {
      const f = res.facts[i]!;
      t.held.set(f.name, res.deltaVersions![i]!);
      if (!keepFacts || !res.withBody![i]) continue;
      if (ti === CDS) {
        const before = t.facts.get(f.name);
        if (f.eds !== undefined && before?.digest !== f.digest) warm.push({ name: f.name, eds: f.eds, timeoutMs: f.edsFetchTimeoutMs ?? 0, replaced: before !== undefined });
        else if (f.eds === undefined && before?.eds !== undefined) removedEds.push(f.name);
      }
      t.facts.set(f.name, f);
    }
    for (const name of frame.removed) {
      if (ti === CDS && t.facts.get(name)?.eds !== undefined) removedEds.push(name);
      t.held.delete(name);
      t.facts.delete(name);
    }
    t.acceptedOnStream = true;
    if (ti === CDS) this.onClusters(edsNames([...t.facts.values()]), { warm, removed: removedEds });
    else if (ti === LDS) this.onListeners(routeNames([...t.facts.values()]));
    else if (ti === EDS) this.onEndpoints(res.facts, frame.removed);
    this.afterApply();
    if (ti === CDS && this.holdCdsAck(raw)) return;
    this.send(encodeDeltaRequest({ typeUrl: frame.typeUrl, nonce: frame.nonce }));
    this.afterAck(ti, [raw]);
  }

  /**
   * A CDS response was applied (sent before its ACK): EDS follows the EDS clusters, and added or
   * changed EDS clusters start warming once the initial clusters are up.
   */
  private onClusters(names: readonly string[], diff: ClusterDiff): void {
    // SotW: Envoy's mux queues an EDS request for every EDS watch added or removed while CDS is
    // applied, sent once when that ends, even if the name list did not change
    const watchesChanged = !this.spec.delta && (diff.warm.length > 0 || diff.removed.length > 0);
    this.secondary(EDS, names, watchesChanged);
    for (const name of diff.removed) this.warming.delete(name);
    if (!this.clustersInitialized) return; // initial clusters: the init sequence (LDS after EDS) covers them
    const now = wallNow();
    for (const w of diff.warm) {
      const replaced = w.replaced || this.warming.get(w.name)?.replaced === true;
      this.warming.set(w.name, { eds: w.eds, deadline: w.timeoutMs > 0 ? now + w.timeoutMs : Infinity, replaced });
    }
    this.armWarmTimer();
  }

  /** An EDS response was applied: the warming clusters whose assignment it carries (or removes) are warm. */
  private onEndpoints(facts: readonly ResourceFacts[], removed: readonly string[]): void {
    if (this.warming.size === 0) return;
    const got = new Set<string>(removed);
    for (const f of facts) got.add(f.name);
    for (const [name, w] of this.warming) if (got.has(w.eds)) this.warming.delete(name);
    // warmed inside the EDS update: Envoy's pause on EDS folds the replaced clusters' watch
    // removals into the EDS ACK, and CDS resumes (its ACK goes out) before that ACK
    if (this.warming.size === 0) this.resumeCds();
  }

  /** An LDS response was applied: RDS follows the listeners' routes, plus those of draining listeners. */
  private onListeners(routes: readonly string[]): void {
    const drainMs = this.deps.listenerDrainMs ?? DEFAULT_LISTENER_DRAIN_MS;
    if (drainMs > 0 && routes !== this.listenerRoutes) {
      const now = wallNow();
      const keep = new Set(routes);
      for (const r of this.listenerRoutes) if (!keep.has(r) && !this.drainingRoutes.has(r)) this.drainingRoutes.set(r, now + drainMs);
      for (const r of routes) this.drainingRoutes.delete(r); // a listener uses it again: it never went away
    }
    this.listenerRoutes = routes;
    this.secondary(RDS, this.routeSubscription());
    this.armDrainTimer();
  }

  private routeSubscription(): readonly string[] {
    if (this.drainingRoutes.size === 0) return this.listenerRoutes;
    return internNames([...new Set([...this.listenerRoutes, ...this.drainingRoutes.keys()])].sort());
  }

  private armDrainTimer(): void {
    if (this.drainTimer || this.drainingRoutes.size === 0 || this.stopped) return;
    const next = Math.min(...this.drainingRoutes.values());
    this.drainTimer = setTimeout(() => {
      this.drainTimer = undefined;
      const now = wallNow();
      for (const [r, until] of this.drainingRoutes) if (until <= now) this.drainingRoutes.delete(r);
      // the drained listener is gone: RDS drops the names no listener references any more
      if (this.types[RDS]!.everRequested) this.secondary(RDS, this.routeSubscription());
      this.armDrainTimer();
    }, Math.max(0, next - wallNow()));
  }

  private armWarmTimer(): void {
    if (this.warmTimer) { clearTimeout(this.warmTimer); this.warmTimer = undefined; }
    if (this.warming.size === 0 || this.stopped) return;
    let next = Infinity;
    for (const w of this.warming.values()) next = Math.min(next, w.deadline);
    if (next === Infinity) return; // initial_fetch_timeout 0: they wait for EDS however long it takes
    this.warmTimer = setTimeout(() => {
      this.warmTimer = undefined;
      const now = wallNow();
      for (const [name, w] of this.warming) {
        if (w.deadline > now) continue;
        this.warming.delete(name);
        // initial_fetch_timeout: the cluster warms with what it has; the cluster it replaces goes,
        // and with it its EDS watch (SotW: a request per watch, names unchanged)
        if (w.replaced && !this.spec.delta && this.types[EDS]!.requested) this.sotwUpdate(EDS);
      }
      if (this.warming.size === 0) this.resumeCds(); else this.armWarmTimer();
    }, Math.max(0, next - wallNow()));
  }

  /**
   * CDS is paused while clusters warm (after the initial ones): hold this response's ACK. True
   * when the ACK is held, or was sent by a resume (this response removed the last warming ones).
   */
  private holdCdsAck(raw: Buffer): boolean {
    if (this.warming.size === 0 && !this.cdsHeld) return false;
    (this.cdsHeld ??= []).push(raw);
    this.cdsHeldError = undefined;
    if (this.warming.size === 0) this.resumeCds();
    return true;
  }

  /** The last warming cluster is warm: CDS resumes and sends one request for where it is now. */
  private resumeCds(): void {
    const held = this.cdsHeld;
    if (!held) return;
    this.cdsHeld = undefined;
    const error = this.cdsHeldError;
    this.cdsHeldError = undefined;
    const t = this.types[CDS]!;
    if (!this.call) return; // no stream: the next one requests CDS as usual
    if (!t.requested) { this.requestInitial(CDS); return; } // this stream opened while CDS was paused
    const e = error === undefined ? undefined : { code: grpc.status.INVALID_ARGUMENT, message: error };
    this.send(this.spec.delta
      ? encodeDeltaRequest({ typeUrl: TYPE_URLS[CDS], nonce: t.nonce, error: e })
      : encodeSotwRequest({ typeUrl: TYPE_URLS[CDS], versionInfo: t.version, names: t.names, nonce: t.nonce, error: e }));
    if (error === undefined) this.afterAck(CDS, held);
  }

  /** After any applied response, before its ACK: the next type's first request in the warming order. */
  private afterApply(): void {
    const [cds, eds, lds] = this.types as [TypeState, TypeState, TypeState, TypeState];
    const clustersWarm = cds.acceptedOnStream && (eds.names.length === 0 || eds.acceptedOnStream);
    if (clustersWarm && !lds.requested) {
      // Clusters whose TLS takes secrets from the node agent (auto mTLS) warm only once those
      // arrive, after the response has been ACKed: Envoy's LDS then follows the ACK (afterAck).
      if (this.clustersNeedSecrets()) { this.ldsAfterAck = true; return; }
      this.clustersInitialized = true;
      this.requestInitial(LDS);
    }
  }

  private clustersNeedSecrets(): boolean {
    const facts = this.spec.delta ? [...this.types[CDS]!.facts.values()] : this.sotwClusters;
    return facts.some((f) => f.sds === true);
  }

  /** `raws`: the responses this ACK covers (a resumed CDS ACKs every response it held). */
  private afterAck(ti: TypeIndex, raws: readonly Buffer[]): void {
    const ackAt = wallNow();
    this.types[ti]!.ackedOnStream = true;
    if (this.ldsAfterAck && !this.types[LDS]!.requested) {
      const [cds, eds] = this.types as [TypeState, TypeState, TypeState, TypeState];
      if (cds.ackedOnStream && (eds.names.length === 0 || eds.ackedOnStream)) {
        this.ldsAfterAck = false;
        this.clustersInitialized = true;
        this.requestInitial(LDS);
      }
    }
    this.deps.hooks.ack(ti);
    for (const raw of raws) this.deps.hooks.accepted(this, raw, ackAt, ti);
    const [cds, eds, lds, rds] = this.types as [TypeState, TypeState, TypeState, TypeState];
    const wasSynced = this.synced;
    this.synced = cds.ackedOnStream && (eds.names.length === 0 || eds.ackedOnStream) && lds.ackedOnStream && (rds.names.length === 0 || rds.ackedOnStream);
    if (this.synced && !wasSynced) {
      const at = wallNow();
      if (this.firstSyncedAt === 0) this.firstSyncedAt = at;
      this.deps.hooks.synced(this, at);
    }
  }

  /**
   * Framing that does not parse cannot even be attributed to a type, so there is nothing to
   * NACK against: Envoy closes the stream then, and so do we (it reconnects after backoff).
   */
  private frame(raw: Buffer): ResponseFrame | undefined {
    try {
      return parseResponse(raw, this.spec.delta);
    } catch (e) {
      this.deps.hooks.nack(CDS, `malformed ${this.spec.delta ? 'Delta' : ''}DiscoveryResponse: ${(e as Error).message}`);
      this.call?.cancel();
      return undefined;
    }
  }

  /**
   * Bring EDS (from CDS) or RDS (from LDS) subscriptions in line with what the parent holds.
   * `resend` (SotW): send the request even when the names did not change.
   */
  private secondary(ti: TypeIndex, want: readonly string[], resend = false): void {
    const t = this.types[ti]!;
    if (sameNames(t.names, want)) {
      if (resend && t.requested) this.sotwUpdate(ti);
      return;
    }
    const before = t.names;
    t.names = want;
    if (!t.requested) {
      // first subscription on this stream (an empty list subscribes to nothing: no request)
      if (want.length > 0) this.requestInitial(ti);
      return;
    }
    if (this.spec.delta) {
      const had = new Set(before);
      const has = new Set(want);
      const subscribe = want.filter((n) => !had.has(n));
      const unsubscribe = before.filter((n) => !has.has(n));
      for (const n of unsubscribe) t.held.delete(n);
      this.send(encodeDeltaRequest({ typeUrl: TYPE_URLS[ti], subscribe, unsubscribe, nonce: '' }));
    } else {
      this.sotwUpdate(ti);
    }
  }

  // ------------------------------------------------------------------ stream end

  private onEnd(code: grpc.status, details: string): void {
    this.call = undefined;
    this.connected = false;
    this.synced = false;
    this.deps.hooks.streamEnded(this, this.gotResponse, code, details);
    if (this.stopped) return;
    const delay = this.backoff.next();
    this.retryTimer = setTimeout(() => { this.retryTimer = undefined; this.start(); }, delay);
  }
}

const NO_FACTS: readonly ResourceFacts[] = Object.freeze([]);
const diffs = new WeakMap<readonly ResourceFacts[], WeakMap<readonly ResourceFacts[], ClusterDiff>>();

/** What replacing SotW cluster set `before` by `after` does to EDS clusters; memoised per pair (shared responses). */
function sotwClusterDiff(before: readonly ResourceFacts[], after: readonly ResourceFacts[]): ClusterDiff {
  if (before === after) return NO_DIFF;
  let perBefore = diffs.get(before);
  let diff = perBefore?.get(after);
  if (diff) return diff;
  const old = new Map<string, ResourceFacts>();
  for (const f of before) old.set(f.name, f);
  const warm: Array<ClusterDiff['warm'][number]> = [];
  const removed: string[] = [];
  const seen = new Set<string>();
  for (const f of after) {
    seen.add(f.name);
    const o = old.get(f.name);
    if (f.eds !== undefined && o?.digest !== f.digest) warm.push({ name: f.name, eds: f.eds, timeoutMs: f.edsFetchTimeoutMs ?? 0, replaced: o !== undefined });
    else if (f.eds === undefined && o?.eds !== undefined) removed.push(f.name);
  }
  for (const o of before) if (!seen.has(o.name) && o.eds !== undefined) removed.push(o.name);
  diff = Object.freeze({ warm: Object.freeze(warm), removed: Object.freeze(removed) });
  if (Object.isFrozen(before) && Object.isFrozen(after)) {
    if (!perBefore) { perBefore = new WeakMap(); diffs.set(before, perBefore); }
    perBefore.set(after, diff);
  }
  return diff;
}

const NO_DIFF: ClusterDiff = Object.freeze({ warm: Object.freeze([]), removed: Object.freeze([]) });

/** Memo per SotW CDS/LDS result (shared by every proxy that got the same response). */
const derived = new WeakMap<readonly ResourceFacts[], readonly string[]>();

function edsNames(facts: readonly ResourceFacts[]): readonly string[] {
  let names = derived.get(facts);
  if (!names) {
    const set = new Set<string>();
    for (const f of facts) if (f.eds !== undefined) set.add(f.eds);
    names = internNames([...set].sort());
    if (Object.isFrozen(facts)) derived.set(facts, names);
  }
  return names;
}

function routeNames(facts: readonly ResourceFacts[]): readonly string[] {
  let names = derived.get(facts);
  if (!names) {
    const set = new Set<string>();
    for (const f of facts) for (const r of f.routes ?? []) set.add(r);
    names = internNames([...set].sort());
    if (Object.isFrozen(facts)) derived.set(facts, names);
  }
  return names;
}
