/**
 * VirtualService http match → Envoy RouteMatch (Istio TranslateRouteMatch), route names, and which
 * match clauses apply to a proxy: port, gateways, sourceLabels, exportTo, catch-all cut-off.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertGolden, generateFor } from '../../../helpers/golden';
import { ENVOY_SKIP } from '../../../helpers/envoy-ack';
import { assertEnvoyAcks, assertGrpcJsAccepts, assertValid, baseMesh, generate, NS, reviewsVs, REVIEWS, vhostRoutes } from './golden-virtual-service-common';

const MATCHES = reviewsVs(`
  - name: uris
    match:
    - {name: exact, uri: {exact: /reviews/1}}
    - {name: prefix, uri: {prefix: /reviews/}, ignoreUriCase: true}
    - {uri: {regex: "/r[0-9]+"}}
    route: [{destination: {host: reviews, subset: v1}}]
  - name: headers
    match:
    - headers:
        end-user: {exact: jason}
        x-canary: {prefix: "yes"}
        x-tenant: {regex: "t-[a-z]+"}
        x-debug: {}
      withoutHeaders:
        x-skip: {exact: "1"}
        x-legacy: {}
    route: [{destination: {host: reviews, subset: v2}}]
  - name: request
    match:
    - method: {exact: POST}
      authority: {prefix: reviews}
      scheme: {exact: http}
      queryParams:
        page: {exact: "2"}
        debug: {}
    route: [{destination: {host: reviews, subset: v2}}]
  - name: ports
    match:
    - {name: this-port, port: 9080, uri: {prefix: /p}, statPrefix: reviews-p}
    - {name: other-port, port: 9999, uri: {prefix: /q}}
    route: [{destination: {host: reviews, subset: v1}}]
  - match:
    - {uri: {prefix: /unnamed}}
    route: [{destination: {host: reviews}}]
  - name: all
    route: [{destination: {host: reviews, subset: v1}}]
  - name: never-reached
    match: [{uri: {prefix: /late}}]
    route: [{destination: {host: reviews, subset: v2}}]
`);

test('golden virtual-service/match: uri, headers, withoutHeaders, method, authority, scheme, queryParams, port; names; nothing after a catch-all', () => {
  const set = generate(MATCHES);
  assertGolden('virtual-service/match-sidecar', vhostRoutes(set));
  assertValid(set);
});

test('envoy ACKs virtual-service/match', { skip: ENVOY_SKIP }, async () => {
  const dump = await assertEnvoyAcks(MATCHES);
  assert.match(dump, /"name":"headers"/);
});

const GATEWAYS = reviewsVs(`
  - name: from-mesh
    match: [{uri: {prefix: /mesh}, gateways: [mesh]}]
    route: [{destination: {host: reviews, subset: v1}}]
  - name: from-gateway
    match: [{uri: {prefix: /gw}, gateways: [public-gw]}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: from-other-ns-gateway
    match: [{uri: {prefix: /gw2}, gateways: [istio-system/public-gw]}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: default
    route: [{destination: {host: reviews, subset: v1}}]
`, 'reviews', `  gateways: [mesh, public-gw]\n`);

test('golden virtual-service/match: per-match gateways keep only clauses for `mesh` on a sidecar', () => {
  const set = generate(GATEWAYS);
  const routes = vhostRoutes(set);
  assert.deepEqual(routes.map((r) => r['name']), ['from-mesh', 'default']);
  assertGolden('virtual-service/match-gateways-sidecar', routes);
  assertValid(set);
});

test('envoy ACKs virtual-service/match-gateways', { skip: ENVOY_SKIP }, async () => {
  const dump = await assertEnvoyAcks(GATEWAYS);
  assert.match(dump, /"name":"from-mesh"/);
});

test('golden virtual-service/match: a VirtualService bound only to a gateway, or not exported to the proxy namespace, leaves the default route', () => {
  const gatewayOnly = reviewsVs(`  - route: [{destination: {host: reviews, subset: v2}}]\n`, 'reviews', `  gateways: [public-gw]\n`);
  const hidden = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: other}
spec:
  hosts: [${REVIEWS}]
  exportTo: ["."]
  http:
  - route: [{destination: {host: ${REVIEWS}, subset: v2}}]
`;
  for (const [name, vs] of [['gateway-only', gatewayOnly], ['not-exported', hidden]] as const) {
    const set = generate(vs);
    const routes = vhostRoutes(set);
    assert.deepEqual(routes.map((r) => r['name']), ['default'], name);
    assertValid(set);
  }
  assertGolden('virtual-service/default-route-sidecar', vhostRoutes(generate(gatewayOnly)));
});

test('virtual-service selection: one VirtualService per host for a sidecar, among those its Sidecar imports, in Istio\'s order (private to the namespace, then public by age, name, namespace)', () => {
  const other = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: aaa-reviews, namespace: aaa}
spec:
  hosts: [${REVIEWS}]
  http:
  - name: from-aaa
    route: [{destination: {host: ${REVIEWS}, subset: v2}}]
`;
  const own = reviewsVs(`  - name: from-apps\n    route: [{destination: {host: reviews, subset: v1}}]\n`, 'zzz-reviews');
  // both public, but the proxy's Sidecar egress imports only apps/*: the VirtualService in aaa is
  // not imported (Istio SidecarScope), whatever the name order says
  assert.deepEqual(vhostRoutes(generate(`${other}---\n${own}`)).map((r) => r['name']), ['from-apps']);
  // private to the proxy namespace goes first
  const ownPrivate = reviewsVs(`  - name: from-apps\n    route: [{destination: {host: reviews, subset: v1}}]\n`, 'zzz-reviews', `  exportTo: ["."]\n`);
  assert.deepEqual(vhostRoutes(generate(`${other}---\n${ownPrivate}`)).map((r) => r['name']), ['from-apps']);
});

// Proxyless gRPC clients send their labels, and grpc.ts passes them: sourceLabels and
// sourceNamespace decide per client.
const SOURCE = reviewsVs(`
  - name: from-v1-clients
    match: [{sourceLabels: {version: v1}, headers: {x-user: {exact: a}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: from-v2-clients
    match: [{sourceLabels: {version: v2}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: from-other-namespace
    match: [{sourceNamespace: elsewhere}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: rest
    route: [{destination: {host: reviews, subset: v1}}]
`);

test('golden virtual-service/match: sourceLabels and sourceNamespace select clauses per proxyless client', () => {
  const grpcNode = (version: string) => ({
    id: `sidecar~10.1.0.30~grpc-client-${version}.${NS}~${NS}.svc.cluster.local`,
    metadata: { GENERATOR: 'grpc', NAMESPACE: NS, LABELS: { app: 'grpc-client', version } },
  });
  const name = `outbound|9080||${REVIEWS}`;
  const opts = { listenerNames: [`${REVIEWS}:9080`], routeNames: [name] };
  const v1 = generateFor(`${baseMesh()}\n---\n${SOURCE}`, grpcNode('v1'), opts);
  const v2 = generateFor(`${baseMesh()}\n---\n${SOURCE}`, grpcNode('v2'), opts);
  const routesOf = (set: typeof v1) => set.routes.find((r) => r['name'] === name)!['virtual_hosts'][0]['routes'];
  assert.deepEqual(routesOf(v1).map((r: any) => r['name']), ['from-v1-clients', 'rest']);
  // a clause with only sourceLabels matches every path: a catch-all, nothing after it
  assert.deepEqual(routesOf(v2).map((r: any) => r['name']), ['from-v2-clients']);
  assertGolden('virtual-service/match-source-labels-proxyless', routesOf(v1));
  assertValid(v1);
  assertGrpcJsAccepts(v1);
  assertGrpcJsAccepts(v2);
});

test('virtual-service selection: the most specific wildcard VirtualService claims a host; an exact one competes by namespace order', () => {
  const vs = (name: string, ns: string, host: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}, namespace: ${ns}}
spec:
  hosts: ["${host}"]
  http:
  - name: ${name}
    route: [{destination: {host: ${REVIEWS}, subset: v1}}]
`;
  const broad = vs('a-broad', NS, '*.cluster.local'), narrow = vs('b-narrow', NS, `*.${NS}.svc.cluster.local`);
  assert.deepEqual(vhostRoutes(generate(`${broad}---\n${narrow}`)).map((r) => r['name']), ['b-narrow']);
  const exactElsewhere = vs('exact', 'aaa', REVIEWS);
  assert.deepEqual(vhostRoutes(generate(`${broad}---\n${exactElsewhere}`)).map((r) => r['name']), ['a-broad'], 'both public: name order');
  assert.deepEqual(vhostRoutes(generate(`${vs('exact', NS, REVIEWS)}---\n${narrow}`)).map((r) => r['name']), ['b-narrow'], 'then namespace/name order');
});
