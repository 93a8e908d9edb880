/**
 * Gateway goldens, L4 servers:
 * - PASSTHROUGH (HTTPS or TLS): a tcp_proxy chain per VirtualService tls route match, keyed by its
 *   SNI hosts, no TLS context; a second route claiming the same SNI on the port is skipped;
 * - AUTO_PASSTHROUGH: a chain per in-mesh service port and DestinationRule subset whose host the
 *   server exposes, matched on SNI `outbound_.<port>_.<subset>_.<host>` and Istio's mTLS ALPNs,
 *   to the SNI-DNAT cluster of the same name (in CDS, EDS-typed, no TLS);
 * - TCP: the first matching tcp route of the bound VirtualServices (weighted: stat prefix
 *   `<vs>.<namespace>`).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertGolden } from '../../../helpers/golden';
import { ENVOY_SKIP } from '../../../helpers/envoy-ack';
import { GW_NS, NS, REVIEWS, assertEnvoyAcks, assertValid, focusListener, gateway, generate, listener } from './golden-gateway-common';

const PASSTHROUGH = `${gateway(`  - port: {number: \${PORT1}, name: tls-passthrough, protocol: TLS}
    hosts: ["*.example.com"]
    tls: {mode: PASSTHROUGH}`)}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: passthrough, namespace: ${NS}}
spec:
  hosts: ["*.example.com"]
  gateways: [${GW_NS}/public-gw]
  tls:
  - match: [{sniHosts: [bookinfo.example.com]}]
    route: [{destination: {host: reviews, port: {number: 9080}}}]
  - match: [{sniHosts: [shop.example.com, store.example.com]}]
    route:
    - {destination: {host: reviews, subset: v1, port: {number: 9080}}, weight: 75}
    - {destination: {host: reviews, subset: v2, port: {number: 9080}}, weight: 25}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: z-duplicate-sni, namespace: ${NS}}
spec:
  hosts: [bookinfo.example.com]
  gateways: [${GW_NS}/public-gw]
  tls:
  - match: [{sniHosts: [bookinfo.example.com]}]
    route: [{destination: {host: ratings, port: {number: 9080}}}]
`;

test('gateway PASSTHROUGH: tcp_proxy chains per tls route SNI match, duplicate SNI skipped', () => {
  const set = generate(PASSTHROUGH);
  assertValid(set);
  const l = listener(set, '0.0.0.0_18443');
  assert.equal(l['filter_chains'].length, 2);
  assertGolden('gateway/passthrough-listener', focusListener(l));
});

test('gateway PASSTHROUGH: a real Envoy ACKs it', { skip: ENVOY_SKIP }, async () => {
  await assertEnvoyAcks(PASSTHROUGH);
});

const AUTO = gateway(`  - port: {number: \${PORT2}, name: tls-auto, protocol: TLS}
    hosts: ["*.${NS}.svc.cluster.local"]
    tls: {mode: AUTO_PASSTHROUGH}`, 'cross-network-gw');

test('gateway AUTO_PASSTHROUGH: a chain per service port and subset on SNI outbound_.<port>_.<subset>_.<host>', () => {
  const set = generate(AUTO);
  assertValid(set);
  assertGolden('gateway/auto-passthrough-listener', focusListener(listener(set, '0.0.0.0_18444')));
  const sniClusters = set.clusters.filter((c) => String(c['name']).startsWith('outbound_.'));
  assert.deepEqual(sniClusters.map((c) => c['name']).sort(), [
    `outbound_.3306_._.details.${NS}.svc.cluster.local`,
    `outbound_.9080_._.ratings.${NS}.svc.cluster.local`,
    `outbound_.9080_._.${REVIEWS}`,
    `outbound_.9080_.v1_.${REVIEWS}`,
    `outbound_.9080_.v2_.${REVIEWS}`,
  ]);
  // what the gateway decides about the SNI-DNAT cluster (the rest is clusters.ts's outbound cluster)
  const c = set.clusters.find((x) => x['name'] === `outbound_.9080_.v1_.${REVIEWS}`)!;
  assertGolden('gateway/auto-passthrough-cluster', { name: c['name'], type: c['type'], eds_cluster_config: c['eds_cluster_config'], transport_socket: c['transport_socket'] ?? null });
  // EDS answers the SNI-DNAT cluster through its outbound|… service name
  assert.ok(set.endpoints.some((e) => e['cluster_name'] === `outbound|9080|v1|${REVIEWS}` && e['endpoints'].length > 0));
});

test('gateway AUTO_PASSTHROUGH: a real Envoy ACKs it', { skip: ENVOY_SKIP }, async () => {
  await assertEnvoyAcks(AUTO);
});

const TCP = `${gateway(`  - port: {number: \${PORT3}, name: tcp-db, protocol: TCP}
    hosts: ["*"]`)}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db, namespace: ${NS}}
spec:
  hosts: ["*"]
  gateways: [${GW_NS}/public-gw]
  tcp:
  - match: [{port: 18445}]
    route:
    - {destination: {host: details, port: {number: 3306}}, weight: 90}
    - {destination: {host: ratings, port: {number: 9080}}, weight: 10}
`;

test('gateway TCP: the first matching tcp route, weighted clusters', () => {
  const set = generate(TCP);
  assertValid(set);
  assertGolden('gateway/tcp-listener', focusListener(listener(set, '0.0.0.0_18445')));
});

test('gateway TCP: a real Envoy ACKs it', { skip: ENVOY_SKIP }, async () => {
  // the match port follows the listener port the ACK run binds
  await assertEnvoyAcks(TCP.replace('port: 18445', 'port: ${PORT3}'));
});

const TLS_TERMINATED = `${gateway(`  - port: {number: \${PORT1}, name: tls-simple, protocol: TLS}
    hosts: [db.example.com]
    tls: {mode: SIMPLE, credentialName: db-cert}
  - port: {number: \${PORT2}, name: tls-mtls, protocol: TLS}
    hosts: ["*"]
    tls: {mode: ISTIO_MUTUAL}`)}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db, namespace: ${NS}}
spec:
  hosts: ["*"]
  gateways: [${GW_NS}/public-gw]
  tcp:
  - route: [{destination: {host: details, port: {number: 3306}}}]
`;

test('gateway TLS termination on a TCP server: SNI chain with a DownstreamTlsContext and the tcp route (ISTIO_MUTUAL offers istio-peer-exchange)', () => {
  const set = generate(TLS_TERMINATED);
  assertValid(set);
  assertGolden('gateway/tls-terminated-listeners', [focusListener(listener(set, '0.0.0.0_18443')), focusListener(listener(set, '0.0.0.0_18444'))]);
});

test('gateway TLS termination on a TCP server: a real Envoy ACKs it', { skip: ENVOY_SKIP }, async () => {
  await assertEnvoyAcks(TLS_TERMINATED);
});
