/**
 * The fan-out floor (ARCHITECTURE §6, REFERENCE §10): how long a bare grpc-js server needs to
 * write the same prebuilt DiscoveryResponse bytes to N ADS streams, ACKed by a separate client
 * process. istiod-ts's push of a change that touches every proxy is judged against this.
 *
 *   node dist/bench/fanout-floor.js [--streams 1000] [--payloadKB 50] [--rounds 3] [--streamsPerChannel 100]
 *
 * Traffic stays on 127.0.0.1; every loop is bounded by --rounds and a 120 s deadline.
 */
import * as grpc from '@grpc/grpc-js';
import { fork, ChildProcess } from 'node:child_process';
import { messageType } from '../src/shared/envoy/proto';
import { concatFields, stringField, bytesField } from '../src/shared/wire';

const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
const TYPE = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const identity = (b: Buffer): Buffer => b;

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

// ------------------------------------------------------------------ client process

async function clients(target: string, streams: number, perChannel: number): Promise<void> {
  const req = messageType('envoy.service.discovery.v3.DiscoveryRequest');
  const res = messageType('envoy.service.discovery.v3.DiscoveryResponse');
  const first = Buffer.from(req.encode(req.fromObject({ node: { id: 'sidecar~10.0.0.1~bench.default~default.svc.cluster.local' }, type_url: TYPE })).finish());
  const received = new Map<number, number>(); // round → streams that got it
  const lastAt = new Map<number, number>();
  let channel: grpc.Client | undefined;
  for (let i = 0; i < streams; i++) {
    if (i % perChannel === 0) channel = new grpc.Client(target, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    const call = channel!.makeBidiStreamRequest(ADS, identity, identity);
    call.on('data', (buf: Buffer) => {
      const m = res.decode(buf) as unknown as { version_info: string; nonce: string };
      const round = Number(m.version_info);
      const n = (received.get(round) ?? 0) + 1;
      received.set(round, n);
      lastAt.set(round, Date.now());
      call.write(Buffer.from(req.encode(req.fromObject({ type_url: TYPE, version_info: m.version_info, response_nonce: m.nonce })).finish()));
      if (n === streams) process.send!({ round, lastAt: lastAt.get(round) });
    });
    call.on('error', () => {});
    call.write(first);
  }
  process.send!({ ready: true });
}

// ------------------------------------------------------------------ server (parent)

async function main(): Promise<void> {
  if (process.argv.includes('--role=clients')) {
    await clients(process.argv[process.argv.indexOf('--target') + 1]!, arg('streams', 1000), arg('streamsPerChannel', 100));
    return;
  }
  const streams = arg('streams', 1000), payloadKB = arg('payloadKB', 50), rounds = arg('rounds', 3), perChannel = arg('streamsPerChannel', 100);
  const calls: grpc.ServerDuplexStream<Buffer, Buffer>[] = [];
  const server = new grpc.Server({ 'grpc.max_concurrent_streams': 100_000, 'grpc.max_send_message_length': -1 });
  let opened!: () => void;
  const allOpen = new Promise<void>((r) => { opened = r; });
  server.addService({ StreamAggregatedResources: { path: ADS, requestStream: true, responseStream: true, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } }, {
    StreamAggregatedResources: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.once('data', () => { calls.push(call); if (calls.length === streams) opened(); });
      call.on('data', () => {});
      call.on('error', () => {});
    },
  });
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  const child: ChildProcess = fork(__filename, ['--role=clients', '--target', `127.0.0.1:${port}`, '--streams', String(streams), '--streamsPerChannel', String(perChannel)], { stdio: 'inherit' });
  const deadline = setTimeout(() => { console.error('fanout-floor: 120 s deadline hit'); child.kill(); process.exit(1); }, 120_000);
  const fromChild = new Map<number, (at: number) => void>();
  child.on('message', (m: { round?: number; lastAt?: number }) => { if (m.round !== undefined) fromChild.get(m.round)?.(m.lastAt!); });
  await allOpen;

  // One resource of payloadKB bytes inside an Any, encoded ONCE; only the header differs per stream.
  const any = concatFields([stringField(1, TYPE), bytesField(2, new Uint8Array(payloadKB * 1024).fill(7))]);
  const rows: string[] = [];
  for (let round = 1; round <= rounds; round++) {
    const arrived = new Promise<number>((r) => fromChild.set(round, r));
    const cpu0 = process.cpuUsage();
    const t0 = Date.now();
    for (let i = 0; i < calls.length; i++) {
      calls[i]!.write(Buffer.from(concatFields([stringField(1, String(round)), bytesField(2, any), stringField(4, TYPE), stringField(5, `${round}-${i}`)])));
    }
    const writesDone = Date.now() - t0;
    const last = await arrived;
    const cpu = process.cpuUsage(cpu0);
    rows.push(`| ${round} | ${streams} | ${payloadKB} KB | ${writesDone} ms | ${last - t0} ms | ${((cpu.user + cpu.system) / 1000 / streams * 1000).toFixed(0)} µs |`);
  }
  clearTimeout(deadline);
  console.log('\nFan-out floor: bare grpc-js server, prebuilt bytes, one client process ACKing\n');
  console.log('| round | streams | payload | writes queued | last arrival | server CPU / message |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  child.kill();
  server.forceShutdown();
}

void main();
