/**
 * PeerAuthentication → sidecar inbound chains, as Istio builds them (authn ComposePeerAuthentication,
 * filterchain_options.go getFilterChainMatchOptions, authn/utils BuildInboundTLS):
 * - PERMISSIVE (no policy at all): per port, mTLS chains matched on Istio's ALPNs (transport tls,
 *   DownstreamTlsContext requiring a client certificate, SDS `default` + `ROOTCA` from `sds-grpc`,
 *   SAN prefix spiffe://cluster.local/) and the plaintext chains; tls_inspector before http_inspector;
 * - STRICT (mesh-wide): mTLS chains only; DISABLE (namespace over mesh): plaintext only;
 * - a workload policy (selector) and portLevelMtls keyed by the target port; a port-level mode on a
 *   port no service declares gets its own passthrough chains;
 * - the oldest policy wins at one level; UNSET inherits.
 * Every scene is structurally valid and ACKed by a real Envoy (with the shared SDS agent).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertGolden } from '../../../helpers/golden';
import { ENVOY_SKIP } from '../../../helpers/envoy-ack';
import { assertEnvoyAcks, assertValid, dumpNames, generate, listener, withoutHttpFilters } from './golden-sidecar-common';
import { chainSummary, inboundListenersWithFullContext, NS, pa, reviews } from './golden-peer-authentication-common';
import { Scene } from './golden-sidecar-common';

const MESH_STRICT = pa('default', 'istio-system', '  mtls: {mode: STRICT}\n');
const NS_DISABLE = pa('default', NS, '  mtls: {mode: DISABLE}\n');
const WORKLOAD = pa('reviews', NS, `  selector: {matchLabels: {app: reviews}}
  mtls: {mode: STRICT}
  portLevelMtls:
    "9100": {mode: DISABLE}
    "9090": {mode: UNSET}
    "15000": {mode: PERMISSIVE}
`);

const SCENES = {
  permissive: reviews(),
  strict: reviews(MESH_STRICT),
  disable: reviews(`${MESH_STRICT}\n${NS_DISABLE}`),
  workload: reviews(`${NS_DISABLE}\n${WORKLOAD}`),
};

/** virtualInbound as the proxy receives it (facets joined), the whole set checked by the structural validator. */
const viOf = (scene: Scene) => {
  const set = generate(scene);
  assertValid(set);
  const l = set.listeners.find((x) => x['name'] === 'virtualInbound');
  assert.ok(l, 'virtualInbound generated');
  // the facet-projected context gives the generator what the whole context would
  assert.deepEqual(inboundListenersWithFullContext(scene).find((x) => x['name'] === 'virtualInbound'), l);
  return l;
};
const vi = (name: keyof typeof SCENES) => viOf(SCENES[name]);
const filterNames = (l: Record<string, any>) => (l['listener_filters'] ?? []).map((f: any) => f.name.replace('envoy.filters.listener.', ''));

test('golden peer-authentication/permissive: no policy is PERMISSIVE (mTLS and plaintext chains per port, tls_inspector)', () => {
  const l = vi('permissive');
  assert.deepEqual(filterNames(l), ['original_dst', 'tls_inspector', 'http_inspector']);
  assertGolden('peer-authentication/permissive', withoutHttpFilters(l));
});

test('golden peer-authentication/strict: a mesh-wide STRICT policy leaves only mTLS chains', () => {
  const l = vi('strict');
  const chains = chainSummary(l);
  assert.ok(chains.filter((c) => !c.startsWith('virtualInbound-blackhole')).every((c) => c.includes(' tls') && c.includes('mTLS')), chains.join('\n'));
  assertGolden('peer-authentication/strict', withoutHttpFilters(l));
});

test('golden peer-authentication/disable: a namespace DISABLE overrides the mesh STRICT (plaintext only, no tls_inspector)', () => {
  const l = vi('disable');
  assert.ok(chainSummary(l).every((c) => !c.includes('mTLS')));
  assert.deepEqual(filterNames(l), ['original_dst', 'http_inspector']);
  assertGolden('peer-authentication/disable', withoutHttpFilters(l));
});

test('golden peer-authentication/workload-port-level: a workload STRICT policy with port-level DISABLE/UNSET and a passthrough port', () => {
  const l = vi('workload');
  const chains = chainSummary(l);
  // 9080 STRICT (workload), 9090 UNSET → workload STRICT, 9100 DISABLE; 15000 (no service port) → PERMISSIVE passthrough chains
  assert.ok(chains.includes('0.0.0.0_9080 port=9080 tls mTLS http_connection_manager'), chains.join('\n'));
  assert.ok(chains.includes('0.0.0.0_9100 port=9100 raw_buffer plain tcp_proxy'), chains.join('\n'));
  assert.ok(chains.some((c) => c.startsWith('virtualInbound port=15000 raw_buffer plain')), chains.join('\n'));
  assert.ok(chains.some((c) => c.startsWith('virtualInbound port=* tls mTLS')), chains.join('\n'));
  assertGolden('peer-authentication/workload-port-level', { chains, listener_filters: l['listener_filters'] });
});

test('peer authentication: the workload policy applies only to workloads its selector matches', () => {
  const other = viOf(reviews(`${NS_DISABLE}\n${WORKLOAD}`, { LABELS: { app: 'ratings', 'security.istio.io/tlsMode': 'istio' } }));
  assert.ok(chainSummary(other).every((c) => !c.includes('mTLS')), 'namespace DISABLE applies');
});

test('peer authentication: the oldest namespace policy wins; UNSET inherits the parent level', () => {
  const older = pa('a-newer-name', NS, '  mtls: {mode: STRICT}\n', '2026-01-01T00:00:00Z');
  const newer = pa('b-older-name', NS, '  mtls: {mode: DISABLE}\n', '2026-02-01T00:00:00Z');
  const strict = chainSummary(viOf(reviews(`${newer}\n${older}`)));
  assert.ok(strict.filter((c) => c.startsWith('0.0.0.0_')).every((c) => c.includes('mTLS')), strict.join('\n'));
  const unset = pa('reviews', NS, '  selector: {matchLabels: {app: reviews}}\n  mtls: {mode: UNSET}\n');
  const inherited = chainSummary(viOf(reviews(`${MESH_STRICT}\n${unset}`)));
  assert.ok(inherited.filter((c) => c.startsWith('0.0.0.0_')).every((c) => c.includes('mTLS')), inherited.join('\n'));
});

test('peer authentication: the mTLS context is Istio\'s (client certificate required, SDS from sds-grpc, trust domain SAN prefix, ALPN per protocol)', () => {
  const l = vi('strict');
  const http = l['filter_chains'].find((fc: any) => fc.name === '0.0.0.0_9080');
  const tcp = l['filter_chains'].find((fc: any) => fc.name === '0.0.0.0_9100');
  const ctx = http.transport_socket.typed_config;
  assert.equal(ctx['@type'], 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext');
  assert.deepEqual(ctx.require_client_certificate, { value: true });
  assert.deepEqual(ctx.common_tls_context.alpn_protocols, ['h2', 'http/1.1']);
  assert.deepEqual(tcp.transport_socket.typed_config.common_tls_context.alpn_protocols, ['istio-peer-exchange', 'h2', 'http/1.1']);
  assert.equal(ctx.common_tls_context.tls_certificate_sds_secret_configs[0].name, 'default');
  const sds = ctx.common_tls_context.tls_certificate_sds_secret_configs[0].sds_config;
  assert.deepEqual(sds.api_config_source.grpc_services, [{ envoy_grpc: { cluster_name: 'sds-grpc' } }]);
  assert.equal(sds.api_config_source.transport_api_version, 'V3');
  const cvc = ctx.common_tls_context.combined_validation_context;
  assert.equal(cvc.validation_context_sds_secret_config.name, 'ROOTCA');
  assert.deepEqual(cvc.default_validation_context.match_subject_alt_names, [{ prefix: 'spiffe://cluster.local/' }]);
});

test('peer authentication: captureMode NONE ingress listeners get the chains and their own tls_inspector', () => {
  const yaml = `---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: reviews, namespace: ${NS}}
spec:
  workloadSelector: {labels: {app: reviews}}
  ingress:
  - {port: {number: 19080, protocol: HTTP, name: http}, bind: 127.0.0.1, captureMode: NONE, defaultEndpoint: 127.0.0.1:8080}
${MESH_STRICT}`;
  const set = generate(reviews(yaml, { ...REVIEWS_META_NONE }));
  assertValid(set);
  const l = listener(set, '127.0.0.1_19080');
  assert.deepEqual(filterNames(l), ['tls_inspector']);
  assert.deepEqual(chainSummary(l), ['127.0.0.1_19080 port=19080 tls mTLS http_connection_manager']);
});
const REVIEWS_META_NONE = { LABELS: { app: 'reviews', version: 'v1' }, INTERCEPTION_MODE: 'NONE' };

for (const name of Object.keys(SCENES) as Array<keyof typeof SCENES>) {
  test(`peer-authentication/${name}: a real Envoy ACKs the inbound listener`, { skip: ENVOY_SKIP }, async () => {
    const dump = await assertEnvoyAcks(SCENES[name]);
    assert.ok(dumpNames(dump, 'ListenersConfigDump', 'dynamic_listeners').includes('virtualInbound'));
  });
}

test('peer authentication: trust domain aliases widen the peer SAN prefixes; meshMTLS sets the minimum version and ciphers', () => {
  const scene = { ...SCENES.strict, mesh: { trustDomainAliases: ['old.example', 'cluster.local'], meshMTLS: { minProtocolVersion: 'TLSV1_3', cipherSuites: ['ECDHE-ECDSA-AES256-GCM-SHA384'] } } };
  const set = generate(scene);
  assertValid(set);
  const ctx = listener(set, 'virtualInbound')['filter_chains'].find((fc: any) => fc.name === '0.0.0.0_9080').transport_socket.typed_config.common_tls_context;
  assert.deepEqual(ctx.combined_validation_context.default_validation_context.match_subject_alt_names, [{ prefix: 'spiffe://cluster.local/' }, { prefix: 'spiffe://old.example/' }]);
  assert.deepEqual(ctx.tls_params, { tls_minimum_protocol_version: 'TLSv1_3', tls_maximum_protocol_version: 'TLSv1_3', cipher_suites: ['ECDHE-ECDSA-AES256-GCM-SHA384'] });
});
