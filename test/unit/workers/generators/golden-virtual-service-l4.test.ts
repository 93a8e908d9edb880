/**
 * VirtualService tcp and tls routes → L4 targets (tcp-routes.ts, after Istio's
 * buildSidecarOutboundTCPTLSFilterChainOpts, matchTCP and matchTLS): the contract the sidecar and
 * gateway listeners build filter chains from, then the sidecar egress listeners a real Envoy ACKs.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertGolden } from '../../../helpers/golden';
import { ENVOY_SKIP } from '../../../helpers/envoy-ack';
import { tcpTargets, tlsTargets } from '../../../../src/workers/generators/tcp-routes';
import { assertEnvoyAcks, assertValid, generate, NS, snapshotOf } from './golden-virtual-service-common';

const DETAILS_VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: details, namespace: ${NS}}
spec:
  hosts: [details.${NS}.svc.cluster.local, details.example.com]
  tcp:
  - match:
    - {port: 3306, destinationSubnets: [10.10.0.0/16]}
    - {port: 3306, destinationSubnets: [10.20.0.0/16, 10.30.0.1]}
    - {port: 9999}
    route: [{destination: {host: details, subset: v2, port: {number: 3306}}}]
  - match: [{port: 3306, sourceLabels: {app: other}}]
    route: [{destination: {host: details, subset: v2, port: {number: 3306}}}]
  - match: [{port: 3306, gateways: [istio-system/ingress]}]
    route: [{destination: {host: details, subset: v2, port: {number: 3306}}}]
  - match: [{port: 3306, sourceLabels: {app: client}}]
    route:
    - {destination: {host: details, subset: v1, port: {number: 3306}}, weight: 75}
    - {destination: {host: details, subset: v2, port: {number: 3306}}, weight: 25}
    - {destination: {host: details, port: {number: 3306}}, weight: 0}
  - route: [{destination: {host: details}}]
  tls:
  - match:
    - {port: 9443, sniHosts: [details.${NS}.svc.cluster.local]}
    - {port: 9443, sniHosts: [details.${NS}.svc.cluster.local]}
    route: [{destination: {host: details, subset: v1, port: {number: 9443}}}]
  - match: [{port: 9443, sniHosts: [details.example.com], destinationSubnets: [10.0.0.0/8]}]
    route: [{destination: {host: nowhere.example.com, port: {number: 443}}}]
  - match: [{port: 8443, sniHosts: [details.example.com]}]
    route: [{destination: {host: details, subset: v2, port: {number: 9443}}}]
`;

test('golden virtual-service/l4: tcp and tls targets by port, subnets, sourceLabels, gateways and weights', () => {
  const snap = snapshotOf(DETAILS_VS);
  const vs = snap.config('VirtualService', NS, 'details')!;
  const targets = {
    tcpForClient: tcpTargets(snap, NS, vs, 3306, { labels: { app: 'client' } }),
    tcpForOtherWorkload: tcpTargets(snap, NS, vs, 3306, { labels: { app: 'batch' } }),
    tcpForGateway: tcpTargets(snap, 'istio-system', vs, 3306, { gateway: 'istio-system/ingress' }),
    tcpOnOtherPort: tcpTargets(snap, NS, vs, 9999, {}),
    tls: tlsTargets(snap, NS, vs, 9443, {}),
    tlsOnOtherPort: tlsTargets(snap, NS, vs, 8443, {}),
  };
  assertGolden('virtual-service/l4-targets', targets);
  // a matching clause without subnets is terminal: nothing after it
  assert.equal(targets.tcpForClient.at(-1)!.destinationSubnets, undefined);
  assert.deepEqual(targets.tcpForClient.at(-1)!.clusters.map((c) => c.weight), [75, 25]);
});

const EGRESS = `  - port: {number: 3306, protocol: TCP, name: tcp}
    bind: 127.0.0.1
    captureMode: NONE
    hosts: ["${NS}/*"]
  - port: {number: 9443, protocol: TLS, name: tls}
    bind: 127.0.0.1
    captureMode: NONE
    hosts: ["${NS}/*"]
`;

// Sidecar listeners are generated without the proxy's labels (LDS is per namespace/Sidecar scope),
// so the listener scene avoids sourceLabels.
const LISTENER_VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: details, namespace: ${NS}}
spec:
  hosts: [details.${NS}.svc.cluster.local]
  tcp:
  - match: [{port: 3306, destinationSubnets: [10.10.0.0/16]}]
    route: [{destination: {host: details, subset: v2, port: {number: 3306}}}]
  - match: [{port: 3306}]
    route:
    - {destination: {host: details, subset: v1, port: {number: 3306}}, weight: 75}
    - {destination: {host: details, subset: v2, port: {number: 3306}}, weight: 25}
  tls:
  - match: [{port: 9443, sniHosts: [details.${NS}.svc.cluster.local]}]
    route: [{destination: {host: details, subset: v1, port: {number: 9443}}}]
`;

test('golden virtual-service/l4: sidecar egress listeners route tcp and tls by the VirtualService', () => {
  const set = generate(LISTENER_VS, EGRESS);
  const tcp = set.listeners.find((l) => l['name'] === '127.0.0.1_3306');
  const tls = set.listeners.find((l) => l['name'] === '127.0.0.1_9443');
  assert.ok(tcp && tls, `egress listeners generated (have ${set.listeners.map((l) => l['name']).join(', ')})`);
  const proxies = JSON.stringify([tcp, tls]);
  assert.match(proxies, /outbound\|3306\|v1\|details\.apps\.svc\.cluster\.local/);
  assert.match(proxies, /outbound\|9443\|v1\|details\.apps\.svc\.cluster\.local/);
  assertValid(set);
});

test('envoy ACKs virtual-service/l4', { skip: ENVOY_SKIP }, async () => {
  const dump = await assertEnvoyAcks(LISTENER_VS, EGRESS);
  assert.match(dump, /\|v1\|details\.apps\.svc\.cluster\.local/);
});
