/**
 * Reflector against the Kubernetes API test server (real client-node list/watch over HTTP):
 * initial list, batched events, bookmarks, 410 relist diff, outages with backoff, clean stop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeClient, KubeObject } from '../../../src/main/kube/client';
import { Reflector, ReflectorBatch } from '../../../src/main/sources/kube/reflector';
import { KubeTestServer, startKubeTestServer } from '../../helpers/kube-apiserver';
import { sleep, waitFor } from '../../helpers/wait-for';

const FAST = { initialMs: 20, maxMs: 200 };

function clientOf(server: KubeTestServer): KubeClient {
  return server.client();
}

function svc(ns: string, name: string, port = 80): KubeObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { ports: [{ name: 'http', port }] } } as KubeObject;
}

/** A handler that mirrors the batches into a map, as a store would. */
function mirror() {
  const objects = new Map<string, KubeObject>();
  const batches: ReflectorBatch[] = [];
  const handler = (b: ReflectorBatch) => {
    batches.push(b);
    for (const o of b.remove) objects.delete(`${o.metadata.namespace}/${o.metadata.name}`);
    for (const o of b.put) objects.set(`${o.metadata.namespace}/${o.metadata.name}`, o);
  };
  return { objects, batches, handler };
}

function serverState(server: KubeTestServer): Map<string, string> {
  return new Map(server.list('v1', 'Service').map((o) => [`${o.metadata.namespace}/${o.metadata.name}`, String(o.metadata.resourceVersion)]));
}

function mirrorState(objects: Map<string, KubeObject>): Map<string, string> {
  return new Map([...objects].map(([k, o]) => [k, String(o.metadata.resourceVersion)]));
}

async function withServer(fn: (server: KubeTestServer) => Promise<void>, opts: { bookmarkIntervalMs?: number } = {}): Promise<void> {
  const server = await startKubeTestServer(opts);
  try { await fn(server); } finally { await server.close(); }
}

test('initial list, then watch events arrive as coalesced batches; stop leaves no watch open', async () => {
  await withServer(async (server) => {
    server.create(svc('default', 'a'));
    server.create(svc('default', 'b'));
    const m = mirror();
    const r = new Reflector({ client: clientOf(server), path: '/api/v1/services', name: 'services', handler: m.handler, backoff: FAST });
    r.start();
    await r.whenSynced();
    assert.equal(m.batches.length, 1);
    assert.equal(m.batches[0]!.initial, true);
    assert.deepEqual([...m.objects.keys()].sort(), ['default/a', 'default/b']);
    assert.equal(r.health().synced, true);
    assert.equal(r.health().healthy, true);

    await waitFor(() => server.watchCount === 1, 5000, 'the watch to open');
    // A burst: create, update, delete of another, all in one tick -> one batch.
    const before = m.batches.length;
    server.create(svc('ns1', 'c'));
    server.update({ ...server.get('v1', 'Service', 'default', 'a')!, spec: { ports: [{ name: 'http', port: 8080 }] } });
    server.remove('v1', 'Service', 'default', 'b');
    await waitFor(() => m.objects.size === 2 && (m.objects.get('default/a')?.spec as any)?.ports?.[0]?.port === 8080, 5000, 'events');
    assert.equal(m.batches.length, before + 1, 'one batch for a burst');
    assert.deepEqual(mirrorState(m.objects), serverState(server));
    assert.deepEqual(m.batches.at(-1)!.remove.map((o) => o.metadata.name), ['b']);

    await r.stop();
    await waitFor(() => server.watchCount === 0, 5000, 'the watch to close');
    server.create(svc('default', 'after-stop'));
    await sleep(50);
    assert.equal(m.objects.has('default/after-stop'), false, 'no handler call after stop');
  });
});

test('bookmarks advance the resourceVersion without changes', async () => {
  await withServer(async (server) => {
    const m = mirror();
    const r = new Reflector({ client: clientOf(server), path: '/api/v1/services', name: 'services', handler: m.handler, backoff: FAST });
    r.start();
    await r.whenSynced();
    const listed = r.health().resourceVersion;
    server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'default' }, data: {} });
    await waitFor(() => r.health().resourceVersion === server.resourceVersion && listed !== server.resourceVersion, 5000, 'a bookmark');
    assert.equal(m.batches.length, 1, 'bookmarks are not changes');
    await r.stop();
  }, { bookmarkIntervalMs: 50 });
});

test('410 Gone: relist diffed against the cache, nothing lost or duplicated', async () => {
  await withServer(async (server) => {
    for (let i = 0; i < 5; i++) server.create(svc('default', `s${i}`));
    const m = mirror();
    const r = new Reflector({ client: clientOf(server), path: '/api/v1/services', name: 'services', handler: m.handler, backoff: FAST });
    r.start();
    await r.whenSynced();
    await waitFor(() => server.watchCount === 1, 5000, 'the watch');

    // While the reflector is cut off: delete, change, add; then history is compacted.
    await server.stop();
    server.remove('v1', 'Service', 'default', 's0');
    server.update({ ...server.get('v1', 'Service', 'default', 's1')!, spec: { ports: [{ name: 'http', port: 81 }] } });
    server.create(svc('default', 'new'));
    server.compact();
    const batchesBefore = m.batches.length;
    await server.start();

    await waitFor(() => m.batches.slice(batchesBefore).some((b) => b.relist), 10_000, 'the relist');
    assert.equal(r.health().relists, 1);
    assert.deepEqual(mirrorState(m.objects), serverState(server));
    const relist = m.batches.slice(batchesBefore).find((b) => b.relist)!;
    assert.ok(relist, 'a relist batch');
    assert.deepEqual(relist.remove.map((o) => o.metadata.name), ['s0']);
    assert.deepEqual(relist.put.map((o) => o.metadata.name).sort(), ['new', 's1'], 'unchanged objects are not re-delivered');
    assert.equal(relist.initial, false);

    // And the watch after the relist works.
    server.create(svc('default', 'later'));
    await waitFor(() => m.objects.has('default/later'), 5000, 'an event after the relist');
    assert.deepEqual(mirrorState(m.objects), serverState(server));
    await r.stop();
  });
});

test('an outage is reported unhealthy with the reason, retried with backoff, and recovers with the changes made meanwhile', async () => {
  await withServer(async (server) => {
    server.create(svc('default', 'keep'));
    server.create(svc('default', 'gone'));
    const m = mirror();
    const r = new Reflector({ client: clientOf(server), path: '/api/v1/services', name: 'services', handler: m.handler, backoff: FAST });
    r.start();
    await r.whenSynced();
    await waitFor(() => server.watchCount === 1, 5000, 'the watch');

    await server.stop();
    await waitFor(() => !r.health().healthy && /ECONNREFUSED/.test(r.health().lastError ?? ''), 5000, 'unhealthy: connection refused');
    const h = r.health();
    assert.equal(h.failingOp, 'watch');
    assert.ok(typeof h.failingSinceMs === 'number' && h.failingSinceMs <= Date.now());
    assert.equal(m.objects.size, 2, 'the last good objects stay');
    const restarts = r.health().watchRestarts;
    await sleep(300);
    assert.ok(r.health().watchRestarts > restarts, 'keeps retrying');

    server.remove('v1', 'Service', 'default', 'gone');
    server.create(svc('default', 'added'));
    await server.start();
    await waitFor(() => r.health().healthy && m.objects.has('default/added') && !m.objects.has('default/gone'), 10_000, 'recovery');
    assert.equal(r.health().failingSinceMs, undefined);
    assert.deepEqual(mirrorState(m.objects), serverState(server));
    await r.stop();
  });
});

test('an API server that is down at start: whenSynced waits, then the list arrives', async () => {
  await withServer(async (server) => {
    server.create(svc('default', 'a'));
    const client = clientOf(server);
    await server.stop();
    const m = mirror();
    const r = new Reflector({ client, path: '/api/v1/services', name: 'services', handler: m.handler, backoff: FAST });
    r.start();
    let synced = false;
    const wait = r.whenSynced().then(() => { synced = true; });
    await waitFor(() => r.health().lastError, 5000, 'a failure');
    assert.equal(r.health().failingOp, 'list');
    assert.equal(synced, false);
    await server.start();
    await wait;
    assert.deepEqual([...m.objects.keys()], ['default/a']);
    await r.stop();
  });
});

test('HTTP errors (401) are failures with the server message; stop() while failing rejects whenSynced', async () => {
  await withServer(async (server) => {
    const m = mirror();
    const client = clientOf(server);
    // A token the server does not know: every request is 401.
    (client.kc.getCurrentUser() as { token?: string }).token = 'wrong-token';
    const r = new Reflector({ client, path: '/api/v1/services', name: 'services', handler: m.handler, backoff: FAST });
    r.start();
    const synced = r.whenSynced();
    await waitFor(() => r.health().lastError, 5000, 'a failure');
    assert.match(r.health().lastError!, /401/);
    await r.stop();
    await assert.rejects(synced, /stopped before its first list/);
  });
});

test('field selectors are passed to list and watch', async () => {
  await withServer(async (server) => {
    server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'istio', namespace: 'istio-system' }, data: { mesh: '' } });
    server.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'other', namespace: 'istio-system' }, data: {} });
    const m = mirror();
    const r = new Reflector({
      client: clientOf(server), path: '/api/v1/namespaces/istio-system/configmaps', query: { fieldSelector: 'metadata.name=istio' },
      name: 'configmaps', handler: m.handler, backoff: FAST,
    });
    r.start();
    await r.whenSynced();
    assert.deepEqual([...m.objects.keys()], ['istio-system/istio']);
    await waitFor(() => server.watchCount === 1, 5000, 'the watch');
    server.update({ ...server.get('v1', 'ConfigMap', 'istio-system', 'other')!, data: { x: 'y' } });
    server.update({ ...server.get('v1', 'ConfigMap', 'istio-system', 'istio')!, data: { mesh: 'a: 1' } });
    await waitFor(() => (m.objects.get('istio-system/istio')?.data as any)?.mesh === 'a: 1', 5000, 'the update');
    assert.deepEqual([...m.objects.keys()], ['istio-system/istio']);
    await r.stop();
  });
});

test('a watch the server ends (timeoutSeconds) is resumed from the last resourceVersion: no relist, nothing missed', async () => {
  await withServer(async (server) => {
    server.create(svc('default', 'a'));
    const m = mirror();
    const timeouts: number[] = [];
    const r = new Reflector({
      client: clientOf(server), path: '/api/v1/services', name: 'services', handler: m.handler, backoff: FAST,
      watchTimeoutSeconds: () => { timeouts.push(1); return 1; },
    });
    r.start();
    await r.whenSynced();
    await waitFor(() => r.health().watchRestarts >= 1, 5000, 'the server to end the first watch');
    server.create(svc('default', 'b'));
    await waitFor(() => r.health().watchRestarts >= 2, 5000, 'a second restart');
    server.create(svc('default', 'c'));
    await waitFor(() => m.objects.size === 3, 5000, 'events across restarts');
    assert.equal(r.health().relists, 0);
    assert.equal(r.health().healthy, true);
    assert.equal(m.batches.filter((b) => b.relist).length, 1, 'only the initial list');
    const watches = server.requests.filter((q) => q.path.startsWith('/api/v1/services?') && /watch=true/.test(q.path));
    assert.ok(watches.length >= 3, `one watch per restart (${watches.length})`);
    assert.ok(watches.every((q) => /allowWatchBookmarks=true/.test(q.path) && /timeoutSeconds=1/.test(q.path) && /resourceVersion=\d+/.test(q.path)));
    await r.stop();
  }, { bookmarkIntervalMs: 5000 });
});
