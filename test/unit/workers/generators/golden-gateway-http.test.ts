/**
 * Gateway goldens, plaintext HTTP: one listener per server port with an HCM routed by RDS
 * `http.<port>`; VirtualServices bound by gateway name (`name` in the VirtualService's namespace,
 * `ns/name`), visible by exportTo; server hosts with a namespace part (`apps/…`, `./…`, `*​/…`)
 * meeting VirtualService hosts (Istio host intersection, the more specific name wins); identical
 * route lists collapsing into one virtual host; the 404 blackhole virtual host when nothing is bound;
 * two Gateways' HTTP servers on one port sharing one listener and one route configuration.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertGolden } from '../../../helpers/golden';
import { ENVOY_SKIP } from '../../../helpers/envoy-ack';
import { GW_NS, NS, assertEnvoyAcks, assertValid, focusListener, focusRoutes, gateway, generate, listener, routeConfig } from './golden-gateway-common';

const HTTP_GATEWAY = gateway(`  - port: {number: \${PORT0}, name: http, protocol: HTTP}
    hosts: ["*"]`);

function vs(name: string, ns: string, hosts: string, gateways: string, prefix: string, dest: string, extra = ''): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}, namespace: ${ns}}
spec:
  hosts: ${hosts}
  gateways: ${gateways}
${extra}  http:
  - match: [{uri: {prefix: ${prefix}}}]
    route: [{destination: {host: ${dest}}}]
`;
}

const BOOKINFO_VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: bookinfo, namespace: ${NS}}
spec:
  hosts: [bookinfo.example.com]
  gateways: [${GW_NS}/public-gw]
  http:
  - match: [{uri: {prefix: /reviews}}]
    route: [{destination: {host: reviews, subset: v1}}]
  - route: [{destination: {host: ratings}}]
`;

const SCENE = `${HTTP_GATEWAY}\n---\n${BOOKINFO_VS}`;

test('gateway HTTP: listener 0.0.0.0_<port> with an HCM routed by RDS http.<port>', () => {
  const set = generate(SCENE);
  assertValid(set);
  assert.deepEqual(set.context.gateways, [`${GW_NS}/public-gw`]);
  assert.deepEqual(set.listeners.map((l) => l['name']), ['0.0.0.0_18080']);
  assertGolden('gateway/http-listener', focusListener(listener(set, '0.0.0.0_18080')));
});

test('gateway HTTP: a virtual host per bound VirtualService host, routes in order', () => {
  const set = generate(SCENE);
  assertGolden('gateway/http-routes', focusRoutes(routeConfig(set, 'http.18080')));
});

test('gateway HTTP: a real Envoy ACKs it', { skip: ENVOY_SKIP }, async () => {
  await assertEnvoyAcks(SCENE);
});

// Hosts binding: namespace-qualified server hosts and the ways a VirtualService names a gateway.
const HOSTS_SCENE = [
  gateway(`  - port: {number: \${PORT0}, name: http, protocol: HTTP}
    hosts: ["${NS}/*.example.com", "./admin.internal", "*/shop.example.org"]`),
  // bound: apps VS, host under apps/*.example.com, gateway as ns/name
  vs('bookinfo', NS, '[bookinfo.example.com]', `[${GW_NS}/public-gw]`, '/bookinfo', 'reviews'),
  // bound: wildcard VS host meets the wildcard server host (the more specific of the two is kept)
  vs('wild', NS, '["*.example.com"]', `[${GW_NS}/public-gw]`, '/wild', 'ratings'),
  // bound and collapsed: two hosts with the same routes share one virtual host
  vs('pair', NS, '[a.example.com, b.example.com]', `[${GW_NS}/public-gw]`, '/pair', 'ratings'),
  // not bound: ./admin.internal is for the Gateway's own namespace only
  vs('admin-apps', NS, '[admin.internal]', `[${GW_NS}/public-gw]`, '/wrong-namespace', 'ratings'),
  // bound: same namespace as the Gateway, gateway named without namespace
  vs('admin', GW_NS, '[admin.internal]', '[public-gw]', '/admin', `ratings.${NS}.svc.cluster.local`),
  // bound: */shop.example.org admits every namespace
  vs('shop', NS, '[shop.example.org]', `[${GW_NS}/public-gw]`, '/shop', 'reviews'),
  // not bound: mesh only, another gateway, not exported to the gateway's namespace, host outside the server's
  vs('mesh-only', NS, '[bookinfo.example.com]', '[mesh]', '/mesh', 'ratings'),
  vs('other-gw', NS, '[bookinfo.example.com]', `[${GW_NS}/other-gw]`, '/other-gateway', 'ratings'),
  vs('private', NS, '[private.example.com]', `[${GW_NS}/public-gw]`, '/not-exported', 'ratings', '  exportTo: ["."]\n'),
  vs('elsewhere', NS, '[elsewhere.example.net]', `[${GW_NS}/public-gw]`, '/outside-server-hosts', 'ratings'),
].join('---\n');

test('gateway HTTP hosts: namespace-qualified server hosts, gateway names, exportTo, host intersection and collapse', () => {
  const set = generate(HOSTS_SCENE);
  assertValid(set);
  const rc = focusRoutes(routeConfig(set, 'http.18080'));
  assertGolden('gateway/http-hosts-routes', rc);
  const prefixes = JSON.stringify(rc);
  for (const absent of ['/wrong-namespace', '/mesh', '/other-gateway', '/not-exported', '/outside-server-hosts']) assert.ok(!prefixes.includes(absent), absent);
});

test('gateway HTTP hosts: a real Envoy ACKs it', { skip: ENVOY_SKIP }, async () => {
  await assertEnvoyAcks(HOSTS_SCENE);
});

test('gateway HTTP: no bound VirtualService gives the 404 blackhole virtual host', () => {
  const set = generate(HTTP_GATEWAY);
  assertValid(set);
  assertGolden('gateway/http-blackhole-routes', focusRoutes(routeConfig(set, 'http.18080')));
});

const TWO_GATEWAYS = [
  HTTP_GATEWAY.replace('hosts: ["*"]', 'hosts: ["bookinfo.example.com"]'),
  gateway(`  - port: {number: \${PORT0}, name: http-shop, protocol: HTTP}
    hosts: ["shop.example.org"]`, 'shop-gw', NS),
  BOOKINFO_VS,
  vs('shop', NS, '[shop.example.org]', '[shop-gw]', '/shop', 'reviews'),
].join('---\n');

test('gateway HTTP: HTTP servers of two Gateways on one port share the listener and http.<port>', () => {
  const set = generate(TWO_GATEWAYS);
  assertValid(set);
  assert.deepEqual(set.context.gateways, [`${NS}/shop-gw`, `${GW_NS}/public-gw`]);
  assert.deepEqual(set.listeners.map((l) => l['name']), ['0.0.0.0_18080']);
  assert.deepEqual(set.routes.map((r) => r['name']), ['http.18080']);
  assertGolden('gateway/http-two-gateways-routes', focusRoutes(routeConfig(set, 'http.18080')));
});

test('gateway HTTP: two Gateways on one port, a real Envoy ACKs it', { skip: ENVOY_SKIP }, async () => {
  await assertEnvoyAcks(TWO_GATEWAYS);
});

test('gateway HTTP: a VirtualService met through two servers of its Gateway on one port contributes its routes once', () => {
  const set = generate(`${gateway(`  - port: {number: \${PORT0}, name: http, protocol: HTTP}
    hosts: ["*"]
  - port: {number: \${PORT0}, name: http-bookinfo, protocol: HTTP}
    hosts: [bookinfo.example.com]`)}---\n${BOOKINFO_VS}`);
  assertValid(set);
  const rc = focusRoutes(routeConfig(set, 'http.18080'));
  assert.deepEqual(rc['virtual_hosts'].map((v: any) => [v.name, v.routes.length]), [['bookinfo.example.com:18080', 2]]);
});
