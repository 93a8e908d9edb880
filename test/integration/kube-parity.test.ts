/**
 * Issue 8 acceptance, model parity: one mesh, loaded once from files (--configDir) and once from
 * the Kubernetes API (--kubeconfig, informers), produces identical generated resources for every
 * kind of proxy — sidecars in several namespaces, a gateway, a proxyless gRPC client — compared
 * by hash, resource by resource, over real ADS.
 *
 * The objects written to the files are the ones the API server stored (server-stamped uid,
 * resourceVersion, creationTimestamp), so both control planes see the same input.
 * Runs against a real API server with KUBE_TEST_APISERVER + KUBECONFIG (skipped parts: none).
 */
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as YAML from 'yaml';
import { KubeTestTarget, kubeTestTarget } from '../helpers/kube-apiserver';
import { KubeDiscovery, fetchAll, loadInto, parseObjects, startKubeDiscovery } from '../helpers/kube-mesh';
import { TestServer, startTestServer } from '../helpers/server';
import { exampleMeshFiles } from '../helpers/mesh-fixtures';
import { testNode } from '../helpers/ads-client';
import { waitFor } from '../helpers/wait-for';
import { baseMesh as gatewayMesh, gateway } from '../unit/workers/generators/golden-gateway-common';

/** Nodes with topology labels and pods on them: endpoint locality comes from the Node in both modes. */
const NODES = `
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {topology.kubernetes.io/region: us-east1, topology.kubernetes.io/zone: us-east1-b}}
---
apiVersion: v1
kind: Namespace
metadata: {name: zoned}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: zoned}
spec:
  clusterIP: 10.96.50.1
  selector: {app: api}
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: api-1, namespace: zoned, labels: {app: api}}
spec: {nodeName: node-a, serviceAccountName: api, containers: [{name: app, image: api}]}
status: {podIP: 10.7.0.1, phase: Running}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: api-1, namespace: zoned, labels: {kubernetes.io/service-name: api}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- {addresses: ["10.7.0.1"], conditions: {ready: true}, nodeName: node-a, targetRef: {kind: Pod, name: api-1, namespace: zoned}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-ingress, namespace: apps}
spec:
  hosts: ["reviews.example.com"]
  gateways: [istio-system/public-gw]
  http:
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 80}
    - {destination: {host: reviews, subset: v2}, weight: 20}
`;

/** What the model reads from a cluster (ConfigMaps, Leases and the like are not model input). */
const MODEL_KINDS = [
  ['v1', 'Namespace'], ['v1', 'Service'], ['discovery.k8s.io/v1', 'EndpointSlice'], ['v1', 'Pod'], ['v1', 'Node'],
  ['networking.istio.io/v1', 'VirtualService'], ['networking.istio.io/v1', 'DestinationRule'], ['networking.istio.io/v1', 'Gateway'],
  ['networking.istio.io/v1', 'ServiceEntry'], ['networking.istio.io/v1', 'Sidecar'], ['networking.istio.io/v1', 'WorkloadEntry'],
] as const;

const PROXIES = [
  testNode({ type: 'sidecar', ip: '10.244.3.21', pod: 'productpage-v1-1', namespace: 'bookinfo', metadata: { LABELS: { app: 'productpage', version: 'v1' } } }),
  testNode({ type: 'sidecar', ip: '10.9.9.9', pod: 'client-1', namespace: 'shop', metadata: { LABELS: { app: 'client' } } }),
  testNode({ type: 'sidecar', ip: '10.1.0.11', pod: 'reviews-v1', namespace: 'apps', metadata: { LABELS: { app: 'reviews', version: 'v1' } } }),
  { ...testNode({ type: 'sidecar', ip: '10.7.0.1', pod: 'api-1', namespace: 'zoned', metadata: { LABELS: { app: 'api' } } }), locality: { region: 'us-east1', zone: 'us-east1-b' } },
  testNode({ type: 'router', ip: '10.1.0.50', pod: 'istio-ingressgateway-1', namespace: 'istio-system', metadata: { LABELS: { istio: 'ingressgateway', app: 'istio-ingressgateway' } } }),
  testNode({ grpc: true, ip: '10.9.9.8', pod: 'grpc-client', namespace: 'bookinfo' }),
];

describe('model parity: files vs Kubernetes API', () => {
  let target: KubeTestTarget;
  let kube: KubeDiscovery;
  let files: TestServer;

  before(async () => {
    target = await kubeTestTarget();
    const input = parseObjects(...Object.values(exampleMeshFiles()), gatewayMesh(), gateway(`
  - port: {number: 8080, name: http, protocol: HTTP}
    hosts: ["*.example.com"]`), NODES);
    await loadInto(target, input);
    // Everything the API server holds of the kinds the model reads (a real cluster has more than we
    // created, e.g. the default/kubernetes Service), as the server stored it, as files.
    const stored: unknown[] = [];
    for (const [apiVersion, kind] of MODEL_KINDS) {
      for (const o of await target.list(apiVersion, kind)) stored.push({ apiVersion, kind, ...o });
    }
    files = await startTestServer({ files: { 'mesh.yaml': stored.map((o) => YAML.stringify(o)).join('---\n') } });
    kube = await startKubeDiscovery(target.kubeconfigPath);
    assert.deepEqual(kube.discovery.fileErrors(), [], 'the Kubernetes source rejected nothing');
    assert.deepEqual(files.discovery.fileErrors().filter((e) => e.severity === 'error'), [], 'file mode rejected nothing');
  });
  after(async () => {
    await Promise.all([kube?.close(), files?.close()]);
    await target?.close();
  });

  it('both control planes hold the same services and configs', () => {
    const summary = (d: typeof files.discovery) => ({
      services: d.registry.current!.services.map((s) => `${s.service.hostname} ${s.endpoints.map((e) => `${e.address}@${e.locality}`).join(',')}`).sort(),
      configs: d.registry.current!.configs.map((c) => `${c.kind}/${c.namespace}/${c.name}`).sort(),
    });
    assert.deepEqual(summary(kube.discovery), summary(files.discovery));
    assert.ok(summary(kube.discovery).services.some((s) => s.includes('10.7.0.1@us-east1/us-east1-b')), 'locality from the Node');
  });

  for (const node of PROXIES) {
    it(`identical resources for ${node.id}${(node.metadata as Record<string, unknown> | undefined)?.['GENERATOR'] ? ' (proxyless gRPC)' : ''}`, async () => {
      const [a, b] = await Promise.all([fetchAll(files.grpcTarget, node), fetchAll(kube.grpcTarget, node)]);
      for (const kind of ['clusters', 'listeners', 'routes', 'endpoints'] as const) {
        assert.deepEqual(b.hashes[kind], a.hashes[kind], `${kind} differ`);
      }
      assert.ok(Object.keys(a.hashes.clusters).length > 0, 'the proxy got clusters');
    });
  }

  it('a change made through the API reaches the proxies; the same change in a file gives the same resources', async () => {
    const node = PROXIES[0]!;
    await target.create({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'ratings-lb', namespace: 'bookinfo' },
      spec: { host: 'ratings.bookinfo.svc.cluster.local', trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } } });
    await waitFor(() => kube.discovery.registry.current!.configs.some((c) => c.name === 'ratings-lb'), 10_000, 'the DestinationRule in the Kubernetes-mode model');
    const stored = await target.get('networking.istio.io/v1', 'DestinationRule', 'bookinfo', 'ratings-lb');
    const { writeFiles } = await import('../helpers/server');
    writeFiles(files.configDir, { 'ratings-lb.yaml': YAML.stringify(stored) });
    await waitFor(() => files.discovery.registry.current!.configs.some((c) => c.name === 'ratings-lb'), 10_000, 'the DestinationRule in the file-mode model');
    const [a, b] = await Promise.all([fetchAll(files.grpcTarget, node), fetchAll(kube.grpcTarget, node)]);
    assert.deepEqual(b.hashes, a.hashes);
  });
});
