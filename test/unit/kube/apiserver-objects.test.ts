/**
 * Objects as the Kubernetes API test server stores and serialises them, compared with what
 * kube-apiserver v1.37 does: field order, managedFields, write defaults (Service, Pod,
 * EndpointSlice, Secret), the initial-events-end bookmark, served kinds. Runs against a real API
 * server too (KUBE_TEST_APISERVER + KUBECONFIG).
 */
import { test, TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { KubeClient, KubeStatusError } from '../../../src/main/kube/client';
import { KubeTestTarget, kubeTestTarget, startKubeTestServer } from '../../helpers/kube-apiserver';
import { teardown } from '../../helpers/teardown';
import { waitFor } from '../../helpers/wait-for';

type Ev = { type: string; object: any };

async function target(t: TestContext): Promise<KubeTestTarget> {
  const k = await kubeTestTarget();
  teardown(t)(() => k.close());
  return k;
}

async function watchEvents(client: KubeClient, path: string, query: Record<string, string | number | boolean | undefined>) {
  const events: Ev[] = [];
  const ctl = await client.watch.watch(path, query, (type, object) => events.push({ type, object }), () => {});
  return { events, stop: () => ctl.abort() };
}

test('objects come as the API server serialises them: field order, managedFields of HTTP writers, initial-events-end bookmark', async (t) => {
  const k = await target(t);
  const ns = await k.freshNamespace();
  const c = k.client();
  const cm = await c.request<any>('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'a', labels: { x: 'y' } }, data: { k: 'v' } });
  assert.deepEqual(Object.keys(cm), ['kind', 'apiVersion', 'metadata', 'data']);
  assert.deepEqual(Object.keys(cm.metadata), ['name', 'namespace', 'uid', 'resourceVersion', 'creationTimestamp', 'labels', 'managedFields']);
  assert.deepEqual(cm.metadata.managedFields.map((m: any) => [m.manager, m.operation, m.apiVersion, m.fieldsType]), [['node-fetch', 'Update', 'v1', 'FieldsV1']]);
  assert.deepEqual(cm.metadata.managedFields[0].fieldsV1, { 'f:data': { '.': {}, 'f:k': {} }, 'f:metadata': { 'f:labels': { '.': {}, 'f:x': {} } } });
  const applied = await c.request<any>('PATCH', `/api/v1/namespaces/${ns}/configmaps/b?fieldManager=istiod`, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'b' }, data: { k: 'v' } }), 'application/apply-patch+yaml');
  assert.deepEqual(applied.metadata.managedFields.map((m: any) => [m.manager, m.operation]), [['istiod', 'Apply']]);
  const vs = await c.request<any>('POST', `/apis/networking.istio.io/v1/namespaces/${ns}/virtualservices`, { kind: 'VirtualService', apiVersion: 'networking.istio.io/v1', metadata: { name: 'vs', namespace: ns }, spec: { http: [{ route: [{ destination: { host: 'b' } }] }], hosts: ['a'] } });
  assert.deepEqual(Object.keys(vs), ['apiVersion', 'kind', 'metadata', 'spec']); // unstructured: sorted keys
  assert.deepEqual(Object.keys(vs.spec), ['hosts', 'http']);
  const list = await c.request<any>('GET', `/apis/networking.istio.io/v1/namespaces/${ns}/virtualservices`);
  assert.deepEqual(list.metadata.continue, '');

  const w = await watchEvents(c, `/api/v1/namespaces/${ns}/configmaps`, { resourceVersion: '0', allowWatchBookmarks: true });
  t.after(() => w.stop());
  await waitFor(() => w.events.some((e) => e.type === 'BOOKMARK'), 5000, 'the initial-events-end bookmark');
  const firstBookmark = w.events.findIndex((e) => e.type === 'BOOKMARK');
  assert.deepEqual(w.events.slice(0, firstBookmark).map((e) => [e.type, e.object.metadata.name]).sort(), [['ADDED', 'a'], ['ADDED', 'b']]);
  assert.equal(w.events[firstBookmark].object.metadata.annotations['k8s.io/initial-events-end'], 'true');
});


test('write defaults: Secret stringData becomes data, Pods start Pending, /status podIP fills podIPs, EndpointSlice conditions and ports', async (t) => {
  const k = await target(t);
  const ns = await k.freshNamespace();
  const c = k.client();
  const secret = await c.request<any>('POST', `/api/v1/namespaces/${ns}/secrets`, { metadata: { name: 'cred' }, stringData: { cert: 'PEM' } });
  assert.deepEqual([secret.data, secret.stringData, secret.type], [{ cert: Buffer.from('PEM').toString('base64') }, undefined, 'Opaque']);
  const pod = await c.request<any>('POST', `/api/v1/namespaces/${ns}/pods`, { metadata: { name: 'p', labels: { app: 'a' } }, spec: { containers: [{ name: 'c', image: 'nginx:1.25', ports: [{ containerPort: 8080 }] }] } });
  assert.deepEqual(pod.status, { phase: 'Pending', qosClass: 'BestEffort' });
  assert.deepEqual([pod.spec.restartPolicy, pod.spec.dnsPolicy, pod.spec.containers[0].imagePullPolicy, pod.spec.containers[0].ports[0].protocol], ['Always', 'ClusterFirst', 'IfNotPresent', 'TCP']);
  const running = await c.request<any>('PATCH', `/api/v1/namespaces/${ns}/pods/p/status`, { status: { phase: 'Running', podIP: '10.1.2.3' } }, 'application/merge-patch+json');
  assert.deepEqual(running.status, { phase: 'Running', qosClass: 'BestEffort', podIP: '10.1.2.3', podIPs: [{ ip: '10.1.2.3' }] });
  const slice = await c.request<any>('POST', `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, { metadata: { name: 's', labels: { 'kubernetes.io/service-name': 'a' } }, addressType: 'IPv4', endpoints: [{ addresses: ['10.1.2.3'] }], ports: [{ port: 8080 }] });
  assert.deepEqual(slice.endpoints, [{ addresses: ['10.1.2.3'], conditions: {} }]);
  assert.deepEqual(slice.ports, [{ name: '', protocol: 'TCP', port: 8080 }]);
});

test('local server with omitResources: kinds and versions whose CRDs are missing are absent from discovery and answer 404', async (t) => {
  if (process.env.KUBE_TEST_APISERVER && process.env.KUBECONFIG) { t.skip('needs the local test server'); return; }
  const s = await startKubeTestServer({ omitResources: ['telemetry.istio.io', 'networking.istio.io/v1/virtualservices', 'networking.istio.io/envoyfilters'] });
  teardown(t)(() => s.close());
  const c = s.client();
  const groups = (await c.request<any>('GET', '/apis')).groups.map((g: any) => g.name);
  assert.ok(!groups.includes('telemetry.istio.io'));
  assert.ok(groups.includes('networking.istio.io'));
  const v1 = (await c.request<any>('GET', '/apis/networking.istio.io/v1')).resources.map((r: any) => r.name);
  assert.ok(!v1.includes('virtualservices') && v1.includes('gateways'));
  const v1alpha3 = (await c.request<any>('GET', '/apis/networking.istio.io/v1alpha3')).resources.map((r: any) => r.name);
  assert.ok(v1alpha3.includes('virtualservices') && !v1alpha3.includes('envoyfilters'));
  await assert.rejects(c.request('GET', '/apis/networking.istio.io/v1/namespaces/default/virtualservices'), (e: KubeStatusError) => e.statusCode === 404 && e.reason === 'NotFound');
  assert.equal((await c.request<any>('GET', '/apis/networking.istio.io/v1beta1/namespaces/default/virtualservices')).kind, 'VirtualServiceList');
  await assert.rejects(c.request('GET', '/apis/telemetry.istio.io/v1/telemetries'), (e: KubeStatusError) => e.statusCode === 404 && e.reason === undefined);
  assert.throws(() => s.create({ apiVersion: 'networking.istio.io/v1alpha3', kind: 'EnvoyFilter', metadata: { name: 'f', namespace: 'default' } }), /not served here/);
});

test('ListOptions are validated as the API server does; sendInitialEvents streams the state first', async (t) => {
  const k = await target(t);
  const ns = await k.freshNamespace();
  const c = k.client();
  await k.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: ns } });
  const path = `/api/v1/namespaces/${ns}/configmaps`;
  const invalid = (re: RegExp) => (e: KubeStatusError) => e.statusCode === 422 && e.reason === 'Invalid' && re.test(e.message);
  await assert.rejects(c.request('GET', `${path}?watch=1&sendInitialEvents=true`), invalid(/sendInitialEvents requires setting resourceVersionMatch to NotOlderThan/));
  await assert.rejects(c.request('GET', `${path}?resourceVersionMatch=NotOlderThan`), invalid(/resourceVersionMatch is forbidden unless resourceVersion is provided/));
  await assert.rejects(c.request('GET', `${path}?resourceVersion=1&resourceVersionMatch=Bogus`), invalid(/Unsupported value: "Bogus"/));
  await assert.rejects(c.request('GET', `${path}?watch=1&timeoutSeconds=abc`), (e: KubeStatusError) => e.statusCode === 400);
  const rv = (await c.request<any>('GET', path)).metadata.resourceVersion;
  const w = await watchEvents(c, path, { sendInitialEvents: true, resourceVersionMatch: 'NotOlderThan', resourceVersion: rv, allowWatchBookmarks: true });
  t.after(() => w.stop());
  await waitFor(() => w.events.some((e) => e.type === 'BOOKMARK'), 5000, 'initial events end');
  assert.deepEqual(w.events[0]!.type + ' ' + w.events[0]!.object.metadata.name, 'ADDED a');
  assert.equal(w.events[1]!.object.metadata.annotations['k8s.io/initial-events-end'], 'true');
});
