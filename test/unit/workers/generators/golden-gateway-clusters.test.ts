/**
 * Gateway CDS and server merging:
 * - by default every service visible from the gateway's namespace gets its outbound clusters (and
 *   DestinationRule subsets), plus BlackHoleCluster; DNS ServiceEntries carry their endpoints inline;
 * - PILOT_FILTER_GATEWAY_CLUSTER_CONFIG=true keeps only the services the gateway's VirtualServices
 *   route or mirror to (Istio GatewayServices); the knob reaches the generator through the
 *   snapshot's mesh object (`features`), set by the main thread from the environment;
 * - conflicts Istio rejects while merging servers: HTTP and HTTPS on one port (the first wins), two
 *   TCP servers on one port, a TLS host repeated on a port.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertGolden } from '../../../helpers/golden';
import { ENVOY_SKIP } from '../../../helpers/envoy-ack';
import { loadConfig } from '../../../../src/main/config';
import { GW_NS, NS, assertEnvoyAcks, assertValid, gateway, generate, listener } from './golden-gateway-common';

const SCENE = `${gateway(`  - port: {number: \${PORT0}, name: http, protocol: HTTP}
    hosts: ["*"]`)}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bookinfo, namespace: ${NS}}
spec:
  hosts: [bookinfo.example.com]
  gateways: [${GW_NS}/public-gw]
  http:
  - match: [{uri: {prefix: /reviews}}]
    route: [{destination: {host: reviews, subset: v1}}]
    mirror: {host: ratings}
  - route: [{destination: {host: api.example.com, port: {number: 443}}}]
`;

test('gateway CDS: every visible service, DestinationRule subsets, BlackHoleCluster', () => {
  const set = generate(SCENE);
  assertValid(set);
  assertGolden('gateway/clusters-all-names', set.clusters.map((c) => c['name']));
  const dns = set.clusters.find((c) => c['name'] === 'outbound|443||api.example.com')!;
  assertGolden('gateway/clusters-dns-service-entry', { name: dns['name'], type: dns['type'], load_assignment: dns['load_assignment'] });
});

test('gateway CDS with PILOT_FILTER_GATEWAY_CLUSTER_CONFIG: only services the VirtualServices route or mirror to', () => {
  const set = generate(SCENE, { features: { filterGatewayClusterConfig: true } });
  assertValid(set);
  assertGolden('gateway/clusters-filtered-names', set.clusters.map((c) => c['name']));
  assert.ok(!set.clusters.some((c) => String(c['name']).includes('details')));
});

test('PILOT_FILTER_GATEWAY_CLUSTER_CONFIG: parsed from the environment, default false', () => {
  const base = ['--configDir', '', '--grpcAddr', '127.0.0.1:0'];
  assert.equal(loadConfig(base, {}).features.filterGatewayClusterConfig, false);
  assert.equal(loadConfig(base, { PILOT_FILTER_GATEWAY_CLUSTER_CONFIG: 'true' }).features.filterGatewayClusterConfig, true);
  assert.throws(() => loadConfig(base, { PILOT_FILTER_GATEWAY_CLUSTER_CONFIG: 'maybe' }), /PILOT_FILTER_GATEWAY_CLUSTER_CONFIG/);
});

test('gateway CDS: a real Envoy ACKs all clusters, and only the referenced ones with PILOT_FILTER_GATEWAY_CLUSTER_CONFIG=true', { skip: ENVOY_SKIP }, async () => {
  const all = await assertEnvoyAcks(SCENE);
  assert.match(all, /outbound\|3306\|\|details\.apps\.svc\.cluster\.local/);
  const filtered = await assertEnvoyAcks(SCENE, { PILOT_FILTER_GATEWAY_CLUSTER_CONFIG: 'true' });
  assert.doesNotMatch(filtered, /details\.apps\.svc\.cluster\.local/);
  assert.match(filtered, /outbound\|9080\|v1\|reviews\.apps\.svc\.cluster\.local/);
  assert.match(filtered, /outbound\|9080\|\|ratings\.apps\.svc\.cluster\.local/);
});

const CONFLICTS = [
  gateway(`  - port: {number: \${PORT0}, name: http, protocol: HTTP}
    hosts: ["*"]
  - port: {number: \${PORT3}, name: tcp-a, protocol: TCP}
    hosts: ["*"]
  - port: {number: \${PORT1}, name: tls-a, protocol: TLS}
    hosts: [bookinfo.example.com]
    tls: {mode: PASSTHROUGH}`, 'a-gw'),
  gateway(`  - port: {number: \${PORT0}, name: https, protocol: HTTPS}
    hosts: [bookinfo.example.com]
    tls: {mode: SIMPLE, credentialName: bookinfo-cert}
  - port: {number: \${PORT3}, name: tcp-b, protocol: TCP}
    hosts: ["*"]
  - port: {number: \${PORT1}, name: tls-b, protocol: TLS}
    hosts: [bookinfo.example.com, shop.example.com]
    tls: {mode: PASSTHROUGH}`, 'b-gw'),
  `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: l4, namespace: ${NS}}
spec:
  hosts: ["*"]
  gateways: [${GW_NS}/a-gw, ${GW_NS}/b-gw]
  tcp:
  - route: [{destination: {host: details, port: {number: 3306}}}]
  tls:
  - match: [{sniHosts: [bookinfo.example.com]}]
    route: [{destination: {host: reviews, port: {number: 9080}}}]
`,
  // bound to b-gw only: its chain would appear if b-gw's TLS server had been merged
  `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: ${NS}}
spec:
  hosts: [shop.example.com]
  gateways: [${GW_NS}/b-gw]
  tls:
  - match: [{sniHosts: [shop.example.com]}]
    route: [{destination: {host: ratings, port: {number: 9080}}}]
`,
].join('---\n');

test('gateway merge conflicts: HTTP then HTTPS on a port, two TCP servers, a repeated TLS host: the later server is skipped', () => {
  const set = generate(CONFLICTS);
  assertValid(set);
  assert.deepEqual(set.context.gateways, [`${GW_NS}/a-gw`, `${GW_NS}/b-gw`]);
  // port 18080 stays plaintext HTTP: one chain, no TLS, only http.18080
  const http = listener(set, '0.0.0.0_18080');
  assert.equal(http['filter_chains'].length, 1);
  assert.equal(http['filter_chains'][0]['transport_socket'], undefined);
  assert.deepEqual(set.routes.map((r) => r['name']), ['http.18080']);
  // port 18445: one tcp_proxy chain (a-gw's)
  assert.equal(listener(set, '0.0.0.0_18445')['filter_chains'].length, 1);
  // port 18443: b-gw's server repeats bookinfo.example.com, so it is skipped whole (shop.example.com included)
  // (a tls route's SNI is not intersected with the server hosts, as in Istio: the shop VirtualService binds only to b-gw)
  const tls = listener(set, '0.0.0.0_18443');
  assert.deepEqual(tls['filter_chains'].map((c: any) => c['filter_chain_match']['server_names']), [['bookinfo.example.com']]);
});

test('gateway merge conflicts: a real Envoy ACKs what is left', { skip: ENVOY_SKIP }, async () => {
  await assertEnvoyAcks(CONFLICTS);
});

const SAME_MATCH = [
  gateway(`  - port: {number: \${PORT1}, name: https-a, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: SIMPLE, credentialName: a-cert}`, 'a-gw'),
  gateway(`  - port: {number: \${PORT1}, name: https-b, protocol: HTTPS}
    hosts: ["${NS}/*"]
    tls: {mode: SIMPLE, credentialName: b-cert}`, 'b-gw'),
].join('---\n');

test('gateway listener: two TLS servers whose hosts differ only in the namespace part keep one chain (Envoy rejects repeated matches)', () => {
  const set = generate(SAME_MATCH);
  assertValid(set);
  const l = listener(set, '0.0.0.0_18443');
  assert.equal(l['filter_chains'].length, 1);
  assert.match(JSON.stringify(l['filter_chains'][0]), /kubernetes:\/\/a-cert/);
});

const EGRESS_TLS = `${gateway(`  - port: {number: \${PORT0}, name: http, protocol: HTTP}
    hosts: [api.example.com]`, 'egress-gw')}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api-tls, namespace: ${GW_NS}}
spec:
  host: api.example.com
  trafficPolicy:
    tls: {mode: SIMPLE, credentialName: api-client-cert, sni: api.example.com}
`;

test('gateway CDS: a DestinationRule credentialName originates TLS from the gateway (SDS over ADS), as Istio allows for gateways', () => {
  const set = generate(EGRESS_TLS);
  assertValid(set);
  const c = set.clusters.find((x) => x['name'] === 'outbound|443||api.example.com')!;
  const text = JSON.stringify(c['transport_socket'] ?? c['transport_socket_matches'] ?? null);
  assert.match(text, /kubernetes:\/\/api-client-cert/, text);
  assert.match(text, /api\.example\.com/);
});

test('gateway CDS: egress TLS origination, a real Envoy ACKs it', { skip: ENVOY_SKIP }, async () => {
  await assertEnvoyAcks(EGRESS_TLS);
});
