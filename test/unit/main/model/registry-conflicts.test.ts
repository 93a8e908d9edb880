/**
 * Registry conflict resolution as Istio's PushContext does it, and the conflict records for
 * /debug/push_status: duplicate hostnames in one namespace (a Kubernetes Service beats a
 * ServiceEntry, else the oldest by creationTimestamp, then name), several mesh VirtualServices for
 * one host (sidecars use the oldest), HTTP/TCP services on one listener, two services of one
 * workload on one target port. Also ServiceEntry workloadSelector (WorkloadEntries and Pods) and
 * WorkloadGroup templates.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as YAML from 'yaml';
import { ModelStore } from '../../../../src/main/model/store';
import { Registry, MeshSettings } from '../../../../src/main/model/registry';
import { K8sObject } from '../../../../src/shared/model/objects';
import { parseProxy } from '../../../../src/shared/model/proxy';

const MESH: MeshSettings = { domainSuffix: 'cluster.local', rootNamespace: 'istio-system', trustDomain: 'cluster.local', raw: {} };

function registryOf(yaml: string): Registry {
  const objs = YAML.parseAllDocuments(yaml).map((d) => d.toJS() as K8sObject).filter(Boolean);
  const store = new ModelStore();
  store.replaceOrigin('test', objs);
  const r = new Registry(store, MESH);
  r.build();
  return r;
}

const se = (name: string, ns: string, host: string, created: string, extra = '') => `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ${name}, namespace: ${ns}, creationTimestamp: "${created}"}
spec: {hosts: [${host}], ports: [{number: 80, name: http, protocol: HTTP}], resolution: DNS${extra}}
---`;

test('duplicate ServiceEntry host in one namespace: the oldest wins, the conflict is recorded; other namespaces keep theirs, oldest first', () => {
  const r = registryOf(`
${se('newer', 'a', 'api.example.com', '2024-03-01T00:00:00Z')}
${se('older', 'a', 'api.example.com', '2024-01-01T00:00:00Z')}
${se('zzz', 'b', 'api.example.com', '2023-06-01T00:00:00Z')}
`);
  const svcs = r.current!.services.map((s) => `${s.service.namespace}/${s.service.name}`);
  assert.deepEqual(svcs, ['b/zzz', 'a/older']);
  const c = r.conflicts().filter((x) => x.kind === 'DuplicateServiceHost');
  assert.equal(c.length, 1);
  assert.deepEqual(c[0]!.objects, ['ServiceEntry a/older', 'ServiceEntry a/newer']);
  assert.equal(c[0]!.key, 'api.example.com in a');
  assert.match(c[0]!.reason, /oldest/);
});

test('a Kubernetes Service beats an older ServiceEntry for its own hostname', () => {
  const r = registryOf(`
${se('squat', 'a', 'web.a.svc.cluster.local', '2020-01-01T00:00:00Z')}
apiVersion: v1
kind: Service
metadata: {name: web, namespace: a, creationTimestamp: "2024-01-01T00:00:00Z"}
spec: {clusterIP: 10.96.0.1, ports: [{name: http, port: 80}]}
`);
  assert.deepEqual(r.current!.services.map((s) => s.service.source), ['kubernetes']);
  const c = r.conflicts().find((x) => x.kind === 'DuplicateServiceHost')!;
  assert.deepEqual(c.objects, ['Service a/web', 'ServiceEntry a/squat']);
  assert.match(c.reason, /Kubernetes Service takes precedence/);
});

test('two mesh VirtualServices for one host: recorded, the oldest first; gateway-only ones do not count', () => {
  const vs = (name: string, ns: string, host: string, created: string, gateways = '') => `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}, namespace: ${ns}, creationTimestamp: "${created}"}
spec: {hosts: [${host}], ${gateways}http: [{route: [{destination: {host: ${host}}}]}]}
---`;
  const r = registryOf(`
${vs('b-rules', 'a', 'reviews', '2024-02-01T00:00:00Z')}
${vs('a-rules', 'a', 'reviews.a.svc.cluster.local', '2024-05-01T00:00:00Z')}
${vs('edge', 'a', 'reviews', '2020-01-01T00:00:00Z', 'gateways: [ingress], ')}
`);
  const c = r.conflicts().filter((x) => x.kind === 'VirtualServiceHost');
  assert.equal(c.length, 1);
  assert.equal(c[0]!.key, 'reviews.a.svc.cluster.local');
  assert.deepEqual(c[0]!.objects, ['VirtualService a/b-rules', 'VirtualService a/a-rules']);
});

test('listener conflicts: HTTP and TCP on one 0.0.0.0 port (sniffing), MONGO against HTTP (first wins), two TCP services on one VIP port', () => {
  const svc = (name: string, ip: string, port: string) => `
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: a}
spec: {clusterIP: ${ip}, ports: [${port}]}
---`;
  const r = registryOf(`
${svc('admin', '10.96.0.1', '{name: http, port: 7000}')}
${svc('legacy', 'None', '{name: tcp, port: 7000}')}
${svc('docs', '10.96.0.2', '{name: http, port: 27017}')}
${svc('mongo', 'None', '{name: mongo, port: 27017}')}
${svc('echo', '10.96.0.3', '{name: tcp, port: 9000}')}
`);
  const c = r.conflicts().filter((x) => x.kind === 'OutboundListener');
  assert.deepEqual(c.map((x) => [x.key, ...x.objects]), [
    ['0.0.0.0_27017', 'docs.a.svc.cluster.local', 'mongo.a.svc.cluster.local'],
    ['0.0.0.0_7000', 'admin.a.svc.cluster.local', 'legacy.a.svc.cluster.local'],
  ]);
  assert.match(c[0]!.reason, /Accepted=HTTP Rejected=TCP.*MONGO is server-first/);
  assert.match(c[1]!.reason, /protocol sniffing/);
});

test('listener conflict with a sniffed (undeclared protocol) service is named UNKNOWN, as Istio reports it', () => {
  const r = registryOf(`
apiVersion: v1
kind: Service
metadata: {name: admin, namespace: a}
spec: {clusterIP: 10.96.0.1, ports: [{name: http, port: 7000}]}
---
apiVersion: v1
kind: Service
metadata: {name: raw, namespace: a}
spec: {clusterIP: None, ports: [{port: 7000}]}
`);
  const c = r.conflicts().filter((x) => x.kind === 'OutboundListener');
  assert.equal(c.length, 1);
  assert.match(c[0]!.reason, /^Listener=0\.0\.0\.0_7000 Accepted=HTTP Rejected=UNKNOWN \(raw\.a\.svc\.cluster\.local\): the sniffed service replaces the HTTP listener/);
  assert.equal(r.current!.services.find((s) => s.service.name === 'raw')!.service.ports[0]!.protocol, 'UnsupportedProtocol');
});

test('inbound conflict: two services of one pod on one target port with different protocols', () => {
  const r = registryOf(`
apiVersion: v1
kind: Service
metadata: {name: web, namespace: a}
spec: {clusterIP: 10.96.0.1, selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: raw, namespace: a}
spec: {clusterIP: 10.96.0.2, selector: {app: web}, ports: [{name: tcp, port: 81, targetPort: 8080}]}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm, namespace: a}
spec: {address: 10.1.0.5, labels: {app: web}}
`);
  const c = r.conflicts().filter((x) => x.kind === 'InboundListener');
  assert.equal(c.length, 1);
  assert.equal(c[0]!.key, '10.1.0.5:8080');
  assert.match(c[0]!.reason, /Conflicting inbound listener:8080/);
});

test('two Sidecars without workloadSelector in one namespace: recorded, the oldest applies', () => {
  const sc = (name: string, created: string) => `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: ${name}, namespace: a, creationTimestamp: "${created}"}
spec: {egress: [{hosts: ["./*"]}]}
---`;
  const r = registryOf(`${sc('a-new', '2024-05-01T00:00:00Z')}\n${sc('b-old', '2024-01-01T00:00:00Z')}`);
  const c = r.conflicts().filter((x) => x.kind === 'Sidecar');
  assert.deepEqual(c.map((x) => [x.key, ...x.objects]), [['a', 'Sidecar a/b-old', 'Sidecar a/a-new']]);
  const proxy = parseProxy({ id: 'sidecar~10.0.0.1~p.a~a.svc.cluster.local' });
  assert.ok(proxy.ok);
  assert.equal(r.contextFor(proxy.value).sidecar, 'a/b-old');
});

test('ServiceEntry workloadSelector selects WorkloadEntries and Pods of its namespace', () => {
  const r = registryOf(`
${se('inv', 'shop', 'inv.shop.internal', '2024-01-01T00:00:00Z', ', workloadSelector: {labels: {app: inv}}').replace('resolution: DNS', 'resolution: STATIC')}
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm, namespace: shop}
spec: {address: 10.3.0.1, labels: {app: inv}}
---
apiVersion: v1
kind: Pod
metadata: {name: inv-1, namespace: shop, labels: {app: inv}}
spec: {serviceAccountName: inv}
status: {podIP: 10.3.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: inv-other-ns, namespace: other, labels: {app: inv}}
status: {podIP: 10.3.0.3}
---
apiVersion: v1
kind: Pod
metadata: {name: inv-starting, namespace: shop, labels: {app: inv}}
status: {podIP: 10.3.0.4, conditions: [{type: Ready, status: "False"}]}
`);
  const entry = r.current!.services.find((s) => s.service.hostname === 'inv.shop.internal')!;
  assert.deepEqual(entry.endpoints.map((e) => e.address).sort(), ['10.3.0.1', '10.3.0.2', '10.3.0.4']);
  assert.deepEqual(entry.endpoints.filter((e) => !e.healthy).map((e) => e.address), ['10.3.0.4'], 'a not-ready pod is an unhealthy endpoint');
  assert.equal(entry.endpoints.find((e) => e.address === '10.3.0.2')!.serviceAccount, 'spiffe://cluster.local/ns/shop/sa/inv');
  assert.deepEqual(r.conflicts(), []);
});

test('WorkloadGroup: its template (metadata labels + WorkloadEntry spec) is available to auto-registration', () => {
  const r = registryOf(`
apiVersion: networking.istio.io/v1
kind: WorkloadGroup
metadata: {name: reviews-vm, namespace: bookinfo}
spec:
  metadata: {labels: {app: reviews}}
  template: {serviceAccount: reviews, network: vm-net, labels: {version: v3}}
`);
  assert.deepEqual(r.workloadGroups(), [{ namespace: 'bookinfo', name: 'reviews-vm', labels: { app: 'reviews', version: 'v3' }, template: { serviceAccount: 'reviews', network: 'vm-net', labels: { version: 'v3' } } }]);
});
