/**
 * Lifecycle as seen from outside: /ready flips from 503 (Initializing, sources not synced) to 200
 * (Running), reports Degraded while a config file is rejected, and answers 503 (Stopping) during
 * a graceful shutdown; the lifecycle metric follows. Debug endpoint authentication for non-local
 * callers (ENABLE_DEBUG_ENDPOINT_AUTH).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../src/main/config';
import { Discovery, startDiscovery } from '../../src/main/index';
import { freePort, httpGet, parsePrometheus, SimProxies, startOpsServer } from '../helpers/ops';
import { exampleMeshFiles } from '../helpers/mesh-fixtures';
import { tempDir, writeFiles } from '../helpers/server';
import { teardown } from '../helpers/teardown';
import { waitFor } from '../helpers/wait-for';
import { startCaServer, tokenFor } from '../helpers/ca-client';
import { isLoopback } from '../../src/main/http/debug-auth';

async function lifecycleMetric(base: string): Promise<string[]> {
  const fams = parsePrometheus((await httpGet(`${base}/metrics`)).body);
  return fams.get('istiod_ts_lifecycle_state')!.samples.filter((s) => s.value === 1).map((s) => s.labels['state']!);
}

test('/ready is 503 until the sources have synced, then 200 Running; 503 Stopping during shutdown', async (t) => {
  const onClose = teardown(t);
  const dir = tempDir();
  writeFiles(dir, exampleMeshFiles());
  onClose(() => fs.rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  const config = loadConfig(['--configDir', dir, '--grpcAddr', '127.0.0.1:0', '--secureGRPCAddr', '', '--httpsAddr', '', '--monitoringAddr', '',
    '--httpAddr', `127.0.0.1:${port}`, '--log_output_level', 'default:error'], { PILOT_DEBOUNCE_AFTER: '20ms', ISTIOD_CONFIG_WORKERS: '1' });
  const starting = startDiscovery(config, { beforeSourcesSync: () => gate });
  let discovery: Discovery | undefined;
  onClose(async () => { release(); discovery ??= await starting; await discovery.close(); });

  const early = await waitFor(() => httpGet(`${base}/ready`).catch(() => undefined), 5000, '/ready to answer');
  assert.equal(early.status, 503);
  assert.equal(early.json().state, 'Initializing');
  assert.equal(early.json().checks.sourcesSynced, false);
  assert.equal((await httpGet(`${base}/healthz`)).status, 200, 'alive while not ready');
  assert.equal((await httpGet(`${base}/debug/syncz`)).status, 503, 'debug views wait for the discovery');
  assert.deepEqual(await lifecycleMetric(base), ['Initializing']);

  release();
  discovery = await starting;
  const ready = await httpGet(`${base}/ready`);
  assert.equal(ready.status, 200);
  assert.equal(ready.json().state, 'Running');
  assert.deepEqual(await lifecycleMetric(base), ['Running']);

  // Degraded: a rejected file keeps the last good config in force; still ready, with the reason.
  fs.writeFileSync(path.join(dir, 'broken.yaml'), 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: bad, namespace: bookinfo}\nspec: {hosts: [], http: [{route: []}]}\n');
  const degraded = await waitFor(async () => { const r = await httpGet(`${base}/ready`); return r.json().state === 'Degraded' ? r : undefined; }, 5000, 'Degraded');
  assert.equal(degraded.status, 200);
  assert.match(degraded.json().degraded[0], /rejected/);
  assert.deepEqual(await lifecycleMetric(base), ['Degraded']);
  fs.rmSync(path.join(dir, 'broken.yaml'));
  await waitFor(async () => (await httpGet(`${base}/ready`)).json().state === 'Running', 5000, 'Running again');

  // Shutdown: the instance says 503 Stopping while it drains, before its servers close.
  const seen: Array<Promise<{ status: number; state: string }>> = [];
  discovery.lifecycle.onChange((s) => {
    if (s === 'Stopping') seen.push(httpGet(`${base}/ready`).then((r) => ({ status: r.status, state: r.json().state })));
  });
  const sims = new SimProxies(`127.0.0.1:${discovery.ports.grpc}`, 2).start();
  onClose(() => sims.stop());
  await waitFor(() => discovery!.ads.connections.size === 2, 5000, 'two proxies connected');
  await discovery.close();
  assert.equal(seen.length, 1);
  assert.deepEqual(await seen[0], { status: 503, state: 'Stopping' });
  assert.equal(discovery.lifecycle.state, 'Stopped');
  await assert.rejects(httpGet(`${base}/ready`), 'the HTTP server is closed after the drain');
});

function externalIPv4(): string | undefined {
  for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return undefined;
}

test('loopback detection covers the spellings uWS prints', () => {
  for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1', '0000:0000:0000:0000:0000:0000:0000:0001', '0000:0000:0000:0000:0000:ffff:7f00:0001']) assert.ok(isLoopback(a), a);
  for (const a of ['10.0.0.1', '0000:0000:0000:0000:0000:ffff:0a00:0001', '192.168.1.1', 'fe80:0000:0000:0000:0000:0000:0000:0001']) assert.ok(!isLoopback(a), a);
});

test('debug endpoints: non-local callers need a token the CA accepts (ENABLE_DEBUG_ENDPOINT_AUTH)', { skip: externalIPv4() ? false : 'no non-loopback IPv4 address' }, async (t) => {
  const onClose = teardown(t);
  const ip = externalIPv4()!;
  const s = await startCaServer({ flags: ['--httpAddr', '0.0.0.0:0'] });
  onClose(() => s.close());
  const remote = `http://${ip}:${s.discovery.ports.http}`;
  const local = `http://127.0.0.1:${s.discovery.ports.http}`;
  assert.equal((await httpGet(`${local}/debug/syncz`)).status, 200, 'localhost is unrestricted');
  assert.equal((await httpGet(`${remote}/ready`)).status, 200, '/ready is not a debug endpoint');
  assert.equal((await httpGet(`${remote}/debug/syncz`)).status, 401);
  assert.equal((await httpGet(`${remote}/debug/syncz`, { authorization: 'Bearer not-a-jwt' })).status, 401);
  const ok = await httpGet(`${remote}/debug/syncz`, { authorization: `Bearer ${tokenFor(s.signer, 'istio-system', 'istiod')}` });
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.json(), []);

  const open = await startOpsServer({ env: { ENABLE_DEBUG_ENDPOINT_AUTH: 'false' }, flags: ['--httpAddr', '0.0.0.0:0'] });
  onClose(() => open.close());
  assert.equal((await httpGet(`http://${ip}:${open.discovery.ports.http}/debug/syncz`)).status, 200, 'auth disabled');
  const closed = await startOpsServer({ flags: ['--httpAddr', '0.0.0.0:0'] });
  onClose(() => closed.close());
  assert.equal((await httpGet(`http://${ip}:${closed.discovery.ports.http}/debug/syncz`, { authorization: 'Bearer x' })).status, 401, 'no CA: nothing can verify a token');
});

test('lifecycle state machine: forward only, Running ⇄ Degraded, one metric sample at 1', async () => {
  const { Lifecycle } = await import('../../src/main/lifecycle');
  const client = await import('prom-client');
  const l = new Lifecycle();
  const registry = new client.Registry();
  l.registerMetric(registry);
  const states: string[] = [];
  l.onChange((s) => states.push(s));
  let reasons: string[] = [];
  l.watchDegraded(() => reasons);
  assert.equal(l.report().ready, false);
  l.mark('poolsStarted');
  l.mark('xdsListening');
  assert.equal(l.state, 'Initializing', 'sources not synced yet');
  l.mark('sourcesSynced');
  assert.equal(l.state, 'Running');
  reasons = ['something'];
  assert.deepEqual(l.report(), { ...l.report(), ready: true, state: 'Degraded', degraded: ['something'] });
  reasons = [];
  l.evaluate();
  assert.equal(l.state, 'Running');
  l.stopping();
  l.mark('sourcesSynced');
  reasons = ['late'];
  l.evaluate();
  assert.equal(l.state, 'Stopping', 'no way back from Stopping');
  assert.equal(l.report().ready, false);
  l.stopped();
  assert.deepEqual(states, ['Starting', 'Running', 'Degraded', 'Running', 'Stopping', 'Stopped']);
  const text = await registry.metrics();
  assert.match(text, /istiod_ts_lifecycle_state\{state="Stopped"\} 1/);
  assert.equal((text.match(/ 1$/gm) ?? []).length, 1);
});

test('shutdown lets a push already under way finish before the streams end', async (t) => {
  const onClose = teardown(t);
  let slow = false;
  const srv = await startOpsServer({
    start: { wrapPool: (pool) => ({ ...pool, run: async (msg, signal) => { if (slow) await new Promise((r) => setTimeout(r, 300)); return pool.run(msg, signal); } }) },
  });
  let closed = false;
  onClose(() => (closed ? undefined : srv.close()));
  const events: string[] = [];
  let changed = false;
  const sims = new SimProxies(srv.grpcTarget, 2, {
    hooks: {
      accepted: (s) => { if (changed) events.push(`accepted ${s.spec.podName}`); },
      streamEnded: (s, _g, code) => events.push(`ended ${s.spec.podName} ${code}`),
    },
  }).start();
  onClose(() => sims.stop());
  await waitFor(() => srv.discovery.ads.connections.size === 2 && [...srv.discovery.ads.connections.values()].every((c) => c.watches.size === 4), 10_000, 'two proxies watching four types');
  await new Promise((r) => setTimeout(r, 300));
  slow = true;
  changed = true;
  fs.writeFileSync(path.join(srv.configDir, 'late.yaml'), 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: late, namespace: bookinfo}\n' +
    'spec: {hosts: [late.example.com], ports: [{number: 443, name: tls, protocol: TLS}], resolution: DNS, location: MESH_EXTERNAL}\n');
  await waitFor(() => srv.discovery.ads.activePushes > 0, 5000, 'a push under way');
  closed = true;
  await srv.close();
  const trace = srv.discovery.pushTrace.list(1)[0]!;
  assert.ok(trace.done && !trace.error && trace.proxies.length === 2, JSON.stringify(trace));
  for (const pod of ['sim-0', 'sim-1']) {
    const accepted = events.indexOf(`accepted ${pod}`);
    const ended = events.indexOf(`ended ${pod} 14`);
    assert.ok(accepted >= 0 && ended > accepted, `${pod}: the push arrived, then UNAVAILABLE: ${events.join(', ')}`);
  }
});

test('a failed start closes the HTTP servers it had already opened', async (t) => {
  const onClose = teardown(t);
  const dir = tempDir();
  writeFiles(dir, exampleMeshFiles());
  onClose(() => fs.rmSync(dir, { recursive: true, force: true }));
  const net = await import('node:net');
  const busy = net.createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  onClose(() => new Promise<void>((r) => busy.close(() => r())));
  const grpcPort = (busy.address() as import('node:net').AddressInfo).port;
  const httpPort = await freePort();
  const config = loadConfig(['--configDir', dir, '--grpcAddr', `127.0.0.1:${grpcPort}`, '--secureGRPCAddr', '', '--httpsAddr', '', '--monitoringAddr', '',
    '--httpAddr', `127.0.0.1:${httpPort}`, '--log_output_level', 'default:none'], { ISTIOD_CONFIG_WORKERS: '1' });
  await assert.rejects(startDiscovery(config), /No address added out of total 1 resolved|EADDRINUSE|address/i);
  await assert.rejects(httpGet(`http://127.0.0.1:${httpPort}/ready`), 'the HTTP server was closed');
});
