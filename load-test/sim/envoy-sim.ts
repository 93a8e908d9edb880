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
 *   subscribe/unsubscribe).
 * - A stream that ends is reopened after jittered exponential backoff. A reopened stream
 *   re-requests every type subscribed so far, at once, in subscription order; SotW sends the last
 *   accepted versions, Delta sends initial_resource_versions.
 *
 * Per-type version, nonce and names persist across streams (Envoy keeps its config); nonces
 * are only sent back on the stream that produced them.
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
  /** a response was validated and ACKed at `at`; `raw` is the response as received */
  accepted(sim: SimEnvoy, raw: Buffer, at: number): void;
  streamEnded(sim: SimEnvoy, gotResponse: boolean, code: grpc.status, details: string): void;
}

export interface SimDeps {
  open(local: number, delta: boolean): AdsCall;
  checker: ResourceChecker;
  backoff: BackoffOptions;
  hooks: SimHooks;
  node: Buffer;
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
    this.deps.hooks.streamOpened(this, after);
    let first = true;
    const typeOrder: TypeIndex[] = [CDS, EDS, LDS, RDS];
    for (const ti of typeOrder) {
      const t = this.types[ti]!;
      // first stream: CDS only; the rest follows the warming order. Later streams: every type held
      if (ti === CDS || t.everRequested) {
        this.requestInitial(ti, first);
        first = false;
      }
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
    const call = this.call;
    this.call = undefined;
    this.connected = false;
    this.synced = false;
    call?.cancel();
  }

  // ------------------------------------------------------------------ requests

  private send(buf: Buffer): void {
    this.call?.write(buf);
  }

  private requestInitial(ti: TypeIndex, withNode: boolean): void {
    const t = this.types[ti]!;
    t.requested = true;
    t.everRequested = true;
    const typeUrl = TYPE_URLS[ti];
    const node = withNode ? this.deps.node : undefined;
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
      this.send(encodeSotwRequest({ typeUrl: frame.typeUrl, versionInfo: t.version, names: t.names, nonce: frame.nonce, error: { code: grpc.status.INVALID_ARGUMENT, message: res.error } }));
      this.deps.hooks.nack(ti, res.error);
      return;
    }
    t.version = frame.versionInfo;
    t.acceptedOnStream = true;
    // SotW CDS/LDS responses are the complete set; their facts decide the secondary subscriptions
    this.beforeAck(ti, ti === CDS ? edsNames(res.facts) : ti === LDS ? routeNames(res.facts) : undefined);
    this.send(encodeSotwRequest({ typeUrl: frame.typeUrl, versionInfo: t.version, names: t.names, nonce: frame.nonce }));
    this.afterAck(ti, raw);
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
      this.send(encodeDeltaRequest({ typeUrl: frame.typeUrl, nonce: frame.nonce, error: { code: grpc.status.INVALID_ARGUMENT, message: res.error } }));
      this.deps.hooks.nack(ti, res.error);
      return;
    }
    const keepFacts = ti === CDS || ti === LDS;
    for (let i = 0; i < res.facts.length; i++) {
      const f = res.facts[i]!;
      t.held.set(f.name, res.deltaVersions![i]!);
      if (keepFacts && res.withBody![i]) t.facts.set(f.name, f);
    }
    for (const name of frame.removed) {
      t.held.delete(name);
      t.facts.delete(name);
    }
    t.acceptedOnStream = true;
    this.beforeAck(ti, ti === CDS ? edsNames([...t.facts.values()]) : ti === LDS ? routeNames([...t.facts.values()]) : undefined);
    this.send(encodeDeltaRequest({ typeUrl: frame.typeUrl, nonce: frame.nonce }));
    this.afterAck(ti, raw);
  }

  /**
   * What applying an accepted response triggers, sent before its ACK: the EDS (from CDS) or RDS
   * (from LDS) subscription update, or the next type's first request in the warming order.
   */
  private beforeAck(ti: TypeIndex, secondaryNames: readonly string[] | undefined): void {
    if (ti === CDS) this.secondary(EDS, secondaryNames!);
    else if (ti === LDS) this.secondary(RDS, secondaryNames!);
    const [cds, eds, lds] = this.types as [TypeState, TypeState, TypeState, TypeState];
    const clustersWarm = cds.acceptedOnStream && (eds.names.length === 0 || eds.acceptedOnStream);
    if (clustersWarm && !lds.requested) this.requestInitial(LDS, false);
  }

  private afterAck(ti: TypeIndex, raw: Buffer): void {
    const ackAt = wallNow();
    this.types[ti]!.ackedOnStream = true;
    this.deps.hooks.ack(ti);
    this.deps.hooks.accepted(this, raw, ackAt);
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

  /** Bring EDS (from CDS) or RDS (from LDS) subscriptions in line with what the parent holds. */
  private secondary(ti: TypeIndex, want: readonly string[]): void {
    const t = this.types[ti]!;
    if (sameNames(t.names, want)) return;
    const before = t.names;
    t.names = want;
    if (!t.requested) {
      // first subscription on this stream (an empty list subscribes to nothing: no request)
      if (want.length > 0) this.requestInitial(ti, false);
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
