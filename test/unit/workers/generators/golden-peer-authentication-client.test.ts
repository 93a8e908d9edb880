/**
 * The client side of mTLS, as Istio builds it (cluster_builder.go buildAutoMtlsSettings /
 * applyUpstreamTLSSettings, BestEffortInferServiceMTLSMode, endpoint_builder mtlsChecker,
 * AppendLbEndpointMetadata):
 * - auto mTLS (MeshConfig enableAutoMtls, default on) on a cluster whose DestinationRule sets no
 *   TLS: transport_socket_matches `tlsMode-istio` (match {tlsMode: istio} → ISTIO_MUTUAL with SDS
 *   `default`/`ROOTCA`, SNI outbound_.<port>_.<subset>_.<host>, ALPN istio-peer-exchange/istio, the
 *   service accounts as SANs) then `tlsMode-disabled` (raw buffer);
 * - endpoints of workloads with a sidecar carry filter_metadata envoy.transport_socket_match
 *   {tlsMode: istio}; a workload without one (or whose PeerAuthentication disables the port) does not;
 * - a namespace whose PeerAuthentication is DISABLE, a mesh-external service, or enableAutoMtls
 *   false: no TLS; DestinationRule ISTIO_MUTUAL: a plain TLS transport socket; DISABLE: none.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertGolden } from '../../../helpers/golden';
import { ENVOY_SKIP } from '../../../helpers/envoy-ack';
import { assertEnvoyAcks, assertValid, assignment, cluster, dumpNames, fqdn, generate } from './golden-sidecar-common';
import { NS, pa, productpage } from './golden-peer-authentication-common';

const REVIEWS = fqdn('reviews', NS);
const C = (port: number, subset = '') => `outbound|${port}|${subset}|${REVIEWS}`;
const dr = (policy: string, extra = '') => `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: ${NS}}
spec:
  host: ${REVIEWS}
${extra}  trafficPolicy:
${policy}`;

const tlsView = (c: Record<string, any>) => ({ name: c['name'], transport_socket: c['transport_socket'], transport_socket_matches: c['transport_socket_matches'] });

test('golden peer-authentication/auto-mtls: clusters match tlsMode=istio endpoints, endpoints of sidecar workloads carry it', () => {
  const set = generate(productpage());
  assertValid(set);
  const c = cluster(set, C(9080));
  assert.deepEqual(c['transport_socket_matches'].map((m: any) => m.name), ['tlsMode-istio', 'tlsMode-disabled']);
  const tls = c['transport_socket_matches'][0].transport_socket.typed_config;
  assert.equal(tls.sni, `outbound_.9080_._.${REVIEWS}`);
  assert.deepEqual(tls.common_tls_context.alpn_protocols, ['istio-peer-exchange', 'istio']);
  assert.deepEqual(tls.common_tls_context.combined_validation_context.default_validation_context.match_subject_alt_names,
    [{ exact: 'spiffe://cluster.local/ns/bookinfo/sa/legacy' }, { exact: 'spiffe://cluster.local/ns/bookinfo/sa/reviews' }]);
  const cla = assignment(set, C(9080));
  const meta = cla['endpoints'].flatMap((l: any) => l.lb_endpoints).map((e: any) => [e.endpoint.address.socket_address.address, e.metadata?.filter_metadata?.['envoy.transport_socket_match']?.fields?.tlsMode?.stringValue ?? '-']);
  assert.deepEqual(meta, [['10.1.0.5', 'istio'], ['10.1.0.6', '-']]);
  assertGolden('peer-authentication/auto-mtls', { clusters: [C(9080), C(9100)].map((n) => tlsView(cluster(set, n))), endpoints: assignment(set, C(9080)) });
});

test('auto mTLS: off for a namespace whose PeerAuthentication is DISABLE and with enableAutoMtls false', () => {
  const off = generate(productpage(pa('default', NS, '  mtls: {mode: DISABLE}\n')));
  assertValid(off);
  assert.equal(cluster(off, C(9080))['transport_socket_matches'], undefined);
  const noAuto = generate({ ...productpage(), mesh: { enableAutoMtls: false } });
  assert.equal(cluster(noAuto, C(9080))['transport_socket_matches'], undefined);
  assert.equal(cluster(noAuto, C(9080))['transport_socket'], undefined);
});

test('auto mTLS: an endpoint whose workload disables mTLS on the port gets no tlsMode metadata', () => {
  const set = generate(productpage(pa('reviews', NS, '  selector: {matchLabels: {app: reviews}}\n  portLevelMtls:\n    "9100": {mode: DISABLE}\n')));
  assertValid(set);
  const tlsModes = (name: string) => assignment(set, name)['endpoints'].flatMap((l: any) => l.lb_endpoints).map((e: any) => e.metadata?.filter_metadata?.['envoy.transport_socket_match']?.fields?.tlsMode?.stringValue ?? '-');
  assert.deepEqual(tlsModes(C(9080)), ['istio', '-']);
  assert.deepEqual(tlsModes(C(9100)), ['-', '-']);
});

const RULES = {
  istioMutual: dr('    tls: {mode: ISTIO_MUTUAL}\n', '  subsets: [{name: v1, labels: {version: v1}}]\n'),
  disable: dr('    tls: {mode: DISABLE}\n'),
  portLevel: dr('    portLevelSettings:\n    - {port: {number: 9100}, tls: {mode: DISABLE}}\n    tls: {mode: ISTIO_MUTUAL}\n'),
};

test('golden peer-authentication/destination-rule-tls: ISTIO_MUTUAL (socket, no matches), DISABLE (nothing), port-level DISABLE', () => {
  const mutual = generate(productpage(RULES.istioMutual));
  const disable = generate(productpage(RULES.disable));
  const portLevel = generate(productpage(RULES.portLevel));
  for (const s of [mutual, disable, portLevel]) assertValid(s);
  assert.equal(cluster(mutual, C(9080, 'v1'))['transport_socket'].typed_config.sni, `outbound_.9080_.v1_.${REVIEWS}`);
  assert.equal(cluster(mutual, C(9080))['transport_socket_matches'], undefined);
  assert.equal(cluster(disable, C(9080))['transport_socket'], undefined);
  assert.equal(cluster(disable, C(9080))['transport_socket_matches'], undefined);
  // DISABLE for the port: no TLS and no endpoint metadata; ISTIO_MUTUAL elsewhere
  assert.equal(cluster(portLevel, C(9100))['transport_socket'], undefined);
  assert.ok(cluster(portLevel, C(9080))['transport_socket']);
  const meta = (s: typeof disable, n: string) => assignment(s, n)['endpoints'].flatMap((l: any) => l.lb_endpoints).some((e: any) => e.metadata);
  assert.equal(meta(disable, C(9080)), false);
  assert.equal(meta(portLevel, C(9100)), false);
  assert.equal(meta(portLevel, C(9080)), true);
  assertGolden('peer-authentication/destination-rule-tls', {
    istio_mutual: [C(9080), C(9080, 'v1')].map((n) => tlsView(cluster(mutual, n))),
    disable: tlsView(cluster(disable, C(9080))),
    port_level: [C(9080), C(9100)].map((n) => tlsView(cluster(portLevel, n))),
  });
});

for (const [name, scene] of [['auto-mtls', productpage()], ['istio-mutual', productpage(RULES.istioMutual)], ['port-level', productpage(RULES.portLevel)]] as const) {
  test(`peer-authentication client ${name}: a real Envoy ACKs the clusters and endpoints (secrets from the SDS agent)`, { skip: ENVOY_SKIP }, async () => {
    const dump = await assertEnvoyAcks(scene);
    assert.ok(dumpNames(dump, 'ClustersConfigDump', 'dynamic_active_clusters').includes(C(9080)));
  });
}

const HEADLESS = (labels: string) => `---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: ${NS}}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: tcp, port: 5432, targetPort: 5432}]
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, namespace: ${NS}, labels: {app: db${labels}}}
spec: {serviceAccountName: db, containers: [{name: db, image: db}]}
status: {podIP: 10.1.0.30}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: db-1, namespace: ${NS}, labels: {kubernetes.io/service-name: db}}
addressType: IPv4
ports: [{name: tcp, port: 5432}]
endpoints:
- addresses: [10.1.0.30]
  targetRef: {kind: Pod, name: db-0, namespace: ${NS}}
`;

test('auto mTLS on a headless service (ORIGINAL_DST): the TLS socket itself when every endpoint has a sidecar, none otherwise', () => {
  const DB = `outbound|5432||${fqdn('db', NS)}`;
  const meshed = generate(productpage(HEADLESS(', security.istio.io/tlsMode: istio')));
  assertValid(meshed);
  const c = cluster(meshed, DB);
  assert.equal(c['type'], 'ORIGINAL_DST');
  assert.equal(c['transport_socket']?.typed_config?.sni, `outbound_.5432_._.${fqdn('db', NS)}`);
  assert.equal(c['transport_socket_matches'], undefined);
  const plain = generate(productpage(HEADLESS('')));
  assert.equal(cluster(plain, DB)['transport_socket'], undefined);
  assert.equal(cluster(plain, DB)['transport_socket_matches'], undefined);
});
