/**
 * Gateway goldens, TLS termination: HTTPS servers get a filter chain each, matched by SNI (the
 * server hosts without namespace), with a DownstreamTlsContext and their own RDS
 * `https.<port>.<portName>.<gateway>.<namespace>`; a tls_inspector listener filter.
 * - SIMPLE / MUTUAL with credentialName: SDS over ADS `kubernetes://<name>` (+ `-cacert` for the
 *   client CA), as Istio emits; tls_params from min/maxProtocolVersion and cipherSuites;
 * - SIMPLE / MUTUAL with serverCertificate / privateKey / caCertificates files: inline file names;
 * - ISTIO_MUTUAL: the agent's `default` / `ROOTCA` from the `sds-grpc` cluster;
 * - httpsRedirect on a plaintext server: require_tls ALL on its virtual hosts, with or without a
 *   VirtualService.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { assertGolden } from '../../../helpers/golden';
import { ENVOY_SKIP } from '../../../helpers/envoy-ack';
import { GW_NS, NS, assertEnvoyAcks, assertValid, focusListener, focusRoutes, gateway, generate, listener, routeConfig } from './golden-gateway-common';

function vs(name: string, hosts: string, prefix: string, dest: string): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}, namespace: ${NS}}
spec:
  hosts: ${hosts}
  gateways: [${GW_NS}/public-gw]
  http:
  - match: [{uri: {prefix: ${prefix}}}]
    route: [{destination: {host: ${dest}}}]
`;
}

const ROUTES = [vs('bookinfo', '[bookinfo.example.com]', '/reviews', 'reviews'), vs('shop', '[shop.example.org]', '/shop', 'ratings')].join('---\n');

const CREDENTIALS = `${gateway(`  - port: {number: \${PORT1}, name: https, protocol: HTTPS}
    hosts: ["${NS}/bookinfo.example.com"]
    tls: {mode: SIMPLE, credentialName: bookinfo-cert, minProtocolVersion: TLSV1_2, cipherSuites: [ECDHE-ECDSA-AES128-GCM-SHA256]}
  - port: {number: \${PORT1}, name: https-shop, protocol: HTTPS}
    hosts: [shop.example.org]
    tls: {mode: MUTUAL, credentialName: shop-cert, subjectAltNames: [client.shop.example.org]}`)}---\n${ROUTES}`;

test('gateway HTTPS credentialName: SNI chains with SDS kubernetes://<name> (MUTUAL adds -cacert), one RDS per server', () => {
  const set = generate(CREDENTIALS);
  assertValid(set);
  assert.deepEqual(set.routes.map((r) => r['name']).sort(), [`https.18443.https-shop.public-gw.${GW_NS}`, `https.18443.https.public-gw.${GW_NS}`]);
  assertGolden('gateway/https-credential-listener', focusListener(listener(set, '0.0.0.0_18443')));
  assertGolden('gateway/https-credential-routes', focusRoutes(routeConfig(set, `https.18443.https.public-gw.${GW_NS}`)));
});

test('gateway HTTPS credentialName: a real Envoy ACKs it (the listener waits for the secrets over SDS), over SotW and Delta ADS', { skip: ENVOY_SKIP }, async () => {
  await assertEnvoyAcks(CREDENTIALS);
  await assertEnvoyAcks(CREDENTIALS, undefined, 'DELTA_GRPC');
});

const FILES = `${gateway(`  - port: {number: \${PORT1}, name: https, protocol: HTTPS}
    hosts: [bookinfo.example.com]
    tls: {mode: MUTUAL, serverCertificate: /etc/istio/ingressgateway-certs/tls.crt, privateKey: /etc/istio/ingressgateway-certs/tls.key, caCertificates: /etc/istio/ingressgateway-ca-certs/ca.crt}`)}---\n${ROUTES}`;

test('gateway HTTPS files: inline certificate, key and client CA file names', () => {
  const set = generate(FILES);
  assertValid(set);
  const l = listener(set, '0.0.0.0_18443');
  assertGolden('gateway/https-files-transport-socket', l['filter_chains'][0]['transport_socket']);
});

/** A self-signed certificate and key for bookinfo.example.com in a temp dir (openssl). */
function certFiles(): { dir: string; cert: string; key: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'istiod-ts-gw-certs-'));
  const cert = path.join(dir, 'tls.crt'), key = path.join(dir, 'tls.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/CN=bookinfo.example.com', '-addext', 'subjectAltName=DNS:bookinfo.example.com'], { stdio: 'ignore' });
  return { dir, cert, key };
}

test('gateway HTTPS files: a real Envoy ACKs it with real files', { skip: ENVOY_SKIP }, async () => {
  const f = certFiles();
  try {
    await assertEnvoyAcks(FILES.replace('/etc/istio/ingressgateway-certs/tls.crt', f.cert).replace('/etc/istio/ingressgateway-certs/tls.key', f.key)
      .replace('/etc/istio/ingressgateway-ca-certs/ca.crt', f.cert));
  } finally {
    fs.rmSync(f.dir, { recursive: true, force: true });
  }
});

const ISTIO_MUTUAL = `${gateway(`  - port: {number: \${PORT1}, name: https-mtls, protocol: HTTPS}
    hosts: ["*.apps.svc.cluster.local"]
    tls: {mode: ISTIO_MUTUAL}`)}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-mtls, namespace: ${NS}}
spec:
  hosts: [reviews]
  gateways: [${GW_NS}/public-gw]
  http:
  - route: [{destination: {host: reviews}}]
`;

test('gateway ISTIO_MUTUAL: workload certificate and root from the agent (sds-grpc), client certificate required', () => {
  const set = generate(ISTIO_MUTUAL);
  assertValid(set);
  const l = listener(set, '0.0.0.0_18443');
  assertGolden('gateway/istio-mutual-listener', focusListener(l));
  assertGolden('gateway/istio-mutual-routes', focusRoutes(routeConfig(set, `https.18443.https-mtls.public-gw.${GW_NS}`)));
});

const REDIRECT = `${gateway(`  - port: {number: \${PORT0}, name: http, protocol: HTTP}
    hosts: [bookinfo.example.com, legacy.example.com]
    tls: {httpsRedirect: true}
  - port: {number: \${PORT1}, name: https, protocol: HTTPS}
    hosts: [bookinfo.example.com]
    tls: {mode: SIMPLE, credentialName: bookinfo-cert}`)}---\n${ROUTES}`;

test('gateway httpsRedirect: require_tls ALL on the plaintext server virtual hosts, with and without a VirtualService', () => {
  const set = generate(REDIRECT);
  assertValid(set);
  assert.deepEqual(set.listeners.map((l) => l['name']).sort(), ['0.0.0.0_18080', '0.0.0.0_18443']);
  assertGolden('gateway/https-redirect-routes', focusRoutes(routeConfig(set, 'http.18080')));
});

test('gateway httpsRedirect: a real Envoy ACKs it', { skip: ENVOY_SKIP }, async () => {
  await assertEnvoyAcks(REDIRECT);
});

test('gateway ISTIO_MUTUAL: a real Envoy ACKs it', { skip: ENVOY_SKIP }, async () => {
  await assertEnvoyAcks(ISTIO_MUTUAL);
});
