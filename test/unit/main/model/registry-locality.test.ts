/**
 * Endpoint locality from Kubernetes objects, as Istio derives it: the pod's istio-locality label,
 * else its node's topology labels, else the EndpointSlice zone. A relabelled node rebuilds the
 * service. Mesh config replaced at run time (Kubernetes mode reloads the istio ConfigMap).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as YAML from 'yaml';
import { ModelStore } from '../../../../src/main/model/store';
import { Registry, MeshSettings } from '../../../../src/main/model/registry';
import { K8sObject } from '../../../../src/shared/model/objects';

const MESH: MeshSettings = { domainSuffix: 'cluster.local', rootNamespace: 'istio-system', trustDomain: 'cluster.local', raw: {} };
const objs = (yaml: string) => YAML.parseAllDocuments(yaml).map((d) => d.toJS() as K8sObject).filter(Boolean);

const MESHY = `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {clusterIP: 10.0.0.1, ports: [{name: http, port: 80, targetPort: 8080}], selector: {app: web}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: shop, labels: {kubernetes.io/service-name: web}}
ports: [{name: http, port: 8080}]
endpoints:
- {addresses: [10.1.0.1], nodeName: n1, zone: z-slice, targetRef: {kind: Pod, name: web-a}}
- {addresses: [10.1.0.2], zone: z-only, targetRef: {kind: Pod, name: web-b}}
- {addresses: [10.1.0.3], targetRef: {kind: Pod, name: web-c}}
---
apiVersion: v1
kind: Pod
metadata: {name: web-a, namespace: shop, labels: {app: web}}
spec: {nodeName: n1, serviceAccountName: web}
status: {podIP: 10.1.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: web-b, namespace: shop, labels: {app: web}}
status: {podIP: 10.1.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: web-c, namespace: shop, labels: {app: web, istio-locality: r9.z9.s9}}
spec: {nodeName: n1}
status: {podIP: 10.1.0.3}
`;
const node = (region: string) => objs(`
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {topology.kubernetes.io/region: ${region}, topology.kubernetes.io/zone: us-east1-b, topology.istio.io/subzone: rack1}}
`);

const localities = (r: Registry) => Object.fromEntries(r.build().services.find((s) => s.service.name === 'web')!.endpoints.map((e) => [e.address, e.locality]));

test('endpoint locality: istio-locality label, then node topology labels, then the slice zone', () => {
  const store = new ModelStore();
  store.replaceOrigin('mesh', objs(MESHY));
  store.replaceOrigin('nodes', node('us-east1'));
  const r = new Registry(store, MESH);
  assert.deepEqual(localities(r), { '10.1.0.1': 'us-east1/us-east1-b/rack1', '10.1.0.2': '/z-only', '10.1.0.3': 'r9/z9/s9' });
  // a node relabel reaches the endpoints (the per-service reuse cache sees the node as an input)
  store.replaceOrigin('nodes', node('us-west1'));
  assert.equal(localities(r)['10.1.0.1'], 'us-west1/us-east1-b/rack1');
  store.replaceOrigin('nodes', []);
  assert.equal(localities(r)['10.1.0.1'], '/z-slice', 'without the node, the slice zone');
});

test('setMesh: a new trust domain reaches endpoint identities at the next build', () => {
  const store = new ModelStore();
  store.replaceOrigin('mesh', objs(MESHY));
  const r = new Registry(store, MESH);
  const sa = () => r.build().services.find((s) => s.service.name === 'web')!.endpoints.find((e) => e.address === '10.1.0.1')!.serviceAccount;
  assert.equal(sa(), 'spiffe://cluster.local/ns/shop/sa/web');
  r.setMesh({ ...MESH, trustDomain: 'example.org', raw: { trustDomain: 'example.org' } });
  assert.equal(sa(), 'spiffe://example.org/ns/shop/sa/web');
  assert.deepEqual(r.current!.mesh, { trustDomain: 'example.org' });
});

test('service identities live on the service: an endpoint change that keeps them leaves the service (and so every cluster) untouched', async () => {
  const { changedDependencies } = await import('../../../../src/shared/snapshot/snapshot-diff');
  const store = new ModelStore();
  store.replaceOrigin('mesh', objs(MESHY));
  const r = new Registry(store, MESH);
  const before = r.build();
  const web = (i: typeof before) => i.services.find((s) => s.service.name === 'web')!;
  assert.deepEqual(web(before).service.serviceAccounts, ['spiffe://cluster.local/ns/shop/sa/default', 'spiffe://cluster.local/ns/shop/sa/web']);
  // web-b moves to another IP: same pod, same service account
  const moved = objs(MESHY.replace('10.1.0.2', '10.1.0.22').replace('podIP: 10.1.0.2', 'podIP: 10.1.0.22'));
  store.replaceOrigin('mesh', moved);
  const after = r.build();
  assert.equal(web(after).service, web(before).service, 'the service object is reused');
  const changed = changedDependencies(before, after);
  assert.ok(changed !== 'all');
  assert.ok([...changed].some((d) => d.startsWith('ep:')), 'endpoints changed');
  assert.ok(![...changed].some((d) => d.startsWith('svc:')), `no service dependency changed: ${[...changed].join(', ')}`);
});
