import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resolveTtl, formatDuration } from '../../../../src/shared/ca/ttl';
import { encodePem, istioResponseChain, splitCertificates } from '../../../../src/shared/ca/pem';
import { parseSpiffeUri, spiffeUri } from '../../../../src/shared/ca/spiffe';

const H = 3600_000;

describe('certificate lifetime (Istio CA rules)', () => {
  it('gives DEFAULT_WORKLOAD_CERT_TTL to a request of zero or less', () => {
    assert.deepEqual(resolveTtl(0, 24 * H, 2160 * H), { ok: true, ms: 24 * H });
    assert.deepEqual(resolveTtl(-5, 24 * H, 2160 * H), { ok: true, ms: 24 * H });
  });
  it('honours a requested lifetime up to the maximum, inclusive', () => {
    assert.deepEqual(resolveTtl(3600, 24 * H, 2160 * H), { ok: true, ms: H });
    assert.deepEqual(resolveTtl(2160 * 3600, 24 * H, 2160 * H), { ok: true, ms: 2160 * H });
  });
  it('refuses more than MAX_WORKLOAD_CERT_TTL instead of clamping, naming both durations', () => {
    const r = resolveTtl(2160 * 3600 + 1, 24 * H, 2160 * H);
    assert.equal(r.ok, false);
    assert.match((r as { message: string }).message, /requested TTL 2160h0m1s is greater than the max allowed TTL 2160h0m0s/);
  });
  it('formats durations the way Go prints them', () => {
    assert.equal(formatDuration(90_000), '1m30s');
    assert.equal(formatDuration(5000), '5s');
  });
});

describe('response chain shape', () => {
  const a = encodePem('CERTIFICATE', Buffer.from('leaf'));
  const b = encodePem('CERTIFICATE', Buffer.from('intermediate'));
  const r1 = encodePem('CERTIFICATE', Buffer.from('root-new'));
  const r2 = encodePem('CERTIFICATE', Buffer.from('root-old'));

  it('is one PEM per element, each ending in a newline, roots last and in bundle order', () => {
    const chain = istioResponseChain(a, b, r1 + r2);
    assert.deepEqual(chain, [a, b, r1, r2]);
    for (const c of chain) assert.ok(c.endsWith('-----\n'));
  });
  it('skips an empty cert chain (self-signed CA)', () => {
    assert.deepEqual(istioResponseChain(a, '', r1), [a, r1]);
  });
  it('splits concatenated PEM and ignores non-certificate blocks', () => {
    assert.deepEqual(splitCertificates(`${a}junk\n${encodePem('PRIVATE KEY', Buffer.from('k'))}${b}`), [a, b]);
  });
});

describe('SPIFFE identities', () => {
  it('round-trips spiffe://<td>/ns/<ns>/sa/<sa>', () => {
    const uri = spiffeUri({ trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'sleep' });
    assert.equal(uri, 'spiffe://cluster.local/ns/default/sa/sleep');
    assert.deepEqual(parseSpiffeUri(uri), { trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'sleep' });
  });
  it('rejects other shapes', () => {
    for (const bad of ['spiffe://td/ns/a', 'https://td/ns/a/sa/b', 'spiffe://td/ns//sa/b', 'spiffe://td/ns/a/sa/b/extra']) assert.equal(parseSpiffeUri(bad), undefined, bad);
  });
});
