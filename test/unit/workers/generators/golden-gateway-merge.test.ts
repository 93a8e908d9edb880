/**
 * The pure pieces of gateway merging and binding, against Istio's own examples
 * (pkg/config/host Names.Intersection, sanitizeServerHostNamespace, ResolveGatewayName,
 * gatewayRDSRouteName).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { gatewayRouteName, hostSubsetOf, intersectHosts, sanitizeServerHosts, serverHostsForNamespace } from '../../../../src/workers/generators/gateway-merge';
import { resolveGatewayName } from '../../../../src/workers/generators/virtual-services';
import { credentialResourceName, downstreamTlsContext } from '../../../../src/workers/generators/gateway-tls';
import { sniDnatClusterName } from '../../../../src/workers/generators/gateway';

test('sanitizeServerHosts: ./ → gateway namespace, */host → host, */* → everything', () => {
  assert.deepEqual(sanitizeServerHosts(['./a.com', '*/b.com', 'ns1/c.com', 'd.com'], 'gw'), ['gw/a.com', 'b.com', 'ns1/c.com', 'd.com']);
  assert.deepEqual(sanitizeServerHosts(['ns1/a.com', '*/*', 'b.com'], 'gw'), ['*']);
});

test('serverHostsForNamespace: unqualified hosts apply to every namespace, qualified ones to theirs', () => {
  assert.deepEqual(serverHostsForNamespace(['ns1/a.com', 'b.com', 'ns2/c.com', '*/d.com'], 'ns1'), ['a.com', 'b.com', 'd.com']);
});

test('intersectHosts: Istio Names.Intersection examples', () => {
  assert.deepEqual(intersectHosts(['foo.com', 'bar.com'], ['*.com']), ['foo.com', 'bar.com']);
  assert.deepEqual(intersectHosts(['foo.com', '*.net'], ['*.com', 'bar.net']), ['foo.com', 'bar.net']);
  assert.deepEqual(intersectHosts(['foo.com', '*.net'], ['*.bar.net']), ['*.bar.net']);
  assert.deepEqual(intersectHosts(['foo.com'], ['bar.com']), []);
  assert.deepEqual(intersectHosts([], ['bar.com']), []);
  assert.deepEqual(intersectHosts(['*'], ['a.example.com']), ['a.example.com']);
});

test('hostSubsetOf: wildcards on either side', () => {
  assert.ok(hostSubsetOf('a.b.com', '*.b.com'));
  assert.ok(hostSubsetOf('*.a.b.com', '*.b.com'));
  assert.ok(!hostSubsetOf('*.b.com', '*.a.b.com'));
  assert.ok(!hostSubsetOf('b.com', '*.b.com'));
  assert.ok(hostSubsetOf('anything', '*'));
});

test('resolveGatewayName: ns/name, ./name, name, legacy name.ns.svc.cluster.local, mesh', () => {
  assert.equal(resolveGatewayName('istio-system/gw', 'apps'), 'istio-system/gw');
  assert.equal(resolveGatewayName('./gw', 'apps'), 'apps/gw');
  assert.equal(resolveGatewayName('gw', 'apps'), 'apps/gw');
  assert.equal(resolveGatewayName('gw.istio-system.svc.cluster.local', 'apps'), 'istio-system/gw');
  assert.equal(resolveGatewayName('mesh', 'apps'), 'mesh');
});

test('gatewayRouteName: http.<port>[.<bind>], https.<port>.<portName>.<gw>.<ns>[.<bind>], none for TCP/passthrough', () => {
  const base = { gateway: 'ns/gw', gatewayName: 'gw', gatewayNamespace: 'ns', name: '', hosts: ['*'] };
  assert.equal(gatewayRouteName({ ...base, port: { number: 80, protocol: 'HTTP', name: 'http' }, bind: '', tls: undefined }), 'http.80');
  assert.equal(gatewayRouteName({ ...base, port: { number: 80, protocol: 'http2', name: 'h2' }, bind: '10.0.0.1', tls: undefined }), 'http.80.10.0.0.1');
  assert.equal(gatewayRouteName({ ...base, port: { number: 443, protocol: 'HTTPS', name: 'https' }, bind: '', tls: { mode: 'SIMPLE' } }), 'https.443.https.gw.ns');
  assert.equal(gatewayRouteName({ ...base, port: { number: 443, protocol: 'HTTPS', name: 'https' }, bind: '', tls: { mode: 'PASSTHROUGH' } }), '');
  assert.equal(gatewayRouteName({ ...base, port: { number: 31400, protocol: 'TCP', name: 'tcp' }, bind: '', tls: undefined }), '');
});

test('credential resource names and SNI-DNAT cluster names', () => {
  assert.equal(credentialResourceName('my-cert'), 'kubernetes://my-cert');
  assert.equal(credentialResourceName('kubernetes://other-ns/my-cert'), 'kubernetes://other-ns/my-cert');
  assert.equal(sniDnatClusterName(9080, '', 'reviews.apps.svc.cluster.local'), 'outbound_.9080_._.reviews.apps.svc.cluster.local');
  assert.equal(sniDnatClusterName(9080, 'v1', 'reviews.apps.svc.cluster.local'), 'outbound_.9080_.v1_.reviews.apps.svc.cluster.local');
});

test('credentialName builtin:// is the workload certificate and root from the agent', () => {
  const ctx = downstreamTlsContext({ mode: 'MUTUAL', credentialName: 'builtin://' }, false) as any;
  assert.equal(ctx.common_tls_context.tls_certificate_sds_secret_configs[0].name, 'default');
  assert.equal(ctx.common_tls_context.tls_certificate_sds_secret_configs[0].sds_config.api_config_source.grpc_services[0].envoy_grpc.cluster_name, 'sds-grpc');
  assert.equal(ctx.common_tls_context.combined_validation_context.validation_context_sds_secret_config.name, 'ROOTCA');
  assert.equal(downstreamTlsContext({ mode: 'PASSTHROUGH' }, false), undefined);
});

test('OPTIONAL_MUTUAL: client certificate validated when sent, not required', () => {
  const ctx = downstreamTlsContext({ mode: 'OPTIONAL_MUTUAL', credentialName: 'opt-cert' }, false) as any;
  assert.deepEqual(ctx.require_client_certificate, { value: false });
  assert.equal(ctx.common_tls_context.combined_validation_context.validation_context_sds_secret_config.name, 'kubernetes://opt-cert-cacert');
  const files = downstreamTlsContext({ mode: 'OPTIONAL_MUTUAL', serverCertificate: '/c.pem', privateKey: '/k.pem', caCertificates: '/ca.pem' }, false) as any;
  assert.deepEqual(files.common_tls_context.validation_context, { trusted_ca: { filename: '/ca.pem' } });
});
