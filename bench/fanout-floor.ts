/**
 * The fan-out floor (ARCHITECTURE §6, REFERENCE §10): how long a bare grpc-js server needs to
 * write the same prebuilt DiscoveryResponse bytes to N ADS streams, ACKed by a separate client
 * process. istiod-ts's push of a change that touches every proxy is judged against this.
 *
 *   node dist/bench/fanout-floor.js [--streams 1000] [--payloadKB 50] [--rounds 3] [--streamsPerChannel 100]
 *
 * The server is the load tester's floor server (load-test/floor/floor-server.ts: the load test
 * measures the same floor in its floor phase, with the run's own streams and payload size); here
 * it runs in this process and the client streams (SotW only) in a forked one.
 * Traffic stays on 127.0.0.1; every loop is bounded by --rounds and a 120 s deadline.
 */
import * as grpc from '@grpc/grpc-js';
import { fork, ChildProcess } from 'node:child_process';
import { ADS_PATH, FLOOR_TYPE_URL, FloorServer } from '../load-test/floor/floor-server';
import { encodeSotwRequest, parseResponse } from '../load-test/sim/xds-codec';

const identity = (b: Buffer): Buffer => b;
const NO_NAMES: readonly string[] = Object.freeze([]);

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

// ------------------------------------------------------------------ client process

function clients(target: string, streams: number, perChannel: number): void {
  let channel: grpc.Client | undefined;
  for (let i = 0; i < streams; i++) {
    if (i % perChannel === 0) channel = new grpc.Client(target, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    const call = channel!.makeBidiStreamRequest(ADS_PATH + 'StreamAggregatedResources', identity, identity);
    call.on('data', (buf: Buffer) => {
      const f = parseResponse(buf, false);
      call.write(encodeSotwRequest({ typeUrl: FLOOR_TYPE_URL, versionInfo: f.versionInfo, names: NO_NAMES, nonce: f.nonce }));
    });
    call.on('error', () => {});
    call.write(encodeSotwRequest({ typeUrl: FLOOR_TYPE_URL, versionInfo: '', names: NO_NAMES, nonce: '' }));
  }
  process.on('disconnect', () => process.exit(0));
}

// ------------------------------------------------------------------ server (parent)

async function main(): Promise<void> {
  if (process.argv.includes('--role=clients')) {
    clients(process.argv[process.argv.indexOf('--target') + 1]!, arg('streams', 1000), arg('streamsPerChannel', 100));
    return;
  }
  const streams = arg('streams', 1000), payloadKB = arg('payloadKB', 50), rounds = arg('rounds', 3), perChannel = arg('streamsPerChannel', 100);
  const server = await FloorServer.start({ streams, bytesPerStream: payloadKB * 1024 });
  const child: ChildProcess = fork(__filename, ['--role=clients', '--target', `127.0.0.1:${server.port}`, '--streams', String(streams), '--streamsPerChannel', String(perChannel)], { stdio: 'inherit' });
  const deadline = setTimeout(() => { console.error('fanout-floor: 120 s deadline hit'); child.kill(); process.exit(1); }, 120_000);
  await server.ready;

  const rows: string[] = [];
  for (let round = 1; round <= rounds; round++) {
    const cpu0 = process.cpuUsage();
    const r = await server.round(round, 60_000);
    const cpu = process.cpuUsage(cpu0);
    rows.push(`| ${round} | ${r.acked}/${streams} | ${payloadKB} KB | ${r.writeMs.toFixed(0)} ms | ${r.allAckedMs === null ? 'timeout' : `${r.allAckedMs.toFixed(0)} ms`} | ${((cpu.user + cpu.system) / streams).toFixed(0)} µs |`);
  }
  clearTimeout(deadline);
  console.log('\nFan-out floor: bare grpc-js server, prebuilt bytes, one client process ACKing\n');
  console.log('| round | ACKed | payload | writes queued | first write → last ACK | server CPU / message |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  child.kill();
  server.close();
}

void main();
