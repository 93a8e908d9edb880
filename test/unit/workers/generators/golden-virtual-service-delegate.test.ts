/**
 * VirtualService delegation (Istio mergeVirtualServicesIfNeeded / mergeHTTPRoutes): a root route
 * with `delegate` is replaced by the delegate's routes, each merged with the root's match; a
 * delegate match outside the root's is dropped; unset fields are inherited from the root route.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertGolden } from '../../../helpers/golden';
import { ENVOY_SKIP } from '../../../helpers/envoy-ack';
import { assertEnvoyAcks, assertValid, generate, NS, reviewsVs, vhostRoutes } from './golden-virtual-service-common';

const ROOT = reviewsVs(`
  - name: api
    match:
    - {name: v1, uri: {prefix: /api/v1}, headers: {x-team: {exact: blue}}}
    - {name: any, uri: {prefix: /api}}
    timeout: 4s
    retries: {attempts: 1}
    headers: {request: {set: {x-root: "yes"}}}
    delegate: {name: reviews-api, namespace: team}
  - name: missing
    match: [{uri: {prefix: /missing}}]
    delegate: {name: does-not-exist}
  - name: hidden
    match: [{uri: {prefix: /hidden}}]
    delegate: {name: private-delegate, namespace: team}
  - name: rest
    route: [{destination: {host: reviews, subset: v1}}]
`, 'reviews-root');

const DELEGATES = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-api, namespace: team}
spec:
  http:
  - name: exact
    match: [{name: one, uri: {exact: /api/v1/one}, method: {exact: GET}}]
    route: [{destination: {host: reviews.${NS}.svc.cluster.local, subset: v2}}]
  - name: outside
    match: [{uri: {prefix: /other}}]
    route: [{destination: {host: reviews.${NS}.svc.cluster.local, subset: v2}}]
  - name: own-timeout
    match: [{uri: {prefix: /api/v1/slow}, headers: {x-user: {exact: a}}}]
    timeout: 30s
    route: [{destination: {host: reviews.${NS}.svc.cluster.local, subset: v1}}]
  - route: [{destination: {host: reviews.${NS}.svc.cluster.local, subset: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: private-delegate, namespace: team}
spec:
  exportTo: ["."]
  http:
  - route: [{destination: {host: reviews.${NS}.svc.cluster.local, subset: v2}}]
`;

const SCENE = `${ROOT}---\n${DELEGATES}`;

test('golden virtual-service/delegate: delegate routes merged into the root route; conflicts, missing and unexported delegates dropped', () => {
  const set = generate(SCENE);
  const routes = vhostRoutes(set);
  assert.deepEqual(routes.map((r) => r['name']), [
    'api-exact.v1-one', 'api-exact.any-one', // the exact match fits under both root matches
    'api-own-timeout.v1', 'api-own-timeout.any',
    'api.v1', 'api.any', // the delegate's match-less route takes each root match
    'rest',
  ]);
  assertGolden('virtual-service/delegate-sidecar', routes);
  assertValid(set);
});

test('golden virtual-service/delegate: a delegate VirtualService (no hosts) is never selected on its own', () => {
  const set = generate(DELEGATES);
  assert.deepEqual(vhostRoutes(set).map((r) => r['name']), ['default']);
});

test('envoy ACKs virtual-service/delegate', { skip: ENVOY_SKIP }, async () => {
  const dump = await assertEnvoyAcks(SCENE);
  assert.match(dump, /"name":"api-own-timeout.v1"/);
});
