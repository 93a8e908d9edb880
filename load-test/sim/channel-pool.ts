/**
 * gRPC channels shared by simulated proxies: a real Envoy has one HTTP/2 connection per proxy,
 * but the server's cost per stream (framing, flow control, one call object) is what a load test
 * is after, and one connection per stream would exhaust the generator first. Each channel
 * (@grpc/grpc-js Client) carries up to `streamsPerChannel` streams.
 *
 * grpc-js shares subchannels (connections) between Clients with the same target and options
 * through a global pool; `grpc.use_local_subchannel_pool` gives every Client its own connection,
 * so N channels really are N TCP connections.
 */
import * as grpc from '@grpc/grpc-js';

export const ADS_SERVICE = '/envoy.service.discovery.v3.AggregatedDiscoveryService/';
const identity = (b: Buffer): Buffer => b;

export type AdsCall = grpc.ClientDuplexStream<Buffer, Buffer>;

export class ChannelPool {
  private readonly clients: grpc.Client[] = [];

  constructor(private readonly target: string, private readonly streamsPerChannel: number) {
    if (!Number.isInteger(streamsPerChannel) || streamsPerChannel < 1) throw new RangeError(`streamsPerChannel: expected a positive integer, got ${streamsPerChannel}`);
  }

  /** The channel for the proxy with this local index (fixed, so reconnects reuse it). */
  channelFor(localIndex: number): grpc.Client {
    const i = Math.floor(localIndex / this.streamsPerChannel);
    while (this.clients.length <= i) {
      this.clients.push(new grpc.Client(this.target, grpc.credentials.createInsecure(), {
        'grpc.use_local_subchannel_pool': 1,
        'grpc.max_receive_message_length': -1,
        'grpc.max_send_message_length': -1,
        // the server already caps concurrent streams at 100k; keep HTTP/2 windows generous so
        // a large push is not paced by flow-control round trips on loopback
        'grpc-node.flow_control_window': 4 * 1024 * 1024,
      }));
    }
    return this.clients[i]!;
  }

  open(localIndex: number, method: 'StreamAggregatedResources' | 'DeltaAggregatedResources'): AdsCall {
    return this.channelFor(localIndex).makeBidiStreamRequest(ADS_SERVICE + method, identity, identity);
  }

  get size(): number {
    return this.clients.length;
  }

  close(): void {
    for (const c of this.clients) c.close();
    this.clients.length = 0;
  }
}
