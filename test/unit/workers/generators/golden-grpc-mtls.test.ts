/**
 * Proxyless gRPC client mTLS (Istio grpcgen applyTLS / buildUpstreamTLSContext): a DestinationRule
 * `tls.mode: ISTIO_MUTUAL` gives the client's cluster an UpstreamTlsContext on the bootstrap's
 * certificate provider instance `default` (certificate `default`, root `ROOTCA`), the peer pinned
 * by exact SAN match on the SPIFFE identities of the service's endpoints, no SNI (grpcgen sets
 * none). A subset whose policy sets DISABLE stays plaintext, and so does every cluster without a
 * rule: grpcgen has no auto mTLS for gRPC clients (it cannot know the client uses xDS credentials
 * nor reach PERMISSIVE servers). Every set passes the structural validator.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertGolden, assertStructurallyValid, generateFor } from '../../../helpers/golden';

const NS = 'apps';
const NODE = { id: `sidecar~10.1.0.9~client-0.${NS}~${NS}.svc.cluster.local`, metadata: { GENERATOR: 'grpc', NAMESPACE: NS, LABELS: { app: 'client' } } };
const GREETER = `greeter.${NS}.svc.cluster.local:7070`;
const PLAIN = `plain.${NS}.svc.cluster.local:7070`;

function service(name: string, ip: string, sa: string, podIp: string, version: string): string {
  return `
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${NS}}
spec:
  clusterIP: ${ip}
  selector: {app: ${name}}
  ports: [{name: grpc, port: 7070, targetPort: 50051}]
---
apiVersion: v1
kind: Pod
metadata: {name: ${name}-0, namespace: ${NS}, labels: {app: ${name}, version: ${version}}}
spec: {serviceAccountName: ${sa}, containers: [{name: ${name}, image: ${name}}]}
status: {podIP: ${podIp}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${name}-0, namespace: ${NS}, labels: {kubernetes.io/service-name: ${name}}}
addressType: IPv4
ports: [{name: grpc, port: 50051}]
endpoints:
- addresses: [${podIp}]
  targetRef: {kind: Pod, name: ${name}-0, namespace: ${NS}}
`;
}

const MESH = `
apiVersion: v1
kind: Namespace
metadata: {name: ${NS}}
---
${service('greeter', '10.96.0.70', 'greeter', '10.1.0.7', 'v1')}
---
${service('plain', '10.96.0.71', 'plain', '10.1.0.8', 'v1')}
`;

const ISTIO_MUTUAL = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: greeter, namespace: ${NS}}
spec:
  host: greeter.${NS}.svc.cluster.local
  trafficPolicy:
    tls: {mode: ISTIO_MUTUAL}
  subsets:
  - name: v1
    labels: {version: v1}
  - name: legacy
    labels: {version: legacy}
    trafficPolicy:
      tls: {mode: DISABLE}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: greeter, namespace: ${NS}}
spec:
  hosts: [greeter.${NS}.svc.cluster.local]
  http:
  - route:
    - destination: {host: greeter.${NS}.svc.cluster.local, subset: v1}
      weight: 90
    - destination: {host: greeter.${NS}.svc.cluster.local, subset: legacy}
      weight: 10
`;

function clustersFor(yaml: string, listeners: string[]): Array<Record<string, any>> {
  const set = generateFor(yaml, NODE, { listenerNames: listeners });
  assertStructurallyValid(set);
  return set.clusters;
}

test('grpc client: DestinationRule ISTIO_MUTUAL → UpstreamTlsContext on certificate provider `default`, SAN of the destination; a DISABLE subset stays plaintext', () => {
  const clusters = clustersFor(MESH + '---\n' + ISTIO_MUTUAL, [GREETER]);
  assert.deepEqual(clusters.map((c) => c['name']).sort(), ['outbound|7070|legacy|greeter.apps.svc.cluster.local', 'outbound|7070|v1|greeter.apps.svc.cluster.local']);
  const v1 = clusters.find((c) => c['name'].includes('|v1|'))!;
  const tls = v1['transport_socket'];
  assert.equal(tls?.['name'], 'envoy.transport_sockets.tls');
  const common = tls['typed_config']['common_tls_context'];
  assert.deepEqual(common['tls_certificate_provider_instance'], { instance_name: 'default', certificate_name: 'default' });
  assert.deepEqual(common['validation_context']['ca_certificate_provider_instance'], { instance_name: 'default', certificate_name: 'ROOTCA' });
  assert.deepEqual(common['validation_context']['match_subject_alt_names'], [{ exact: 'spiffe://cluster.local/ns/apps/sa/greeter' }]);
  assert.equal(tls['typed_config']['sni'] ?? '', '', 'grpcgen sets no SNI');
  const legacy = clusters.find((c) => c['name'].includes('|legacy|'))!;
  assert.equal(legacy['transport_socket'], undefined, 'subset DISABLE overrides the rule');
  assertGolden('grpc-mtls/istio-mutual', clusters);
});

test('grpc client: no DestinationRule → plaintext (no auto mTLS for proxyless clients)', () => {
  const clusters = clustersFor(MESH + '---\n' + ISTIO_MUTUAL, [PLAIN]);
  assert.deepEqual(clusters.map((c) => c['name']), ['outbound|7070||plain.apps.svc.cluster.local']);
  assert.equal(clusters[0]!['transport_socket'], undefined);
  assert.equal(clusters[0]!['transport_socket_matches'], undefined);
  assertGolden('grpc-mtls/no-destination-rule', clusters);
});

test('grpc client: port-level DISABLE wins over the rule-wide ISTIO_MUTUAL', () => {
  const portLevel = ISTIO_MUTUAL.replace('    tls: {mode: ISTIO_MUTUAL}\n', '    tls: {mode: ISTIO_MUTUAL}\n    portLevelSettings:\n    - port: {number: 7070}\n      tls: {mode: DISABLE}\n');
  const clusters = clustersFor(MESH + '---\n' + portLevel, [GREETER]);
  // the subset v1 inherits the port-level DISABLE; legacy sets DISABLE itself
  assert.equal(clusters.length, 2);
  for (const c of clusters) assert.equal(c['transport_socket'], undefined, `${c['name']} is plaintext`);
});
