/**
 * The Kubernetes API test server (test/helpers/kube-apiserver.ts) driven by the real
 * @kubernetes/client-node (typed APIs, Watch, ListWatch informers, KubernetesObjectApi) and by
 * KubeClient.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as k8s from '@kubernetes/client-node';
import { isStatus, KubeClient, KubeStatusError } from '../../../src/main/kube/client';
import { KubeTestServer, startKubeTestServer } from '../../helpers/kube-apiserver';
import { teardown } from '../../helpers/teardown';
import { sleep, waitFor } from '../../helpers/wait-for';

type Ev = { type: string; object: any };

/** Starts a client-node Watch; returns the events seen, the done result and a stop(). */
async function watchEvents(client: KubeClient, path: string, query: Record<string, string | number | boolean | undefined>) {
  const events: Ev[] = [];
  let done: { err: unknown } | undefined;
  const ctl = await client.watch.watch(path, query, (type, object) => events.push({ type, object }), (err) => { done = { err }; });
  return { events, get done() { return done; }, stop: () => ctl.abort() };
}

function svc(name: string, labels: Record<string, string> = {}, ns = 'default') {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns, labels }, spec: { ports: [{ name: 'http', port: 80 }] } };
}

async function server(t: { after(fn: () => unknown): void } & Parameters<typeof teardown>[0], opts = {}): Promise<KubeTestServer> {
  const s = await startKubeTestServer({ bookmarkIntervalMs: 100, ...opts });
  teardown(t)(() => s.close());
  return s;
}

test('typed CoreV1Api creates, reads and lists namespaced Services', async (t) => {
  const s = await server(t);
  const core = s.client().api(k8s.CoreV1Api);
  const created = await core.createNamespacedService({ namespace: 'default', body: { metadata: { name: 'web' }, spec: { ports: [{ port: 80 }] } } });
  assert.equal(created.metadata?.namespace, 'default');
  assert.match(created.metadata?.uid ?? '', /^[0-9a-f-]{36}$/);
  assert.match(String(created.metadata?.creationTimestamp?.toISOString()), /^\d{4}-/);
  const read = await core.readNamespacedService({ name: 'web', namespace: 'default' });
  assert.equal(read.metadata?.resourceVersion, created.metadata?.resourceVersion);
  const list = await core.listNamespacedService({ namespace: 'default' });
  assert.deepEqual(list.items.map((i) => i.metadata?.name), ['web']);
  assert.equal(list.metadata?.resourceVersion, s.resourceVersion);
  await assert.rejects(core.readNamespacedService({ name: 'nope', namespace: 'default' }), (e: any) => e.code === 404);
  await assert.rejects(core.createNamespacedService({ namespace: 'default', body: { metadata: { name: 'web' } } }), (e: any) => e.code === 409);
  await assert.rejects(core.createNamespacedService({ namespace: 'missing', body: { metadata: { name: 'x' } } }), (e: any) => e.code === 404);
  // the raw list: typed-list items carry no apiVersion/kind, as the API server sends them
  const raw = await s.client().request<any>('GET', '/api/v1/namespaces/default/services');
  assert.equal(raw.kind, 'ServiceList');
  assert.equal(raw.items[0].kind, undefined);
  assert.deepEqual(s.requests.filter((r) => r.resource === 'services').map((r) => r.verb), ['create', 'get', 'list', 'get', 'create', 'create', 'list']);
});

test('KubeClient errors carry metav1.Status reasons; 422 without a name; 401 without a token', async (t) => {
  const s = await server(t);
  const c = s.client();
  await assert.rejects(c.request('POST', '/api/v1/namespaces/default/configmaps', { metadata: {} }), (e: KubeStatusError) => e.statusCode === 422 && e.reason === 'Invalid' && /name or generateName is required/.test(e.message));
  await assert.rejects(c.request('GET', '/api/v1/namespaces/default/configmaps/x'), (e: KubeStatusError) => e.statusCode === 404 && e.reason === 'NotFound' && /configmaps "x" not found/.test(e.message));
  await assert.rejects(c.request('POST', '/api/v1/namespaces/default/configmaps', 'a: b', 'text/plain'), (e: KubeStatusError) => e.statusCode === 415);
  await assert.rejects(c.request('PUT', '/api/v1/namespaces/default/configmaps', {}), (e: KubeStatusError) => e.statusCode === 405);
  const res = await fetch(`${s.url}/api/v1/namespaces`);
  assert.equal(res.status, 401);
  const body = await res.json() as any;
  assert.deepEqual([body.kind, body.status, body.reason, body.code], ['Status', 'Failure', 'Unauthorized', 401]);
  const bad = await fetch(`${s.url}/api/v1/namespaces`, { headers: { Authorization: 'Bearer wrong' } });
  assert.equal(bad.status, 401);
  assert.equal((await fetch(`${s.url}/healthz`)).status, 200);
});

test('Watch receives ADDED, MODIFIED, DELETED and BOOKMARK events from a resourceVersion', async (t) => {
  const s = await server(t);
  s.create(svc('before'));
  const rv = s.resourceVersion;
  const w = await watchEvents(s.client(), '/api/v1/namespaces/default/services', { resourceVersion: rv, allowWatchBookmarks: true });
  t.after(() => w.stop());
  const a = s.create(svc('a'));
  s.update({ ...a, spec: { ports: [{ name: 'http', port: 81 }] } });
  s.remove('v1', 'Service', 'default', 'a');
  await waitFor(() => w.events.some((e) => e.type === 'BOOKMARK') && w.events.filter((e) => e.type !== 'BOOKMARK').length === 3, 5000, 'events');
  const changes = w.events.filter((e) => e.type !== 'BOOKMARK');
  assert.deepEqual(changes.map((e) => [e.type, e.object.metadata.name]), [['ADDED', 'a'], ['MODIFIED', 'a'], ['DELETED', 'a']]);
  assert.equal(changes[0].object.kind, 'Service');
  assert.equal(changes[0].object.apiVersion, 'v1');
  assert.equal(changes[1].object.metadata.generation, 2);
  const rvs = changes.map((e) => Number(e.object.metadata.resourceVersion));
  assert.ok(rvs[0] < rvs[1] && rvs[1] < rvs[2], `increasing resourceVersions ${rvs}`);
  const bm = w.events.find((e) => e.type === 'BOOKMARK')!;
  assert.deepEqual(Object.keys(bm.object).sort(), ['apiVersion', 'kind', 'metadata']);
});

test('a watch without allowWatchBookmarks gets no BOOKMARK; resourceVersion 0 starts with the current state', async (t) => {
  const s = await server(t);
  s.create(svc('x'));
  const w = await watchEvents(s.client(), '/api/v1/services', { resourceVersion: '0' });
  t.after(() => w.stop());
  await waitFor(() => w.events.length === 1, 5000, 'initial ADDED');
  await sleep(350);
  assert.deepEqual(w.events.map((e) => e.type), ['ADDED']);
});

test('client-node informer (ListWatch) syncs and follows changes', async (t) => {
  const s = await server(t);
  s.create(svc('one'));
  const c = s.client();
  const core = c.api(k8s.CoreV1Api);
  const informer = k8s.makeInformer(c.kc, '/api/v1/namespaces/default/services', () => core.listNamespacedService({ namespace: 'default' }));
  const seen: string[] = [];
  informer.on('add', (o) => seen.push(`add ${o.metadata?.name}`));
  informer.on('update', (o) => seen.push(`update ${o.metadata?.name}`));
  informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
  await informer.start();
  t.after(() => informer.stop());
  await waitFor(() => seen.includes('add one'), 5000, 'initial list');
  await waitFor(() => s.watchCount === 1, 5000, 'watch open');
  const two = s.create(svc('two'));
  s.update({ ...two, metadata: { ...two.metadata, labels: { v: '2' } } });
  s.remove('v1', 'Service', 'default', 'one');
  await waitFor(() => seen.length === 4, 5000, 'informer events');
  assert.deepEqual(seen, ['add one', 'add two', 'update two', 'delete one']);
  assert.deepEqual(informer.list('default').map((o) => o.metadata?.name), ['two']);
});

test('compact() makes an older resourceVersion expire: ERROR 410 event, and the informer relists', async (t) => {
  const s = await server(t);
  const rv = s.resourceVersion;
  s.create(svc('a'));
  s.compact();
  const w = await watchEvents(s.client(), '/api/v1/namespaces/default/services', { resourceVersion: rv });
  await waitFor(() => w.done, 5000, 'stream end');
  assert.equal(w.events.length, 1);
  assert.equal(w.events[0].type, 'ERROR');
  assert.equal(w.events[0].object.code, 410);
  assert.equal(w.events[0].object.reason, 'Expired');
  assert.match(w.events[0].object.message, /^too old resource version: \d+ \(\d+\)$/);
  // the latest resourceVersion still works after compaction
  const ok = await watchEvents(s.client(), '/api/v1/namespaces/default/services', { resourceVersion: s.resourceVersion });
  t.after(() => ok.stop());
  s.create(svc('b'));
  await waitFor(() => ok.events.length === 1, 5000, 'event after compaction');

  // an informer whose watch expires lists again and keeps its cache right; client-node's ListWatch
  // reports a connection error and stops, so restart it on error as a consumer does
  const c = s.client();
  const core = c.api(k8s.CoreV1Api);
  const informer = k8s.makeInformer(c.kc, '/api/v1/namespaces/default/services', () => core.listNamespacedService({ namespace: 'default' }));
  let stopped = false;
  const retry = () => setTimeout(() => { if (!stopped) informer.start().catch(() => undefined); }, 50);
  informer.on('error', () => { retry(); });
  await informer.start();
  t.after(() => { stopped = true; return informer.stop(); });
  await waitFor(() => s.watchCount === 2, 5000, 'informer watch');
  const lists = () => s.requests.filter((r) => r.verb === 'list' && r.resource === 'services').length;
  const before = lists();
  await s.stop();
  s.create(svc('c'));
  s.compact();
  await s.start();
  await waitFor(() => informer.list('default').length === 3, 10_000, 'informer has a, b, c');
  assert.ok(lists() > before, 'relisted after 410');
  assert.ok(s.requests.some((r) => r.verb === 'watch' && r.code === 200 && /resourceVersion=\d+/.test(r.path)));
});

test('Lease updates race with optimistic concurrency: same resourceVersion twice → one 409 Conflict', async (t) => {
  const s = await server(t);
  const coord = s.client().api(k8s.CoordinationV1Api);
  const lease = await coord.createNamespacedLease({ namespace: 'istio-system', body: { metadata: { name: 'istio-leader' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } } }).catch(async (e) => {
    assert.equal(e.code, 404); // namespace istio-system does not exist yet
    await s.client().request('POST', '/api/v1/namespaces', { metadata: { name: 'istio-system' } });
    return coord.createNamespacedLease({ namespace: 'istio-system', body: { metadata: { name: 'istio-leader' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } } });
  });
  const mk = (holder: string) => ({ ...lease, spec: { ...lease.spec, holderIdentity: holder } });
  const results = await Promise.allSettled([
    coord.replaceNamespacedLease({ name: 'istio-leader', namespace: 'istio-system', body: mk('b') }),
    coord.replaceNamespacedLease({ name: 'istio-leader', namespace: 'istio-system', body: mk('c') }),
  ]);
  const ok = results.filter((r) => r.status === 'fulfilled');
  const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
  assert.equal(ok.length, 1);
  assert.equal(failed.length, 1);
  assert.equal(failed[0].reason.code, 409);
  assert.match(JSON.parse(failed[0].reason.body).message, /Operation cannot be fulfilled on leases.coordination.k8s.io "istio-leader": the object has been modified/);
  // through KubeClient: reason Conflict
  await assert.rejects(s.client().request('PUT', '/apis/coordination.k8s.io/v1/namespaces/istio-system/leases/istio-leader', mk('d')),
    (e: KubeStatusError) => isStatus(e, 409) && e.reason === 'Conflict');
});

test('list pagination with limit and continue is a consistent snapshot', async (t) => {
  const s = await server(t);
  for (let i = 0; i < 7; i++) s.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}`, namespace: 'default' }, data: { i: String(i) } });
  const c = s.client();
  const p1 = await c.request<any>('GET', '/api/v1/namespaces/default/configmaps?limit=3');
  assert.equal(p1.items.length, 3);
  assert.equal(p1.metadata.remainingItemCount, 4);
  assert.ok(p1.metadata.continue);
  s.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm-late', namespace: 'default' } });
  s.remove('v1', 'ConfigMap', 'default', 'cm-6');
  const p2 = await c.request<any>('GET', `/api/v1/namespaces/default/configmaps?limit=3&continue=${encodeURIComponent(p1.metadata.continue)}`);
  const p3 = await c.request<any>('GET', `/api/v1/namespaces/default/configmaps?limit=3&continue=${encodeURIComponent(p2.metadata.continue)}`);
  assert.equal(p3.metadata.continue, undefined);
  assert.deepEqual([...p1.items, ...p2.items, ...p3.items].map((i: any) => i.metadata.name), ['cm-0', 'cm-1', 'cm-2', 'cm-3', 'cm-4', 'cm-5', 'cm-6']);
  assert.equal(p2.metadata.resourceVersion, p1.metadata.resourceVersion);
  const all = await c.list('/api/v1/namespaces/default/configmaps', {}, 2);
  assert.equal(all.items.length, 7);
  // typed client pagination
  const typed = await c.api(k8s.CoreV1Api).listNamespacedConfigMap({ namespace: 'default', limit: 5 });
  assert.equal(typed.items.length, 5);
  assert.ok(typed.metadata?._continue);
});

test('labelSelector applies to list and watch; an object that stops matching is DELETED', async (t) => {
  const s = await server(t);
  s.create(svc('a', { app: 'web', tier: 'front' }));
  s.create(svc('b', { app: 'db' }));
  s.create(svc('c', {}));
  const c = s.client();
  const names = async (sel: string) => (await c.request<any>('GET', `/api/v1/services?labelSelector=${encodeURIComponent(sel)}`)).items.map((i: any) => i.metadata.name);
  assert.deepEqual(await names('app=web'), ['a']);
  assert.deepEqual(await names('app!=web'), ['b', 'c']);
  assert.deepEqual(await names('app in (web,db)'), ['a', 'b']);
  assert.deepEqual(await names('app notin (web)'), ['b', 'c']);
  assert.deepEqual(await names('app'), ['a', 'b']);
  assert.deepEqual(await names('!app'), ['c']);
  assert.deepEqual(await names('app,tier=front'), ['a']);
  assert.deepEqual((await c.request<any>('GET', '/api/v1/services?fieldSelector=metadata.name%3Db')).items.map((i: any) => i.metadata.name), ['b']);
  await assert.rejects(c.request('GET', '/api/v1/services?fieldSelector=spec.type%3DClusterIP'), (e: KubeStatusError) => e.statusCode === 400);

  const w = await watchEvents(c, '/api/v1/namespaces/default/services', { labelSelector: 'app=web', resourceVersion: s.resourceVersion });
  t.after(() => w.stop());
  const b = s.get('v1', 'Service', 'default', 'b')!;
  s.update({ ...b, metadata: { ...b.metadata, labels: { app: 'web' } } }); // starts matching
  s.create(svc('d', { app: 'other' })); // never matches
  const a = s.get('v1', 'Service', 'default', 'a')!;
  s.update({ ...a, metadata: { ...a.metadata, labels: { app: 'gone' } } }); // stops matching
  await waitFor(() => w.events.length === 2, 5000, 'selected events');
  assert.deepEqual(w.events.map((e) => [e.type, e.object.metadata.name]), [['ADDED', 'b'], ['DELETED', 'a']]);
  assert.equal(w.events[1].object.metadata.labels.app, 'web'); // the last state that matched
});

test('stop() breaks a watch, start() serves it again on the same port with the same state', async (t) => {
  const s = await server(t);
  const port = s.port;
  const c = s.client();
  const w = await watchEvents(c, '/api/v1/namespaces/default/services', { resourceVersion: s.resourceVersion });
  s.create(svc('a'));
  await waitFor(() => w.events.length === 1, 5000, 'first event');
  const rv = w.events[0].object.metadata.resourceVersion;
  await s.stop();
  await waitFor(() => w.done, 5000, 'watch broken');
  await assert.rejects(c.request('GET', '/api/v1/namespaces/default/services'), (e: KubeStatusError) => e.statusCode === 0);
  s.create(svc('b')); // changed during the outage
  await s.start();
  assert.equal(s.port, port);
  const w2 = await watchEvents(c, '/api/v1/namespaces/default/services', { resourceVersion: rv });
  t.after(() => w2.stop());
  await waitFor(() => w2.events.length === 1, 5000, 'resumed watch');
  assert.deepEqual(w2.events.map((e) => [e.type, e.object.metadata.name]), [['ADDED', 'b']]);
});

test('discovery serves Istio kinds in every version from one storage (KubernetesObjectApi)', async (t) => {
  const s = await server(t);
  s.create({ apiVersion: 'networking.istio.io/v1alpha3', kind: 'VirtualService', metadata: { name: 'vs', namespace: 'default', creationTimestamp: '2026-11-27T16:00:00Z' }, spec: { hosts: ['a'] } });
  const objApi = k8s.KubernetesObjectApi.makeApiClient(s.client().kc);
  const list = await objApi.list('networking.istio.io/v1', 'VirtualService', 'default');
  assert.deepEqual(list.items.map((i) => [i.apiVersion, i.kind, i.metadata?.name]), [['networking.istio.io/v1', 'VirtualService', 'vs']]);
  const c = s.client();
  const v1b1 = await c.request<any>('GET', '/apis/networking.istio.io/v1beta1/namespaces/default/virtualservices/vs');
  assert.equal(v1b1.apiVersion, 'networking.istio.io/v1beta1');
  assert.equal(v1b1.metadata.creationTimestamp, '2026-11-27T16:00:00Z');
  const groups = await c.request<any>('GET', '/apis');
  const net = groups.groups.find((g: any) => g.name === 'networking.istio.io');
  assert.deepEqual(net.versions.map((v: any) => v.version), ['v1', 'v1beta1', 'v1alpha3']);
  assert.equal(net.preferredVersion.version, 'v1');
  const rl = await c.request<any>('GET', '/apis/networking.istio.io/v1alpha3');
  assert.ok(rl.resources.some((r: any) => r.name === 'envoyfilters' && r.namespaced && r.kind === 'EnvoyFilter' && r.verbs.includes('watch')));
  const rlv1 = await c.request<any>('GET', '/apis/networking.istio.io/v1');
  assert.ok(!rlv1.resources.some((r: any) => r.name === 'envoyfilters'));
  const core = await c.request<any>('GET', '/api/v1');
  assert.ok(core.resources.some((r: any) => r.name === 'namespaces' && r.namespaced === false && r.singularName === 'namespace'));
  await assert.rejects(c.request('GET', '/apis/networking.istio.io/v1/namespaces/default/envoyfilters'), (e: KubeStatusError) => e.statusCode === 404);
  const api = await c.request<any>('GET', '/api');
  assert.deepEqual(api.versions, ['v1']);
});

test('merge patch, JSON patch and DELETE with preconditions', async (t) => {
  const s = await server(t);
  const c = s.client();
  s.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'default' }, data: { a: '1', b: '2' } });
  const p1 = await c.request<any>('PATCH', '/api/v1/namespaces/default/configmaps/cm', { data: { a: null, c: '3' } }, 'application/merge-patch+json');
  assert.deepEqual(p1.data, { b: '2', c: '3' });
  const p2 = await c.request<any>('PATCH', '/api/v1/namespaces/default/configmaps/cm', [{ op: 'replace', path: '/data/b', value: 'x' }, { op: 'add', path: '/metadata/labels', value: { k: 'v' } }], 'application/json-patch+json');
  assert.deepEqual(p2.data, { b: 'x', c: '3' });
  assert.deepEqual(p2.metadata.labels, { k: 'v' });
  const same = await c.request<any>('PATCH', '/api/v1/namespaces/default/configmaps/cm', { data: { b: 'x' } }, 'application/strategic-merge-patch+json');
  assert.equal(same.metadata.resourceVersion, p2.metadata.resourceVersion); // no-op: no new resourceVersion
  await assert.rejects(c.request('PATCH', '/api/v1/namespaces/default/configmaps/cm', { metadata: { resourceVersion: '1' } }, 'application/merge-patch+json'), (e: KubeStatusError) => e.statusCode === 409);
  await assert.rejects(c.request('PATCH', '/apis/networking.istio.io/v1/namespaces/default/gateways/g', {}, 'application/strategic-merge-patch+json'), (e: KubeStatusError) => e.statusCode === 415);
  await assert.rejects(c.request('DELETE', '/api/v1/namespaces/default/configmaps/cm', { preconditions: { resourceVersion: '1' } }), (e: KubeStatusError) => e.statusCode === 409);
  const gone = await c.request<any>('DELETE', '/api/v1/namespaces/default/configmaps/cm');
  assert.equal(gone.metadata.name, 'cm');
  assert.equal(s.get('v1', 'ConfigMap', 'default', 'cm'), undefined);
});

test('TokenReview authenticates known tokens with audiences', async (t) => {
  const s = await server(t);
  s.addToken('sa-token', { username: 'system:serviceaccount:default:bookinfo', uid: 'u1', groups: ['system:serviceaccounts'] }, ['istio-ca']);
  const c = s.client();
  const review = (token: string, audiences?: string[]) => c.request<any>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, ...(audiences ? { audiences } : {}) } });
  const ok = await review('sa-token', ['istio-ca']);
  assert.equal(ok.status.authenticated, true);
  assert.equal(ok.status.user.username, 'system:serviceaccount:default:bookinfo');
  assert.deepEqual(ok.status.audiences, ['istio-ca']);
  const wrongAud = await review('sa-token', ['other']);
  assert.notEqual(wrongAud.status.authenticated, true);
  assert.match(wrongAud.status.error, /audiences/);
  const unknown = await review('nope', ['istio-ca']);
  assert.notEqual(unknown.status.authenticated, true);
  const typed = await c.api(k8s.AuthenticationV1Api).createTokenReview({ body: { spec: { token: 'sa-token', audiences: ['istio-ca'] } } });
  assert.equal(typed.status?.authenticated, true);
  await assert.rejects(c.request('GET', '/apis/authentication.k8s.io/v1/tokenreviews'), (e: KubeStatusError) => e.statusCode === 405);
});
