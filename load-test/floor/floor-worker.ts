/**
 * The client side of the fan-out floor phase, one worker thread: the same proxies a simulator
 * worker ran (same SotW/Delta method, same channel layout: `streamsPerChannel` streams per gRPC
 * channel in local-index order), each opening one ADS stream to the floor server with its node,
 * and ACKing every response at once (the response's framing is parsed for version and nonce; the
 * filler resource is not decoded).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ProxySpec } from '../protocol';
import { ChannelPool } from '../sim/channel-pool';
import { encodeDeltaRequest, encodeNode, encodeSotwRequest, parseResponse } from '../sim/xds-codec';
import { proxyNode } from '../sim/node';
import { FLOOR_TYPE_URL } from './floor-server';

export interface FloorWorkerInit {
  readonly target: string;
  readonly proxies: readonly ProxySpec[];
  readonly streamsPerChannel: number;
  readonly istioVersion: string;
  readonly clusterId: string;
}

export type FloorWorkerMessage = { type: 'opened'; streams: number } | { type: 'error'; message: string } | { type: 'stopped' };

const NO_NAMES: readonly string[] = Object.freeze([]);
/** streams opened per turn of the event loop */
const OPEN_BATCH = 200;

function run(init: FloorWorkerInit): void {
  const post = (m: FloorWorkerMessage) => parentPort!.postMessage(m);
  const pool = new ChannelPool(init.target, init.streamsPerChannel);
  const calls: Array<ReturnType<ChannelPool['open']>> = [];
  let next = 0;
  const openBatch = () => {
    const end = Math.min(init.proxies.length, next + OPEN_BATCH);
    for (; next < end; next++) {
      const spec = init.proxies[next]!;
      const call = pool.open(next, spec.delta ? 'DeltaAggregatedResources' : 'StreamAggregatedResources');
      call.on('data', (raw: Buffer) => {
        const f = parseResponse(raw, spec.delta);
        call.write(spec.delta
          ? encodeDeltaRequest({ typeUrl: FLOOR_TYPE_URL, nonce: f.nonce })
          : encodeSotwRequest({ typeUrl: FLOOR_TYPE_URL, versionInfo: f.versionInfo, names: NO_NAMES, nonce: f.nonce }));
      });
      call.on('error', () => {});
      const node = encodeNode(proxyNode(spec, init));
      call.write(spec.delta ? encodeDeltaRequest({ typeUrl: FLOOR_TYPE_URL, node, nonce: '' }) : encodeSotwRequest({ typeUrl: FLOOR_TYPE_URL, node, versionInfo: '', names: NO_NAMES, nonce: '' }));
      calls.push(call);
    }
    if (next < init.proxies.length) setImmediate(openBatch);
    else post({ type: 'opened', streams: calls.length });
  };
  openBatch();
  parentPort!.on('message', (m: { type: 'stop' }) => {
    if (m.type !== 'stop') return;
    for (const c of calls) c.cancel();
    pool.close();
    post({ type: 'stopped' });
    parentPort!.close();
  });
}

try {
  run(workerData as FloorWorkerInit);
} catch (e) {
  parentPort!.postMessage({ type: 'error', message: e instanceof Error ? e.stack ?? e.message : String(e) });
}
