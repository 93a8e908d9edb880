/**
 * The fan-out floor server (ARCHITECTURE §6): a bare grpc-js ADS server that writes the same
 * prebuilt DiscoveryResponse bytes to every open stream and times how long the fleet takes to ACK
 * them. istiod-ts's push of a change that touches every proxy is judged against this number.
 *
 * It serves both ADS methods: StreamAggregatedResources streams get a DiscoveryResponse, Delta
 * streams a DeltaDiscoveryResponse; either carries one CDS-typed resource whose Any holds filler
 * bytes sized so the whole message is `bytesPerStream` long (SotW exactly, Delta a few bytes more
 * for the Resource wrapper). The Any (and for Delta the wrapper) is encoded once per round; only
 * the header fields (version, nonce) are encoded per stream. A stream counts as open once its
 * first request arrived; a round is done when every stream ACKed that round's nonce.
 *
 * Timing, per round: t0 just before the first write; `writeMs` when the last write was queued;
 * per stream the arrival of its ACK at the server (so the latency includes the client's ACK trip
 * back, an upper bound of the receive time); `allAckedMs` the last of them.
 *
 * Used in-process (FloorServer.start, bench/fanout-floor.ts) or as a child process of the load
 * tester (this file's entry point, driven over IPC by floor-phase.ts), so it never shares an event
 * loop with the load generator. Binds 127.0.0.1 only.
 */
import * as grpc from '@grpc/grpc-js';
import { performance } from 'node:perf_hooks';
import { bytesField, concatFields, stringField } from '../../src/shared/wire';
import { WireReader } from '../sim/wire';

export const ADS_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/';
export const FLOOR_TYPE_URL = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const identity = (b: Buffer): Buffer => b;
const toBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength);

export interface FloorRound {
  readonly round: number;
  readonly streams: number;
  readonly acked: number;
  /** ms from the first write to the last write queued */
  readonly writeMs: number;
  /** ms from the first write to the last ACK; null when not every stream ACKed in time */
  readonly allAckedMs: number | null;
  /** per ACKed stream: ms from the first write to its ACK's arrival */
  readonly latencies: number[];
}

interface Stream {
  readonly call: grpc.ServerDuplexStream<Buffer, Buffer>;
  readonly delta: boolean;
  nonce: string;
  ackAt: number;
}

/** The Any holding the filler: one resource whose framed DiscoveryResponse is about `bytesPerStream` bytes. */
export function floorAny(bytesPerStream: number): Uint8Array {
  const header = (fill: number) => concatFields([stringField(1, '1'), bytesField(2, concatFields([stringField(1, FLOOR_TYPE_URL), bytesField(2, new Uint8Array(fill))])), stringField(4, FLOOR_TYPE_URL), stringField(5, '1-00000')]).length - fill;
  let fill = Math.max(1, bytesPerStream - header(1));
  fill = Math.max(1, bytesPerStream - header(fill)); // varint widths depend on the size
  return concatFields([stringField(1, FLOOR_TYPE_URL), bytesField(2, new Uint8Array(fill).fill(7))]);
}

/** One stream's response: header fields around the prebuilt body (an Any, or for Delta a Resource wrapper). */
export function floorResponse(version: string, body: Uint8Array, nonce: string): Buffer {
  return toBuffer(concatFields([stringField(1, version), bytesField(2, body), stringField(4, FLOOR_TYPE_URL), stringField(5, nonce)]));
}

/** response_nonce of an ACK: DiscoveryRequest field 5, DeltaDiscoveryRequest field 6. */
function nonceOf(buf: Buffer, delta: boolean): string {
  const want = delta ? 6 : 5;
  const r = new WireReader(buf);
  let nonce = '';
  while (r.next()) if (r.field === want && r.wireType === 2) nonce = r.string();
  return nonce;
}

export class FloorServer {
  private readonly streams: Stream[] = [];
  private readonly server: grpc.Server;
  private opened!: () => void;
  /** resolves once `expected` streams sent their first request */
  readonly ready = new Promise<void>((r) => { this.opened = r; });
  private waiting = 0;
  private roundDone: (() => void) | undefined;
  port = 0;

  private constructor(private readonly expected: number, private readonly any: Uint8Array) {
    this.server = new grpc.Server({ 'grpc.max_concurrent_streams': 100_000, 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': 4 * 1024 * 1024 });
    const method = (name: string) => ({ path: ADS_PATH + name, requestStream: true, responseStream: true, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity });
    this.server.addService(
      { StreamAggregatedResources: method('StreamAggregatedResources'), DeltaAggregatedResources: method('DeltaAggregatedResources') },
      { StreamAggregatedResources: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.accept(call, false), DeltaAggregatedResources: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.accept(call, true) },
    );
    if (expected === 0) this.opened();
  }

  static async start(opts: { streams: number; bytesPerStream: number }): Promise<FloorServer> {
    if (!Number.isInteger(opts.streams) || opts.streams < 0) throw new RangeError(`streams: expected an integer >= 0, got ${opts.streams}`);
    if (!Number.isFinite(opts.bytesPerStream) || opts.bytesPerStream < 1) throw new RangeError(`bytesPerStream: expected a number >= 1, got ${opts.bytesPerStream}`);
    const s = new FloorServer(opts.streams, floorAny(Math.round(opts.bytesPerStream)));
    s.port = await new Promise<number>((res, rej) => s.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    return s;
  }

  get openStreams(): number { return this.streams.length; }
  get sotwStreams(): number { return this.streams.filter((s) => !s.delta).length; }

  private accept(call: grpc.ServerDuplexStream<Buffer, Buffer>, delta: boolean): void {
    let stream: Stream | undefined;
    call.on('data', (buf: Buffer) => {
      if (!stream) {
        stream = { call, delta, nonce: '', ackAt: 0 };
        this.streams.push(stream);
        if (this.streams.length === this.expected) this.opened();
        return;
      }
      if (stream.nonce === '' || stream.ackAt !== 0 || nonceOf(buf, delta) !== stream.nonce) return;
      stream.ackAt = performance.now();
      if (--this.waiting === 0) this.roundDone?.();
    });
    call.on('error', () => {});
  }

  /** Write round `round` to every open stream; resolves when all ACKed or after `timeoutMs`. */
  async round(round: number, timeoutMs: number): Promise<FloorRound> {
    const version = String(round);
    const sotwBody = this.any;
    const deltaBody = concatFields([stringField(1, version), bytesField(2, this.any), stringField(3, 'floor')]);
    const streams = this.streams;
    for (const s of streams) s.ackAt = 0;
    this.waiting = streams.length;
    const done = new Promise<void>((r) => { this.roundDone = r; if (this.waiting === 0) r(); });
    const t0 = performance.now();
    for (let i = 0; i < streams.length; i++) {
      const s = streams[i]!;
      s.nonce = `${round}-${i}`;
      s.call.write(floorResponse(version, s.delta ? deltaBody : sotwBody, s.nonce));
    }
    const writeMs = performance.now() - t0;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise<void>((r) => { timer = setTimeout(r, timeoutMs); })]);
    clearTimeout(timer);
    this.roundDone = undefined;
    const latencies = streams.filter((s) => s.ackAt !== 0).map((s) => Math.round((s.ackAt - t0) * 100) / 100);
    for (const s of streams) s.nonce = '';
    return {
      round, streams: streams.length, acked: latencies.length, writeMs: Math.round(writeMs * 100) / 100,
      allAckedMs: latencies.length === streams.length ? Math.max(0, ...latencies) : null, latencies,
    };
  }

  close(): void {
    for (const s of this.streams) s.call.end();
    this.server.forceShutdown();
  }
}

// ---------------------------------------------------------------- child process entry (floor-phase.ts)

/** Parent → child */
export type FloorCommand = { type: 'round'; round: number; timeoutMs: number } | { type: 'stop' };
/** Child → parent */
export type FloorEvent =
  | { type: 'listening'; port: number }
  | { type: 'ready'; streams: number; sotw: number }
  | { type: 'round'; result: FloorRound }
  | { type: 'error'; message: string };

async function child(): Promise<void> {
  const arg = (name: string) => Number(process.argv[process.argv.indexOf(`--${name}`) + 1]);
  const send = (e: FloorEvent) => process.send!(e);
  // the parent went away: nothing left to measure for
  process.on('disconnect', () => process.exit(0));
  const server = await FloorServer.start({ streams: arg('streams'), bytesPerStream: arg('bytes') });
  process.on('message', (m: FloorCommand) => {
    if (m.type === 'stop') { server.close(); process.exit(0); }
    if (m.type === 'round') void server.round(m.round, m.timeoutMs).then((result) => send({ type: 'round', result }), (e: Error) => send({ type: 'error', message: e.message }));
  });
  send({ type: 'listening', port: server.port });
  await server.ready;
  send({ type: 'ready', streams: server.openStreams, sotw: server.sotwStreams });
}

if (require.main === module) {
  child().catch((e: Error) => { process.send?.({ type: 'error', message: e.stack ?? e.message }); process.exit(1); });
}
