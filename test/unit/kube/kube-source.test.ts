/**
 * KubeSource against the Kubernetes API test server: the store ends up holding what the API
 * server holds (shaped as file mode would have it), through initial sync, events, 410 relists,
 * outages, invalid objects, CRDs installed later, discoverySelectors and mesh ConfigMap changes.
 */
import { test, TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { KubeClient, KubeObject } from '../../../src/main/kube/client';
import type { KubeConfig } from '../../../src/main/config';
import { ModelStore } from '../../../src/main/model/store';
import { DEFAULT_MESH } from '../../../src/main/mesh-config';
import { KubeSource, KubeSourceOptions } from '../../../src/main/sources/kube/kube-source';
import { DiscoveryNamespaces, parseDiscoverySelectors, selectorMatches } from '../../../src/main/sources/kube/discovery-selectors';
import { mergeMesh } from '../../../src/main/sources/kube/mesh-config-map';
import { KubeTestServer, startKubeTestServer } from '../../helpers/kube-apiserver';
import { teardown } from '../../helpers/teardown';
import { sleep, waitFor } from '../../helpers/wait-for';

const FAST = { initialMs: 20, maxMs: 200 };

function clientOf(server: KubeTestServer): KubeClient {
  return server.client();
}

function settings(over: Partial<KubeConfig> = {}): KubeConfig {
  return {
    enabled: true, kubeconfig: '', leaderElection: false, leaseName: 'istio-namespace-controller-election', leaseNamespace: 'istio-system',
    leaseDurationMs: 30_000, caCertConfigMap: 'istio-ca-root-cert', meshConfigMap: 'istio', webhookConfigName: 'istio-validator-istio-system',
    clusterId: 'Kubernetes', identity: 'test', podNamespace: 'istio-system', ...over,
  };
}

interface Harness {
  server: KubeTestServer;
  client: KubeClient;
  store: ModelStore;
  source: KubeSource;
  meshes: Array<Record<string, unknown>>;
}

async function harness(t: TestContext, seed: (s: KubeTestServer) => void = () => {}, opts: Partial<KubeSourceOptions> & { wrapClient?: (c: KubeClient) => KubeClient } = {}): Promise<Harness> {
  const server = await startKubeTestServer({ bookmarkIntervalMs: 200 });
  const cleanup = teardown(t);
  cleanup(() => server.close());
  seed(server);
  const { wrapClient, ...rest } = opts;
  const client = (wrapClient ?? ((c: KubeClient) => c))(clientOf(server));
  const store = new ModelStore();
  const meshes: Array<Record<string, unknown>> = [];
  const source = new KubeSource({
    client, store, settings: settings(), meshBase: { ...DEFAULT_MESH }, onMeshConfig: (m) => meshes.push(m), backoff: FAST,
    ...rest,
  });
  cleanup(() => source.stop());
  await source.start();
  return { server, client, store, source, meshes };
}

const svc = (ns: string, name: string, labels: Record<string, string> = {}): KubeObject =>
  ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns, labels }, spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } } as KubeObject);

const vs = (ns: string, name: string, host: string, spec?: object): KubeObject => ({
  apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name, namespace: ns },
  spec: spec ?? { hosts: [host], http: [{ route: [{ destination: { host } }] }] },
} as KubeObject);

const pod = (ns: string, name: string, ip: string, extra: { ready?: string; heartbeat?: string } = {}): KubeObject => ({
  apiVersion: 'v1', kind: 'Pod',
  metadata: { name, namespace: ns, labels: { app: 'a' }, annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' }, managedFields: [{ manager: 'kubectl' }] },
  spec: { nodeName: 'node-1', serviceAccountName: 'sa', containers: [{ name: 'app', image: 'app:1' }] },
  status: {
    phase: 'Running', podIP: ip, podIPs: [{ ip }],
    conditions: [{ type: 'Ready', status: extra.ready ?? 'True', lastProbeTime: extra.heartbeat ?? null, lastTransitionTime: '2026-01-01T00:00:00Z' }],
    containerStatuses: [{ name: 'app', ready: true, restartCount: 0, state: { running: { startedAt: extra.heartbeat ?? 'x' } } }],
  },
} as unknown as KubeObject);

const key = (group: string, kind: string, ns: string, name: string) => `${group}/${kind}/${ns}/${name}`;

/** Names (ns/name) of a kind in the store vs. on the server. */
function storeNames(store: ModelStore, kind: string, group = ''): string[] {
  return store.list(kind, group).map((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`).sort();
}
function serverNames(server: KubeTestServer, apiVersion: string, kind: string): string[] {
  return server.list(apiVersion, kind).map((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`).sort();
}

test('initial sync: the store holds the API server objects, shaped as file mode has them; start resolves only after it', async (t) => {
  const h = await harness(t, (s) => {
    s.create(svc('default', 'a'));
    s.create(svc('ns1', 'b'));
    s.create({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'a-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'a' } }, addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'] }], ports: [{ name: 'http', port: 8080 }] });
    s.create(pod('default', 'a-1', '10.0.0.1'));
    s.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1', labels: { 'topology.kubernetes.io/zone': 'z1' } }, status: { conditions: [{ type: 'Ready', status: 'True', lastHeartbeatTime: 'x' }] } });
    s.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'cred', namespace: 'istio-system' }, type: 'kubernetes.io/tls', data: { 'tls.crt': 'eA==', 'tls.key': 'eA==' } });
    s.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'generic', namespace: 'istio-system' }, type: 'Opaque', data: { cert: 'eA==', key: 'eA==' } });
    s.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'token', namespace: 'default' }, type: 'kubernetes.io/service-account-token', data: { token: 'eA==' } });
    s.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'opaque-other', namespace: 'default' }, type: 'Opaque', data: { password: 'eA==' } });
    s.create(vs('default', 'r', 'a.default.svc.cluster.local'));
    s.create({ apiVersion: 'networking.istio.io/v1beta1', kind: 'DestinationRule', metadata: { name: 'd', namespace: 'default' }, spec: { host: 'a' } });
    s.create({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'istio-system' }, spec: { mtls: { mode: 'STRICT' } } });
    s.create({ apiVersion: 'networking.istio.io/v1alpha3', kind: 'EnvoyFilter', metadata: { name: 'ef', namespace: 'istio-system' }, spec: { configPatches: [] } });
    s.create({ apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name: 'mesh-default', namespace: 'istio-system' }, spec: {} });
  });
  const { store, server, source } = h;
  assert.equal(source.synced, true);
  assert.deepEqual(storeNames(store, 'Service'), serverNames(server, 'v1', 'Service'));
  assert.deepEqual(storeNames(store, 'Namespace'), serverNames(server, 'v1', 'Namespace'));
  assert.deepEqual(storeNames(store, 'EndpointSlice', 'discovery.k8s.io'), ['default/a-1']);
  assert.deepEqual(storeNames(store, 'Secret'), ['istio-system/cred', 'istio-system/generic'], 'only credential secrets');
  assert.ok(server.requests.some((r) => r.path.startsWith('/api/v1/secrets?') && decodeURIComponent(r.path).includes('fieldSelector=type!=helm.sh/release.v1,type!=kubernetes.io/service-account-token')),
    'Istio\'s secret field selector');
  assert.deepEqual(storeNames(store, 'PeerAuthentication', 'security.istio.io'), ['istio-system/default']);
  assert.deepEqual(storeNames(store, 'EnvoyFilter', 'networking.istio.io'), ['istio-system/ef']);
  assert.deepEqual(storeNames(store, 'Telemetry', 'telemetry.istio.io'), ['istio-system/mesh-default']);

  // Istio kinds come in the version discovery prefers (v1), with apiVersion and kind set.
  const r = store.get(key('networking.istio.io', 'VirtualService', 'default', 'r'))!;
  assert.equal(r.apiVersion, 'networking.istio.io/v1');
  assert.deepEqual(r.spec, vs('default', 'r', '').spec && { hosts: ['a.default.svc.cluster.local'], http: [{ route: [{ destination: { host: 'a.default.svc.cluster.local' } }] }] });
  assert.equal(store.get(key('networking.istio.io', 'DestinationRule', 'default', 'd'))!.apiVersion, 'networking.istio.io/v1');
  const s = store.get(key('', 'Service', 'default', 'a'))!;
  assert.equal(s.apiVersion, 'v1');
  assert.equal(s.kind, 'Service');
  assert.equal(typeof s.metadata.creationTimestamp, 'string');

  // Pods: only what the model reads; no managedFields, no last-applied annotation.
  const p = store.get(key('', 'Pod', 'default', 'a-1'))!;
  assert.deepEqual(p.metadata, { name: 'a-1', namespace: 'default', labels: { app: 'a' }, creationTimestamp: p.metadata.creationTimestamp });
  assert.deepEqual(p.spec, { nodeName: 'node-1', serviceAccountName: 'sa' });
  assert.deepEqual((p as any).status, { podIP: '10.0.0.1', podIPs: [{ ip: '10.0.0.1' }], phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] });
  const node = store.get(key('', 'Node', '', 'node-1'))!;
  assert.deepEqual(node.metadata.labels, { 'topology.kubernetes.io/zone': 'z1' });
  assert.equal((node as any).status, undefined);

  assert.deepEqual(source.degraded(), []);
  assert.deepEqual(source.errors(), []);
  assert.equal(h.meshes.length, 1, 'onMeshConfig on start');
  assert.equal(h.meshes[0]!['rootNamespace'], 'istio-system');
  const stats = source.stats();
  assert.equal(stats.find((x) => x.kind === 'networking.istio.io/VirtualService')!.version, 'v1');
  assert.equal(stats.find((x) => x.kind === 'networking.istio.io/EnvoyFilter')!.version, 'v1alpha3', 'the preferred version does not serve it: the newest that does');
  assert.equal(store.get(key('networking.istio.io', 'EnvoyFilter', 'istio-system', 'ef'))!.apiVersion, 'networking.istio.io/v1alpha3');
  assert.equal(stats.find((x) => x.kind === 'Service')!.objects, 2);
});

test('add, update and delete flow into the store; a burst is one store change', async (t) => {
  const { store, server } = await harness(t, (s) => { s.create(svc('default', 'a')); s.create(vs('default', 'r', 'a')); });
  const changes: number[] = [];
  store.onChange((c) => changes.push(c.length));
  await waitFor(() => server.watchCount >= 10, 5000, 'watches open');

  for (let i = 0; i < 20; i++) server.create(svc('default', `burst-${i}`));
  await waitFor(() => store.list('Service', '').length === 21, 5000, 'the burst');
  assert.ok(changes.length <= 2, `a burst of 20 creates is coalesced (got ${changes.length} store changes)`);

  server.update({ ...server.get('networking.istio.io/v1', 'VirtualService', 'default', 'r')!, spec: { hosts: ['a'], http: [{ route: [{ destination: { host: 'b' } }] }] } });
  await waitFor(() => store.get(key('networking.istio.io', 'VirtualService', 'default', 'r'))?.spec?.http?.[0]?.route?.[0]?.destination?.host === 'b', 5000, 'the update');
  server.remove('networking.istio.io/v1', 'VirtualService', 'default', 'r');
  server.remove('v1', 'Service', 'default', 'a');
  await waitFor(() => !store.get(key('networking.istio.io', 'VirtualService', 'default', 'r')) && !store.get(key('', 'Service', 'default', 'a')), 5000, 'the deletes');
  assert.deepEqual(storeNames(store, 'Service'), serverNames(server, 'v1', 'Service'));
});

test('410 Gone after compaction: relist converges with nothing lost or duplicated', async (t) => {
  const { store, server, source } = await harness(t, (s) => { for (let i = 0; i < 5; i++) s.create(vs('default', `r${i}`, `h${i}`)); });
  await waitFor(() => server.watchCount >= 10, 5000, 'watches open');
  await server.stop();
  server.remove('networking.istio.io/v1', 'VirtualService', 'default', 'r0');
  server.update({ ...server.get('networking.istio.io/v1', 'VirtualService', 'default', 'r1')!, spec: { hosts: ['changed'], http: [{ route: [{ destination: { host: 'x' } }] }] } });
  server.create(vs('default', 'r9', 'h9'));
  server.compact();
  await server.start();
  await waitFor(() => source.stats().find((x) => x.kind === 'networking.istio.io/VirtualService')!.relists >= 1
    && storeNames(store, 'VirtualService', 'networking.istio.io').join() === serverNames(server, 'networking.istio.io/v1', 'VirtualService').join(), 10_000, 'convergence');
  assert.deepEqual(store.get(key('networking.istio.io', 'VirtualService', 'default', 'r1'))!.spec.hosts, ['changed']);
  await waitFor(() => source.degraded().length === 0, 5000, 'healthy');
  // A change after the relist still arrives.
  server.create(vs('default', 'after', 'h'));
  await waitFor(() => store.get(key('networking.istio.io', 'VirtualService', 'default', 'after')), 5000, 'an event after the relist');
});

test('outage: degraded while the API server is away, the last model stays, changes made meanwhile converge', async (t) => {
  const { store, server, source } = await harness(t, (s) => { s.create(svc('default', 'keep')); s.create(svc('default', 'gone')); s.create(vs('default', 'r', 'h')); },
    { discoveryIntervalMs: 100 });
  await waitFor(() => server.watchCount >= 10, 5000, 'watches open');
  const before = storeNames(store, 'Service');
  await server.stop();
  await waitFor(() => source.degraded().some((d) => /^kubernetes: watch of services failing since \d+s: .*ECONNREFUSED/.test(d)), 5000, 'degraded');
  await waitFor(() => source.degraded().some((d) => /^kubernetes: API discovery failing since/.test(d)), 5000, 'the periodic discovery check fails too');
  assert.deepEqual(storeNames(store, 'Service'), before, 'the last good model stays');
  server.remove('v1', 'Service', 'default', 'gone');
  server.create(svc('default', 'added'));
  server.update({ ...server.get('networking.istio.io/v1', 'VirtualService', 'default', 'r')!, spec: { hosts: ['h2'], http: [{ route: [{ destination: { host: 'x' } }] }] } });
  await sleep(300);
  assert.ok(source.degraded().length > 0);
  await server.start();
  await waitFor(() => source.degraded().length === 0, 10_000, 'recovery');
  await waitFor(() => storeNames(store, 'Service').join() === serverNames(server, 'v1', 'Service').join(), 5000, 'services converge');
  await waitFor(() => store.get(key('networking.istio.io', 'VirtualService', 'default', 'r'))!.spec.hosts[0] === 'h2', 5000, 'the VirtualService converges');
});

test('API server down at start: start() waits and resolves once it is back', async (t) => {
  const server = await startKubeTestServer();
  const cleanup = teardown(t);
  cleanup(() => server.close());
  server.create(svc('default', 'a'));
  const client = clientOf(server);
  await server.stop();
  const store = new ModelStore();
  const source = new KubeSource({ client, store, settings: settings(), meshBase: { ...DEFAULT_MESH }, onMeshConfig: () => {}, backoff: FAST });
  cleanup(() => source.stop());
  let started = false;
  const p = source.start().then(() => { started = true; });
  await waitFor(() => source.degraded().length > 0, 5000, 'degraded');
  assert.equal(started, false);
  assert.equal(source.synced, false);
  await server.start();
  await p;
  assert.equal(source.synced, true);
  assert.deepEqual(storeNames(store, 'Service'), ['default/a']);
});

test('stop() before the initial sync rejects start() and leaves nothing running', async () => {
  const server = await startKubeTestServer();
  const client = clientOf(server);
  await server.stop();
  const source = new KubeSource({ client, store: new ModelStore(), settings: settings(), meshBase: {}, onMeshConfig: () => {}, backoff: FAST });
  const p = source.start();
  await sleep(50);
  await source.stop();
  await assert.rejects(p, /stopped before its initial sync/);
  await server.close();
});

test('an invalid VirtualService is not applied and is listed by errors(); a fix applies; breaking it again keeps the last valid version', async (t) => {
  const bad = { hosts: ['a'], bogus: 1 };
  const { store, server, source } = await harness(t, (s) => { s.create(vs('default', 'bad', 'a', bad)); s.create(vs('default', 'good', 'a')); });
  const k = key('networking.istio.io', 'VirtualService', 'default', 'bad');
  assert.equal(store.get(k), undefined);
  assert.ok(store.get(key('networking.istio.io', 'VirtualService', 'default', 'good')));
  const errs = source.errors();
  assert.equal(errs.length, 1);
  assert.equal(errs[0]!.file, 'kube:VirtualService/default/bad');
  assert.equal(errs[0]!.severity, 'error');
  assert.equal(errs[0]!.field, 'spec.bogus');
  assert.match(errs[0]!.reason, /spec\.bogus: unknown field "bogus"/);

  server.update({ ...server.get('networking.istio.io/v1', 'VirtualService', 'default', 'bad')!, spec: { hosts: ['a'], http: [{ route: [{ destination: { host: 'fixed' } }] }] } });
  await waitFor(() => store.get(k), 5000, 'the fixed object');
  assert.deepEqual(source.errors(), []);

  server.update({ ...server.get('networking.istio.io/v1', 'VirtualService', 'default', 'bad')!, spec: bad });
  await waitFor(() => source.errors().length === 1, 5000, 'the error again');
  assert.equal(store.get(k)!.spec.http[0].route[0].destination.host, 'fixed', 'last valid version kept');
  server.remove('networking.istio.io/v1', 'VirtualService', 'default', 'bad');
  await waitFor(() => !store.get(k) && source.errors().length === 0, 5000, 'delete clears both');
});

test('a CRD missing from discovery is skipped (not degraded) and picked up when it appears', async (t) => {
  let hide = true;
  const hideTelemetry = (c: KubeClient) => {
    const orig = c.request.bind(c);
    c.request = (async (method: string, path: string, body?: unknown, ct?: string) => {
      const r = await orig(method, path, body, ct);
      if (hide && path === '/apis') return { ...(r as object), groups: (r as { groups: Array<{ name: string }> }).groups.filter((g) => g.name !== 'telemetry.istio.io') };
      return r;
    }) as KubeClient['request'];
    return c;
  };
  const { store, server, source } = await harness(t, (s) => {
    s.create({ apiVersion: 'telemetry.istio.io/v1alpha1', kind: 'Telemetry', metadata: { name: 't', namespace: 'default' }, spec: {} });
  }, { wrapClient: hideTelemetry, discoveryIntervalMs: 50 });
  assert.equal(source.synced, true);
  assert.deepEqual(storeNames(store, 'Telemetry', 'telemetry.istio.io'), []);
  assert.deepEqual(source.degraded(), []);
  const st = source.stats().find((x) => x.kind === 'telemetry.istio.io/Telemetry')!;
  assert.equal(st.installed, false);
  assert.equal(server.requests.some((r) => r.path.startsWith('/apis/telemetry.istio.io/v1/telemetries')), false, 'never watched');
  hide = false;
  await waitFor(() => store.get(key('telemetry.istio.io', 'Telemetry', 'default', 't')), 5000, 'the kind picked up');
  assert.equal(store.get(key('telemetry.istio.io', 'Telemetry', 'default', 't'))!.apiVersion, 'telemetry.istio.io/v1');
  hide = true;
  await waitFor(() => !store.get(key('telemetry.istio.io', 'Telemetry', 'default', 't')), 5000, 'the kind dropped when its CRD goes');
});

test('discoverySelectors: only selected namespaces (plus istiod\'s) reach the store; namespace relabels and selector changes re-filter live', async (t) => {
  const mesh = (sel: unknown) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'istio', namespace: 'istio-system' }, data: { mesh: `discoverySelectors: ${JSON.stringify(sel)}\n` } });
  const { store, server, source, meshes } = await harness(t, (s) => {
    s.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'in', labels: { mesh: 'yes' } } });
    s.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'out', labels: { mesh: 'no' } } });
    s.create(mesh([{ matchLabels: { mesh: 'yes' } }]));
    for (const ns of ['in', 'out', 'istio-system']) { s.create(svc(ns, 's')); s.create(vs(ns, 'r', 'h')); s.create(pod(ns, 'p', '10.1.0.1')); }
  });
  assert.deepEqual(meshes.at(-1)!['discoverySelectors'], [{ matchLabels: { mesh: 'yes' } }]);
  assert.deepEqual(storeNames(store, 'Service'), ['in/s', 'istio-system/s']);
  assert.deepEqual(storeNames(store, 'VirtualService', 'networking.istio.io'), ['in/r', 'istio-system/r']);
  assert.deepEqual(storeNames(store, 'Pod'), ['in/p', 'istio-system/p']);
  assert.ok(storeNames(store, 'Namespace').includes('/out'), 'cluster-scoped objects are always kept');

  // Relabel: out joins, in leaves.
  server.update({ ...server.get('v1', 'Namespace', undefined, 'out')!, metadata: { ...server.get('v1', 'Namespace', undefined, 'out')!.metadata, labels: { mesh: 'yes' } } });
  server.update({ ...server.get('v1', 'Namespace', undefined, 'in')!, metadata: { ...server.get('v1', 'Namespace', undefined, 'in')!.metadata, labels: {} } });
  await waitFor(() => storeNames(store, 'Service').join() === 'istio-system/s,out/s', 5000, 'relabel re-filters');
  assert.deepEqual(storeNames(store, 'VirtualService', 'networking.istio.io'), ['istio-system/r', 'out/r']);

  // Objects created in an unselected namespace stay out; in a selected one they come in.
  server.create(svc('in', 'later'));
  server.create(svc('out', 'later'));
  await waitFor(() => store.get(key('', 'Service', 'out', 'later')), 5000, 'the selected create');
  assert.equal(store.get(key('', 'Service', 'in', 'later')), undefined);

  // Selector change (matchExpressions): everything without mesh=no.
  server.update(mesh([{ matchExpressions: [{ key: 'mesh', operator: 'NotIn', values: ['no'] }] }]));
  await waitFor(() => storeNames(store, 'Service').join() === 'in/later,in/s,istio-system/s,out/later,out/s', 5000, 'selector change re-filters');

  // Selectors removed: everything.
  server.update({ ...mesh([]), data: { mesh: 'rootNamespace: istio-system\n' } });
  await waitFor(() => storeNames(store, 'Service').length === serverNames(server, 'v1', 'Service').length, 5000, 'no selectors: all');

  // An invalid selector is reported and the previous selection stays.
  server.update(mesh([{ matchExpressions: [{ key: 'mesh', operator: 'Bogus' }] }]));
  await waitFor(() => source.errors().some((e) => e.field === 'discoverySelectors'), 5000, 'selector error');
  assert.match(source.errors().find((e) => e.field === 'discoverySelectors')!.reason, /"Bogus" is not a valid label selector operator/);
  assert.equal(storeNames(store, 'Service').length, serverNames(server, 'v1', 'Service').length);
});

test('mesh ConfigMap: merged over --meshConfig, onMeshConfig on every change, bad YAML keeps the previous mesh, deletion reverts to the base', async (t) => {
  const cm = (text: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'istio', namespace: 'istio-system' }, data: { mesh: text } });
  const { server, source, meshes } = await harness(t, (s) => { s.create(cm('trustDomain: example.org\ndefaultConfig:\n  concurrency: 2\n')); });
  assert.equal(meshes.length, 1);
  assert.equal(meshes[0]!['trustDomain'], 'example.org');
  assert.deepEqual(meshes[0]!['defaultConfig'], { discoveryAddress: 'istiod.istio-system.svc:15012', concurrency: 2 }, 'mappings merge field by field');

  server.update(cm('trustDomain: other.org\n'));
  await waitFor(() => meshes.length === 2, 5000, 'the change');
  assert.equal(meshes[1]!['trustDomain'], 'other.org');

  server.update(cm('trustDomain: [unclosed\n'));
  await waitFor(() => source.errors().length === 1, 5000, 'the YAML error');
  assert.equal(source.errors()[0]!.file, 'kube:ConfigMap/istio-system/istio');
  assert.match(source.errors()[0]!.reason, /invalid YAML/);
  assert.equal(meshes.length, 2, 'the previous mesh stays');

  server.update(cm('trustDomain: other.org\n'));
  await waitFor(() => source.errors().length === 0, 5000, 'error cleared');
  assert.equal(meshes.length, 2, 'same effective mesh: no call');

  server.remove('v1', 'ConfigMap', 'istio-system', 'istio');
  await waitFor(() => meshes.length === 3, 5000, 'deletion');
  assert.equal(meshes[2]!['trustDomain'], 'cluster.local');
});

test('pod status churn that leaves the kept fields alone is not a store change; readiness is', async (t) => {
  const { store, server } = await harness(t, (s) => { s.create(pod('default', 'p', '10.0.0.9', { heartbeat: 't0' })); });
  await waitFor(() => server.watchCount >= 10, 5000, 'watches open');
  const rev = store.storeRevision;
  for (let i = 1; i <= 5; i++) {
    const cur = server.get('v1', 'Pod', 'default', 'p')!;
    server.update({ ...pod('default', 'p', '10.0.0.9', { heartbeat: `t${i}` }), metadata: { ...cur.metadata, resourceVersion: undefined } });
  }
  const rv = server.get('v1', 'Pod', 'default', 'p')!.metadata.resourceVersion;
  // Wait until the reflector has seen the last update (a marker change on another kind after it).
  server.create(svc('default', 'marker'));
  await waitFor(() => store.get(key('', 'Service', 'default', 'marker')), 5000, 'marker');
  assert.ok(Number(rv) > 0);
  assert.equal(store.storeRevision, rev + 1, 'only the marker changed the store');

  server.update({ ...pod('default', 'p', '10.0.0.9', { ready: 'False', heartbeat: 't9' }), metadata: { ...server.get('v1', 'Pod', 'default', 'p')!.metadata, resourceVersion: undefined } });
  await waitFor(() => (store.get(key('', 'Pod', 'default', 'p')) as any)?.status?.conditions?.[0]?.status === 'False', 5000, 'readiness change');
});

test('Istio kinds are watched in the group\'s preferred version when it serves them', async (t) => {
  const preferV1beta1 = (c: KubeClient) => {
    const orig = c.request.bind(c);
    c.request = (async (method: string, path: string, body?: unknown, ct?: string) => {
      const r = await orig(method, path, body, ct) as { groups?: Array<{ name: string; preferredVersion?: object }> };
      if (path !== '/apis') return r;
      return { ...r, groups: r.groups!.map((g) => g.name === 'security.istio.io' ? { ...g, preferredVersion: { groupVersion: 'security.istio.io/v1beta1', version: 'v1beta1' } } : g) };
    }) as KubeClient['request'];
    return c;
  };
  const { store, server, source } = await harness(t, (s) => {
    s.create({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'deny', namespace: 'default' }, spec: {} });
  }, { wrapClient: preferV1beta1 });
  assert.equal(source.stats().find((x) => x.kind === 'security.istio.io/AuthorizationPolicy')!.version, 'v1beta1');
  assert.equal(store.get(key('security.istio.io', 'AuthorizationPolicy', 'default', 'deny'))!.apiVersion, 'security.istio.io/v1beta1');
  assert.ok(server.requests.some((r) => r.path.startsWith('/apis/security.istio.io/v1beta1/authorizationpolicies')));
  assert.equal(source.stats().find((x) => x.kind === 'networking.istio.io/VirtualService')!.version, 'v1');
});

test('label selectors: Kubernetes semantics for matchLabels and every matchExpressions operator; parse errors name the path', () => {
  const sel = (v: unknown) => { const p = parseDiscoverySelectors([v]); assert.ok(p.ok, JSON.stringify(p)); return p.selectors[0]!; };
  const labels = { env: 'prod', team: 'a' };
  assert.equal(selectorMatches(sel({}), {}), true, 'empty selector matches everything');
  assert.equal(selectorMatches(sel({ matchLabels: { env: 'prod' } }), labels), true);
  assert.equal(selectorMatches(sel({ matchLabels: { env: 'prod', team: 'b' } }), labels), false, 'AND within a selector');
  assert.equal(selectorMatches(sel({ matchExpressions: [{ key: 'env', operator: 'In', values: ['dev', 'prod'] }] }), labels), true);
  assert.equal(selectorMatches(sel({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['x'] }] }), labels), false);
  assert.equal(selectorMatches(sel({ matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] }), labels), false);
  assert.equal(selectorMatches(sel({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['x'] }] }), labels), true, 'NotIn: absent key matches');
  assert.equal(selectorMatches(sel({ matchExpressions: [{ key: 'team', operator: 'Exists' }] }), labels), true);
  assert.equal(selectorMatches(sel({ matchExpressions: [{ key: 'team', operator: 'DoesNotExist' }] }), labels), false);
  assert.deepEqual(parseDiscoverySelectors(undefined), { ok: true, selectors: [] });
  const bad = (v: unknown) => { const p = parseDiscoverySelectors(v); assert.equal(p.ok, false); return (p as { reason: string }).reason; };
  assert.match(bad({}), /expected a list/);
  assert.match(bad([{ matchExpressions: [{ key: 'a', operator: 'Bogus' }] }]), /discoverySelectors\[0\]\.matchExpressions\[0\]\.operator: "Bogus" is not a valid label selector operator/);
  assert.match(bad([{ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }]), /values set can't be empty/);
  assert.match(bad([{ matchLabels: { a: 1 } }]), /matchLabels\["a"\]: expected a string/);
  assert.match(bad([{ matchLabel: {} }]), /unknown field "matchLabel"/);

  // OR across selectors; always-selected namespaces; unknown namespaces are not selected.
  const ns = new DiscoveryNamespaces(new Set(['istio-system']));
  ns.setNamespace('a', { env: 'prod' });
  ns.setNamespace('b', { team: 'x' });
  ns.setNamespace('c', {});
  assert.deepEqual(ns.setSelectors([sel({ matchLabels: { env: 'prod' } }), sel({ matchLabels: { team: 'x' } })]).sort(), ['c']);
  assert.equal(ns.selects('a'), true);
  assert.equal(ns.selects('b'), true);
  assert.equal(ns.selects('istio-system'), true);
  assert.equal(ns.selects('unknown'), false);
  assert.equal(ns.setNamespace('c', { env: 'prod' }), true, 'relabel into the selection');
  assert.equal(ns.setNamespace('c', { env: 'prod', more: '1' }), false, 'no membership change');
});

test('mesh merge: mappings merge field by field, lists and scalars are replaced', () => {
  const base = { trustDomain: 'cluster.local', defaultConfig: { discoveryAddress: 'istiod:15012', proxyMetadata: { A: '1' } }, extensionProviders: [{ name: 'x' }] };
  assert.deepEqual(mergeMesh(base, { defaultConfig: { proxyMetadata: { B: '2' } }, extensionProviders: [{ name: 'y' }] }), {
    trustDomain: 'cluster.local', defaultConfig: { discoveryAddress: 'istiod:15012', proxyMetadata: { A: '1', B: '2' } }, extensionProviders: [{ name: 'y' }],
  });
  assert.deepEqual(base.defaultConfig.proxyMetadata, { A: '1' }, 'the base is not mutated');
});

test('no mesh ConfigMap configured: the --meshConfig mesh applies as is', async (t) => {
  const server = await startKubeTestServer();
  const cleanup = teardown(t);
  cleanup(() => server.close());
  const meshes: Array<Record<string, unknown>> = [];
  const source = new KubeSource({
    client: clientOf(server), store: new ModelStore(), settings: settings({ meshConfigMap: '' }), meshBase: { trustDomain: 'x.org' },
    onMeshConfig: (m) => meshes.push(m), backoff: FAST,
  });
  cleanup(() => source.stop());
  await source.start();
  assert.deepEqual(meshes, [{ trustDomain: 'x.org' }]);
  assert.equal(server.requests.some((r) => r.path.includes('/configmaps')), false);
});
