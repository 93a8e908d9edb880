/**
 * Graceful shutdown across two instances: proxies connected to instance A (a child process via
 * bin/istiod-ts.js) get an HTTP/2 GOAWAY and an UNAVAILABLE stream end when A receives SIGTERM,
 * and reconnect to instance B (their target lists both, as a Service with two replicas would);
 * A exits 0 within its bound and leaves nothing running.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as path from 'node:path';
import { ChildProcess, spawn } from 'node:child_process';
import { freePort, httpGet, SimProxies } from '../helpers/ops';
import { exampleMeshFiles } from '../helpers/mesh-fixtures';
import { REPO_ROOT } from '../helpers/run-cli';
import { tempDir, writeFiles } from '../helpers/server';
import { teardown } from '../helpers/teardown';
import { waitFor } from '../helpers/wait-for';

const BIN = path.join(REPO_ROOT, 'bin', 'istiod-ts.js');

interface Instance { child: ChildProcess; grpc: number; http: string; log: () => string; exited: Promise<number | null> }

async function startInstance(configDir: string): Promise<Instance> {
  const grpc = await freePort();
  const httpPort = await freePort();
  const child = spawn(process.execPath, [BIN, 'discovery', '--configDir', configDir, '--grpcAddr', `127.0.0.1:${grpc}`, '--httpAddr', `127.0.0.1:${httpPort}`,
    '--monitoringAddr', '', '--secureGRPCAddr', '', '--httpsAddr', ''], {
    cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
    env: { ...process.env, ISTIOD_CONFIG_WORKERS: '1', PILOT_DEBOUNCE_AFTER: '20ms', ISTIOD_SHUTDOWN_TIMEOUT: '8s' },
  });
  let log = '';
  child.stdout!.on('data', (d) => { log += d; });
  child.stderr!.on('data', (d) => { log += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const http = `http://127.0.0.1:${httpPort}`;
  await waitFor(async () => (await httpGet(`${http}/ready`).catch(() => undefined))?.status === 200, 20_000, `instance on ${grpc} ready`);
  return { child, grpc, http, log: () => log, exited };
}

function processGroupGone(pgid: number): boolean {
  try { process.kill(-pgid, 0); return false; } catch (e) { return (e as NodeJS.ErrnoException).code === 'ESRCH'; }
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(false); });
    s.on('error', () => resolve(true));
  });
}

async function syncedProxies(base: string): Promise<string[]> {
  const rows = (await httpGet(`${base}/debug/syncz`)).json<Array<Record<string, string>>>();
  return rows.filter((r) => r['cluster_sent'] && r['cluster_sent'] === r['cluster_acked'] && r['listener_sent'] && r['listener_sent'] === r['listener_acked']).map((r) => r['proxy']!).sort();
}

test('SIGTERM: GOAWAY, proxies move to the other instance, exit 0, nothing left running', async (t) => {
  const onClose = teardown(t);
  const dir = tempDir();
  writeFiles(dir, exampleMeshFiles());
  onClose(() => fs.rmSync(dir, { recursive: true, force: true }));
  const a = await startInstance(dir);
  onClose(() => { if (a.child.exitCode === null) a.child.kill('SIGKILL'); });
  const b = await startInstance(dir);
  onClose(async () => { if (b.child.exitCode === null) { b.child.kill('SIGTERM'); assert.equal(await b.exited, 0, 'B exits 0 too'); } });

  const ends: Array<{ code: number; details: string }> = [];
  const sims = new SimProxies(`ipv4:127.0.0.1:${a.grpc},127.0.0.1:${b.grpc}`, 4, { delta: (i) => i % 2 === 1, hooks: { streamEnded: (_s, _g, code, details) => ends.push({ code, details }) } }).start();
  onClose(() => sims.stop());
  await waitFor(async () => (await syncedProxies(a.http)).length === 4, 15_000, 'four proxies synced on A');
  assert.deepEqual(await syncedProxies(b.http), [], 'B has none yet (pick_first: A is first)');

  // A raw HTTP/2 connection to A, to see the GOAWAY frame itself.
  const h2 = http2.connect(`http://127.0.0.1:${a.grpc}`);
  onClose(() => h2.destroy());
  await new Promise<void>((resolve, reject) => { h2.once('connect', () => resolve()); h2.once('error', reject); });
  const goaway = new Promise<number>((resolve) => h2.once('goaway', (code) => resolve(code)));
  h2.on('error', () => { /* the session ends with A */ });

  const t0 = Date.now();
  a.child.kill('SIGTERM');
  assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR, 'GOAWAY(NO_ERROR) before the streams end');
  const code = await a.exited;
  const took = Date.now() - t0;
  assert.equal(code, 0, `A exits 0\n${a.log()}`);
  assert.ok(took < 8000, `A stopped within its bound (${took} ms)`);
  assert.match(a.log(), /"msg":"shutdown complete","streams":4,"drained":true/);
  t.diagnostic(`A: ${a.log().split('\n').find((l) => l.includes('shutdown complete'))}`);
  assert.ok(ends.length >= 4 && ends.slice(0, 4).every((e) => e.code === 14 && /shutting down/.test(e.details)), JSON.stringify(ends));

  await waitFor(async () => (await syncedProxies(b.http)).length === 4, 15_000, 'all four proxies synced on B');
  assert.deepEqual(await syncedProxies(b.http), sims.names.sort());
  assert.ok(processGroupGone(a.child.pid!), 'no process of A is left');
  assert.ok(await refused(a.grpc), 'A no longer listens');
});
