/**
 * The ADS gRPC server (@grpc/grpc-js): StreamAggregatedResources (SotW) and
 * DeltaAggregatedResources on one service definition whose response serializer is the identity,
 * because responses are already bytes (framed on main from worker-encoded resources).
 *
 * Pushes go through a PushQueue (one pending push per connection, merged) drained by
 * PILOT_PUSH_THROTTLE workers, so at most that many pushes run at once. New streams are admitted
 * through a token bucket (PILOT_MAX_REQUESTS_PER_SECOND, burst PILOT_PUSH_BURST); a stream that
 * gets no token within 1 s is refused with RESOURCE_EXHAUSTED, as Istio does.
 */
import * as grpc from '@grpc/grpc-js';
import { XdsProtocolError } from '../../shared/errors';
import { PushRequest } from '../push/push-request';
import { PushQueue } from '../push/push-queue';
import { TokenBucket } from './admission';
import { ConnectionDeps, XdsConnection } from './connection';
import { SotwConnection } from './sotw';
import { DeltaConnection } from './delta';
import { DeltaRequest, SotwRequest, decodeDeltaRequest, decodeSotwRequest, proxyFromFirstRequest } from './request';
import { ProxyView } from '../../shared/model/proxy';
import { scope } from '../log';

const log = scope('ads');
const SERVICE = '/envoy.service.discovery.v3.AggregatedDiscoveryService/';
const identity = (b: Buffer): Buffer => b;

function method<Req>(name: string, decode: (b: Buffer) => Req): grpc.MethodDefinition<Req, Buffer> {
  return {
    path: SERVICE + name,
    requestStream: true,
    responseStream: true,
    requestSerialize: () => { throw new Error('server-side only'); },
    requestDeserialize: decode,
    responseSerialize: identity,
    responseDeserialize: identity,
  };
}

export const ADS_SERVICE: grpc.ServiceDefinition = {
  StreamAggregatedResources: method('StreamAggregatedResources', decodeSotwRequest),
  DeltaAggregatedResources: method('DeltaAggregatedResources', decodeDeltaRequest),
};

export interface AdsServerOptions {
  pushThrottle: number;
  /** new streams per second; 0 disables admission control */
  maxRequestsPerSecond: number;
  /** token bucket capacity (Istio: 1) */
  requestBurst: number;
  maxRecvMsgBytes?: number;
  /** gRPC keepalive ping interval and timeout (Istio: 30s / 10s) */
  keepaliveIntervalMs?: number;
  keepaliveTimeoutMs?: number;
  /** GOAWAY connections older than this (grpc-js adds ±10% jitter) so proxies rebalance across replicas */
  maxConnectionAgeMs?: number;
  /** after the GOAWAY, streams still open are closed after this (Istio: 10s) */
  maxConnectionAgeGraceMs?: number;
  /** longest the push workers run before letting the event loop turn (default 10 ms; tests use 0) */
  pushYieldMs?: number;
}

/**
 * Per-stream authentication on the secure port (issue 6; Istio pilot/pkg/xds/auth.go). Runs once
 * per stream after admission and before any request is handled; requests that arrive meanwhile
 * are held in order. A refusal ends the stream with its status. On success, `authorize` is run on
 * the proxy parsed from the first request (the identity check); a message refuses the stream
 * with PERMISSION_DENIED.
 */
export interface StreamAuthenticator {
  authenticate(call: grpc.ServerDuplexStream<unknown, Buffer>): Promise<
    | {
      ok: true; authorize(proxy: ProxyView): string | undefined;
      /**
       * false when authorize() does not check the proxy against the caller's identity
       * (PILOT_ENABLE_XDS_IDENTITY_CHECK=false): the stream is then not identityVerified and gets no
       * gateway credentials, as Istio (VerifiedIdentity is set only by the identity check).
       * Absent = it does.
       */
      verifiesIdentity?: boolean;
    }
    | { ok: false; code: grpc.status; details: string }>;
}

/** Istio's WaitForRequestLimit waits at most this long for a token. */
const ADMISSION_WAIT_MS = 1000;
/** refusal warnings are summarised over this period */
const REFUSAL_LOG_MS = 10_000;

export class AdsServer {
  readonly server: grpc.Server;
  /** the TLS server of --secureGRPCAddr, once listenSecure has bound it */
  secureServer?: grpc.Server;
  private readonly serverOptions: grpc.ServerOptions;
  readonly connections = new Map<string, XdsConnection>();
  readonly queue = new PushQueue<XdsConnection>();
  private readonly admission: TokenBucket;
  private shuttingDown = false;
  /** pushes running right now (never above pushThrottle) */
  activePushes = 0;
  /** refusals by the admission limit not yet logged (a storm logs one line per 10 s, not one per stream) */
  private refusedUnlogged = 0;
  private refusedLogTimer?: NodeJS.Timeout;

  constructor(private readonly deps: ConnectionDeps, opts: AdsServerOptions) {
    this.serverOptions = {
      'grpc.max_concurrent_streams': 100_000, // ISTIO_GPRC_MAXSTREAMS
      'grpc.max_receive_message_length': opts.maxRecvMsgBytes ?? 4 * 1024 * 1024, // ISTIO_GPRC_MAXRECVMSGSIZE
      'grpc.max_send_message_length': -1,
      'grpc.keepalive_time_ms': opts.keepaliveIntervalMs ?? 30_000,
      'grpc.keepalive_timeout_ms': opts.keepaliveTimeoutMs ?? 10_000,
      ...(opts.maxConnectionAgeMs !== undefined ? {
        'grpc.max_connection_age_ms': opts.maxConnectionAgeMs,
        'grpc.max_connection_age_grace_ms': opts.maxConnectionAgeGraceMs ?? 10_000,
      } : {}),
    };
    this.server = new grpc.Server(this.serverOptions);
    this.admission = new TokenBucket(opts.maxRequestsPerSecond, Math.max(1, opts.requestBurst));
    this.yieldMs = opts.pushYieldMs ?? 10;
    for (let i = 0; i < Math.max(1, opts.pushThrottle); i++) void this.pushWorker();
    this.server.addService(ADS_SERVICE, this.handlers());
  }

  /** Log admission refusals: the first at once, then a count every 10 s while they continue. */
  private noteRefused(): void {
    this.refusedUnlogged++;
    if (this.refusedLogTimer) return;
    this.logRefused(false);
    const tick = () => {
      if (this.refusedUnlogged === 0) { this.refusedLogTimer = undefined; return; }
      this.logRefused(true);
      this.refusedLogTimer = setTimeout(tick, REFUSAL_LOG_MS);
      this.refusedLogTimer.unref();
    };
    this.refusedLogTimer = setTimeout(tick, REFUSAL_LOG_MS);
    this.refusedLogTimer.unref();
  }

  private logRefused(summary: boolean): void {
    if (this.refusedUnlogged === 0) return;
    log.warn('streams refused: request rate limit exceeded (PILOT_MAX_REQUESTS_PER_SECOND); proxies retry with backoff',
      summary ? { refused: this.refusedUnlogged, overMs: REFUSAL_LOG_MS } : { refused: this.refusedUnlogged });
    this.refusedUnlogged = 0;
  }

  /** The ADS handlers; with `auth`, every stream is authenticated first (the secure port). */
  private handlers(auth?: StreamAuthenticator): grpc.UntypedServiceImplementation {
    return {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<SotwRequest, Buffer>) => this.serve(call, new SotwConnection(this.deps, call), auth),
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<DeltaRequest, Buffer>) => this.serve(call, new DeltaConnection(this.deps, call), auth),
    };
  }

  /**
   * Serve ADS on a second, TLS server (--secureGRPCAddr), sharing this server's connections, push
   * queue and admission. `services` are registered beside ADS (the CA). Resolves to the bound port.
   */
  async listenSecure(host: string, port: number, creds: grpc.ServerCredentials, opts: {
    auth?: StreamAuthenticator;
    services?: ReadonlyArray<{ definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation }>;
  } = {}): Promise<number> {
    if (this.secureServer) throw new Error('listenSecure called twice');
    const server = new grpc.Server(this.serverOptions);
    server.addService(ADS_SERVICE, this.handlers(opts.auth));
    for (const s of opts.services ?? []) server.addService(s.definition, s.implementation);
    this.secureServer = server;
    const target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    return new Promise((resolve, reject) => server.bindAsync(target, creds, (err, bound) => {
      if (err) { reject(err); return; }
      this.trackSockets(server);
      resolve(bound);
    }));
  }

  /** Sockets of the HTTP/2 sessions the gRPC servers accepted (see close()). */
  private readonly sockets = new Set<import('node:net').Socket>();

  /**
   * Remember each accepted connection's socket. grpc-js closes sessions gracefully (GOAWAY, then
   * socket.end()) and detaches the socket from the session, so a client that never closes its
   * side (grpc-js-xds keeps its xDS channel for the process lifetime) would keep the connection —
   * and an in-process shutdown — alive. close() destroys whatever is left at the very end.
   * Uses grpc-js's `http2Servers` map (1.x); without it nothing is tracked and nothing breaks.
   */
  private trackSockets(server: grpc.Server): void {
    const http2Servers = (server as unknown as { http2Servers?: Map<import('node:events').EventEmitter, unknown> }).http2Servers;
    for (const h2 of http2Servers?.keys() ?? []) {
      // 'connection' hands over the raw TCP socket (a session's `socket` is a guarded proxy)
      h2.on('connection', (socket: import('node:net').Socket) => {
        this.sockets.add(socket);
        socket.once('close', () => this.sockets.delete(socket));
      });
    }
  }

  /** Bind `host:port`; resolves to the bound port (0 picks one). */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      this.server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (err, bound) => {
        if (err) { reject(err); return; }
        this.trackSockets(this.server);
        resolve(bound);
      });
    });
  }

  private serve<Req extends SotwRequest | DeltaRequest>(call: grpc.ServerDuplexStream<Req, Buffer>, conn: SotwConnection | DeltaConnection, auth?: StreamAuthenticator): void {
    if (this.shuttingDown) {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'server is shutting down' });
      return;
    }
    let registered = false;
    const end = () => {
      if (conn.closed) return;
      conn.close();
      this.queue.remove(conn);
      if (registered) {
        this.connections.delete(conn.conId);
        this.deps.callbacks.onStreamClosed?.(conn);
        log.info('stream closed', { conId: conn.conId, kind: conn.kind });
      }
    };
    const handle = (req: Req) => {
      if (conn.closed) return; // refused or ended: later requests on the stream are ignored
      try {
        if (!registered && authorize) {
          // Identity check before the first request is processed (proxyFromFirstRequest throws
          // XdsProtocolError for a bad node, handled below like any refusal).
          const denied = authorize(proxyFromFirstRequest(req.node));
          if (denied) throw new XdsProtocolError(grpc.status.PERMISSION_DENIED, denied);
          // authenticated on the secure port and the proxy accepted for that identity: SDS may
          // serve it its namespace's gateway credentials (connection.ts resolveArgs)
          conn.identityVerified = verifiesIdentity;
        }
        (conn as { handleRequest(r: Req): void }).handleRequest(req);
        if (!registered) {
          registered = true;
          this.connections.set(conn.conId, conn);
          this.deps.callbacks.onStreamOpen?.(conn);
          log.info('stream opened', { conId: conn.conId, kind: conn.kind, generator: conn.proxy.generator, namespace: conn.proxy.namespace });
        }
      } catch (e) {
        const code = e instanceof XdsProtocolError ? e.grpcCode : grpc.status.INTERNAL;
        const details = e instanceof Error ? e.message : String(e);
        log.warn('stream refused', { kind: conn.kind, code, error: details });
        call.emit('error', { code, details });
        end();
      }
    };
    // Admission: requests that arrive before the stream's token are held, in order.
    const held: Req[] = [];
    let admitted = false;
    let authorize: ((proxy: ProxyView) => string | undefined) | undefined;
    let verifiesIdentity = false;
    const waitStart = Date.now();
    void this.admission.acquire(ADMISSION_WAIT_MS).then(async (ok) => {
      this.deps.callbacks.onAdmission?.(Date.now() - waitStart, ok);
      if (!ok) {
        this.noteRefused();
        call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: 'request rate limit exceeded' });
        end();
        return;
      }
      if (auth) {
        // Istio order: rate limit first, then authenticate (pilot/pkg/xds/ads.go Stream).
        const a = await auth.authenticate(call as grpc.ServerDuplexStream<unknown, Buffer>).catch((e: unknown) => ({ ok: false as const, code: grpc.status.INTERNAL, details: `authentication error: ${String(e)}` }));
        if (!a.ok) {
          log.warn('stream refused: authentication failed', { kind: conn.kind, code: a.code, error: a.details });
          call.emit('error', { code: a.code, details: a.details });
          end();
          return;
        }
        authorize = a.authorize;
        verifiesIdentity = a.verifiesIdentity !== false;
      }
      if (conn.closed) return;
      admitted = true;
      for (const r of held.splice(0)) handle(r);
    });
    call.on('data', (req: Req) => (admitted ? handle(req) : held.push(req)));
    call.on('end', () => { end(); call.end(); });
    call.on('cancelled', end);
    call.on('error', end);
    call.on('close', end);
  }

  /**
   * Queue a push for the connections a change affects: those named in `affected` (they were sent
   * something the change invalidated, see GenerationService.setSnapshot) and those whose
   * generation context changed (a Sidecar now applies, their workload's services changed).
   * 'all' queues every connection. Resolves when the queue has drained.
   */
  /**
   * After a registry build: recompute the context of every connection whose context the build may
   * have changed (Registry.contextMayHaveChanged). Returns the ids of those whose context did
   * change. Must follow every build, so no stream keeps generating for a stale context.
   */
  refreshContexts(mayHaveChanged: (c: XdsConnection) => boolean): Set<string> {
    const changed = new Set<string>();
    for (const c of this.connections.values()) if (!c.closed && mayHaveChanged(c) && c.refreshContext()) changed.add(c.conId);
    return changed;
  }

  /**
   * Queue a push for every connection the change affects: those sent an answer it invalidated
   * (`affected`), and those whose generation context changed (`contextChanged`, from refreshContexts).
   */
  async pushAll(req: PushRequest, affected: ReadonlySet<string> | 'all' = 'all', contextChanged?: ReadonlySet<string>): Promise<number> {
    let queued = 0;
    for (const c of this.connections.values()) {
      if (c.closed) continue;
      if (affected === 'all' || req.forced || affected.has(c.conId) || contextChanged?.has(c.conId)) {
        this.queue.enqueue(c, req);
        queued++;
      }
    }
    await this.queue.idle();
    return queued;
  }

  /** When the push workers last let the event loop turn (see yieldIfBusy). */
  private lastYield = performance.now();
  private readonly yieldMs: number;
  private turn: Promise<void> | undefined;

  /**
   * A push whose answers are all cached runs entirely on promise continuations: without a yield the
   * whole fan-out (10,000 proxies × CDS/EDS/LDS/RDS) is one uninterrupted microtask run, during which
   * no byte reaches a socket (HTTP/2 frames are flushed when the loop turns), no ACK is read, and
   * timers stall (event-loop lag ~1.5–1.9 s per global push at 10,000 proxies). Every pushYieldMs
   * (10 ms) the workers step aside for one turn of the loop.
   */
  private async yieldIfBusy(): Promise<void> {
    if (performance.now() - this.lastYield < this.yieldMs) return;
    // One shared turn: every worker that finds the budget spent waits for the same setImmediate,
    // and the budget restarts once for all of them (a turn per worker gave each its own 10 ms).
    this.turn ??= new Promise<void>((resolve) => setImmediate(() => {
      this.turn = undefined;
      this.lastYield = performance.now();
      resolve();
    }));
    await this.turn;
  }

  /** One of PILOT_PUSH_THROTTLE workers: dequeue, push, markDone (re-queues merged follow-ups). */
  private async pushWorker(): Promise<void> {
    for (;;) {
      await this.yieldIfBusy();
      const item = await this.queue.dequeue();
      if (!item) return;
      this.activePushes++;
      this.deps.callbacks.onPushDequeued?.(item.conn, item.queuedMs);
      try {
        if (!item.conn.closed) await item.conn.push(item.req);
      } finally {
        this.activePushes--;
        this.queue.markDone(item.conn);
      }
    }
  }

  /**
   * Stop accepting streams and close the existing ones. Streams are long-lived, so waiting for
   * them to end by themselves would always take the whole grace period: they are cancelled now
   * (clients reconnect elsewhere), and the server is forced down if it has not stopped in graceMs.
   */
  async close(graceMs = 2000): Promise<void> {
    this.shuttingDown = true;
    this.queue.close();
    if (this.refusedLogTimer) clearTimeout(this.refusedLogTimer);
    if (this.refusedUnlogged > 0) this.logRefused(true);
    for (const c of this.connections.values()) c.close();
    if (this.secureServer) this.secureServer.forceShutdown(); // streams were just closed; nothing to drain
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { this.server.forceShutdown(); resolve(); }, graceMs);
      timer.unref();
      this.server.tryShutdown(() => { clearTimeout(timer); resolve(); });
      // tryShutdown waits for open calls; cancel them so it can finish
      setImmediate(() => this.server.forceShutdown());
    });
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }
}
