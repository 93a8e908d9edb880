/**
 * A small raw ADS client over real gRPC (@grpc/grpc-js), for integration tests and, later, the
 * load tester. It speaks protobuf directly (protobufjs types from the Envoy descriptor), keeps
 * field names in proto case, and turns the stream into a queue consumed with `await next()`.
 *
 * Contract: responses are delivered in arrival order, each exactly once. After the stream ends,
 * `next()` rejects with an error naming the final status, and `status` resolves to it. Nothing
 * here retries or ACKs on its own: a test says exactly what the simulated client sends.
 */
import * as grpc from '@grpc/grpc-js';
import { decodeAny, messageType } from '../../src/shared/envoy/proto';
import { jsonToStruct } from '../../src/shared/envoy/struct';

const SERVICE = '/envoy.service.discovery.v3.AggregatedDiscoveryService/';

// ------------------------------------------------------------------ messages (proto field names)

export interface NodeInit {
  id: string;
  cluster?: string;
  /** plain JSON; encoded as google.protobuf.Struct */
  metadata?: Record<string, unknown>;
  locality?: { region?: string; zone?: string; sub_zone?: string };
}

export interface ErrorDetailInit { code?: number; message?: string }

export interface DiscoveryRequestInit {
  type_url: string;
  node?: NodeInit;
  version_info?: string;
  resource_names?: string[];
  response_nonce?: string;
  error_detail?: ErrorDetailInit;
}

export interface DeltaDiscoveryRequestInit {
  type_url: string;
  node?: NodeInit;
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: ErrorDetailInit;
}

/** A resource decoded from its Any: proto field names, JSON-style scalars. */
export interface DecodedResource { typeUrl: string; value: Record<string, unknown> }

export interface DiscoveryResponse {
  version_info: string;
  type_url: string;
  nonce: string;
  resources: DecodedResource[];
}

export interface DeltaResource {
  name: string;
  version: string;
  resource: DecodedResource | undefined;
}

export interface DeltaDiscoveryResponse {
  system_version_info: string;
  type_url: string;
  nonce: string;
  resources: DeltaResource[];
  removed_resources: string[];
}

export interface StreamStatus { code: grpc.status; details: string }

/** `sidecar~10.0.0.1~pod.ns~ns.svc.cluster.local`-style node, GENERATOR=grpc for proxyless. */
export function testNode(opts: { type?: 'sidecar' | 'router'; ip?: string; pod?: string; namespace?: string; grpc?: boolean; metadata?: Record<string, unknown> } = {}): NodeInit {
  const ns = opts.namespace ?? 'default';
  const metadata: Record<string, unknown> = { ...(opts.grpc ? { GENERATOR: 'grpc' } : {}), ...opts.metadata };
  return {
    id: `${opts.type ?? 'sidecar'}~${opts.ip ?? '10.0.0.1'}~${opts.pod ?? 'pod'}.${ns}~${ns}.svc.cluster.local`,
    metadata,
  };
}

// ------------------------------------------------------------------ codecs

interface Codec<Req, Res> {
  readonly method: string;
  serialize(req: Req): Buffer;
  deserialize(buf: Buffer): Res;
}

const DECODE_OPTS = { longs: Number, enums: String, defaults: true, arrays: true, objects: true } as const;

function toWireNode(node: NodeInit | undefined): Record<string, unknown> | undefined {
  if (!node) return undefined;
  return { ...node, metadata: node.metadata ? jsonToStruct(node.metadata) : undefined };
}

function encode(typeName: string, obj: Record<string, unknown>): Buffer {
  const t = messageType(typeName);
  return Buffer.from(t.encode(t.fromObject(obj)).finish());
}

/** Re-frame a decoded Any message as bytes for decodeAny (test-side only; cost is irrelevant). */
function decodeAnyMessage(any: unknown): DecodedResource | undefined {
  if (!any) return undefined;
  return decodeAny(messageType('google.protobuf.Any').encode(any as object).finish());
}

const SOTW_CODEC: Codec<DiscoveryRequestInit, DiscoveryResponse> = {
  method: 'StreamAggregatedResources',
  serialize: (req) => encode('envoy.service.discovery.v3.DiscoveryRequest', { ...req, node: toWireNode(req.node) }),
  deserialize: (buf) => {
    const t = messageType('envoy.service.discovery.v3.DiscoveryResponse');
    const m = t.decode(buf);
    const msg = m as unknown as { resources: unknown[] };
    const o = t.toObject(m, DECODE_OPTS) as { version_info: string; type_url: string; nonce: string };
    return { version_info: o.version_info, type_url: o.type_url, nonce: o.nonce, resources: msg.resources.map((a) => decodeAnyMessage(a)!) };
  },
};

const DELTA_CODEC: Codec<DeltaDiscoveryRequestInit, DeltaDiscoveryResponse> = {
  method: 'DeltaAggregatedResources',
  serialize: (req) => encode('envoy.service.discovery.v3.DeltaDiscoveryRequest', { ...req, node: toWireNode(req.node) }),
  deserialize: (buf) => {
    const t = messageType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
    const m = t.decode(buf);
    const msg = m as unknown as { resources: Array<{ name: string; version: string; resource?: unknown }> };
    const o = t.toObject(m, DECODE_OPTS) as { system_version_info: string; type_url: string; nonce: string; removed_resources: string[] };
    return {
      system_version_info: o.system_version_info,
      type_url: o.type_url,
      nonce: o.nonce,
      removed_resources: o.removed_resources,
      resources: msg.resources.map((r) => ({ name: r.name, version: r.version, resource: decodeAnyMessage(r.resource) })),
    };
  },
};

// ------------------------------------------------------------------ stream

/** next() saw no response in time (expectNoResponse treats this as success). */
export class AdsTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`no ADS response within ${timeoutMs} ms`);
    this.name = 'AdsTimeoutError';
  }
}

type Waiter<Res> = { resolve(r: Res): void; reject(e: Error): void };

/** One ADS stream. Create with `AdsClient.sotw(target)` or `AdsClient.delta(target)`. */
export class AdsStream<Req, Res> {
  /** final status of the stream (OK, CANCELLED after close(), or what the server ended it with) */
  readonly status: Promise<StreamStatus>;
  private readonly queue: Res[] = [];
  private readonly waiters: Waiter<Res>[] = [];
  private ended?: StreamStatus;
  private readonly call: grpc.ClientDuplexStream<Req, Res>;

  constructor(private readonly client: grpc.Client, codec: Codec<Req, Res>) {
    this.call = client.makeBidiStreamRequest(SERVICE + codec.method, codec.serialize, codec.deserialize);
    this.call.on('data', (res: Res) => {
      const w = this.waiters.shift();
      if (w) w.resolve(res); else this.queue.push(res);
    });
    // 'error' carries the same status as 'status'; listening keeps it from being thrown
    this.call.on('error', () => {});
    this.status = new Promise<StreamStatus>((resolve) => {
      this.call.on('status', (s: grpc.StatusObject) => {
        this.ended = { code: s.code, details: s.details };
        for (const w of this.waiters.splice(0)) w.reject(this.endedError());
        resolve(this.ended);
      });
    });
  }

  /** Queue a request on the stream. */
  send(req: Req): void {
    if (this.ended) throw this.endedError();
    this.call.write(req);
  }

  /** The next response, in arrival order; rejects on timeout or when the stream has ended. */
  next(timeoutMs = 5000): Promise<Res> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.ended) return Promise.reject(this.endedError());
    return new Promise<Res>((resolve, reject) => {
      const waiter: Waiter<Res> = {
        resolve: (r) => { clearTimeout(timer); resolve(r); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new AdsTimeoutError(timeoutMs));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Send `req` and wait for the next response. */
  async request(req: Req, timeoutMs?: number): Promise<Res> {
    this.send(req);
    return this.next(timeoutMs);
  }

  /** Resolves if nothing arrives within `ms`; rejects with the unexpected response otherwise. */
  async expectNoResponse(ms = 300): Promise<void> {
    let res: Res;
    try {
      res = await this.next(ms);
    } catch (e) {
      if (e instanceof AdsTimeoutError) return;
      throw e;
    }
    throw new Error(`unexpected ADS response: ${JSON.stringify(summary(res))}`);
  }

  /** Responses received and not yet consumed by next(). */
  get pending(): number { return this.queue.length; }

  /** Half-close: the server sees the end of the request stream and ends the call (OK). */
  end(): void { if (!this.ended) this.call.end(); }

  /** Cancel the call (if still open) and close the channel. Idempotent. */
  close(): void {
    if (!this.ended) this.call.cancel();
    this.client.close();
  }

  private endedError(): Error {
    const s = this.ended!;
    return new Error(`ADS stream ended: ${grpc.status[s.code]} (${s.code}) ${s.details}`);
  }
}

function summary(res: unknown): unknown {
  const r = res as Partial<DiscoveryResponse & DeltaDiscoveryResponse>;
  return {
    type_url: r.type_url,
    nonce: r.nonce,
    version: r.version_info ?? r.system_version_info,
    resources: (r.resources as Array<DecodedResource | DeltaResource> | undefined)?.map((x) => ('name' in x ? x.name : resourceName(x))),
    removed: r.removed_resources,
  };
}

export type SotwStream = AdsStream<DiscoveryRequestInit, DiscoveryResponse>;
export type DeltaStream = AdsStream<DeltaDiscoveryRequestInit, DeltaDiscoveryResponse>;

export const AdsClient = {
  /** StreamAggregatedResources over a fresh insecure channel to `target` (host:port). */
  sotw(target: string, options: grpc.ChannelOptions = {}): SotwStream {
    return new AdsStream(new grpc.Client(target, grpc.credentials.createInsecure(), options), SOTW_CODEC);
  },
  /** DeltaAggregatedResources over a fresh insecure channel to `target` (host:port). */
  delta(target: string, options: grpc.ChannelOptions = {}): DeltaStream {
    return new AdsStream(new grpc.Client(target, grpc.credentials.createInsecure(), options), DELTA_CODEC);
  },
};

/** Name of a decoded resource: `name`, or `cluster_name` for a ClusterLoadAssignment. */
export function resourceName(r: DecodedResource): string {
  return String(r.value['name'] ?? r.value['cluster_name'] ?? '');
}
