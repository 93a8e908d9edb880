/**
 * RequestAuthentication → jwt_authn, as Istio's convertToEnvoyJwtConfig builds it: one provider
 * `origins-<i>` per JWT rule of the policies that select the workload (sorted by issuer), local
 * JWKS inline (the rule's jwks, the fetched jwksUri, or Istio's fake JWKS until fetched),
 * payload_in_metadata `payload`, requirement "valid token or no token" (allow_missing), CORS
 * preflights bypassed; the filter first in every inbound HTTP chain, none on TCP chains. Every
 * scene passes the structural validator, and a real Envoy ACKs it.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { assertGolden } from '../../../helpers/golden';
import { facetsOf } from '../../../../src/shared/generation';
import { LISTENER_TYPE_URL } from '../../../../src/shared/resources';
import { ENVOY_SKIP } from '../../../helpers/envoy-ack';
import { Scene, assertEnvoyAcks, assertValid } from './golden-sidecar-common';
import { dumpSection } from '../../../helpers/envoy';
import {
  JWKS_A, JWKS_B, NS, fakeJwks, generateWith, httpFilterNames, jwksCache, jwtFilter, scene, snapshotFor,
} from './golden-request-authentication-common';
import { jwtAuthnFilter } from '../../../../src/workers/generators/security/request-authentication';
import { jwksCacheName } from '../../../../src/shared/istio/validate-request-authentication';

/** Every location and output option on one rule, inline keys. */
const INLINE = scene(`
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: httpbin, namespace: ${NS}}
spec:
  selector: {matchLabels: {app: httpbin}}
  jwtRules:
  - issuer: https://issuer.example.com
    audiences: [httpbin, httpbin.foo.svc.cluster.local]
    jwks: '${JWKS_A}'
    fromHeaders:
    - {name: x-jwt-assertion}
    - {name: authorization, prefix: "Bearer "}
    fromParams: [access_token, token]
    fromCookies: [session]
    forwardOriginalToken: true
    outputPayloadToHeader: x-jwt-payload
    outputClaimToHeaders:
    - {header: x-jwt-sub, claim: sub}
    - {header: x-jwt-groups, claim: groups}
    spaceDelimitedClaims: [roles, scope]
`);

/**
 * Policies from the namespace (workload and namespace-wide), the root namespace (mesh-wide), and
 * ones that must not apply (another workload's selector, another namespace, a targetRef).
 */
const MERGE = scene(`
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: workload, namespace: ${NS}, creationTimestamp: "2026-01-02T00:00:00Z"}
spec:
  selector: {matchLabels: {app: httpbin, version: v1}}
  jwtRules:
  - {issuer: zeta.example.com, jwks: '${JWKS_B}'}
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: namespace-wide, namespace: ${NS}, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  jwtRules:
  - {issuer: alpha.example.com, jwks: '${JWKS_A}'}
---
apiVersion: security.istio.io/v1beta1
kind: RequestAuthentication
metadata: {name: mesh-wide, namespace: istio-system}
spec:
  jwtRules:
  - {issuer: mesh.example.com, jwks: '${JWKS_A}', audiences: [mesh]}
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: other-workload, namespace: ${NS}}
spec:
  selector: {matchLabels: {app: reviews}}
  jwtRules:
  - {issuer: not-me.example.com, jwks: '${JWKS_A}'}
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: other-namespace, namespace: bar}
spec:
  jwtRules:
  - {issuer: not-me-either.example.com, jwks: '${JWKS_A}'}
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: for-a-gateway, namespace: ${NS}}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: ingress}]
  jwtRules:
  - {issuer: gateway.example.com, jwks: '${JWKS_A}'}
`);

const URI = 'https://keys.example.com/.well-known/jwks.json';
const JWKS_URI = scene(`
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: httpbin, namespace: ${NS}}
spec:
  selector: {matchLabels: {app: httpbin}}
  jwtRules:
  - issuer: https://keys.example.com
    jwksUri: ${URI}
    timeout: 2s
`);

const ISSUER_ONLY = scene(`
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: httpbin, namespace: ${NS}}
spec:
  jwtRules:
  - issuer: https://accounts.example.com
`);

test('the sidecar inbound LDS facet reads the namespace and labels that security policies select by', () => {
  const inbound = facetsOf('sidecar', LISTENER_TYPE_URL).find((f) => f.name === 'inbound');
  assert.ok(inbound);
  for (const field of ['namespace', 'labels'] as const) {
    assert.ok(inbound.inputs.includes(field), `GENERATOR_FACETS.sidecar[LDS] inbound inputs lack '${field}' (src/shared/generation.ts): inbound policies cannot see which workload they serve`);
  }
});

test('golden request-authentication/inline: one provider with every location and output option, first HTTP filter, none on TCP', () => {
  const set = generateWith(INLINE);
  assertValid(set);
  // every HTTP chain of the port (plaintext and, with mTLS, TLS) runs jwt_authn first; TCP chains have no HCM
  const http = httpFilterNames(set, 8080);
  assert.ok(http.length >= 1);
  for (const names of http) assert.deepEqual(names, ['envoy.filters.http.jwt_authn', 'envoy.filters.http.fault', 'envoy.filters.http.cors', 'envoy.filters.http.router']);
  for (const names of httpFilterNames(set, 9000)) assert.deepEqual(names, []);
  const jwt = jwtFilter(set, 8080)!;
  assert.equal(jwt['typed_config']['providers']['origins-0']['local_jwks']['inline_string'], JWKS_A);
  assertGolden('request-authentication/inline', jwt);
});

test('golden request-authentication/merge: namespace and root policies that select the workload, rules sorted by issuer, OR of providers and AND of (provider or missing)', () => {
  const set = generateWith(MERGE);
  assertValid(set);
  const cfg = jwtFilter(set, 8080)!['typed_config'];
  assert.deepEqual(Object.keys(cfg['providers']).sort(), ['origins-0', 'origins-1', 'origins-2']);
  assert.deepEqual(['origins-0', 'origins-1', 'origins-2'].map((p) => cfg['providers'][p]['issuer']), ['alpha.example.com', 'mesh.example.com', 'zeta.example.com']);
  assertGolden('request-authentication/merge', cfg);
});

test('the fake JWKS: one RSA key (kid abc, e AQAB) whose 2048-bit odd modulus spells out why it is fake; deterministic per URI', () => {
  const jwks = JSON.parse(fakeJwks(URI)) as { keys: Array<Record<string, string>> };
  assert.equal(jwks.keys.length, 1);
  const k = jwks.keys[0]!;
  assert.deepEqual([k['kty'], k['kid'], k['e']], ['RSA', 'abc', 'AQAB']);
  const n = Buffer.from(k['n']!, 'base64url');
  assert.equal(n.length, 256);
  assert.equal(n[255]! & 1, 1, 'odd modulus');
  assert.ok(n.subarray(0, 80).toString('latin1').startsWith(`Error-IstiodFailedToFetchJwksUri-${URI}`));
  assert.equal(fakeJwks(URI), fakeJwks(URI));
  assert.notEqual(fakeJwks(URI), fakeJwks('https://other.example.com/jwks'));
  // a node:crypto public key: well formed
  assert.equal(crypto.createPublicKey({ key: k, format: 'jwk' }).asymmetricKeyDetails?.modulusLength, 2047);
});

test('no RequestAuthentication selects the workload: no jwt_authn filter', () => {
  const set = generateWith(scene(`
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: reviews, namespace: ${NS}}
spec:
  selector: {matchLabels: {app: reviews}}
  jwtRules: [{issuer: a.example.com, jwks: '${JWKS_A}'}]
`));
  assert.equal(jwtFilter(set, 8080), undefined);
  for (const names of httpFilterNames(set, 8080)) assert.ok(!names.includes('envoy.filters.http.jwt_authn'), names.join(', '));
});

test('golden request-authentication/jwks-uri-resolved: the JWKS the control plane fetched is inlined', () => {
  const set = generateWith(JWKS_URI, [jwksCache(URI, { jwks: JWKS_B })]);
  assertValid(set);
  const jwt = jwtFilter(set, 8080)!;
  assert.equal(jwt['typed_config']['providers']['origins-0']['local_jwks']['inline_string'], JWKS_B);
  assertGolden('request-authentication/jwks-uri-resolved', jwt);
});

test('golden request-authentication/jwks-uri-unresolved: not fetched yet, or the fetch failed: Istio\'s fake JWKS (tokens of the issuer fail, no token passes)', () => {
  const pending = generateWith(JWKS_URI);
  assertValid(pending);
  const jwt = jwtFilter(pending, 8080)!;
  assert.equal(jwt['typed_config']['providers']['origins-0']['local_jwks']['inline_string'], fakeJwks(URI));
  assertGolden('request-authentication/jwks-uri-unresolved', jwt);
  const failed = generateWith(JWKS_URI, [jwksCache(URI, { error: 'GET https://keys.example.com/.well-known/jwks.json: status 500' })]);
  assert.deepEqual(jwtFilter(failed, 8080), jwt);
  // a cache object for another URI does not count
  assert.deepEqual(jwtFilter(generateWith(JWKS_URI, [jwksCache('https://other.example.com/jwks', { jwks: JWKS_B })]), 8080), jwt);
});

test('dependencies: a workload reads the RequestAuthentications and only the JwksCache of its own sources (a refreshed JWKS regenerates exactly its users)', () => {
  const { view, context } = snapshotFor(JWKS_URI, [jwksCache(URI, { jwks: JWKS_B }), jwksCache('https://other.example.com/jwks', { jwks: JWKS_A })]);
  view.recorder = new Set();
  jwtAuthnFilter(view, context.namespace, context.labels);
  const deps = [...view.recorder].filter((d) => d.includes('JwksCache') || d.includes('RequestAuthentication')).sort();
  assert.deepEqual(deps, ['cfg:JwksCache//' + jwksCacheName(URI), 'cfg:RequestAuthentication']);
  const inline = snapshotFor(INLINE);
  inline.view.recorder = new Set();
  jwtAuthnFilter(inline.view, inline.context.namespace, inline.context.labels);
  assert.ok(![...inline.view.recorder].some((d) => d.includes('JwksCache')), 'inline keys read no JwksCache');
});

test('an issuer without jwks or jwksUri: keys by OpenID discovery, fake JWKS until fetched', () => {
  const pending = jwtFilter(generateWith(ISSUER_ONLY), 8080)!;
  assert.equal(pending['typed_config']['providers']['origins-0']['local_jwks']['inline_string'], fakeJwks(''));
  const resolved = jwtFilter(generateWith(ISSUER_ONLY, [jwksCache('openid:https://accounts.example.com', { jwks: JWKS_A })]), 8080)!;
  assert.equal(resolved['typed_config']['providers']['origins-0']['local_jwks']['inline_string'], JWKS_A);
});

/**
 * The ACK scenes turn mTLS off mesh-wide: PERMISSIVE inbound chains wait for the node agent's SDS
 * secrets, which these tests do not serve (PeerAuthentication's own tests do).
 */
const NO_MTLS = `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: DISABLE}}
`;
const acked = (s: Scene): Scene => ({ ...s, yaml: `${s.yaml}---${NO_MTLS}` });

/** Envoy accepts the scene, and its active virtualInbound runs jwt_authn with these providers' issuers. */
async function assertEnvoyRunsJwt(s: Scene, issuers: string[]): Promise<void> {
  const dump = await assertEnvoyAcks(acked(s));
  const listeners = dumpSection(dump, 'ListenersConfigDump')['dynamic_listeners'] ?? [];
  const vi = listeners.find((l: any) => l.name === 'virtualInbound')?.active_state?.listener;
  assert.ok(vi, 'virtualInbound active in Envoy');
  const jwt = (vi.filter_chains as any[])
    .flatMap((c) => c.filters ?? [])
    .flatMap((f: any) => f.typed_config?.http_filters ?? [])
    .find((f: any) => f.name === 'envoy.filters.http.jwt_authn');
  assert.ok(jwt, 'Envoy runs jwt_authn on the inbound HTTP chain (the server generated it for this workload)');
  const providers = jwt.typed_config.providers as Record<string, { issuer: string }>;
  assert.deepEqual(Object.keys(providers).sort().map((k) => providers[k]!.issuer), issuers);
}

test('request-authentication: a real Envoy ACKs inline keys with every option', { skip: ENVOY_SKIP }, async () => {
  await assertEnvoyRunsJwt(INLINE, ['https://issuer.example.com']);
});

test('request-authentication: a real Envoy ACKs several providers (requires_any of providers and requires_all)', { skip: ENVOY_SKIP }, async () => {
  await assertEnvoyRunsJwt(MERGE, ['alpha.example.com', 'mesh.example.com', 'zeta.example.com']);
});

test('request-authentication: a real Envoy ACKs the fake JWKS of an unresolved jwksUri and of OpenID discovery', { skip: ENVOY_SKIP }, async () => {
  await assertEnvoyRunsJwt(JWKS_URI, ['https://keys.example.com']);
  await assertEnvoyRunsJwt(ISSUER_ONLY, ['https://accounts.example.com']);
});
