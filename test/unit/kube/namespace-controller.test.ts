/**
 * NamespaceController against the Kubernetes API test server: the `istio-ca-root-cert` ConfigMap
 * is created in every namespace (Istio's exclusions and terminating namespaces skipped), edited
 * data is put back, a deleted ConfigMap is recreated, setRoots() rewrites them all, a stopped
 * controller (non-leader) writes nothing, and an API-server outage is survived.
 */
import { test, TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startKubeTestServer, KubeTestServer } from '../../helpers/kube-apiserver';
import { teardown } from '../../helpers/teardown';
import { waitFor, sleep } from '../../helpers/wait-for';
import { NamespaceController } from '../../../src/main/kube/namespace-controller';
import { setLogSink } from '../../../src/main/log';

const NAME = 'istio-ca-root-cert';
type Obj = Record<string, any>;

async function setup(t: TestContext, rootPem = 'ROOT-A\n') {
  const restoreLog = setLogSink(() => {});
  const onClose = teardown(t);
  onClose(restoreLog);
  const server = await startKubeTestServer({ bookmarkIntervalMs: 200 });
  onClose(() => server.close());
  for (const name of ['istio-system', 'app-1', 'local-path-storage']) server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'going-away' }, status: { phase: 'Terminating' } } as Obj);
  const ctl = new NamespaceController({ client: server.client(), configMapName: NAME, rootPem, retryMs: 100, retryMaxMs: 500 });
  onClose(() => ctl.stop());
  return { server, ctl };
}

const cm = (server: KubeTestServer, ns: string) => server.get('v1', 'ConfigMap', ns, NAME) as Obj | undefined;

test('creates the ConfigMap in every namespace but the ignored and terminating ones', async (t) => {
  const { server, ctl } = await setup(t);
  ctl.start();
  for (const ns of ['default', 'kube-system', 'istio-system', 'app-1']) {
    await waitFor(() => cm(server, ns), 5000, `ConfigMap in ${ns}`);
    const c = cm(server, ns)!;
    assert.deepEqual(c.data, { 'root-cert.pem': 'ROOT-A\n' });
    assert.equal(c.metadata.labels['istio.io/config'], 'true');
  }
  await sleep(300);
  for (const ns of ['kube-public', 'kube-node-lease', 'local-path-storage', 'going-away']) assert.equal(cm(server, ns), undefined, `no ConfigMap in ${ns}`);
});

test('fixes edited data (keeping other keys), recreates deleted ConfigMaps, follows new namespaces', async (t) => {
  const { server, ctl } = await setup(t);
  ctl.start();
  await waitFor(() => cm(server, 'app-1'), 5000, 'ConfigMap in app-1');

  const cur = cm(server, 'app-1')!;
  server.update({ ...cur, data: { 'root-cert.pem': 'tampered', extra: 'kept' } });
  await waitFor(() => cm(server, 'app-1')!.data['root-cert.pem'] === 'ROOT-A\n', 5000, 'data put back');
  assert.equal(cm(server, 'app-1')!.data.extra, 'kept');

  server.remove('v1', 'ConfigMap', 'app-1', NAME);
  await waitFor(() => cm(server, 'app-1'), 5000, 'ConfigMap recreated');
  assert.equal(cm(server, 'app-1')!.data['root-cert.pem'], 'ROOT-A\n');

  server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'app-2' } });
  await waitFor(() => cm(server, 'app-2'), 5000, 'ConfigMap in a new namespace');
});

test('setRoots rewrites every ConfigMap (root rotation)', async (t) => {
  const { server, ctl } = await setup(t);
  ctl.start();
  await waitFor(() => cm(server, 'app-1') && cm(server, 'default'), 5000, 'ConfigMaps');
  ctl.setRoots('ROOT-B\nROOT-A\n');
  for (const ns of ['default', 'kube-system', 'istio-system', 'app-1']) {
    await waitFor(() => cm(server, ns)?.data['root-cert.pem'] === 'ROOT-B\nROOT-A\n', 5000, `new roots in ${ns}`);
  }
});

test('a stopped controller (not the leader) writes nothing', async (t) => {
  const { server, ctl } = await setup(t);
  await sleep(300);
  assert.equal(server.list('v1', 'ConfigMap').length, 0, 'nothing before start');
  ctl.start();
  await waitFor(() => ['default', 'kube-system', 'istio-system', 'app-1'].every((ns) => cm(server, ns)), 5000, 'ConfigMaps');
  ctl.stop();
  const writes = server.requests.filter((r) => r.resource === 'configmaps' && r.method !== 'GET').length;
  server.remove('v1', 'ConfigMap', 'app-1', NAME);
  server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'app-3' } });
  ctl.setRoots('ROOT-C\n');
  await sleep(500);
  assert.equal(cm(server, 'app-1'), undefined);
  assert.equal(cm(server, 'app-3'), undefined);
  assert.equal(server.requests.filter((r) => r.resource === 'configmaps' && r.method !== 'GET').length, writes);
  // Leading again picks up everything that happened meanwhile, with the newest roots.
  ctl.start();
  await waitFor(() => cm(server, 'app-1') && cm(server, 'app-3'), 5000, 'ConfigMaps after re-start');
  assert.equal(cm(server, 'app-3')!.data['root-cert.pem'], 'ROOT-C\n');
});

test('an API-server outage: changes made meanwhile are repaired after it returns', async (t) => {
  const { server, ctl } = await setup(t);
  ctl.start();
  await waitFor(() => cm(server, 'app-1'), 5000, 'ConfigMap');
  await server.stop();
  server.remove('v1', 'ConfigMap', 'app-1', NAME);
  server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'app-4' } });
  server.compact(); // the watches cannot resume: they must relist
  await sleep(300);
  await server.start();
  await waitFor(() => cm(server, 'app-1') && cm(server, 'app-4'), 10_000, 'ConfigMaps after the outage');
});
