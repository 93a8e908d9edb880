/**
 * RequestAuthentication validation as Istio's ValidateRequestAuthentication / validateJwtRule:
 * what the validation webhook and file mode reject, with the path and Istio's message.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { validateObjectIssues, formatIssue } from '../../../../src/shared/istio/validation';
import { K8sObject } from '../../../../src/shared/model/objects';
import { JWKS_A } from './golden-request-authentication-common';

function check(spec: unknown): { errors: string[]; warnings: string[] } {
  const obj = { apiVersion: 'security.istio.io/v1', kind: 'RequestAuthentication', metadata: { name: 'ra', namespace: 'foo' }, spec } as unknown as K8sObject;
  const r = validateObjectIssues(obj);
  return { errors: r.errors.map(formatIssue), warnings: r.warnings.map(formatIssue) };
}

test('a policy with every field is valid', () => {
  assert.deepEqual(check({
    selector: { matchLabels: { app: 'httpbin' } },
    jwtRules: [{
      issuer: 'https://issuer.example.com', audiences: ['a'], jwksUri: 'https://issuer.example.com/jwks',
      fromHeaders: [{ name: 'authorization', prefix: 'Bearer ' }], fromParams: ['token'], fromCookies: ['session'],
      outputPayloadToHeader: 'x-jwt-payload', forwardOriginalToken: true, outputClaimToHeaders: [{ header: 'x-sub', claim: 'sub' }],
      timeout: '3s', spaceDelimitedClaims: ['roles'],
    }, { issuer: 'inline', jwks: JWKS_A }],
  }), { errors: [], warnings: [] });
  assert.deepEqual(check({}).errors, [], 'an empty policy is valid (it selects nothing to verify)');
});

test('jwtRule rules: issuer or jwksUri, a parseable http(s) jwksUri, a parseable jwks, non-empty audiences and locations', () => {
  const { errors } = check({
    jwtRules: [
      { audiences: [''] },
      { issuer: 'a', jwksUri: 'ftp://keys.example.com/jwks' },
      { issuer: 'b', jwksUri: 'not a url' },
      { issuer: 'c', jwks: '{"keys": [{"kid": "x"}]}' },
      { issuer: 'd', jwks: 'nope' },
      { issuer: 'e', fromHeaders: [{ prefix: 'Bearer ' }, null], fromParams: [''], fromCookies: [''] },
    ],
  });
  assert.deepEqual(errors, [
    'spec.jwtRules[0].audiences[0]: audience must be non-empty string',
    'spec.jwtRules[0].issuer: issuer or jwksUri must be non-empty string',
    'spec.jwtRules[1].jwksUri: URI scheme "ftp" is not supported',
    'spec.jwtRules[2].jwksUri: parse "not a url": invalid URI',
    'spec.jwtRules[3].jwks: jwks parse error: key 0: "kty" is required',
    'spec.jwtRules[4].jwks: jwks parse error: not JSON (Unexpected token \'o\', "nope" is not valid JSON)',
    'spec.jwtRules[5].fromHeaders[0].name: location header name must be non-empty string',
    'spec.jwtRules[5].fromHeaders[1]: location header name must be non-null',
    'spec.jwtRules[5].fromParams[0]: location query must be non-empty string',
    'spec.jwtRules[5].fromCookies[0]: cookie name must be non-empty string',
  ]);
});

test('an inline key Envoy could not load is refused (it would NACK the whole listener update)', () => {
  const even = Buffer.alloc(256, 0x7f); even[255] = 0x10;
  assert.deepEqual(check({ jwtRules: [
    { issuer: 'a', jwks: JSON.stringify({ keys: [{ kty: 'RSA', kid: 'r', e: 'AQAB', n: even.toString('base64url') }] }) },
    { issuer: 'b', jwks: JSON.stringify({ keys: [{ kty: 'EC', kid: 'e', crv: 'P-256', x: 'AAAA', y: 'AAAA' }] }) },
  ] }).errors.map((e) => e.replace(/(EC kid e\)): .*$/, '$1: …')), [
    'spec.jwtRules[0].jwks: jwks parse error: key 0 (RSA kid r): RSA modulus must be odd and at least 512 bits',
    'spec.jwtRules[1].jwks: jwks parse error: key 0 (EC kid e): …',
  ]);
});

test('jwksUri with jwks: valid, with a warning that jwksUri is ignored', () => {
  const r = check({ jwtRules: [{ issuer: 'a', jwks: JWKS_A, jwksUri: 'https://a.example.com/jwks' }] });
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.warnings, ['spec.jwtRules[0].jwksUri: jwksUri is ignored: jwks is set (only one of jwksUri and jwks should be used)']);
});

test('outputClaimToHeaders need a claim and a strict header name; outputPayloadToHeader a header name; timeout at least 1ms', () => {
  const { errors } = check({
    jwtRules: [{
      issuer: 'a',
      outputClaimToHeaders: [{ header: 'x-sub' }, { header: 'x_sub', claim: 'sub' }, null],
      outputPayloadToHeader: 'bad header',
      timeout: '0s',
    }],
  });
  assert.deepEqual(errors, [
    'spec.jwtRules[0].outputClaimToHeaders[0]: outputClaimToHeaders header and claim value must be non-empty string',
    'spec.jwtRules[0].outputClaimToHeaders[1].header: header name x_sub is not a valid header name',
    'spec.jwtRules[0].outputClaimToHeaders[2]: outputClaimToHeaders must not be null',
    'spec.jwtRules[0].outputPayloadToHeader: header name bad header is not a valid header name',
    'spec.jwtRules[0].timeout: duration "0s" must be at least 1ms',
  ]);
});

test('selector and targetRefs: one of them, no wildcards, allowed kinds, no cross-namespace reference', () => {
  assert.deepEqual(check({ selector: { matchLabels: { app: 'a' } }, targetRefs: [{ kind: 'Service', name: 'a' }] }).errors, ['spec: only one of targetRefs or workloadSelector can be set']);
  assert.deepEqual(check({ selector: { matchLabels: { app: 'a*' } } }).errors, ['spec.selector.matchLabels.app: wildcard is not supported in selector: "app=a*"']);
  assert.deepEqual(check({ selector: {} }).warnings, ['spec.selector: workload selector specified without labels']);
  assert.deepEqual(check({ targetRef: { group: 'apps', kind: 'Deployment', name: 'a', namespace: 'bar' } }).errors, [
    'spec.targetRef.namespace: targetRef namespace must not be set; cross namespace referencing is not supported',
    'spec.targetRef: targetRef must be to one of [core/Service, networking.istio.io/ServiceEntry, gateway.networking.k8s.io/Gateway, gateway.networking.k8s.io/GatewayClass] but was apps/Deployment',
  ]);
  assert.deepEqual(check({ targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway' }] }).errors, ['spec.targetRefs[0].name: targetRef name must be set']);
});

test('unknown and mistyped fields are rejected at any depth', () => {
  assert.deepEqual(check({ jwt_rules: [], jwtRules: [{ issuer: 'a', jwks_uri: 'x', forwardOriginalToken: 'yes', fromHeaders: [{ name: 'a', prefx: 'b' }] }] }).errors, [
    'spec.jwt_rules: unknown field "jwt_rules" (did you mean "jwtRules"?)',
    'spec.jwtRules[0].jwks_uri: unknown field "jwks_uri" (did you mean "jwksUri"?)',
    'spec.jwtRules[0].forwardOriginalToken: must be true or false',
    'spec.jwtRules[0].fromHeaders[0].prefx: unknown field "prefx"',
  ]);
});
