/**
 * Proxyless gRPC server listeners (Istio grpcgen buildInboundListeners + RBAC): the listener a
 * grpc-js-xds / C-core `XdsServer` asks for, `xds.istio.io/grpc/lds/inbound/<ip>:<port>`, exists
 * only for a port the workload serves; its one filter chain holds an HCM with an inline route
 * configuration (all domains, prefix `/`, non_forwarding_action) and the RBAC filters — DENY
 * (`envoy.filters.http.rbac.DENY`) then ALLOW — before the router. AUDIT and CUSTOM, which gRPC
 * does not implement, are left out. STRICT PeerAuthentication makes it an mTLS chain on the
 * certificate provider instance `default`. Every set passes the structural validator.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertGolden, assertStructurallyValid, generateFor } from '../../../helpers/golden';

const NS = 'apps';
const SERVER = 'xds.istio.io/grpc/lds/inbound/10.1.0.7:50051';
const NODE = { id: `sidecar~10.1.0.7~greeter-0.${NS}~${NS}.svc.cluster.local`, metadata: { GENERATOR: 'grpc', NAMESPACE: NS, LABELS: { app: 'greeter' } } };

const WORKLOAD = `
apiVersion: v1
kind: Namespace
metadata: {name: ${NS}}
---
apiVersion: v1
kind: Service
metadata: {name: greeter, namespace: ${NS}}
spec:
  clusterIP: 10.96.0.70
  selector: {app: greeter}
  ports: [{name: grpc, port: 7070, targetPort: 50051}]
---
apiVersion: v1
kind: Pod
metadata: {name: greeter-0, namespace: ${NS}, labels: {app: greeter}}
spec: {serviceAccountName: greeter, containers: [{name: greeter, image: greeter}]}
status: {podIP: 10.1.0.7}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: greeter-0, namespace: ${NS}, labels: {kubernetes.io/service-name: greeter}}
addressType: IPv4
ports: [{name: grpc, port: 50051}]
endpoints:
- addresses: [10.1.0.7]
  targetRef: {kind: Pod, name: greeter-0, namespace: ${NS}}
`;

const POLICIES = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: ${NS}}
spec:
  selector: {matchLabels: {app: greeter}}
  action: DENY
  rules:
  - to: [{operation: {paths: ["/greeter.Admin/*"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-callers, namespace: ${NS}}
spec:
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/${NS}/sa/client"], ipBlocks: ["10.1.0.0/16"]}}]
    to: [{operation: {paths: ["/greeter.Greeter/SayHello"]}}]
    when: [{key: "request.headers[x-tenant]", values: ["blue"]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: audit-all, namespace: ${NS}}
spec:
  action: AUDIT
  rules: [{}]
`;

function serverListener(yaml: string, names = [SERVER]): Record<string, any> | undefined {
  const set = generateFor(yaml, NODE, { listenerNames: names });
  assertStructurallyValid(set);
  return set.listeners.find((l) => l['name'] === names[0]);
}

test('golden authorization/grpc-server: DENY then ALLOW RBAC before the router on the inline non-forwarding route', () => {
  const l = serverListener(`${WORKLOAD}---${POLICIES}`);
  assert.ok(l, 'server listener generated');
  assert.deepEqual(l['address'], { socket_address: { address: '10.1.0.7', port_value: 50051 } });
  const hcm = l['filter_chains'][0].filters[0].typed_config;
  assert.deepEqual(hcm.http_filters.map((f: any) => f.name), ['envoy.filters.http.rbac.DENY', 'envoy.filters.http.rbac', 'envoy.filters.http.router']);
  assert.deepEqual(Object.keys(hcm.http_filters[0].typed_config.rules.policies), [`${NS}-deny-admin-0`]);
  assert.equal(l['filter_chains'][0].transport_socket, undefined, 'PERMISSIVE is plaintext for gRPC');
  assertGolden('authorization/grpc-server', l);
});

test('grpc server listener: allow-nothing denies, no policy means router only, unknown port or address yields nothing', () => {
  const nothing = serverListener(`${WORKLOAD}---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: allow-nothing, namespace: ${NS}}\nspec: {}\n`);
  const filters = nothing!['filter_chains'][0].filters[0].typed_config.http_filters;
  assert.deepEqual(filters.map((f: any) => f.name), ['envoy.filters.http.rbac', 'envoy.filters.http.router']);
  assert.deepEqual(filters[0].typed_config.rules.policies[`${NS}-allow-nothing-0`], { permissions: [{ not_rule: { any: true } }], principals: [{ not_id: { any: true } }] });
  const open = serverListener(WORKLOAD);
  assert.deepEqual(open!['filter_chains'][0].filters[0].typed_config.http_filters.map((f: any) => f.name), ['envoy.filters.http.router']);
  assert.equal(serverListener(WORKLOAD, ['xds.istio.io/grpc/lds/inbound/10.1.0.7:50052']), undefined);
  assert.equal(serverListener(WORKLOAD, ['xds.istio.io/grpc/lds/inbound/10.1.0.8:50051']), undefined);
});

test('golden authorization/grpc-server-mtls: STRICT PeerAuthentication serves mTLS from the certificate provider instance', () => {
  const l = serverListener(`${WORKLOAD}---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: strict, namespace: ${NS}}
spec: {mtls: {mode: STRICT}}
`);
  const chain = l!['filter_chains'][0];
  assert.equal(chain.name, 'inbound-mtls');
  assert.equal(chain.transport_socket.typed_config.require_client_certificate.value, true);
  assertGolden('authorization/grpc-server-mtls', chain);
});

test('grpc client listeners are unaffected by the server listener names in the same request', () => {
  const set = generateFor(WORKLOAD, NODE, { listenerNames: [SERVER, `greeter.${NS}.svc.cluster.local:7070`] });
  assertStructurallyValid(set);
  assert.deepEqual(set.listeners.map((l) => l['name']).sort(), [`greeter.${NS}.svc.cluster.local:7070`, SERVER]);
});
