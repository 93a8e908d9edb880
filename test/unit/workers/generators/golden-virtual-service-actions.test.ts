/**
 * VirtualService http route actions → Envoy (Istio applyHTTPRouteDestination, ApplyRedirect,
 * ApplyDirectResponse, retry.ConvertPolicy, setTimeout, consistentHashToHashPolicy).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertGolden, generateFor } from '../../../helpers/golden';
import { ENVOY_SKIP } from '../../../helpers/envoy-ack';
import { assertEnvoyAcks, assertValid, baseMesh, generate, NODE_ID, NODE_META, NS, reviewsVs, vhostRoutes } from './golden-virtual-service-common';

const DESTINATIONS = reviewsVs(`
  - name: weighted
    match: [{uri: {prefix: /weighted}}]
    route:
    - {destination: {host: reviews, subset: v1}, weight: 70}
    - {destination: {host: reviews, subset: v2}, weight: 30}
    - {destination: {host: ratings}, weight: 0}
  - name: uneven
    match: [{uri: {prefix: /uneven}}]
    route:
    - {destination: {host: reviews, subset: v1}, weight: 1}
    - {destination: {host: reviews, subset: v2}, weight: 2}
  - name: other-service-port
    match: [{uri: {prefix: /ratings}}]
    route: [{destination: {host: ratings.${NS}.svc.cluster.local, port: {number: 9080}}}]
  - name: unknown-host
    match: [{uri: {prefix: /nowhere}}]
    route: [{destination: {host: nowhere.example.com}}]
  - name: redirect
    match: [{uri: {exact: /old}}]
    redirect: {uri: /new, authority: new.example.com, scheme: https, port: 8443, redirectCode: 302}
  - name: redirect-default-port
    match: [{uri: {exact: /old80}}]
    redirect: {uri: /new, port: 80}
  - name: redirect-request-port
    match: [{uri: {exact: /here}}]
    redirect: {authority: other, derivePort: FROM_REQUEST_PORT, redirectCode: 308}
  - name: direct
    match: [{uri: {exact: /health}}]
    directResponse: {status: 200, body: {string: ok}}
  - name: direct-bytes
    match: [{uri: {exact: /bytes}}]
    directResponse: {status: 503, body: {bytes: aGVsbG8=}}
  - name: rewrite-prefix
    match: [{uri: {prefix: /v1/api/}}]
    rewrite: {uri: /api/, authority: reviews.internal}
    route: [{destination: {host: reviews}}]
  - name: rewrite-exact
    match: [{uri: {exact: /legacy}}]
    rewrite: {uri: /modern}
    route: [{destination: {host: reviews}}]
  - name: rewrite-regex
    match: [{uri: {prefix: /users/}}]
    rewrite: {uriRegexRewrite: {match: "^/users/([^/]+)/profile", rewrite: "/profiles/\\\\1"}}
    route: [{destination: {host: reviews}}]
  - name: timeouts-and-retries
    match: [{uri: {prefix: /slow}}]
    timeout: 2.5s
    retries: {attempts: 3, perTryTimeout: 500ms, retryOn: "gateway-error,connect-failure,503,504", retryRemoteLocalities: true, backoff: 25ms}
    route: [{destination: {host: reviews}}]
  - name: retries-same-hosts
    match: [{uri: {prefix: /sticky}}]
    retries: {attempts: 1, retryIgnorePreviousHosts: false}
    route: [{destination: {host: reviews}}]
  - name: no-retries
    match: [{uri: {prefix: /once}}]
    retries: {attempts: 0}
    route: [{destination: {host: reviews}}]
`);

test('golden virtual-service/actions: weights, subsets, ports, redirect, direct response, rewrite, timeout, retries', () => {
  const set = generate(DESTINATIONS);
  const routes = vhostRoutes(set);
  assertGolden('virtual-service/actions-sidecar', routes);
  // weights are normalised to sum to 100, weight-0 destinations dropped
  assert.deepEqual(routes[0]!['route']['weighted_clusters']['clusters'].map((c: any) => c['weight']['value']), [70, 30]);
  assert.deepEqual(routes[1]!['route']['weighted_clusters']['clusters'].map((c: any) => c['weight']['value']), [34, 66]);
  assertValid(set);
});

test('envoy ACKs virtual-service/actions', { skip: ENVOY_SKIP }, async () => {
  const dump = await assertEnvoyAcks(DESTINATIONS);
  assert.match(dump, /"name":"rewrite-regex"/);
});

const HASHING = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: ${NS}}
spec:
  host: ratings
  trafficPolicy:
    loadBalancer: {consistentHash: {httpCookie: {name: session, ttl: 3600s, path: /}}}
  subsets:
  - name: by-header
    labels: {version: v1}
    trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}
  - name: by-ip
    labels: {version: v1}
    trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true}}}
  - name: by-query
    labels: {version: v1}
    trafficPolicy: {loadBalancer: {consistentHash: {httpQueryParameterName: user}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings, namespace: ${NS}}
spec:
  hosts: [ratings]
  http:
  - name: header
    match: [{uri: {prefix: /h}}]
    route: [{destination: {host: ratings, subset: by-header}}]
  - name: ip
    match: [{uri: {prefix: /ip}}]
    route: [{destination: {host: ratings, subset: by-ip}}]
  - name: query
    match: [{uri: {prefix: /q}}]
    route: [{destination: {host: ratings, subset: by-query}}]
  - name: cookie
    route: [{destination: {host: ratings}}]
`;

test('golden virtual-service/actions: DestinationRule consistentHash → route hash_policy (subset policy overrides), default retries keep the same host', () => {
  const set = generate(HASHING);
  const routes = vhostRoutes(set, '9080', `ratings.${NS}.svc.cluster.local:9080`);
  assertGolden('virtual-service/hash-policy-sidecar', routes);
  for (const r of routes) assert.equal(r['route']['retry_policy']['retry_host_predicate'], undefined, `${r['name']}: no previous_hosts under consistent hashing`);
  assertValid(set);
});

test('envoy ACKs virtual-service/hash-policy', { skip: ENVOY_SKIP }, async () => {
  const dump = await assertEnvoyAcks(HASHING);
  assert.match(dump, /"header_name":"x-user"/);
});

test('virtual-service actions: MeshConfig defaultHttpRetryPolicy replaces Istio\'s default where a route sets no retries', () => {
  const vs = reviewsVs(`  - name: own\n    match: [{uri: {prefix: /own}}]\n    retries: {attempts: 1}\n    route: [{destination: {host: reviews}}]\n  - name: inherits\n    route: [{destination: {host: reviews}}]\n`);
  const run = (policy: unknown) => generateFor(`${baseMesh()}\n---\n${vs}`, { id: NODE_ID, metadata: NODE_META }, { mesh: { defaultHttpRetryPolicy: policy } });
  const off = vhostRoutes(run({ attempts: 0 }));
  assert.equal(off[0]!['route']['retry_policy']['num_retries']['value'], 1, 'a route\'s own retries win');
  assert.equal(off[1]!['route']['retry_policy'], undefined, 'attempts 0 in the mesh default turns retries off');
  const five = vhostRoutes(run({ attempts: 5, retryOn: '5xx' }));
  assert.deepEqual([five[1]!['route']['retry_policy']['num_retries']['value'], five[1]!['route']['retry_policy']['retry_on']], [5, '5xx']);
  // the default route of a service without a VirtualService follows the mesh default too
  const ratings = vhostRoutes(run({ attempts: 0 }), '9080', `ratings.${NS}.svc.cluster.local:9080`);
  assert.equal(ratings[0]!['route']['retry_policy'], undefined);
});
