/**
 * The Kubernetes API test server (test/helpers/kube-apiserver.ts) driven by the real
 * @kubernetes/client-node (typed APIs, Watch, ListWatch informers, KubernetesObjectApi) and by
 * KubeClient.
 *
 * Tests written against `KubeTestTarget` also run against a real API server
 * (KUBE_TEST_APISERVER + KUBECONFIG): they are the check that the test server behaves like one.
 * Tests of the local server's own controls (stop/start, compact, request log, bookmark interval)
 * skip there. RBAC and admission webhooks: apiserver-admission.test.ts; serialisation and
 * write defaults: apiserver-objects.test.ts.
 */
import { test, TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { isStatus, KubeClient, KubeStatusError } from '../../../src/main/kube/client';
import { KubeTestServer, KubeTestTarget, kubeTestTarget, startKubeTestServer } from '../../helpers/kube-apiserver';
import { teardown } from '../../helpers/teardown';
import { waitFor } from '../../helpers/wait-for';

type Ev = { type: string; object: any };
const REMOTE = Boolean(process.env.KUBE_TEST_APISERVER && process.env.KUBECONFIG);

/** Starts a client-node Watch; returns the events seen, the done result and a stop(). */
async function watchEvents(client: KubeClient, path: string, query: Record<string, string | number | boolean | undefined>) {
  const events: Ev[] = [];
  let done: { err: unknown } | undefined;
  const ctl = await client.watch.watch(path, query, (type, object) => events.push({ type, object }), (err) => { done = { err }; });
  return { events, get done() { return done; }, stop: () => ctl.abort() };
}

function svc(name: string, ns: string, labels: Record<string, string> = {}) {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns, labels }, spec: { ports: [{ name: 'http', port: 80 }] } };
}

/** The local test server, or the real API server the environment names. */
async function target(t: TestContext): Promise<KubeTestTarget> {
  const k = await kubeTestTarget({ bookmarkIntervalMs: 100 });
  teardown(t)(() => k.close());
  return k;
}

/** The local test server only (its own controls); undefined (test skipped) against a real API server. */
async function local(t: TestContext, opts = {}): Promise<KubeTestServer | undefined> {
  if (REMOTE) { t.skip('needs the local test server'); return undefined; }
  const s = await startKubeTestServer({ bookmarkIntervalMs: 100, ...opts });
  teardown(t)(() => s.close());
  return s;
}

const listRv = async (c: KubeClient, path: string) => (await c.request<any>('GET', path)).metadata.resourceVersion as string;

test('typed CoreV1Api creates, reads and lists namespaced Services; errors are metav1.Status', async (t) => {
  const k = await target(t);
  const ns = await k.freshNamespace();
  const c = k.client();
  const core = c.api(k8s.CoreV1Api);
  const created = await core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } } });
  assert.equal(created.metadata?.namespace, ns);
  assert.match(created.metadata?.uid ?? '', /^[0-9a-f-]{36}$/);
  assert.ok(created.metadata?.creationTimestamp instanceof Date);
  // the API server's Service defaults
  assert.equal(created.spec?.type, 'ClusterIP');
  assert.match(created.spec?.clusterIP ?? '', /^\d+\.\d+\.\d+\.\d+$/);
  assert.deepEqual(created.spec?.clusterIPs, [created.spec?.clusterIP]);
  assert.equal(created.spec?.sessionAffinity, 'None');
  assert.deepEqual(created.spec?.ports?.map((p) => [p.port, p.protocol, p.targetPort]), [[80, 'TCP', 80]]);
  const read = await core.readNamespacedService({ name: 'web', namespace: ns });
  assert.equal(read.metadata?.resourceVersion, created.metadata?.resourceVersion);
  const list = await core.listNamespacedService({ namespace: ns });
  assert.deepEqual(list.items.map((i) => i.metadata?.name), ['web']);
  assert.ok(Number(list.metadata?.resourceVersion) >= Number(created.metadata?.resourceVersion));
  await assert.rejects(core.readNamespacedService({ name: 'nope', namespace: ns }), (e: any) => e.code === 404);
  await assert.rejects(core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } } }), (e: any) => e.code === 409);
  await assert.rejects(core.createNamespacedService({ namespace: `${ns}-missing`, body: { metadata: { name: 'x' }, spec: { ports: [{ port: 80 }] } } }), (e: any) => e.code === 404);
  // typed-list items carry no apiVersion/kind, as the API server sends them
  const raw = await c.request<any>('GET', `/api/v1/namespaces/${ns}/services`);
  assert.equal(raw.kind, 'ServiceList');
  assert.equal(raw.apiVersion, 'v1');
  assert.equal(raw.items[0].kind, undefined);

  const path = `/api/v1/namespaces/${ns}/configmaps`;
  await assert.rejects(c.request('POST', path, { metadata: {} }), (e: KubeStatusError) => e.statusCode === 422 && e.reason === 'Invalid' && /name or generateName is required/.test(e.message));
  await assert.rejects(c.request('POST', path, { metadata: { name: 'Bad_Name' } }), (e: KubeStatusError) => e.statusCode === 422 && /RFC 1123 subdomain/.test(e.message));
  await assert.rejects(c.request('GET', `${path}/x`), (e: KubeStatusError) => e.statusCode === 404 && e.reason === 'NotFound' && /configmaps "x" not found/.test(e.message));
  await assert.rejects(c.request('POST', path, 'a: b', 'text/plain'), (e: KubeStatusError) => e.statusCode === 415);
  await assert.rejects(c.request('PUT', path, {}), (e: KubeStatusError) => e.statusCode === 405);
  const gen = await c.request<any>('POST', path, { metadata: { generateName: 'gen-' } });
  assert.match(gen.metadata.name, /^gen-[a-z0-9]{5}$/);
  await assert.rejects(c.request('POST', path, { metadata: { name: gen.metadata.name } }), (e: KubeStatusError) => {
    const st = e.body as any;
    return st.kind === 'Status' && st.apiVersion === 'v1' && st.status === 'Failure' && st.reason === 'AlreadyExists' && st.code === 409 && st.details.name === gen.metadata.name;
  });
});

test('local server: 401 without the token, health endpoints, the request log', async (t) => {
  const s = await local(t);
  if (!s) return;
  const res = await fetch(`${s.url}/api/v1/namespaces`);
  assert.equal(res.status, 401);
  const st = await res.json() as any;
  assert.deepEqual([st.kind, st.status, st.reason, st.code], ['Status', 'Failure', 'Unauthorized', 401]);
  assert.equal((await fetch(`${s.url}/api/v1/namespaces`, { headers: { Authorization: 'Bearer wrong' } })).status, 401);
  assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
  assert.equal((await fetch(`${s.url}/readyz`)).status, 200);
  assert.equal(((await (await fetch(`${s.url}/version`)).json()) as any).major, '1');
  const core = s.client().api(k8s.CoreV1Api);
  await core.createNamespacedService({ namespace: 'default', body: { metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } } });
  await core.readNamespacedService({ name: 'web', namespace: 'default' });
  await core.listServiceForAllNamespaces();
  await core.deleteNamespacedService({ name: 'web', namespace: 'default' });
  assert.deepEqual(s.requests.filter((r) => r.resource === 'services').map((r) => [r.verb, r.namespace, r.name, r.code]), [
    ['create', 'default', 'web', 201], ['get', 'default', 'web', 200], ['list', undefined, undefined, 200], ['delete', 'default', 'web', 200],
  ]);
  assert.equal(s.requests.find((r) => r.resource === 'services')!.user, 'kube-test-admin');
  assert.equal(s.requests.find((r) => r.resource === 'namespaces')!.code, 401);
  // every namespace gets its default ServiceAccount; namespaces carry kubernetes.io/metadata.name
  const ns = s.freshNamespace('x');
  assert.ok(s.get('v1', 'ServiceAccount', ns, 'default'));
  assert.equal(s.get('v1', 'Namespace', undefined, ns)!.metadata.labels!['kubernetes.io/metadata.name'], ns);
  // a creationTimestamp given to the direct create() is kept
  const cm = s.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'fixed', namespace: ns, creationTimestamp: '2026-11-27T16:00:00Z' } });
  assert.equal(cm.metadata.creationTimestamp, '2026-11-27T16:00:00Z');
});

test('Watch receives ADDED, MODIFIED and DELETED from a resourceVersion, in order', async (t) => {
  const k = await target(t);
  const ns = await k.freshNamespace();
  const c = k.client();
  await k.create(svc('before', ns));
  const rv = await listRv(c, `/api/v1/namespaces/${ns}/services`);
  const w = await watchEvents(c, `/api/v1/namespaces/${ns}/services`, { resourceVersion: rv, allowWatchBookmarks: true });
  t.after(() => w.stop());
  const a = await k.create(svc('a', ns));
  await k.update({ ...a, metadata: { ...a.metadata, labels: { v: '2' } } });
  await k.remove('v1', 'Service', ns, 'a');
  await waitFor(() => w.events.filter((e) => e.type !== 'BOOKMARK').length === 3, 5000, 'events');
  const changes = w.events.filter((e) => e.type !== 'BOOKMARK');
  assert.deepEqual(changes.map((e) => [e.type, e.object.metadata.name]), [['ADDED', 'a'], ['MODIFIED', 'a'], ['DELETED', 'a']]);
  assert.equal(changes[0].object.kind, 'Service');
  assert.equal(changes[0].object.apiVersion, 'v1');
  assert.deepEqual(changes[1].object.metadata.labels, { v: '2' });
  const rvs = changes.map((e) => Number(e.object.metadata.resourceVersion));
  assert.ok(rvs[0] < rvs[1] && rvs[1] < rvs[2], `increasing resourceVersions ${rvs}`);
});

test('local server: BOOKMARK events every bookmarkIntervalMs when asked, never otherwise; timeoutSeconds ends the stream', async (t) => {
  const s = await local(t);
  if (!s) return;
  const c = s.client();
  const withBm = await watchEvents(c, '/api/v1/namespaces/default/services', { resourceVersion: s.resourceVersion, allowWatchBookmarks: true });
  const without = await watchEvents(c, '/api/v1/namespaces/default/services', { resourceVersion: s.resourceVersion });
  t.after(() => { withBm.stop(); without.stop(); });
  s.create(svc('a', 'default'));
  await waitFor(() => withBm.events.filter((e) => e.type === 'BOOKMARK').length >= 2, 5000, 'bookmarks');
  const bm = withBm.events.filter((e) => e.type === 'BOOKMARK').at(-1)!;
  assert.deepEqual(bm.object, { kind: 'Service', apiVersion: 'v1', metadata: { resourceVersion: s.resourceVersion } });
  assert.deepEqual(without.events.map((e) => e.type), ['ADDED']);
  const timed = await watchEvents(c, '/api/v1/namespaces/default/services', { timeoutSeconds: 1 });
  await waitFor(() => timed.done, 5000, 'timeout');
  assert.equal(timed.done!.err, null);
  assert.deepEqual(timed.events.map((e) => [e.type, e.object.metadata.name]), [['ADDED', 'a']]);
});

test('a watch from resourceVersion 0 starts with the current state as ADDED', async (t) => {
  const k = await target(t);
  const ns = await k.freshNamespace();
  await k.create(svc('x', ns));
  await k.create(svc('y', ns));
  const w = await watchEvents(k.client(), `/api/v1/namespaces/${ns}/services`, { resourceVersion: '0' });
  t.after(() => w.stop());
  await waitFor(() => w.events.length === 2, 5000, 'initial ADDED');
  assert.deepEqual(w.events.map((e) => [e.type, e.object.metadata.name]).sort(), [['ADDED', 'x'], ['ADDED', 'y']]);
  await k.create(svc('z', ns));
  await waitFor(() => w.events.length === 3, 5000, 'then changes');
});

test('client-node informer (ListWatch) syncs and follows changes', async (t) => {
  const k = await target(t);
  const ns = await k.freshNamespace();
  await k.create(svc('one', ns));
  const c = k.client();
  const core = c.api(k8s.CoreV1Api);
  const informer = k8s.makeInformer(c.kc, `/api/v1/namespaces/${ns}/services`, () => core.listNamespacedService({ namespace: ns }));
  const seen: string[] = [];
  informer.on('add', (o) => seen.push(`add ${o.metadata?.name}`));
  informer.on('update', (o) => seen.push(`update ${o.metadata?.name}`));
  informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
  await informer.start();
  t.after(() => informer.stop());
  await waitFor(() => seen.includes('add one'), 5000, 'initial list');
  const two = await k.create(svc('two', ns));
  await waitFor(() => seen.includes('add two'), 5000, 'the watch is running');
  await k.update({ ...two, metadata: { ...two.metadata, labels: { v: '2' } } });
  await k.remove('v1', 'Service', ns, 'one');
  await waitFor(() => seen.length === 4, 5000, 'informer events');
  assert.deepEqual(seen, ['add one', 'add two', 'update two', 'delete one']);
  assert.deepEqual(informer.list(ns).map((o) => o.metadata?.name), ['two']);
});

test('local server: compact() expires older resourceVersions (ERROR 410 event); an informer relists', async (t) => {
  const s = await local(t);
  if (!s) return;
  const rv = s.resourceVersion;
  s.create(svc('a', 'default'));
  s.compact();
  const w = await watchEvents(s.client(), '/api/v1/namespaces/default/services', { resourceVersion: rv });
  await waitFor(() => w.done, 5000, 'stream end');
  assert.equal(w.events.length, 1);
  assert.equal(w.events[0].type, 'ERROR');
  assert.deepEqual([w.events[0].object.kind, w.events[0].object.code, w.events[0].object.reason], ['Status', 410, 'Expired']);
  assert.match(w.events[0].object.message, /^too old resource version: \d+ \(\d+\)$/);
  // the latest resourceVersion still works after compaction
  const ok = await watchEvents(s.client(), '/api/v1/namespaces/default/services', { resourceVersion: s.resourceVersion });
  t.after(() => ok.stop());
  s.create(svc('b', 'default'));
  await waitFor(() => ok.events.length === 1, 5000, 'event after compaction');

  // client-node's ListWatch reports a connection error and stops; a consumer restarts it. The
  // restarted watch resumes from a compacted resourceVersion, gets 410, relists.
  const c = s.client();
  const core = c.api(k8s.CoreV1Api);
  const informer = k8s.makeInformer(c.kc, '/api/v1/namespaces/default/services', () => core.listNamespacedService({ namespace: 'default' }));
  let stopped = false;
  informer.on('error', () => { setTimeout(() => { if (!stopped) informer.start().catch(() => undefined); }, 50); });
  await informer.start();
  t.after(() => { stopped = true; return informer.stop(); });
  await waitFor(() => s.watchCount === 2, 5000, 'informer watch');
  const lists = () => s.requests.filter((r) => r.verb === 'list' && r.resource === 'services').length;
  const before = lists();
  await s.stop();
  s.create(svc('c', 'default'));
  s.compact();
  await s.start();
  await waitFor(() => informer.list('default').length === 3, 10_000, 'informer has a, b, c');
  assert.ok(lists() > before, 'relisted after 410');
});

test('Lease updates race with optimistic concurrency: same resourceVersion twice → one 409 Conflict', async (t) => {
  const k = await target(t);
  const ns = await k.freshNamespace();
  const c = k.client();
  const coord = c.api(k8s.CoordinationV1Api);
  const lease = await coord.createNamespacedLease({ namespace: ns, body: { metadata: { name: 'istio-leader' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } } });
  const mk = (holder: string) => ({ ...lease, spec: { ...lease.spec, holderIdentity: holder } });
  const results = await Promise.allSettled([
    coord.replaceNamespacedLease({ name: 'istio-leader', namespace: ns, body: mk('b') }),
    coord.replaceNamespacedLease({ name: 'istio-leader', namespace: ns, body: mk('c') }),
  ]);
  const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
  assert.equal(failed.length, 1);
  assert.equal(failed[0].reason.code, 409);
  assert.match(JSON.parse(failed[0].reason.body).message, /^Operation cannot be fulfilled on leases.coordination.k8s.io "istio-leader": the object has been modified; please apply your changes to the latest version and try again$/);
  await assert.rejects(c.request('PUT', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/istio-leader`, mk('d')),
    (e: KubeStatusError) => isStatus(e, 409) && e.reason === 'Conflict');
  // a Lease (like custom resources and webhook configurations) cannot be updated without a
  // resourceVersion; a ConfigMap can
  const { resourceVersion: _drop, ...meta } = lease.metadata!;
  await assert.rejects(c.request('PUT', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/istio-leader`, { ...mk('e'), metadata: meta }),
    (e: KubeStatusError) => e.statusCode === 422 && /metadata.resourceVersion: Invalid value: 0: must be specified for an update/.test(e.message));
  await k.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', namespace: ns }, data: { a: '1' } });
  const forced = await c.request<any>('PUT', `/api/v1/namespaces/${ns}/configmaps/cm`, { metadata: { name: 'cm' }, data: { a: '2' } });
  assert.deepEqual(forced.data, { a: '2' });
});

test('list pagination with limit and continue is a consistent snapshot', async (t) => {
  const k = await target(t);
  const ns = await k.freshNamespace();
  const lease = (name: string) => ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: ns }, spec: { holderIdentity: name } });
  for (let i = 0; i < 7; i++) await k.create(lease(`l-${i}`));
  const c = k.client();
  const path = `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`;
  const p1 = await c.request<any>('GET', `${path}?limit=3`);
  assert.equal(p1.items.length, 3);
  assert.equal(p1.metadata.remainingItemCount, 4);
  assert.ok(p1.metadata.continue);
  await k.create(lease('l-late'));
  await k.remove('coordination.k8s.io/v1', 'Lease', ns, 'l-6');
  const p2 = await c.request<any>('GET', `${path}?limit=3&continue=${encodeURIComponent(p1.metadata.continue)}`);
  const p3 = await c.request<any>('GET', `${path}?limit=3&continue=${encodeURIComponent(p2.metadata.continue)}`);
  assert.equal(p3.metadata.continue, undefined);
  assert.deepEqual([...p1.items, ...p2.items, ...p3.items].map((i: any) => i.metadata.name), ['l-0', 'l-1', 'l-2', 'l-3', 'l-4', 'l-5', 'l-6']);
  assert.equal(p2.metadata.resourceVersion, p1.metadata.resourceVersion);
  const all = await c.list(path, {}, 2);
  assert.deepEqual(all.items.map((i) => i.metadata.name), ['l-0', 'l-1', 'l-2', 'l-3', 'l-4', 'l-5', 'l-late']);
  const typed = await c.api(k8s.CoordinationV1Api).listNamespacedLease({ namespace: ns, limit: 5 });
  assert.equal(typed.items.length, 5);
  assert.ok(typed.metadata?._continue);
  await assert.rejects(c.request('GET', `${path}?limit=3&continue=garbage`), (e: KubeStatusError) => e.statusCode === 400);
});

test('labelSelector and fieldSelector apply to list and watch; an object that stops matching is DELETED', async (t) => {
  const k = await target(t);
  const ns = await k.freshNamespace();
  await k.create(svc('a', ns, { app: 'web', tier: 'front' }));
  await k.create(svc('b', ns, { app: 'db' }));
  await k.create(svc('c', ns, {}));
  const c = k.client();
  const names = async (q: string) => (await c.request<any>('GET', `/api/v1/namespaces/${ns}/services?${q}`)).items.map((i: any) => i.metadata.name);
  const sel = (s: string) => names(`labelSelector=${encodeURIComponent(s)}`);
  assert.deepEqual(await sel('app=web'), ['a']);
  assert.deepEqual(await sel('app==web'), ['a']);
  assert.deepEqual(await sel('app!=web'), ['b', 'c']);
  assert.deepEqual(await sel('app in (web,db)'), ['a', 'b']);
  assert.deepEqual(await sel('app notin (web)'), ['b', 'c']);
  assert.deepEqual(await sel('app'), ['a', 'b']);
  assert.deepEqual(await sel('!app'), ['c']);
  assert.deepEqual(await sel('app,tier=front'), ['a']);
  await assert.rejects(sel('app in web'), (e: KubeStatusError) => e.statusCode === 400);
  assert.deepEqual(await names('fieldSelector=metadata.name%3Db'), ['b']);
  assert.deepEqual(await names('fieldSelector=metadata.name!%3Db'), ['a', 'c']);
  assert.deepEqual((await c.request<any>('GET', `/api/v1/services?fieldSelector=${encodeURIComponent(`metadata.namespace=${ns},metadata.name=c`)}`)).items.map((i: any) => i.metadata.name), ['c']);
  await assert.rejects(names('fieldSelector=spec.bogus%3Dx'), (e: KubeStatusError) => e.statusCode === 400 && /field label not supported: spec.bogus/.test(e.message));
  await assert.rejects(c.request('GET', `/api/v1/namespaces/${ns}/configmaps?fieldSelector=data.a%3Dx`), (e: KubeStatusError) => e.statusCode === 400 && /is not a known field selector/.test(e.message));

  const rv = await listRv(c, `/api/v1/namespaces/${ns}/services`);
  const w = await watchEvents(c, `/api/v1/namespaces/${ns}/services`, { labelSelector: 'app=web', resourceVersion: rv });
  t.after(() => w.stop());
  const b = (await k.get('v1', 'Service', ns, 'b'))!;
  await k.update({ ...b, metadata: { ...b.metadata, labels: { app: 'web' } } }); // starts matching
  await k.create(svc('d', ns, { app: 'other' })); // never matches
  const a = (await k.get('v1', 'Service', ns, 'a'))!;
  await k.update({ ...a, metadata: { ...a.metadata, labels: { app: 'gone' } } }); // stops matching
  await waitFor(() => w.events.length === 2, 5000, 'selected events');
  assert.deepEqual(w.events.map((e) => [e.type, e.object.metadata.name]), [['ADDED', 'b'], ['DELETED', 'a']]);
  assert.equal(w.events[1].object.metadata.labels.app, 'web'); // the last state that matched
  const named = await watchEvents(c, `/api/v1/namespaces/${ns}/services`, { fieldSelector: 'metadata.name=c', resourceVersion: '0' });
  t.after(() => named.stop());
  await waitFor(() => named.events.length === 1, 5000, 'one object');
  assert.equal(named.events[0].object.metadata.name, 'c');
});

test('local server: stop() breaks a watch, start() serves it again on the same port with the same state', async (t) => {
  const s = await local(t);
  if (!s) return;
  const port = s.port;
  const c = s.client();
  const w = await watchEvents(c, '/api/v1/namespaces/default/services', { resourceVersion: s.resourceVersion });
  s.create(svc('a', 'default'));
  await waitFor(() => w.events.length === 1, 5000, 'first event');
  const rv = w.events[0].object.metadata.resourceVersion;
  await s.stop();
  await waitFor(() => w.done, 5000, 'watch broken');
  assert.equal(s.watchCount, 0);
  await assert.rejects(c.request('GET', '/api/v1/namespaces/default/services'), (e: KubeStatusError) => e.statusCode === 0);
  s.create(svc('b', 'default')); // changed during the outage
  await s.start();
  assert.equal(s.port, port);
  const w2 = await watchEvents(c, '/api/v1/namespaces/default/services', { resourceVersion: rv });
  t.after(() => w2.stop());
  await waitFor(() => w2.events.length === 1, 5000, 'resumed watch');
  assert.deepEqual(w2.events.map((e) => [e.type, e.object.metadata.name]), [['ADDED', 'b']]);
});

test('discovery serves Istio kinds in every version from one storage (KubernetesObjectApi)', async (t) => {
  const k = await target(t);
  const ns = await k.freshNamespace();
  await k.create({ apiVersion: 'networking.istio.io/v1alpha3', kind: 'VirtualService', metadata: { name: 'vs', namespace: ns }, spec: { hosts: ['a.example.com'] } });
  const c = k.client();
  const objApi = k8s.KubernetesObjectApi.makeApiClient(c.kc);
  const list = await objApi.list('networking.istio.io/v1', 'VirtualService', ns);
  assert.deepEqual(list.items.map((i) => [i.apiVersion, i.kind, i.metadata?.name]), [['networking.istio.io/v1', 'VirtualService', 'vs']]);
  const v1b1 = await c.request<any>('GET', `/apis/networking.istio.io/v1beta1/namespaces/${ns}/virtualservices/vs`);
  assert.equal(v1b1.apiVersion, 'networking.istio.io/v1beta1');
  assert.deepEqual(v1b1.spec, { hosts: ['a.example.com'] });
  const raw = await c.request<any>('GET', `/apis/networking.istio.io/v1/namespaces/${ns}/virtualservices`);
  assert.equal(raw.kind, 'VirtualServiceList');
  assert.equal(raw.items[0].apiVersion, 'networking.istio.io/v1'); // custom resource lists carry them
  const groups = await c.request<any>('GET', '/apis');
  const net = groups.groups.find((g: any) => g.name === 'networking.istio.io');
  assert.deepEqual(net.versions.map((v: any) => v.version), ['v1', 'v1beta1', 'v1alpha3']);
  assert.equal(net.preferredVersion.version, 'v1');
  assert.equal(groups.groups.find((g: any) => g.name === 'extensions.istio.io').preferredVersion.version, 'v1alpha1');
  const rl = await c.request<any>('GET', '/apis/networking.istio.io/v1alpha3');
  assert.equal(rl.kind, 'APIResourceList');
  assert.ok(rl.resources.some((r: any) => r.name === 'envoyfilters' && r.namespaced && r.kind === 'EnvoyFilter' && r.singularName === 'envoyfilter' && r.verbs.includes('watch')));
  const rlv1 = await c.request<any>('GET', '/apis/networking.istio.io/v1');
  assert.ok(!rlv1.resources.some((r: any) => r.name === 'envoyfilters'));
  assert.ok(rlv1.resources.some((r: any) => r.name === 'virtualservices/status'));
  const core = await c.request<any>('GET', '/api/v1');
  assert.ok(core.resources.some((r: any) => r.name === 'namespaces' && r.namespaced === false && r.singularName === 'namespace'));
  assert.ok(core.resources.some((r: any) => r.name === 'serviceaccounts/token' && r.kind === 'TokenRequest'));
  await assert.rejects(c.request('GET', `/apis/networking.istio.io/v1/namespaces/${ns}/envoyfilters`), (e: KubeStatusError) => e.statusCode === 404);
  const api = await c.request<any>('GET', '/api');
  assert.deepEqual(api.versions, ['v1']);
  const v = await c.request<any>('GET', '/version');
  assert.match(v.gitVersion, /^v1\.\d+/);
});

test('merge patch, JSON patch, no-op updates, status subresource, DELETE with preconditions', async (t) => {
  const k = await target(t);
  const ns = await k.freshNamespace();
  const c = k.client();
  const path = `/api/v1/namespaces/${ns}/configmaps/cm`;
  await k.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', namespace: ns }, data: { a: '1', b: '2' } });
  const p1 = await c.request<any>('PATCH', path, { data: { a: null, c: '3' } }, 'application/merge-patch+json');
  assert.deepEqual(p1.data, { b: '2', c: '3' });
  const p2 = await c.request<any>('PATCH', path, [{ op: 'replace', path: '/data/b', value: 'x' }, { op: 'add', path: '/metadata/labels', value: { k: 'v' } }], 'application/json-patch+json');
  assert.deepEqual(p2.data, { b: 'x', c: '3' });
  assert.deepEqual(p2.metadata.labels, { k: 'v' });
  const same = await c.request<any>('PATCH', path, { data: { b: 'x' } }, 'application/strategic-merge-patch+json');
  assert.equal(same.metadata.resourceVersion, p2.metadata.resourceVersion); // no-op: no new resourceVersion
  await assert.rejects(c.request('PATCH', path, [{ op: 'test', path: '/data/b', value: 'y' }], 'application/json-patch+json'), (e: KubeStatusError) => e.statusCode === 422);
  await assert.rejects(c.request('PATCH', path, { metadata: { resourceVersion: '1' } }, 'application/merge-patch+json'), (e: KubeStatusError) => e.statusCode === 409);
  await assert.rejects(c.request('PATCH', path, { data: {} }, 'application/json'), (e: KubeStatusError) => e.statusCode === 415);
  await assert.rejects(c.request('PATCH', `/api/v1/namespaces/${ns}/configmaps/none`, { data: {} }, 'application/merge-patch+json'), (e: KubeStatusError) => e.statusCode === 404);

  // custom resources: no strategic merge patch; spec changes move generation; status only through /status
  const gw = await k.create({ apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'g', namespace: ns }, spec: { selector: { istio: 'ingressgateway' } } });
  assert.equal(gw.metadata.generation, 1);
  assert.equal(p1.metadata.generation, undefined); // ConfigMaps have none
  const gwPath = `/apis/networking.istio.io/v1/namespaces/${ns}/gateways/g`;
  await assert.rejects(c.request('POST', `/apis/networking.istio.io/v1/namespaces/${ns}/gateways`, { metadata: { name: 'nokind' }, spec: {} }),
    (e: KubeStatusError) => e.statusCode === 400 && /Object 'Kind' is missing/.test(e.message));
  await assert.rejects(c.request('PATCH', gwPath, {}, 'application/strategic-merge-patch+json'), (e: KubeStatusError) => e.statusCode === 415);
  const g2 = await c.request<any>('PATCH', gwPath, { spec: { selector: { istio: 'egress' } }, status: { ignored: true } }, 'application/merge-patch+json');
  assert.equal(g2.metadata.generation, 2);
  assert.equal(g2.status, undefined);
  const g3 = await c.request<any>('PATCH', `${gwPath}/status`, { status: { observedGeneration: 2 } }, 'application/merge-patch+json');
  assert.deepEqual(g3.status, { observedGeneration: 2 });
  assert.equal(g3.metadata.generation, 2);
  assert.deepEqual(g3.spec, { selector: { istio: 'egress' } });

  await assert.rejects(c.request('DELETE', path, { preconditions: { resourceVersion: '1' } }), (e: KubeStatusError) => e.statusCode === 409);
  // a ConfigMap's DELETE answers with a Status; a Service's with the object
  const gone = await c.request<any>('DELETE', path);
  assert.deepEqual([gone.kind, gone.status, gone.details.name, gone.details.kind], ['Status', 'Success', 'cm', 'configmaps']);
  await k.create(svc('s', ns));
  const goneSvc = await c.request<any>('DELETE', `/api/v1/namespaces/${ns}/services/s`);
  assert.deepEqual([goneSvc.kind, goneSvc.metadata.name], ['Service', 's']);
  assert.equal(await k.get('v1', 'ConfigMap', ns, 'cm'), undefined);
  await assert.rejects(c.request('DELETE', path), (e: KubeStatusError) => e.statusCode === 404);
});

test('TokenRequest issues ServiceAccount tokens that TokenReview accepts for their audiences', async (t) => {
  const k = await target(t);
  const ns = await k.freshNamespace();
  const token = await k.serviceAccountToken(ns, 'bookinfo', ['istio-ca']);
  assert.equal(token.split('.').length, 3);
  const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
  assert.deepEqual(claims.aud, ['istio-ca']);
  assert.equal(claims.sub, `system:serviceaccount:${ns}:bookinfo`);
  const c = k.client();
  const review = (tok: string, audiences?: string[]) => c.request<any>('POST', '/apis/authentication.k8s.io/v1/tokenreviews',
    { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: tok, ...(audiences ? { audiences } : {}) } });
  const ok = await review(token, ['istio-ca']);
  assert.equal(ok.kind, 'TokenReview');
  assert.equal(ok.status.authenticated, true);
  assert.equal(ok.status.user.username, `system:serviceaccount:${ns}:bookinfo`);
  assert.ok(ok.status.user.groups.includes(`system:serviceaccounts:${ns}`));
  assert.deepEqual(ok.status.audiences, ['istio-ca']);
  const wrongAud = await review(token, ['other-audience']);
  assert.notEqual(wrongAud.status.authenticated, true);
  assert.match(wrongAud.status.error, /audiences/);
  const unknown = await review('not-a-token', ['istio-ca']);
  assert.notEqual(unknown.status.authenticated, true);
  const typed = await c.api(k8s.AuthenticationV1Api).createTokenReview({ body: { spec: { token, audiences: ['istio-ca'] } } });
  assert.equal(typed.status?.authenticated, true);
  await assert.rejects(c.request('GET', '/apis/authentication.k8s.io/v1/tokenreviews'), (e: KubeStatusError) => e.statusCode === 405);
  await assert.rejects(c.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts/none/token`, { spec: {} }), (e: KubeStatusError) => e.statusCode === 404);
  await assert.rejects(c.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts/bookinfo/token`, { spec: { expirationSeconds: 60 } }), (e: KubeStatusError) => e.statusCode === 422);
  // the token dies with its ServiceAccount
  await k.remove('v1', 'ServiceAccount', ns, 'bookinfo');
  await waitFor(async () => (await review(token, ['istio-ca'])).status.authenticated !== true, 10_000, 'token invalidated');
});

test('local server: addToken identities for TokenReview; audience-bound tokens only reach the API with its audience; RBAC applies to them', async (t) => {
  const s = await local(t);
  if (!s) return;
  s.addToken('sa-token', { username: 'system:serviceaccount:default:bookinfo', uid: 'u1', groups: ['system:serviceaccounts'] }, ['istio-ca']);
  s.addToken('api-token', { username: 'jane' });
  const c = s.client();
  const r = await c.request<any>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', { spec: { token: 'sa-token', audiences: ['istio-ca'] } });
  assert.deepEqual(r.status, { authenticated: true, user: { username: 'system:serviceaccount:default:bookinfo', uid: 'u1', groups: ['system:serviceaccounts'] }, audiences: ['istio-ca'] });
  const noAud = await c.request<any>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', { spec: { token: 'sa-token' } });
  assert.notEqual(noAud.status.authenticated, true);
  assert.equal((await fetch(`${s.url}/api/v1/namespaces`, { headers: { Authorization: 'Bearer sa-token' } })).status, 401);
  // authenticated (not 401) but without any RBAC binding: 403
  assert.equal((await fetch(`${s.url}/api/v1/namespaces`, { headers: { Authorization: 'Bearer api-token' } })).status, 403);
  assert.equal(s.requests.at(-1)!.user, 'jane');
});

test('deleting a namespace deletes what it holds (DELETED events); deletecollection', async (t) => {
  const s = await local(t);
  if (!s) return;
  const ns = s.freshNamespace();
  s.create(svc('a', ns));
  s.create(svc('b', ns));
  const c = s.client();
  const w = await watchEvents(c, '/api/v1/services', { resourceVersion: s.resourceVersion });
  t.after(() => w.stop());
  await c.request('DELETE', `/api/v1/namespaces/${ns}`);
  await waitFor(() => w.events.length === 2, 5000, 'DELETED events');
  assert.deepEqual(w.events.map((e) => [e.type, e.object.metadata.name]), [['DELETED', 'a'], ['DELETED', 'b']]);
  assert.equal(s.get('v1', 'Namespace', undefined, ns), undefined);
  s.create(svc('x', 'default', { del: 'yes' }));
  s.create(svc('y', 'default', { del: 'yes' }));
  s.create(svc('z', 'default'));
  const gone = await c.request<any>('DELETE', '/api/v1/namespaces/default/services?labelSelector=del%3Dyes');
  assert.deepEqual(gone.items.map((i: any) => i.metadata.name), ['x', 'y']);
  assert.deepEqual(s.list('v1', 'Service', 'default').map((o) => o.metadata.name), ['z']);
});

test('local server with namespaceTerminationMs: a deleted namespace is Terminating (creates 403) before it and its content go', async (t) => {
  const s = await local(t, { namespaceTerminationMs: 300 });
  if (!s) return;
  const ns = s.freshNamespace();
  s.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: ns } });
  const c = s.client();
  const rv = s.resourceVersion;
  const nsEvents = await watchEvents(c, '/api/v1/namespaces', { resourceVersion: rv, fieldSelector: `metadata.name=${ns}` });
  const cmEvents = await watchEvents(c, `/api/v1/namespaces/${ns}/configmaps`, { resourceVersion: rv });
  t.after(() => { nsEvents.stop(); cmEvents.stop(); });
  const answer = await c.request<any>('DELETE', `/api/v1/namespaces/${ns}`);
  assert.equal(answer.status.phase, 'Terminating');
  assert.ok(answer.metadata.deletionTimestamp);
  await assert.rejects(c.request('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'b' } }),
    (e: KubeStatusError) => e.statusCode === 403 && e.reason === 'Forbidden' && /unable to create new content in namespace .* because it is being terminated/.test(e.message));
  await c.request('PUT', `/api/v1/namespaces/${ns}/configmaps/a`, { metadata: { name: 'a' }, data: { still: 'writable' } });
  await waitFor(() => nsEvents.events.some((e) => e.type === 'DELETED'), 5000, 'namespace gone');
  assert.deepEqual(nsEvents.events.map((e) => [e.type, e.object.status.phase]), [['MODIFIED', 'Terminating'], ['DELETED', 'Terminating']]);
  assert.deepEqual(cmEvents.events.map((e) => e.type), ['MODIFIED', 'DELETED']);
  assert.equal(s.get('v1', 'ConfigMap', ns, 'a'), undefined);
});

test('local server: a watch from before the kept history (historyLimit) gets 410 Expired; a recent one resumes', async (t) => {
  const s = await local(t, { historyLimit: 5 });
  if (!s) return;
  const start = s.resourceVersion;
  for (let i = 0; i < 80; i++) s.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}`, namespace: 'default' } });
  const old = await watchEvents(s.client(), '/api/v1/namespaces/default/configmaps', { resourceVersion: start });
  await waitFor(() => old.done, 5000, 'expired stream end');
  assert.deepEqual(old.events.map((e) => [e.type, e.object.code]), [['ERROR', 410]]);
  const recentRv = String(Number(s.resourceVersion) - 3);
  const recent = await watchEvents(s.client(), '/api/v1/namespaces/default/configmaps', { resourceVersion: recentRv });
  t.after(() => recent.stop());
  await waitFor(() => recent.events.length === 3, 5000, 'the last three events');
  assert.deepEqual(recent.events.map((e) => e.object.metadata.name), ['cm-77', 'cm-78', 'cm-79']);
});

test('bad requests get a Status and never break the server', async (t) => {
  const s = await local(t);
  if (!s) return;
  const c = s.client();
  const cm = '/api/v1/namespaces/default/configmaps';
  const cases: Array<[string, string, unknown, string?]> = [
    ['POST', cm, { metadata: 'x' }],
    ['POST', cm, { metadata: { name: 5 } }],
    ['POST', cm, { metadata: { name: 'a', labels: { k: 1 } } }],
    ['POST', cm, []],
    ['POST', cm, 'null'],
    ['POST', cm, '"text"'],
    ['PUT', `${cm}/a`, { metadata: { name: 'b' } }],
    ['PATCH', `${cm}/a`, [{ op: 'nope', path: '/x' }], 'application/json-patch+json'],
    ['PATCH', `${cm}/a`, '[{"op":"add","path":"no-slash","value":1}]', 'application/json-patch+json'],
    ['PATCH', `${cm}/a`, '{', 'application/merge-patch+json'],
    ['GET', `${cm}?labelSelector=${encodeURIComponent('a in (b')}`, undefined],
    ['GET', `${cm}?fieldSelector=${encodeURIComponent('nonsense')}`, undefined],
    ['GET', `${cm}?limit=2&continue=%25%25`, undefined],
    ['GET', `/api/v1/namespaces/default/configmaps/a/b/c`, undefined],
    ['POST', `/api/v1/namespaces/default/serviceaccounts/default/token`, { spec: { expirationSeconds: 'soon' } }],
    ['DELETE', `${cm}/a`, '{not json'],
  ];
  s.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'default' } });
  for (const [method, path, body, ct] of cases) {
    await assert.rejects(c.request(method, path, body, ct), (e: KubeStatusError) => {
      const st = e.body as { kind?: string; code?: number };
      return e.statusCode >= 400 && e.statusCode < 500 && st.kind === 'Status' && st.code === e.statusCode;
    }, `${method} ${path} ${JSON.stringify(body)}`);
  }
  assert.equal((await c.request<any>('GET', cm)).items.length, 1, 'still serving, state intact');
});
