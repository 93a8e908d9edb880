/**
 * Gateway goldens, security policy (Istio applies AuthorizationPolicy and RequestAuthentication
 * to gateway pods selected by their labels, from the gateway's namespace and the root namespace):
 * - an HTTP server's HCM gets jwt_authn (clear_route_cache) then the RBAC filters (DENY, ALLOW…)
 *   ahead of its own fault/cors/router filters;
 * - a TCP server's chain gets the network RBAC filter ahead of tcp_proxy;
 * - policies whose selector misses the gateway's labels, or that attach by targetRef, add nothing.
 * Each case: focused golden, structural validator, real Envoy ACK.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertGolden } from '../../../helpers/golden';
import { ENVOY_SKIP } from '../../../helpers/envoy-ack';
import { GW_NS, NS, assertEnvoyAcks, assertValid, gateway, generate, listener } from './golden-gateway-common';

type Obj = Record<string, any>;

const HTTP_GW = `${gateway(`  - port: {number: \${PORT0}, name: http, protocol: HTTP}
    hosts: ["*"]`)}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: ${NS}}
spec:
  hosts: ["*"]
  gateways: [${GW_NS}/public-gw]
  http:
  - route: [{destination: {host: reviews, port: {number: 9080}}}]
`;

function policy(name: string, spec: string, ns = GW_NS): string {
  return `---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ${name}, namespace: ${ns}}
spec:
${spec}
`;
}

const DENY_ADMIN = `${HTTP_GW}${policy('deny-admin', `  selector: {matchLabels: {istio: ingressgateway}}
  action: DENY
  rules:
  - to: [{operation: {paths: [/admin, /admin/*]}}]`)}`;

const ALLOW_GET = `${HTTP_GW}${policy('allow-get', `  selector: {matchLabels: {istio: ingressgateway}}
  action: ALLOW
  rules:
  - to: [{operation: {methods: [GET]}}]`)}`;

const JWT = `${HTTP_GW}---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: ${GW_NS}}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  jwtRules:
  - issuer: https://auth.example.com
    jwksUri: https://auth.example.com/.well-known/jwks.json
    forwardOriginalToken: true
${policy('require-jwt', `  selector: {matchLabels: {istio: ingressgateway}}
  action: ALLOW
  rules:
  - from: [{source: {requestPrincipals: ["*"]}}]`)}`;

const TCP_DENY = `${gateway(`  - port: {number: \${PORT3}, name: tcp-db, protocol: TCP}
    hosts: ["*"]`)}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db, namespace: ${NS}}
spec:
  hosts: ["*"]
  gateways: [${GW_NS}/public-gw]
  tcp:
  - route: [{destination: {host: details, port: {number: 3306}}}]
${policy('deny-private', `  selector: {matchLabels: {istio: ingressgateway}}
  action: DENY
  rules:
  - from: [{source: {ipBlocks: [10.0.0.0/8, 192.168.0.0/16]}}]`)}`;

/** The network filters of the listener's chains, and of each HCM its http_filters (what this feature decides). */
function securityView(l: Obj): Obj {
  return {
    name: l['name'],
    filter_chains: (l['filter_chains'] as Obj[]).map((c) => ({
      filters: (c['filters'] as Obj[]).map((f) => f['name'] === 'envoy.filters.network.http_connection_manager'
        ? { name: f['name'], http_filters: f['typed_config']['http_filters'] }
        : f),
    })),
  };
}

function httpFilterNames(l: Obj): string[] {
  const hcm = (l['filter_chains'][0]['filters'] as Obj[]).find((f) => f['name'] === 'envoy.filters.network.http_connection_manager')!;
  return (hcm['typed_config']['http_filters'] as Obj[]).map((f) => f['name']);
}

test('gateway security: DENY on paths adds an rbac DENY filter ahead of the HCM\'s own filters', () => {
  const set = generate(DENY_ADMIN);
  assertValid(set);
  const l = listener(set, '0.0.0.0_18080');
  assert.deepEqual(httpFilterNames(l), ['envoy.filters.http.rbac', 'envoy.filters.http.fault', 'envoy.filters.http.cors', 'envoy.filters.http.router']);
  assertGolden('gateway-security/deny-admin-listener', securityView(l));
});

test('gateway security: DENY on paths, a real Envoy ACKs it', { skip: ENVOY_SKIP }, async () => {
  await assertEnvoyAcks(DENY_ADMIN);
});

test('gateway security: ALLOW GET only', () => {
  const set = generate(ALLOW_GET);
  assertValid(set);
  assertGolden('gateway-security/allow-get-listener', securityView(listener(set, '0.0.0.0_18080')));
});

test('gateway security: ALLOW GET only, a real Envoy ACKs it', { skip: ENVOY_SKIP }, async () => {
  await assertEnvoyAcks(ALLOW_GET);
});

test('gateway security: RequestAuthentication adds jwt_authn (clear_route_cache) before the rbac filter', () => {
  const set = generate(JWT);
  assertValid(set);
  const l = listener(set, '0.0.0.0_18080');
  assert.deepEqual(httpFilterNames(l), ['envoy.filters.http.jwt_authn', 'envoy.filters.http.rbac', 'envoy.filters.http.fault', 'envoy.filters.http.cors', 'envoy.filters.http.router']);
  const hcm = (l['filter_chains'][0]['filters'] as Obj[])[0]!;
  const jwt = (hcm['typed_config']['http_filters'] as Obj[])[0]!;
  assert.equal(jwt['typed_config']['providers']['origins-0']['clear_route_cache'], true);
  assertGolden('gateway-security/jwt-listener', securityView(l));
});

test('gateway security: RequestAuthentication, a real Envoy ACKs it', { skip: ENVOY_SKIP }, async () => {
  await assertEnvoyAcks(JWT);
});

test('gateway security: a TCP server gets the network rbac filter (DENY ipBlocks) ahead of tcp_proxy', () => {
  const set = generate(TCP_DENY);
  assertValid(set);
  const l = listener(set, '0.0.0.0_18445');
  assert.deepEqual((l['filter_chains'][0]['filters'] as Obj[]).map((f) => f['name']), ['envoy.filters.network.rbac', 'envoy.filters.network.tcp_proxy']);
  assertGolden('gateway-security/tcp-deny-listener', securityView(l));
});

test('gateway security: TCP DENY ipBlocks, a real Envoy ACKs it', { skip: ENVOY_SKIP }, async () => {
  await assertEnvoyAcks(TCP_DENY);
});

test('gateway security: policies for other workloads, of other namespaces, or attached by targetRef add nothing', () => {
  const other = `${HTTP_GW}${policy('other-selector', `  selector: {matchLabels: {app: reviews}}
  action: DENY
  rules: [{to: [{operation: {paths: [/admin]}}]}]`)}${policy('other-namespace', `  action: DENY
  rules: [{to: [{operation: {paths: [/admin]}}]}]`, NS)}${policy('target-ref', `  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: public-gw}]
  action: DENY
  rules: [{to: [{operation: {paths: [/admin]}}]}]`)}`;
  const set = generate(other);
  assertValid(set);
  assert.deepEqual(httpFilterNames(listener(set, '0.0.0.0_18080')), ['envoy.filters.http.fault', 'envoy.filters.http.cors', 'envoy.filters.http.router']);
});

test('gateway security: a namespace-wide root-namespace policy (no selector) applies to the gateway too', () => {
  const set = generate(`${HTTP_GW}${policy('mesh-wide', `  action: DENY
  rules: [{to: [{operation: {paths: [/admin]}}]}]`)}`);
  assert.deepEqual(httpFilterNames(listener(set, '0.0.0.0_18080'))[0], 'envoy.filters.http.rbac');
});

test('gateway security: PASSTHROUGH and AUTO_PASSTHROUGH chains are TCP chains too: network rbac ahead of tcp_proxy', () => {
  const yaml = `${gateway(`  - port: {number: \${PORT1}, name: tls-passthrough, protocol: TLS}
    hosts: ["*.example.com"]
    tls: {mode: PASSTHROUGH}
  - port: {number: \${PORT2}, name: tls-auto, protocol: TLS}
    hosts: ["*.${NS}.svc.cluster.local"]
    tls: {mode: AUTO_PASSTHROUGH}`)}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: passthrough, namespace: ${NS}}
spec:
  hosts: ["*.example.com"]
  gateways: [${GW_NS}/public-gw]
  tls:
  - match: [{sniHosts: [bookinfo.example.com]}]
    route: [{destination: {host: reviews, port: {number: 9080}}}]
${policy('deny-private', `  selector: {matchLabels: {istio: ingressgateway}}
  action: DENY
  rules:
  - from: [{source: {ipBlocks: [10.0.0.0/8]}}]`)}`;
  const set = generate(yaml);
  assertValid(set);
  for (const name of ['0.0.0.0_18443', '0.0.0.0_18444']) {
    const chains = listener(set, name)['filter_chains'] as Obj[];
    assert.ok(chains.length > 0);
    for (const c of chains) assert.deepEqual((c['filters'] as Obj[]).map((f) => f['name']), ['envoy.filters.network.rbac', 'envoy.filters.network.tcp_proxy'], name);
  }
});

test('gateway security: a terminated HTTPS server\'s HCM gets the HTTP filters, not network rbac', () => {
  const set = generate(`${gateway(`  - port: {number: \${PORT1}, name: https, protocol: HTTPS}
    hosts: ["*"]
    tls: {mode: SIMPLE, credentialName: gw-cert}`)}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: ${NS}}
spec:
  hosts: ["*"]
  gateways: [${GW_NS}/public-gw]
  http:
  - route: [{destination: {host: reviews, port: {number: 9080}}}]
${policy('deny-admin', `  selector: {matchLabels: {istio: ingressgateway}}
  action: DENY
  rules:
  - to: [{operation: {paths: [/admin]}}]`)}`);
  assertValid(set);
  const l = listener(set, '0.0.0.0_18443');
  assert.ok(l['filter_chains'][0]['transport_socket'], 'TLS terminated');
  assert.deepEqual((l['filter_chains'][0]['filters'] as Obj[]).map((f) => f['name']), ['envoy.filters.network.http_connection_manager']);
  assert.deepEqual(httpFilterNames(l), ['envoy.filters.http.rbac', 'envoy.filters.http.fault', 'envoy.filters.http.cors', 'envoy.filters.http.router']);
});
