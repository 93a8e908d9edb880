/**
 * The load tester in Kubernetes mode: `istiod-ts load-test --kubeconfig FILE` writes the scenario's
 * mesh into the API test server, spawns the server with `--kubeconfig` (informers instead of a
 * config dir), applies the churn as API writes, measures convergence exactly as file mode does,
 * and deletes what it created. A small scenario (20 proxies, Sidecar scoping, 10 s of churn).
 */
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as YAML from 'yaml';
import { ApiWriter } from '../../load-test/kube/api-writer';
import { isLoopbackServer, openCluster } from '../../load-test/kube/cluster';
import { KubeMesh, OWNER_LABEL, SCHEDULING_GATE } from '../../load-test/kube/kube-mesh';
import { LoadTestResult } from '../../load-test/run/result';
import { buildMesh } from '../../load-test/scenario/mesh-model';
import { validateScenario } from '../../load-test/scenario/schema';
import { CHANGE_TYPES } from '../../load-test/scenario/churn';
import { KubeRequest, startKubeTestServer } from '../helpers/kube-apiserver';
import { startKubeDiscovery } from '../helpers/kube-mesh';
import { REPO_ROOT, runCli } from '../helpers/run-cli';

/** A short, small scenario (2 namespaces x 2 services, 8 proxies, 3 s of churn). */
function tinyScenario(name: string): Record<string, unknown> {
  return {
    name, seed: 3, namespaces: 2, servicesPerNamespace: 2, endpointsPerService: 4, proxies: 8, sidecarScoping: 'none', deltaShare: 0.5,
    routingShare: 1, durationSeconds: 3, warmupSeconds: 30, drainSeconds: 20, connectsPerSecond: 40,
    churn: { endpointChangesPerSecond: 1, configEditsPerMinute: 40, scaleUps: { count: 1, endpoints: 1 } },
  };
}

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
    warmupSeconds: 30, // both end as soon as the fleet is synced / every change converged:
    drainSeconds: 20, //  generous bounds only matter on a loaded machine
    connectsPerSecond: 40,
    churn: { endpointChangesPerSecond: 1, configEditsPerMinute: 24, globalEditsPerMinute: 12, scaleUps: { count: 1, endpoints: 2 }, reconnectStorm: { atSeconds: 5, fraction: 0.25 } },
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
    // a global change (istio-system ServiceEntry exported to *) reaches all 20; the others the 10 of their namespace (Sidecar scoping)
    assert.equal(c.expected, c.type === 'global' ? 20 : 10, `change ${c.id} (${c.type}) is expected at ${c.type === 'global' ? 'every proxy' : 'the 10 proxies of its namespace'}`);
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
  assert.deepEqual(k.meshObjects, { Service: 6, EndpointSlice: 6, Pod: 30, DestinationRule: 6, VirtualService: 6, Sidecar: 2, ServiceEntry: 1 }, 'the mesh, and the global ServiceEntry in istio-system (globalEditsPerMinute)');
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

    assert.equal(openCluster(kubeconfig, true).server, 'https://192.0.2.10:6443', '--allow-remote-cluster lets it through');
    for (const url of ['https://127.0.0.1:6443', 'http://localhost:8080', 'https://[::1]:6443', 'https://LOCALHOST']) assert.equal(isLoopbackServer(url), true, url);
    for (const url of ['https://10.0.0.1:6443', 'https://127.0.0.1.example.com', 'https://kubernetes.default.svc', 'not a url']) assert.equal(isLoopbackServer(url), false, url);

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

test('load-test --kubeconfig is idempotent: existing objects are replaced, --keep leaves the mesh, the next run (--target) adopts and deletes it', { timeout: 90_000 }, async (t) => {
  const api = await startKubeTestServer();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'istiod-ts-load-test-kube-idem-'));
  t.after(async () => { await api.close(); fs.rmSync(dir, { recursive: true, force: true }); });
  const file = path.join(dir, 'scenario.yaml');
  fs.writeFileSync(file, YAML.stringify(tinyScenario('tiny-kube')));
  // someone else's namespace with stale versions of two of the mesh's objects and an object of their own
  api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'lt2-ns-0', labels: { team: 'a' } } });
  api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc-0', namespace: 'lt2-ns-0' }, spec: { selector: { app: 'stale' }, ports: [{ name: 'http', port: 9999 }] } });
  api.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'svc-0-v1-0', namespace: 'lt2-ns-0', labels: { app: 'stale' } }, spec: { containers: [{ name: 'x', image: 'x' }] } });
  api.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'theirs', namespace: 'lt2-ns-0' }, data: {} });

  const first = await runCli(['load-test', '--scenario', file, '--kubeconfig', api.kubeconfigPath, '--namespace-prefix', 'lt2-', '--keep', '--out', path.join(dir, 'r1.json')], 60_000);
  assert.equal(first.code, 0, `${first.stdout}\n${first.stderr}`);
  const keptDir = /kept (\S+) \(/.exec(first.stderr)?.[1];
  if (keptDir?.startsWith(os.tmpdir())) fs.rmSync(keptDir, { recursive: true, force: true }); // --keep kept the server log too
  const r1 = JSON.parse(fs.readFileSync(path.join(dir, 'r1.json'), 'utf8')) as LoadTestResult;
  assert.deepEqual([...r1.kube!.namespacesCreated].sort(), ['istio-system', 'lt2-ns-1'], 'lt2-ns-0 was there before');
  assert.equal(r1.kube!.cleanup, 'kept');
  assert.ok(r1.kube!.objects.replaced >= 3, `the namespace, the Service and the Pod were replaced (${JSON.stringify(r1.kube!.objects)})`);
  const svc = await api.get('v1', 'Service', 'lt2-ns-0', 'svc-0') as any;
  assert.deepEqual(svc.spec.selector, { app: 'svc-0' }, 'the stale Service got the rendered spec');
  const pod = await api.get('v1', 'Pod', 'lt2-ns-0', 'svc-0-v1-0') as any;
  assert.equal(pod.metadata.labels.app, 'svc-0', 'the stale Pod was recreated');
  assert.equal(pod.status.podIP, '10.1.0.1');
  assert.deepEqual(pod.spec.schedulingGates, [{ name: SCHEDULING_GATE }]);
  const ns0 = await api.get('v1', 'Namespace', undefined, 'lt2-ns-0');
  assert.deepEqual(ns0!.metadata.labels, { team: 'a', 'istio-injection': 'enabled', 'kubernetes.io/metadata.name': 'lt2-ns-0' }, 'their namespace: rendered labels added, no owner label');
  assert.equal((await api.get('v1', 'Namespace', undefined, 'lt2-ns-1'))!.metadata.labels?.[OWNER_LABEL], 'true');
  assert.ok(await api.get('networking.istio.io/v1', 'VirtualService', 'lt2-ns-1', 'svc-0'), '--keep left the mesh');

  // the second run drives a server that is already running in Kubernetes mode (--target)
  const running = await startKubeDiscovery(api.kubeconfigPath);
  t.after(() => running.close());
  const second = await runCli(['load-test', '--scenario', file, '--kubeconfig', api.kubeconfigPath, '--target', running.grpcTarget, '--namespace-prefix', 'lt2-', '--out', path.join(dir, 'r2.json')], 60_000);
  assert.equal(second.code, 0, `${second.stdout}\n${second.stderr}`);
  const r2 = JSON.parse(fs.readFileSync(path.join(dir, 'r2.json'), 'utf8')) as LoadTestResult;
  assert.equal(r2.environment.spawnedServer, false);
  assert.equal(r2.proxies.everSynced, 8, 'every proxy synced from the running server');
  assert.deepEqual(r2.checks, { allConnected: true, everyChangeConverged: true, zeroNacks: true });
  assert.deepEqual([...r2.kube!.namespacesCreated].sort(), ['istio-system', 'lt2-ns-1'], 'the earlier run\'s namespaces (owner label) are the load tester\'s');
  assert.equal(r2.kube!.cleanup, 'deleted');
  assert.equal(await api.get('v1', 'Namespace', undefined, 'lt2-ns-1'), undefined, 'its namespace deleted');
  assert.ok(await api.get('v1', 'Namespace', undefined, 'istio-system'), 'istio-system stays: the running server lives there');
  assert.ok(await api.get('v1', 'Namespace', undefined, 'lt2-ns-0'), 'their namespace stays');
  assert.ok(await api.get('v1', 'ConfigMap', 'lt2-ns-0', 'theirs'), 'their object stays');
  for (const [apiVersion, kind] of [['v1', 'Service'], ['discovery.k8s.io/v1', 'EndpointSlice'], ['networking.istio.io/v1', 'VirtualService'], ['networking.istio.io/v1', 'DestinationRule']] as const) {
    assert.deepEqual((await api.list(apiVersion, kind)).filter((o) => o.metadata.namespace === 'lt2-ns-0').map((o) => o.metadata.name), [], `the run's ${kind}s in their namespace deleted`);
  }
  // pods the first (kept) run added by churn are not the second run's: they stay, named as churn names them
  const pods = (await api.list('v1', 'Pod')).filter((o) => o.metadata.namespace === 'lt2-ns-0').map((o) => o.metadata.name);
  assert.ok(pods.every((n) => /-[rs]\d+$/.test(n)), `only churn pods of the kept run remain in their namespace: ${pods.join(', ')}`);
});

test('load-test --kubeconfig: Ctrl-C stops the run and still deletes what it created', { timeout: 60_000 }, async (t) => {
  const api = await startKubeTestServer();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'istiod-ts-load-test-kube-int-'));
  t.after(async () => { await api.close(); fs.rmSync(dir, { recursive: true, force: true }); });
  const file = path.join(dir, 'scenario.yaml');
  fs.writeFileSync(file, YAML.stringify({ ...tinyScenario('tiny-int'), durationSeconds: 30 }));
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'istiod-ts.js'), 'load-test', '--scenario', file, '--kubeconfig', api.kubeconfigPath,
    '--namespace-prefix', 'lt3-', '--out', path.join(dir, 'r.json')], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const churning = new Promise<void>((resolve) => child.stderr.on('data', (d) => { stderr += d; if (/\[churn /.test(stderr)) resolve(); }));
  await Promise.race([churning, exited]);
  assert.ok(await api.get('v1', 'Namespace', undefined, 'lt3-ns-0'), `the mesh is in the cluster while it runs\n${stderr}`);
  child.kill('SIGINT');
  const code = await exited;
  assert.equal(code, 2, stderr);
  assert.match(stderr, /SIGINT: stopping the run and cleaning up/);
  const cleaned = /cleanup: \d+ deletions in http:\/\/127\.0\.0\.1:\d+ \(namespaces ([^)]*)\)/.exec(stderr);
  assert.deepEqual(cleaned?.[1]!.split(', ').sort(), ['istio-system', 'lt3-ns-0', 'lt3-ns-1'], stderr);
  assert.match(stderr, /istiod-ts load-test: interrupted/);
  for (const ns of ['lt3-ns-0', 'lt3-ns-1', 'istio-system']) assert.equal(await api.get('v1', 'Namespace', undefined, ns), undefined, `${ns} deleted`);
  assert.equal(fs.existsSync(path.join(dir, 'r.json')), false, 'no result for an interrupted run');
});

test('KubeMesh/ApiWriter: a PUT that meets a newer resourceVersion re-reads and wins; a missing object is created; a missing Istio CRD is named', async (t) => {
  const api = await startKubeTestServer();
  t.after(() => api.close());
  const w = new ApiWriter(api.client());
  const dr = { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'r', namespace: 'default' }, spec: { host: 'a' } };
  await w.apply(dr);
  const theirs = await api.get('networking.istio.io/v1', 'DestinationRule', 'default', 'r');
  api.update({ ...theirs, spec: { host: 'theirs' } }); // our cached resourceVersion is stale now
  await w.replace({ ...dr, spec: { host: 'b' } });
  assert.equal((await api.get('networking.istio.io/v1', 'DestinationRule', 'default', 'r') as any).spec.host, 'b');
  assert.ok(api.requests.some((r) => r.verb === 'update' && r.resource === 'destinationrules' && r.code === 409), 'the stale PUT got 409 Conflict');
  api.remove('networking.istio.io/v1', 'DestinationRule', 'default', 'r');
  await w.replace({ ...dr, spec: { host: 'c' } });
  assert.equal((await api.get('networking.istio.io/v1', 'DestinationRule', 'default', 'r') as any).spec.host, 'c', 'recreated after someone deleted it');
  assert.deepEqual({ created: w.counts.created, updated: w.counts.updated }, { created: 2, updated: 1 });

  // a cluster without Istio's CRDs: the error says what is missing before anything is written
  const v = validateScenario(tinyScenario('crd-check'));
  if (!v.ok) throw new Error(v.errors.join('; '));
  const bare = await startKubeTestServer({ omitResources: ['networking.istio.io/v1/virtualservices', 'networking.istio.io/v1/destinationrules'] });
  t.after(() => bare.close());
  await assert.rejects(new KubeMesh(bare.client()).create(v.value, buildMesh(v.value, 'x-')),
    /does not serve destinationrules, virtualservices in networking\.istio\.io\/v1: install Istio's CRDs/);
  assert.equal(bare.requests.filter((r) => r.verb === 'create').length, 0, 'nothing written');
});

test('KubeMesh: a namespace still terminating from an earlier run is waited for, then created', async (t) => {
  const api = await startKubeTestServer({ namespaceTerminationMs: 1500 });
  t.after(() => api.close());
  const v = validateScenario({ ...tinyScenario('terminating'), routingShare: 0, churn: { endpointChangesPerSecond: 1 } });
  if (!v.ok) throw new Error(v.errors.join('; '));
  const mesh = buildMesh(v.value, 'lt5-');
  const first = new KubeMesh(api.client());
  await first.create(v.value, mesh);
  await first.cleanup(); // namespaces now Terminating for 1.5 s
  assert.equal(((await api.get('v1', 'Namespace', undefined, 'lt5-ns-0')) as any)?.status?.phase, 'Terminating');
  const started = Date.now();
  const second = new KubeMesh(api.client(), 16, 20_000);
  await second.create(v.value, mesh);
  assert.ok(Date.now() - started >= 500, 'waited for the old namespace to go');
  assert.deepEqual([...second.namespacesCreated].sort(), ['istio-system', 'lt5-ns-0', 'lt5-ns-1']);
  assert.equal((await api.list('v1', 'Pod')).filter((p) => p.metadata.namespace === 'lt5-ns-0').length, 8, 'the mesh is there again');
  await second.cleanup();
});
