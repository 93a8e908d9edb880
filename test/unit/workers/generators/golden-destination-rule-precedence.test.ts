/**
 * Which DestinationRule a proxy uses for a service (Istio PushContext.destinationRule and
 * SidecarScope.DestinationRule): the proxy's namespace, then the service's namespace, then the
 * root namespace; exportTo; exact host over wildcard and the most specific wildcard; several rules
 * for one host merged; workloadSelector (own namespace only, first matching selector, else the
 * catch-all); credentialName TLS only for gateways or selected rules; proxyless clusters unchanged.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { parseMesh, assertGolden, generateFor } from '../../../helpers/golden';
import { publishSnapshot } from '../../../helpers/fixtures';
import { ModelStore } from '../../../../src/main/model/store';
import { Registry } from '../../../../src/main/model/registry';
import { DEFAULT_MESH } from '../../../../src/main/mesh-config';
import { destinationRuleFor, destinationRuleWithSubset, trafficPolicyFor } from '../../../../src/workers/generators/destination-rules';
import { buildOutboundCluster, outboundClustersFor } from '../../../../src/workers/generators/clusters';
import { SnapshotView } from '../../../../src/shared/snapshot/snapshot-view';

function snapshot(yaml: string): SnapshotView {
  const store = new ModelStore();
  store.replaceOrigin('t', parseMesh(yaml));
  const registry = new Registry(store, { domainSuffix: 'cluster.local', rootNamespace: 'istio-system', trustDomain: 'cluster.local', raw: DEFAULT_MESH as Record<string, unknown> });
  return publishSnapshot(registry.build()).view;
}

const svc = (name: string, ns: string) => `---
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${ns}}
spec: {clusterIP: 10.96.9.${name.length}, ports: [{name: http, port: 80}]}
`;
const rule = (name: string, ns: string, host: string, extra = '') => `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${name}, namespace: ${ns}}
spec:
  host: "${host}"
${extra}`;
const names = ['a', 'b', 'istio-system'].map((n) => `---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ${n}}\n`).join('');

function pick(snap: SnapshotView, proxyNs: string, host: string, ns: string, labels?: Record<string, string>): string | undefined {
  const s = snap.servicesByHost(host).find((x) => x.namespace === ns)!;
  assert.ok(s, `service ${host}`);
  const dr = destinationRuleFor(snap, proxyNs, s, labels);
  return dr ? `${dr.namespace}/${dr.name}` : undefined;
}

test('precedence: proxy namespace, then service namespace, then root namespace', () => {
  const snap = snapshot(names + svc('web', 'b') + rule('root', 'istio-system', 'web.b.svc.cluster.local') + rule('svc-ns', 'b', 'web') + rule('proxy-ns', 'a', 'web.b.svc.cluster.local'));
  assert.equal(pick(snap, 'a', 'web.b.svc.cluster.local', 'b'), 'a/proxy-ns');
  assert.equal(pick(snap, 'b', 'web.b.svc.cluster.local', 'b'), 'b/svc-ns');
  assert.equal(pick(snap, 'other', 'web.b.svc.cluster.local', 'b'), 'b/svc-ns');
  const noSvcNs = snapshot(names + svc('web', 'b') + rule('root', 'istio-system', 'web.b.svc.cluster.local'));
  assert.equal(pick(noSvcNs, 'a', 'web.b.svc.cluster.local', 'b'), 'istio-system/root');
});

test('precedence: a proxy in the root namespace uses only private root rules before the service namespace', () => {
  const snap = snapshot(names + svc('web', 'b') + rule('root-public', 'istio-system', 'web.b.svc.cluster.local') + rule('svc-ns', 'b', 'web'));
  assert.equal(pick(snap, 'istio-system', 'web.b.svc.cluster.local', 'b'), 'b/svc-ns');
  const priv = snapshot(names + svc('web', 'b') + rule('root-private', 'istio-system', 'web.b.svc.cluster.local', '  exportTo: ["."]\n') + rule('svc-ns', 'b', 'web'));
  assert.equal(pick(priv, 'istio-system', 'web.b.svc.cluster.local', 'b'), 'istio-system/root-private');
});

test('exportTo: a private rule of the service namespace is not seen from another namespace; explicit namespaces are', () => {
  const snap = snapshot(names + svc('web', 'b') + rule('private', 'b', 'web', '  exportTo: ["."]\n') + rule('root', 'istio-system', '*.b.svc.cluster.local'));
  assert.equal(pick(snap, 'a', 'web.b.svc.cluster.local', 'b'), 'istio-system/root');
  assert.equal(pick(snap, 'b', 'web.b.svc.cluster.local', 'b'), 'b/private');
  const toA = snapshot(names + svc('web', 'b') + rule('to-a', 'b', 'web', '  exportTo: [a]\n'));
  assert.equal(pick(toA, 'a', 'web.b.svc.cluster.local', 'b'), 'b/to-a');
  assert.equal(pick(toA, 'c', 'web.b.svc.cluster.local', 'b'), undefined);
  // exported only to `a`: not in b's own namespace-local pool, but still b's exported rule for others? no: only `a`
  assert.equal(pick(toA, 'b', 'web.b.svc.cluster.local', 'b'), undefined);
});

test('hosts: exact host over wildcard, the longest wildcard over a shorter one', () => {
  const snap = snapshot(names + svc('web', 'b') + rule('star', 'b', '*') + rule('b-wild', 'b', '*.b.svc.cluster.local') + rule('local-wild', 'b', '*.svc.cluster.local'));
  assert.equal(pick(snap, 'b', 'web.b.svc.cluster.local', 'b'), 'b/b-wild');
  const exact = snapshot(names + svc('web', 'b') + rule('b-wild', 'b', '*.b.svc.cluster.local') + rule('exact', 'b', 'web'));
  assert.equal(pick(exact, 'b', 'web.b.svc.cluster.local', 'b'), 'b/exact');
});

test('merge: rules for one host in one namespace are merged (subsets concatenated, the first trafficPolicy kept)', () => {
  const snap = snapshot(names + svc('web', 'b')
    + rule('web-1', 'b', 'web', '  subsets: [{name: v1, labels: {version: v1}}]\n')
    + rule('web-2', 'b', 'web', '  trafficPolicy: {loadBalancer: {simple: RANDOM}}\n  subsets: [{name: v1, labels: {version: other}}, {name: v2, labels: {version: v2}}]\n')
    + rule('web-3', 'b', 'web', '  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}\n'));
  const s = snap.servicesByHost('web.b.svc.cluster.local')[0]!;
  const dr = destinationRuleFor(snap, 'b', s)!;
  assert.equal(dr.name, 'web-1');
  assert.deepEqual(dr.spec.subsets, [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }]);
  assert.deepEqual(dr.spec.trafficPolicy, { loadBalancer: { simple: 'RANDOM' } });
});

test('workloadSelector: applies only to matching proxies of its own namespace; the catch-all otherwise', () => {
  const sel = (name: string, labels: string, extra = '') => rule(name, 'b', 'web', `  workloadSelector: {matchLabels: ${labels}}\n${extra}`);
  const snap = snapshot(names + svc('web', 'b') + rule('catch-all', 'b', 'web', '  subsets: [{name: base, labels: {version: v1}}]\n')
    + sel('for-canary', '{app: client, track: canary}', '  subsets: [{name: canary, labels: {version: v2}}]\n') + sel('for-client', '{app: client}'));
  assert.equal(pick(snap, 'b', 'web.b.svc.cluster.local', 'b', { app: 'client', track: 'canary' }), 'b/for-canary');
  assert.equal(pick(snap, 'b', 'web.b.svc.cluster.local', 'b', { app: 'client' }), 'b/for-client');
  assert.equal(pick(snap, 'b', 'web.b.svc.cluster.local', 'b', { app: 'other' }), 'b/catch-all');
  assert.equal(pick(snap, 'b', 'web.b.svc.cluster.local', 'b'), 'b/catch-all');
  assert.equal(pick(snap, 'a', 'web.b.svc.cluster.local', 'b', { app: 'client', track: 'canary' }), 'b/catch-all', 'selector rules stay in their namespace');
  const s = snap.servicesByHost('web.b.svc.cluster.local')[0]!;
  // the catch-all's subsets are merged into the selected rules; EDS finds a selector-only subset
  assert.deepEqual((destinationRuleFor(snap, 'b', s, { app: 'client', track: 'canary' })!.spec.subsets as any[]).map((x) => x.name), ['canary', 'base']);
  assert.equal(destinationRuleWithSubset(snap, 'b', s, 'canary')?.name, 'for-canary');
  assert.equal(destinationRuleWithSubset(snap, 'b', s, 'base')?.name, 'catch-all');
});

test('policy merge: subset over top level field by field; port level replaces the whole policy', () => {
  const snap = snapshot(names + svc('web', 'b') + rule('web', 'b', 'web', `  trafficPolicy:
    loadBalancer: {simple: RANDOM}
    tls: {mode: ISTIO_MUTUAL}
    portLevelSettings: [{port: {number: 80}, connectionPool: {tcp: {maxConnections: 5}}}]
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
`));
  const dr = destinationRuleFor(snap, 'b', snap.servicesByHost('web.b.svc.cluster.local')[0]!)!;
  assert.deepEqual(trafficPolicyFor(dr, 81, ''), dr.spec.trafficPolicy);
  assert.deepEqual(trafficPolicyFor(dr, 80, ''), { loadBalancer: undefined, connectionPool: { tcp: { maxConnections: 5 } }, outlierDetection: undefined, tls: undefined });
  assert.deepEqual(trafficPolicyFor(dr, 81, 'v1')?.loadBalancer, { simple: 'ROUND_ROBIN' });
  assert.deepEqual(trafficPolicyFor(dr, 81, 'v1')?.tls, { mode: 'ISTIO_MUTUAL' });
  assert.deepEqual(trafficPolicyFor(dr, 80, 'v1')?.connectionPool, { tcp: { maxConnections: 5 } });
});

test('golden destination-rule/tls-credential: credentialName over istiod SDS for gateways and selected sidecar rules', () => {
  const snap = snapshot(names + svc('db', 'b') + rule('db', 'b', 'db', `  workloadSelector: {matchLabels: {app: client}}
  trafficPolicy: {tls: {mode: MUTUAL, credentialName: db-client, sni: db.example.com, subjectAltNames: [db.example.com]}}
`) + rule('db-simple', 'a', 'db.b.svc.cluster.local', '  trafficPolicy: {tls: {mode: SIMPLE, credentialName: db-ca}}\n'));
  const s = snap.servicesByHost('db.b.svc.cluster.local')[0]!;
  const selected = destinationRuleFor(snap, 'b', s, { app: 'client' });
  const simple = destinationRuleFor(snap, 'a', s);
  const sidecarMutual = buildOutboundCluster(s, s.ports[0]!, '', selected, { proxyless: false, labels: { app: 'client' } });
  const gatewaySimple = buildOutboundCluster(s, s.ports[0]!, '', simple, { proxyless: false, gateway: true });
  const sidecarSimple = buildOutboundCluster(s, s.ports[0]!, '', simple, { proxyless: false });
  assert.equal(sidecarSimple['transport_socket'], undefined, 'no credential for a sidecar without a selected rule');
  assertGolden('destination-rule/tls-credential', { sidecarMutual: sidecarMutual['transport_socket'], gatewaySimple: gatewaySimple['transport_socket'], gatewaySimpleOptions: gatewaySimple['typed_extension_protocol_options'] });
});

test('golden destination-rule/proxyless: gRPC clients keep ROUND_ROBIN / RING_HASH, circuit breakers, ISTIO_MUTUAL as certificate-provider TLS, no outlier detection', () => {
  const yaml = `${names}${svc('echo', 'a').replace('name: http, port: 80', 'name: grpc, port: 7070')}${rule('echo', 'a', 'echo', `  trafficPolicy:
    loadBalancer: {simple: LEAST_REQUEST}
    connectionPool: {http: {http2MaxRequests: 100}}
    outlierDetection: {consecutive5xxErrors: 2}
    tls: {mode: ISTIO_MUTUAL}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user, ringHash: {minimumRingSize: 99999999}}}}
`)}`;
  const set = generateFor(yaml, { id: 'sidecar~10.3.0.1~grpc-client.a~a.svc.cluster.local', metadata: { GENERATOR: 'grpc', NAMESPACE: 'a' } }, { listenerNames: ['echo.a.svc.cluster.local:7070'], routeNames: ['outbound|7070|v1|echo.a.svc.cluster.local'] });
  const c = (n: string) => set.clusters.find((x) => x['name'] === n);
  const byName = ['outbound|7070||echo.a.svc.cluster.local'].map(c);
  assert.ok(byName[0], `default cluster generated (have ${set.clusters.map((x) => x['name']).join(', ')})`);
  assertGolden('destination-rule/proxyless', byName);
});

test('proxyless: a subset consistentHash becomes RING_HASH (xxHash, ring size clamped to grpc-js-xds limit); MAGLEV is never sent', () => {
  const snap = snapshot(names + svc('echo', 'a') + rule('echo', 'a', 'echo', `  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user, maglev: {tableSize: 65537}}}}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user, ringHash: {minimumRingSize: 99999999}}}}
  - name: v2
    labels: {version: v2}
    trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}
`));
  const s = snap.servicesByHost('echo.a.svc.cluster.local')[0]!;
  const byName = new Map(outboundClustersFor(snap, 'a', s, { proxyless: true }).map((c) => [c.name, c.resource]));
  assert.deepEqual(byName.get('outbound|80|v1|echo.a.svc.cluster.local')?.['ring_hash_lb_config'], { hash_function: 'XX_HASH', minimum_ring_size: { value: 8_388_608 } });
  assert.equal(byName.get('outbound|80||echo.a.svc.cluster.local')?.['lb_policy'], 'RING_HASH', 'maglev falls back to RING_HASH for gRPC');
  assert.equal(byName.get('outbound|80|v2|echo.a.svc.cluster.local')?.['lb_policy'], 'ROUND_ROBIN', 'LEAST_REQUEST stays ROUND_ROBIN (grpc-js-xds NACKs it)');
});
