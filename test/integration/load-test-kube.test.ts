/**
 * The load tester in Kubernetes mode: `istiod-ts load-test --kubeconfig FILE` writes the scenario's
 * mesh into the API test server, spawns the server with `--kubeconfig` (informers instead of a
 * config dir), applies the churn as API writes, measures convergence exactly as file mode does,
 * and deletes what it created. A small scenario (20 proxies, Sidecar scoping, 10 s of churn).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as YAML from 'yaml';
import { LoadTestResult } from '../../load-test/run/result';
import { CHANGE_TYPES } from '../../load-test/scenario/churn';
import { KubeRequest, startKubeTestServer } from '../helpers/kube-apiserver';
import { REPO_ROOT, runCli } from '../helpers/run-cli';

const count = (reqs: readonly KubeRequest[], verb: string, resource: string, code?: number, subresource?: string) =>
  reqs.filter((r) => r.verb === verb && r.resource === resource && r.subresource === subresource && (code === undefined || r.code === code)).length;

test('load-test --kubeconfig: the mesh and its churn go through the API, every change converges, cleanup deletes it', { timeout: 90_000 }, async (t) => {
  const api = await startKubeTestServer();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'istiod-ts-load-test-kube-'));
  t.after(async () => { await api.close(); fs.rmSync(dir, { recursive: true, force: true }); });
  const small = YAML.parse(fs.readFileSync(path.join(REPO_ROOT, 'load-test', 'scenarios', 'small.yaml'), 'utf8'));
  const scenario = {
    ...small,
    name: 'small-kube-ci',
    namespaces: 2,
    servicesPerNamespace: 3,
    endpointsPerService: 5,
    proxies: 20,
    sidecarScoping: 'namespace',
    routingShare: 1,
    durationSeconds: 10,
    warmupSeconds: 20,
    drainSeconds: 10,
    connectsPerSecond: 40,
    churn: { endpointChangesPerSecond: 1, configEditsPerMinute: 24, scaleUps: { count: 1, endpoints: 2 }, reconnectStorm: { atSeconds: 5, fraction: 0.25 } },
  };
  const file = path.join(dir, 'scenario.yaml');
  fs.writeFileSync(file, YAML.stringify(scenario));
  const out = path.join(dir, 'result.json');

  const res = await runCli(['load-test', '--scenario', file, '--kubeconfig', api.kubeconfigPath, '--namespace-prefix', 'lt-', '--out', out], 80_000);
  assert.equal(res.code, 0, `exit code 0 (all checks passed)\n${res.stdout}\n${res.stderr}`);
  assert.match(res.stderr, /objects written to http:\/\/127\.0\.0\.1:\d+ in/, 'says where the mesh went');

  const r = JSON.parse(fs.readFileSync(out, 'utf8')) as LoadTestResult;
  // ---- the same checks as file mode
  assert.equal(r.proxies.total, 20);
  assert.equal(r.proxies.everSynced, 20, 'every proxy connected and synced');
  assert.equal(r.proxies.syncedAtEnd, 20, 'every proxy is synced at the end, storm victims included');
  for (const type of CHANGE_TYPES) assert.ok(r.convergence.byType[type].changes > 0, `at least one ${type} change`);
  assert.ok(r.changes.length >= 10, `the programme applied its changes (${r.changes.length})`);
  for (const c of r.changes) {
    assert.equal(c.expected, 10, `change ${c.id} (${c.type}) is expected at the 10 proxies of its namespace (Sidecar scoping)`);
    assert.equal(c.converged, c.expected, `change ${c.id} (${c.type}, ${c.marker}) measured at every expected proxy`);
  }
  assert.equal(r.storms.length, 1);
  assert.equal(r.storms[0]!.resynced, r.storms[0]!.dropped, 'every dropped proxy resynced');
  assert.equal(r.xds.nacks, 0, `no NACK: ${r.xds.nackSamples.join('; ')}`);
  assert.deepEqual(r.checks, { allConnected: true, everyChangeConverged: true, zeroNacks: true });

  // ---- what the run did to the cluster
  const k = r.kube!;
  assert.ok(k, 'the result has a kube section');
  assert.equal(k.server, api.url);
  assert.deepEqual(k.namespaces, ['lt-ns-0', 'lt-ns-1']);
  assert.deepEqual([...k.namespacesCreated].sort(), ['istio-system', 'lt-ns-0', 'lt-ns-1']);
  assert.deepEqual(k.meshObjects, { Service: 6, EndpointSlice: 6, Pod: 30, DestinationRule: 6, VirtualService: 6, Sidecar: 2 });
  assert.equal(k.cleanup, 'deleted');

  const reqs = api.requests;
  const created = (resource: string) => count(reqs, 'create', resource, 201);
  assert.equal(created('namespaces'), 3);
  assert.equal(created('services'), 6);
  assert.equal(created('endpointslices'), 6);
  assert.equal(created('sidecars'), 2);
  assert.equal(created('destinationrules'), 6);
  assert.equal(created('virtualservices'), 6);
  const byType = (type: string) => r.changes.filter((c) => c.type === type).length;
  const newPods = byType('endpoint') + 2 * byType('scaleUp');
  assert.equal(created('pods'), 30 + newPods, 'the mesh pods, then one per endpoint change and two per scale-up');
  assert.equal(count(reqs, 'patch', 'pods', 200, 'status'), 30 + newPods, 'every pod got its podIP through the status subresource');
  assert.equal(count(reqs, 'update', 'endpointslices', 200), byType('endpoint') + byType('scaleUp'), 'endpoint changes and scale-ups replace the EndpointSlice');
  assert.equal(count(reqs, 'update', 'virtualservices', 200), byType('virtualService'));
  assert.equal(count(reqs, 'update', 'destinationrules', 200), byType('destinationRule'));
  assert.equal(count(reqs, 'delete', 'pods', 200), byType('endpoint'), 'an endpoint change deletes the pod it replaced');
  assert.ok(count(reqs, 'watch', 'endpointslices') >= 1 && count(reqs, 'watch', 'virtualservices') >= 1, 'the spawned server read the mesh through informers');
  assert.equal(count(reqs, 'delete', 'namespaces', 200), 3, 'cleanup deleted the namespaces it created');

  // ---- nothing left behind
  for (const ns of ['lt-ns-0', 'lt-ns-1', 'istio-system']) assert.equal(await api.get('v1', 'Namespace', undefined, ns), undefined, `${ns} deleted`);
  for (const [apiVersion, kind] of [['v1', 'Service'], ['v1', 'Pod'], ['discovery.k8s.io/v1', 'EndpointSlice'], ['networking.istio.io/v1', 'VirtualService'], ['networking.istio.io/v1', 'DestinationRule'], ['networking.istio.io/v1', 'Sidecar']] as const) {
    const left = (await api.list(apiVersion, kind)).filter((o) => o.metadata.namespace?.startsWith('lt-'));
    assert.deepEqual(left.map((o) => o.metadata.name), [], `no ${kind} left`);
  }
  process.stdout.write(`# kube mode: ${r.changes.length} changes, convergence p50 ${r.convergence.all.convergence.p50} ms p99 ${r.convergence.all.convergence.p99} ms max ${r.convergence.all.convergence.max} ms; setup ${k.setupMs} ms; API writes ${JSON.stringify(k.objects)}\n`);
});

test('load-test --kubeconfig refuses a non-loopback API server unless --allow-remote-cluster', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'istiod-ts-load-test-kube-remote-'));
  try {
    const kubeconfig = path.join(dir, 'kubeconfig');
    fs.writeFileSync(kubeconfig, YAML.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'prod',
      clusters: [{ name: 'prod-cluster', cluster: { server: 'https://192.0.2.10:6443' } }],
      users: [{ name: 'admin', user: { token: 'x' } }],
      contexts: [{ name: 'prod', context: { cluster: 'prod-cluster', user: 'admin' } }],
    }));
    const scenario = path.join(REPO_ROOT, 'load-test', 'scenarios', 'small.yaml');
    const res = await runCli(['load-test', '--scenario', scenario, '--kubeconfig', kubeconfig, '--out', path.join(dir, 'r.json')], 20_000);
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /--kubeconfig .*kubeconfig: the current context's cluster 'prod-cluster' is at https:\/\/192\.0\.2\.10:6443, not a loopback API server \(127\.0\.0\.1, localhost or \[::1\]\)/);
    assert.match(res.stderr, /pass --allow-remote-cluster/);
    assert.equal(fs.existsSync(path.join(dir, 'r.json')), false, 'no run');

    const usage = await runCli(['load-test', '--scenario', scenario, '--namespace-prefix', 'x-'], 20_000);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--namespace-prefix is for Kubernetes mode: give --kubeconfig too/);
    const both = await runCli(['load-test', '--scenario', scenario, '--kubeconfig', kubeconfig, '--config-dir', dir], 20_000);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--kubeconfig and --config-dir are two modes/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
