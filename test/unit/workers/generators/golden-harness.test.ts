import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { generateFor } from '../../../helpers/golden';

const MESH = `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo}
spec: {ports: [{name: http, port: 9080}], clusterIP: 10.96.0.10}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: reviews-1, namespace: bookinfo, labels: {kubernetes.io/service-name: reviews}}
addressType: IPv4
ports: [{name: http, port: 9080}]
endpoints: [{addresses: [10.1.0.1]}]
`;

test('golden harness: the pipeline yields linked listeners, routes, clusters and endpoints for a sidecar', () => {
  const set = generateFor(MESH, { id: 'sidecar~10.1.0.9~productpage-1.bookinfo~bookinfo.svc.cluster.local' });
  assert.equal(set.context.generator, 'sidecar');
  assert.ok(set.listeners.some((l) => l['name'] === 'virtualOutbound'));
  assert.deepEqual(set.routes.map((r) => r['name']), ['9080']);
  assert.ok(set.clusters.some((c) => c['name'] === 'outbound|9080||reviews.bookinfo.svc.cluster.local'));
  assert.deepEqual(set.endpoints.map((e) => e['cluster_name']), ['outbound|9080||reviews.bookinfo.svc.cluster.local']);
});

test('golden harness: an invalid fixture fails loudly instead of being skipped', () => {
  assert.throws(() => generateFor(`apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: Bad_Name, namespace: a}\nspec: {hosts: [a]}\n`, { id: 'sidecar~10.0.0.1~a-1.a~a.svc.cluster.local' }), /invalid/);
});

import { ENVOY_SKIP, serveToEnvoy } from '../../../helpers/envoy-ack';

test('envoy-ack harness: a real Envoy ACKs the sidecar config of a small mesh', { skip: ENVOY_SKIP }, async () => {
  const ok = await serveToEnvoy({ 'mesh.yaml': MESH }, { nodeId: 'sidecar~10.1.0.9~productpage-1.bookinfo~bookinfo.svc.cluster.local' });
  try {
    const listeners = JSON.stringify(ok.dump);
    assert.match(listeners, /virtualOutbound/);
  } finally { await ok.close(); }
});

test('two VirtualServices for one host: the oldest by creationTimestamp wins, whatever the names (Istio)', () => {
  const vs = (name: string, created: string, body: string) => `
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}, namespace: bookinfo, creationTimestamp: "${created}"}
spec:
  hosts: [reviews]
  http: [{directResponse: {status: 200, body: {string: ${body}}}}]
`;
  const bodyFor = (yaml: string): unknown => {
    const set = generateFor(yaml, { id: 'sidecar~10.1.0.9~productpage-1.bookinfo~bookinfo.svc.cluster.local' });
    const vh = set.routes.find((r) => r['name'] === '9080')!['virtual_hosts'].find((v: any) => v.domains.includes('reviews'));
    return vh.routes[0].direct_response.body.inline_string;
  };
  assert.equal(bodyFor(MESH + vs('a-newer', '2026-02-01T00:00:00Z', 'newer') + vs('b-older', '2025-01-01T00:00:00Z', 'older')), 'older');
  assert.equal(bodyFor(MESH + vs('a-older', '2025-01-01T00:00:00Z', 'older') + vs('b-newer', '2026-02-01T00:00:00Z', 'newer')), 'older');
});

test('gateway listens on its Service targetPort for a server port the Service exposes (Istio resolvePorts); routes keep the server port', () => {
  const yaml = `
apiVersion: v1
kind: Service
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  ports: [{name: http2, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: istio-ingressgateway-1, namespace: istio-system, labels: {kubernetes.io/service-name: istio-ingressgateway}}
addressType: IPv4
ports: [{name: http2, port: 8080}]
endpoints: [{addresses: [10.2.0.5]}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - {port: {number: 80, name: http, protocol: HTTP}, hosts: ["*/*"]}
  - {port: {number: 9443, name: https-admin, protocol: HTTP}, hosts: ["*/*"]}
`;
  const node = (ip: string) => ({ id: `router~${ip}~istio-ingressgateway-1.istio-system~istio-system.svc.cluster.local`, metadata: { LABELS: { istio: 'ingressgateway' } } });
  const onService = generateFor(yaml, node('10.2.0.5'));
  assert.deepEqual(onService.listeners.map((l) => l['name']).sort(), ['0.0.0.0_8080', '0.0.0.0_9443']);
  assert.deepEqual(onService.routes.map((r) => r['name']).sort(), ['http.80', 'http.9443']);
  // a gateway pod that is not behind the Service listens on the server ports themselves
  const elsewhere = generateFor(yaml, node('10.2.0.99'));
  assert.deepEqual(elsewhere.listeners.map((l) => l['name']).sort(), ['0.0.0.0_80', '0.0.0.0_9443']);
});
