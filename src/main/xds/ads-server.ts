/**
 * The ADS gRPC server (@grpc/grpc-js): StreamAggregatedResources (SotW) and
 * DeltaAggregatedResources on one service definition whose response serializer is the identity,
 * because responses are already bytes (framed on main from worker-encoded resources).
 *
 * pushAll walks every connection under a concurrency limit (PILOT_PUSH_THROTTLE).
 */
import * as grpc from '@grpc/grpc-js';
import { XdsProtocolError } from '../../shared/errors';
import { PushRequest } from '../push/push-request';
import { ConnectionDeps, XdsConnection } from './connection';
import { SotwConnection } from './sotw';
import { DeltaConnection } from './delta';
import { DeltaRequest, SotwRequest, decodeDeltaRequest, decodeSotwRequest } from './request';
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
  maxRecvMsgBytes?: number;
}

export class AdsServer {
  readonly server: grpc.Server;
  readonly connections = new Map<string, XdsConnection>();
  private shuttingDown = false;

  constructor(private readonly deps: ConnectionDeps, private readonly opts: AdsServerOptions) {
    this.server = new grpc.Server({
      'grpc.max_concurrent_streams': 100_000, // ISTIO_GPRC_MAXSTREAMS
      'grpc.max_receive_message_length': opts.maxRecvMsgBytes ?? 4 * 1024 * 1024, // ISTIO_GPRC_MAXRECVMSGSIZE
      'grpc.max_send_message_length': -1,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
    });
    this.server.addService(ADS_SERVICE, {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<SotwRequest, Buffer>) => this.serve(call, new SotwConnection(deps, call)),
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<DeltaRequest, Buffer>) => this.serve(call, new DeltaConnection(deps, call)),
    });
  }

  /** Bind `host:port`; resolves to the bound port (0 picks one). */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      this.server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
    });
  }

  private serve<Req extends SotwRequest | DeltaRequest>(call: grpc.ServerDuplexStream<Req, Buffer>, conn: SotwConnection | DeltaConnection): void {
    if (this.shuttingDown) {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'server is shutting down' });
      return;
    }
    let registered = false;
    const end = () => {
      if (conn.closed) return;
      conn.close();
      if (registered) {
        this.connections.delete(conn.conId);
        this.deps.callbacks.onStreamClosed?.(conn);
        log.info('stream closed', { conId: conn.conId, kind: conn.kind });
      }
    };
    call.on('data', (req: Req) => {
      if (conn.closed) return; // refused or ended: later requests on the call are dropped
      try {
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
    });
    call.on('end', () => { end(); call.end(); });
    call.on('cancelled', end);
    call.on('error', end);
    call.on('close', end);
  }

  /** Push to every connection, at most `pushThrottle` at once. */
  async pushAll(req: PushRequest): Promise<void> {
    const conns = [...this.connections.values()];
    let next = 0;
    const worker = async () => {
      while (next < conns.length) {
        const c = conns[next++]!;
        if (!c.closed) await c.push(req);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.pushThrottle, conns.length) }, worker));
  }

  /**
   * Stop accepting streams and close the existing ones. Streams are long-lived, so waiting for
   * them to end by themselves would always take the whole grace period: they are cancelled now
   * (clients reconnect elsewhere), and the server is forced down if it has not stopped in graceMs.
   */
  async close(graceMs = 2000): Promise<void> {
    this.shuttingDown = true;
    for (const c of this.connections.values()) c.close();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => { this.server.forceShutdown(); resolve(); }, graceMs);
      timer.unref();
      this.server.tryShutdown(() => { clearTimeout(timer); resolve(); });
      // tryShutdown waits for open calls; cancel them so it can finish
      setImmediate(() => this.server.forceShutdown());
    });
  }
}
