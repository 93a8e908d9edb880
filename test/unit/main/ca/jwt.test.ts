import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { JwtVerifier, identityFromClaims, parseJwks } from '../../../../src/main/ca/jwt';
import { TEST_ISSUER, jwksJson, newTokenSigner, signToken } from '../../../helpers/ca-client';

const rs = newTokenSigner('RS256', 'rs');
const es = newTokenSigner('ES256', 'es');
const stranger = newTokenSigner('RS256', 'rs'); // same kid, different key

function verifier(opts: { issuer?: string; audiences?: string[]; now?: () => number } = {}): JwtVerifier {
  return new JwtVerifier(parseJwks(jwksJson([rs, es]), 'jwks.json'), { issuer: opts.issuer ?? TEST_ISSUER, audiences: opts.audiences ?? ['istio-ca'], now: opts.now });
}
const reason = (r: ReturnType<JwtVerifier['verify']>) => (r.ok ? 'ok' : r.reason);

describe('service-account JWT verification (file mode)', () => {
  it('accepts RS256 and ES256 tokens from the JWKS and returns the service account', () => {
    for (const s of [rs, es]) {
      const r = verifier().verify(signToken(s));
      assert.deepEqual(r, { ok: true, identity: { namespace: 'default', serviceAccount: 'sleep' } });
    }
  });

  it('refuses a token signed by a key it does not trust', () => {
    assert.equal(reason(verifier().verify(signToken(stranger))), 'bad signature');
  });

  it('refuses a tampered payload', () => {
    const [h, , s] = signToken(rs).split('.');
    const p = Buffer.from(JSON.stringify({ iss: TEST_ISSUER, aud: 'istio-ca', exp: 9e9, sub: 'system:serviceaccount:kube-system:admin' })).toString('base64url');
    assert.equal(reason(verifier().verify(`${h}.${p}.${s}`)), 'bad signature');
  });

  it('refuses alg none, HMAC and unknown kids', () => {
    const body = Buffer.from(JSON.stringify({ exp: 9e9 })).toString('base64url');
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${body}.AA`;
    assert.match(reason(verifier().verify(none)), /unsupported alg "none"/);
    const hs = `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${body}.${crypto.createHmac('sha256', 'k').update('x').digest('base64url')}`;
    assert.match(reason(verifier().verify(hs)), /unsupported alg "HS256"/);
    assert.match(reason(verifier().verify(signToken(rs, {}, { kid: 'nope' }))), /no trusted key for alg RS256 kid nope/);
  });

  it('refuses an ES256 header on an RSA key (alg must fit the key)', () => {
    const t = signToken(rs, {}, { alg: 'ES256', kid: 'rs' });
    assert.match(reason(verifier().verify(t)), /no trusted key/);
  });

  it('checks exp (required), nbf, iss and aud', () => {
    const now = Math.floor(Date.now() / 1000);
    assert.equal(reason(verifier().verify(signToken(rs, { exp: now - 3600 }))), 'token expired');
    assert.equal(reason(verifier().verify(signToken(rs, { exp: undefined }))), 'token has no exp claim');
    assert.equal(reason(verifier().verify(signToken(rs, { nbf: now + 3600 }))), 'token not valid yet (nbf)');
    assert.match(reason(verifier().verify(signToken(rs, { iss: 'https://evil' }))), /issuer "https:\/\/evil" is not trusted/);
    assert.match(reason(verifier().verify(signToken(rs, { aud: 'api' }))), /audience "api" not accepted \(want one of istio-ca\)/);
    assert.equal(reason(verifier({ audiences: ['api', 'istio-ca'] }).verify(signToken(rs, { aud: 'api' }))), 'ok');
  });

  it('tolerates 30 s of clock skew and no more', () => {
    const exp = Math.floor(Date.now() / 1000);
    assert.equal(reason(verifier({ now: () => (exp + 20) * 1000 }).verify(signToken(rs, { exp }))), 'ok');
    assert.equal(reason(verifier({ now: () => (exp + 31) * 1000 }).verify(signToken(rs, { exp }))), 'token expired');
  });

  it('does not check iss when no issuer is configured', () => {
    assert.equal(reason(verifier({ issuer: '' }).verify(signToken(rs, { iss: 'anything' }))), 'ok');
  });

  it('flags a valid token without a service account as an identity-extraction failure', () => {
    const r = verifier().verify(signToken(rs, { sub: 'alice', 'kubernetes.io': undefined }));
    assert.deepEqual(r, { ok: false, reason: 'token names no Kubernetes service account', idExtraction: true });
  });

  it('refuses malformed tokens without throwing', () => {
    for (const t of ['', 'a.b', 'a.b.c.d', '!!.??.##', `${Buffer.from('[]').toString('base64url')}.e30.AA`, 'x'.repeat(20_000)]) {
      assert.notEqual(reason(verifier().verify(t)), 'ok', t.slice(0, 20));
    }
  });
});

describe('identity from Kubernetes claims', () => {
  it('prefers the kubernetes.io claim, falls back to sub', () => {
    assert.deepEqual(identityFromClaims({ 'kubernetes.io': { namespace: 'a', serviceaccount: { name: 'b' } }, sub: 'system:serviceaccount:x:y' }), { namespace: 'a', serviceAccount: 'b' });
    assert.deepEqual(identityFromClaims({ sub: 'system:serviceaccount:x:y' }), { namespace: 'x', serviceAccount: 'y' });
  });
  it('refuses names that could smuggle path segments into a SPIFFE URI', () => {
    assert.equal(identityFromClaims({ sub: 'system:serviceaccount:a/sa/admin:b' }), undefined);
    assert.equal(identityFromClaims({ 'kubernetes.io': { namespace: 'A', serviceaccount: { name: 'b' } } }), undefined);
  });
});

describe('JWKS files', () => {
  it('refuses private keys, symmetric keys and empty sets, naming the file', () => {
    const priv = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'jwk' });
    assert.throws(() => parseJwks(JSON.stringify({ keys: [priv] }), 'k.json'), /k.json: keys\[0\] is a private key/);
    assert.throws(() => parseJwks(JSON.stringify({ keys: [{ kty: 'oct', k: 'AA' }] }), 'k.json'), /unsupported kty "oct"/);
    assert.throws(() => parseJwks('{"keys":[]}', 'k.json'), /no signing keys/);
    assert.throws(() => parseJwks('nope', 'k.json'), /not JSON/);
  });
  it('skips encryption keys', () => {
    assert.equal(parseJwks(JSON.stringify({ keys: [{ ...rs.jwk, use: 'enc' }, es.jwk] }), 'k.json').length, 1);
  });
});
