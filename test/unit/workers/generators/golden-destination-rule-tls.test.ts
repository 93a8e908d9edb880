/**
 * DestinationRule tls → the cluster's upstream TLS transport socket (Istio cluster_tls.go):
 * DISABLE (none), SIMPLE (sni, subjectAltNames, caCertificates as an agent SDS `file-root:`
 * secret, auto_sni / auto_san_validation when unset, insecureSkipVerify), MUTUAL (client
 * certificate files as `file-cert:cert~key`), credentialName (istiod SDS over ADS, only for
 * DestinationRules with a workloadSelector on sidecars), ISTIO_MUTUAL (SDS `default` and `ROOTCA`
 * from the agent's `sds-grpc` cluster, Istio's ALPN, SNI `outbound_.port_.subset_.host`, the
 * service accounts as SANs).
 *
 * Real Envoy: SDS from `sds-grpc` needs that cluster in the bootstrap (the Istio agent provides
 * it); the ACK test covers the modes that do not reference it.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertGolden } from '../../../helpers/golden';
import { startTestServer } from '../../../helpers/server';
import { startEnvoy } from '../../../helpers/envoy';
import { ENVOY_PATH, ENVOY_SKIP, rejectedStats } from '../../../helpers/envoy-ack';
import { waitFor } from '../../../helpers/wait-for';
import { assertEnvoyAcks, assertValid, baseMesh, clusters, fqdn, generate, NODE_ID, NODE_META, NS, service } from './golden-destination-rule-common';

const dr = (host: string, policy: string, extra = '') => `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${host}, namespace: ${NS}}
spec:
  host: ${host}
${extra}  trafficPolicy:
${policy}`;

const HOSTS = ['tls-disable', 'tls-simple', 'tls-simple-auto', 'tls-insecure', 'tls-mutual', 'tls-credential', 'tls-istio'];
const SERVICES = HOSTS.map((h, i) => service(h, h === 'tls-istio' ? '  - {name: grpc, port: 9090, targetPort: 9090}\n' : '', 70 + i)).join('');
const RULES = [
  dr('tls-disable', '    tls: {mode: DISABLE}\n'),
  dr('tls-simple', '    tls: {mode: SIMPLE, sni: api.example.com, subjectAltNames: [api.example.com], caCertificates: /etc/certs/ca.pem}\n'),
  dr('tls-simple-auto', '    tls: {mode: SIMPLE}\n'),
  dr('tls-insecure', '    tls: {mode: SIMPLE, insecureSkipVerify: true}\n'),
  dr('tls-mutual', '    tls: {mode: MUTUAL, clientCertificate: /etc/certs/client.pem, privateKey: /etc/certs/key.pem, caCertificates: /etc/certs/ca.pem, sni: db.example.com}\n'),
  dr('tls-credential', '    tls: {mode: MUTUAL, credentialName: db-client}\n'),
  dr('tls-istio', '    tls: {mode: ISTIO_MUTUAL}\n', '  subsets: [{name: v1, labels: {version: v1}}]\n'),
].join('\n');
const C = (host: string, port = 8080, subset = '') => `outbound|${port}|${subset}|${fqdn(host)}`;
const tlsView = (c: Record<string, any>) => ({
  name: c['name'], transport_socket: c['transport_socket'],
  typed_extension_protocol_options: c['typed_extension_protocol_options'],
});

test('golden destination-rule/tls: DISABLE, SIMPLE, MUTUAL, credentialName, ISTIO_MUTUAL', () => {
  const set = generate(SERVICES, RULES);
  const names = [...HOSTS.map((h) => C(h)), C('tls-istio', 8080, 'v1'), C('tls-istio', 9090)];
  assertGolden('destination-rule/tls', clusters(set, names).map(tlsView));
  assertValid(set);
});

test('tls: a sidecar gets no TLS from a credentialName rule without a workloadSelector (Istio keeps credentials off sidecars)', () => {
  const set = generate(SERVICES, RULES);
  const [c] = clusters(set, [C('tls-credential')]);
  assert.equal(c!['transport_socket'], undefined);
});

const ACK_HOSTS = ['tls-disable', 'tls-insecure'];
test('envoy ACKs destination-rule/tls (modes without agent SDS)', { skip: ENVOY_SKIP }, async () => {
  const services = ACK_HOSTS.map((h, i) => service(h, '', 70 + i)).join('');
  const rules = [
    dr('tls-disable', '    tls: {mode: DISABLE}\n'),
    dr('tls-insecure', '    tls: {mode: SIMPLE, insecureSkipVerify: true, sni: api.example.com}\n'),
  ].join('\n');
  const active = await assertEnvoyAcks(services, rules);
  assert.equal(active.get(C('tls-insecure'))?.['transport_socket']?.['name'], 'envoy.transport_sockets.tls');
});

/**
 * SDS-based modes reference the agent's `sds-grpc` cluster, which a bare Envoy bootstrap lacks:
 * such clusters stay warming (so Envoy never asks for listeners and the full-ACK harness cannot
 * finish). What Envoy validates when it creates the cluster (the TLS context, SDS config sources)
 * happens at CDS time, so an ACKed CDS with no rejection is the check here.
 */
test('envoy accepts the SDS-based TLS clusters (CDS and EDS ACKed, nothing rejected; they warm until SDS answers)', { skip: ENVOY_SKIP }, async () => {
  const yaml = `${baseMesh(SERVICES)}\n---\n${RULES}`.replace(/\b8080\b/g, '18181');
  const keepAlive = setInterval(() => undefined, 1000); // the server's shutdown waits on unref'd timers
  const server = await startTestServer({ files: { 'mesh.yaml': yaml } });
  try {
    const envoy = await startEnvoy(ENVOY_PATH!, { xdsTarget: server.grpcTarget, nodeId: NODE_ID, metadata: NODE_META });
    try {
      await waitFor(() => {
        const conn = [...server.discovery.ads.connections.values()].find((c) => c.proxy.id === NODE_ID);
        const cds = conn?.watches.get('type.googleapis.com/envoy.config.cluster.v3.Cluster');
        if (cds?.lastError) throw new Error(`Envoy NACKed CDS: ${cds.lastError}`);
        return !!cds?.versionSent && cds.versionAcked === cds.versionSent;
      }, 20_000, 'Envoy to ACK CDS', 50);
      const stats = await envoy.stats();
      assert.deepEqual(rejectedStats(stats), []);
      assert.ok((stats.get('cluster_manager.warming_clusters') ?? 0) >= 1, 'the SDS clusters wait for their secrets');
    } finally {
      await envoy.stop();
    }
  } finally {
    await server.close();
    clearInterval(keepAlive);
  }
});

const PROXY_SERVICES = service('proxy-plain', '', 90) + service('proxy-tls', '', 91);
const PROXY_RULES = [
  dr('proxy-plain', '    proxyProtocol: {version: V2}\n'),
  dr('proxy-tls', '    proxyProtocol: {version: V1}\n    tls: {mode: SIMPLE, insecureSkipVerify: true, sni: api.example.com}\n'),
].join('\n');

test('golden destination-rule/proxy-protocol: the transport socket (raw buffer or TLS) wrapped in the upstream PROXY protocol', () => {
  const set = generate(PROXY_SERVICES, PROXY_RULES);
  assertGolden('destination-rule/proxy-protocol', clusters(set, [C('proxy-plain'), C('proxy-tls')]).map((c) => ({ name: c['name'], transport_socket: c['transport_socket'] })));
  assertValid(set);
});

test('envoy ACKs destination-rule/proxy-protocol', { skip: ENVOY_SKIP }, async () => {
  const active = await assertEnvoyAcks(PROXY_SERVICES, PROXY_RULES);
  assert.equal(active.get(C('proxy-plain'))?.['transport_socket']?.['name'], 'envoy.transport_sockets.upstream_proxy_protocol');
});

test('tls: for a ServiceEntry, the endpoints\' identities stand in for SIMPLE subjectAltNames the rule leaves out', () => {
  const se = `---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: partner, namespace: ${NS}}
spec:
  hosts: [api.partner.example]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: STATIC
  location: MESH_EXTERNAL
  endpoints: [{address: 10.9.9.9, serviceAccount: partner}]
`;
  const set = generate(se, dr('api.partner.example', '    tls: {mode: SIMPLE}\n').replace('name: api.partner.example', 'name: partner'));
  const [c] = clusters(set, ['outbound|443||api.partner.example']);
  const ctx = c!['transport_socket']['typed_config']['common_tls_context'];
  assert.deepEqual(ctx['combined_validation_context']['default_validation_context']['match_subject_alt_names'], [{ exact: `spiffe://cluster.local/ns/${NS}/sa/partner` }]);
  assert.deepEqual(c!['typed_extension_protocol_options']['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']['upstream_http_protocol_options'], { auto_sni: true, auto_san_validation: true });
});
