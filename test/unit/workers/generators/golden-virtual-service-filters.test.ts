/**
 * VirtualService fault, mirror(s), corsPolicy and header operations → Envoy (Istio TranslateFault,
 * TranslateRequestMirrorPolicy, TranslateCORSPolicy, TranslateHeadersOperations), and the HTTP
 * filter chain that makes the per-route configs take effect (fault, cors, router).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertGolden, generateFor, rdsNames } from '../../../helpers/golden';
import { ENVOY_SKIP } from '../../../helpers/envoy-ack';
import { assertEnvoyAcks, assertGrpcJsAccepts, assertValid, baseMesh, generate, NS, reviewsVs, vhostRoutes } from './golden-virtual-service-common';

const FILTERS = reviewsVs(`
  - name: delayed
    match: [{uri: {prefix: /delay}}]
    fault: {delay: {fixedDelay: 1.5s, percentage: {value: 12.5}}}
    route: [{destination: {host: reviews, subset: v1}}]
  - name: delayed-legacy-percent
    match: [{uri: {prefix: /delay-legacy}}]
    fault: {delay: {fixedDelay: 100ms, percent: 50}}
    route: [{destination: {host: reviews, subset: v1}}]
  - name: aborted
    match: [{uri: {prefix: /abort}}]
    fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    route: [{destination: {host: reviews, subset: v1}}]
  - name: aborted-grpc
    match: [{uri: {prefix: /grpc-abort}}]
    fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 0.1}}, delay: {fixedDelay: 2s, percentage: {value: 50}}}
    route: [{destination: {host: reviews, subset: v1}}]
  - name: mirrored
    match: [{uri: {prefix: /mirror}}]
    mirror: {host: ratings}
    mirrorPercentage: {value: 25.5}
    route: [{destination: {host: reviews, subset: v1}}]
  - name: mirrors
    match: [{uri: {prefix: /mirrors}}]
    mirrors:
    - {destination: {host: reviews, subset: v2}, percentage: {value: 10}}
    - {destination: {host: reviews, subset: v1}}
    - {destination: {host: nowhere.example.com}}
    route: [{destination: {host: reviews, subset: v1}}]
  - name: mirror-off
    match: [{uri: {prefix: /no-mirror}}]
    mirror: {host: ratings}
    mirrorPercentage: {value: 0}
    route: [{destination: {host: reviews, subset: v1}}]
  - name: cors
    match: [{uri: {prefix: /cors}}]
    corsPolicy:
      allowOrigins: [{exact: "https://a.example.com"}, {prefix: "https://b."}, {regex: "https://.*\\\\.c\\\\.example\\\\.com"}]
      allowMethods: [GET, POST]
      allowHeaders: [x-user, content-type]
      exposeHeaders: [x-request-id]
      maxAge: 24h
      allowCredentials: true
    route: [{destination: {host: reviews, subset: v1}}]
  - name: cors-ignore-preflights
    match: [{uri: {prefix: /cors2}}]
    corsPolicy: {allowOrigins: [{exact: "*"}], unmatchedPreflights: IGNORE}
    route: [{destination: {host: reviews, subset: v1}}]
  - name: headers
    match: [{uri: {prefix: /headers}}]
    headers:
      request:
        set: {x-b: "2", x-a: "1", host: set-authority.example.com}
        add: {x-added: "yes"}
        remove: [x-secret]
      response:
        set: {cache-control: no-store}
        add: {x-served-by: reviews}
        remove: [server]
    route:
    - destination: {host: reviews, subset: v1}
      headers: {request: {set: {x-dest: v1}}, response: {remove: [x-internal]}}
  - name: weighted-headers
    match: [{uri: {prefix: /wh}}]
    route:
    - destination: {host: reviews, subset: v1}
      weight: 50
      headers: {request: {set: {x-dest: v1, ":authority": v1.reviews}}}
    - destination: {host: reviews, subset: v2}
      weight: 50
      headers: {response: {add: {x-dest: v2}}}
`);

test('golden virtual-service/filters: fault delay/abort, mirrors, cors and header operations', () => {
  const set = generate(FILTERS);
  const routes = vhostRoutes(set);
  assertGolden('virtual-service/filters-sidecar', routes);
  const byName = new Map(routes.map((r) => [r['name'], r]));
  assert.equal(byName.get('mirror-off')!['route']['request_mirror_policies'], undefined, 'mirrorPercentage 0 turns mirroring off');
  assert.equal(byName.get('mirrors')!['route']['request_mirror_policies'].length, 2, 'a mirror to an unknown host is left out');
  assertValid(set);
});

test('golden virtual-service/filters: every HCM carries fault and cors before the router', () => {
  const set = generate(FILTERS);
  const listener = set.listeners.find((l) => rdsNames(l).includes('9080'))!;
  const hcm = listener['filter_chains'][0]['filters'][0]['typed_config'];
  assertGolden('virtual-service/http-filters-sidecar', hcm['http_filters']);
  assert.deepEqual(hcm['http_filters'].map((f: any) => f['name']), ['envoy.filters.http.fault', 'envoy.filters.http.cors', 'envoy.filters.http.router']);
});

test('envoy ACKs virtual-service/filters', { skip: ENVOY_SKIP }, async () => {
  const dump = await assertEnvoyAcks(FILTERS);
  assert.match(dump, /envoy.filters.http.cors/);
  assert.match(dump, /"name":"weighted-headers"/);
});

test('golden virtual-service/filters: proxyless gRPC gets fault and timeouts only; redirect, direct response and query-parameter routes are left out', () => {
  const vs = reviewsVs(`
  - name: redirect
    match: [{uri: {prefix: /old}}]
    redirect: {uri: /new}
  - name: direct
    match: [{uri: {prefix: /health}}]
    directResponse: {status: 200}
  - name: by-query
    match: [{queryParams: {debug: {exact: "1"}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: faulty
    match: [{headers: {x-fault: {exact: abort}}}]
    fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}
    corsPolicy: {allowOrigins: [{exact: "*"}]}
    headers: {request: {set: {x-a: "1"}}}
    mirror: {host: ratings}
    timeout: 3s
    retries: {attempts: 4, retryOn: "unavailable,cancelled,5xx", perTryTimeout: 1s}
    route: [{destination: {host: reviews, subset: v2}, headers: {request: {set: {x-b: "2"}}}}]
  - route: [{destination: {host: reviews, subset: v1}}]
`);
  const name = `outbound|9080||reviews.${NS}.svc.cluster.local`;
  const set = generateFor(`${baseMesh()}\n---\n${vs}`, {
    id: `sidecar~10.1.0.30~grpc-client.${NS}~${NS}.svc.cluster.local`,
    metadata: { GENERATOR: 'grpc', NAMESPACE: NS },
  }, { listenerNames: [`reviews.${NS}.svc.cluster.local:9080`], routeNames: [name] });
  const routes = set.routes.find((r) => r['name'] === name)!['virtual_hosts'][0]['routes'];
  assert.deepEqual(routes.map((r: any) => r['name']), ['faulty', undefined]);
  assertGolden('virtual-service/filters-proxyless', routes);
  const hcm = set.listeners[0]!['api_listener']['api_listener'];
  assert.deepEqual(hcm['http_filters'].map((f: any) => f['name']), ['envoy.filters.http.fault', 'envoy.filters.http.router']);
  assertValid(set);
  assertGrpcJsAccepts(set);
});
