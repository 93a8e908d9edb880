/**
 * The Kubernetes JWT authenticator (TokenReview) against the Kubernetes API test server over real
 * HTTP: service-account tokens name their SPIFFE identity; other users, unauthenticated tokens,
 * wrong audiences, other clusters and API outages are refused with a clear reason; positive
 * answers are cached (by token hash) so a second call sends no TokenReview.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { KubeTestServer, startKubeTestServer } from '../../helpers/kube-apiserver';
import {
  KubeAuthResult, KubeJwtAuthenticatorOptions, kubeJwtAuthenticator, parseServiceAccountUsername, tokenReviewIdentity,
} from '../../../src/main/ca/kube-authenticator';

const SA_GROUPS = ['system:serviceaccounts', 'system:serviceaccounts:default', 'system:authenticated'];

function md(token?: string, extra: Record<string, string> = {}): grpc.Metadata {
  const m = new grpc.Metadata();
  if (token !== undefined) m.set('authorization', `Bearer ${token}`);
  for (const [k, v] of Object.entries(extra)) m.set(k, v);
  return m;
}

/** A JWT-shaped token (unsigned: only the API server judges it) with `exp` in seconds. */
function jwtShaped(exp: number, tag: string): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${enc({ alg: 'RS256', typ: 'JWT' })}.${enc({ exp, sub: tag })}.c2ln`;
}

const tokenReviews = (s: KubeTestServer) => s.requests.filter((r) => r.path.includes('tokenreviews')).length;

function failed(r: KubeAuthResult | undefined): { reason: string; unavailable?: boolean } {
  assert.ok(r && !r.ok, `expected a refusal, got ${JSON.stringify(r)}`);
  return r as { reason: string; unavailable?: boolean };
}

describe('kubeJwtAuthenticator with the API test server', () => {
  let s: KubeTestServer;
  const opts = (over: Partial<KubeJwtAuthenticatorOptions> = {}): KubeJwtAuthenticatorOptions => ({
    client: s.client(), trustDomain: () => 'cluster.local', clusterId: 'Kubernetes', ...over,
  });

  before(async () => {
    s = await startKubeTestServer();
    s.addToken('sleep-token', { username: 'system:serviceaccount:default:sleep', uid: 'u1', groups: SA_GROUPS }, ['istio-ca']);
    s.addToken('reviews-token', { username: 'system:serviceaccount:prod:reviews', groups: ['system:serviceaccounts', 'system:serviceaccounts:prod'] }, ['istio-ca']);
    s.addToken('admin-token', { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] }, ['istio-ca']);
    s.addToken('api-aud-token', { username: 'system:serviceaccount:default:sleep', groups: SA_GROUPS }, ['https://kubernetes.default.svc.cluster.local']);
  });
  after(async () => { await s.close(); });

  it('names a service account token by its SPIFFE identity', async () => {
    const a = kubeJwtAuthenticator(opts());
    const r = await a.authenticate({ metadata: md('sleep-token') });
    assert.deepEqual(r, { ok: true, caller: { identities: ['spiffe://cluster.local/ns/default/sa/sleep'], via: 'jwt' } });
    const td = kubeJwtAuthenticator(opts({ trustDomain: () => 'example.org' }));
    const r2 = await td.authenticate({ metadata: md('reviews-token') });
    assert.ok(r2?.ok);
    assert.deepEqual(r2.caller.identities, ['spiffe://example.org/ns/prod/sa/reviews'], 'trust domain read per call');
  });

  it('sends the TokenReview with the expected audiences', async () => {
    const before = tokenReviews(s);
    const a = kubeJwtAuthenticator(opts({ audiences: ['istio-ca', 'other'] }));
    assert.ok((await a.authenticate({ metadata: md('sleep-token') }))?.ok);
    assert.equal(tokenReviews(s), before + 1);
    const req = s.requests.filter((r) => r.path.includes('tokenreviews')).at(-1)!;
    assert.equal(req.method, 'POST');
    assert.match(req.path, /^\/apis\/authentication\.k8s\.io\/v1\/tokenreviews/);
  });

  it('has nothing to say without an authorization header, and refuses a non-Bearer one', async () => {
    const a = kubeJwtAuthenticator(opts());
    assert.equal(await a.authenticate({ metadata: md() }), undefined);
    const m = new grpc.Metadata();
    m.set('authorization', 'Basic dXNlcjpwdw==');
    assert.match(failed(await a.authenticate({ metadata: m })).reason, /not "Bearer <token>"/);
    assert.equal(a.stats().reviews, 0, 'no TokenReview for a malformed header');
  });

  it('refuses a user that is not a service account', async () => {
    const a = kubeJwtAuthenticator(opts());
    const f = failed(await a.authenticate({ metadata: md('admin-token') }));
    assert.match(f.reason, /not a service account/);
    assert.match(f.reason, /kubernetes-admin/);
    assert.notEqual(f.unavailable, true);
  });

  it('refuses a token the API server does not authenticate', async () => {
    const a = kubeJwtAuthenticator(opts());
    const f = failed(await a.authenticate({ metadata: md('no-such-token') }));
    assert.match(f.reason, /not authenticated|returns an error/);
    assert.ok(!f.reason.includes('no-such-token'), 'the token never appears in a reason');
  });

  it('refuses a token bound to another audience', async () => {
    const a = kubeJwtAuthenticator(opts());
    const f = failed(await a.authenticate({ metadata: md('api-aud-token') }));
    assert.match(f.reason, /audience|not authenticated|returns an error/);
    // and a token for our audience is refused when we expect another one
    const other = kubeJwtAuthenticator(opts({ audiences: ['some-other-ca'] }));
    failed(await other.authenticate({ metadata: md('sleep-token') }));
  });

  it('refuses a clusterid naming another cluster, without asking the API server', async () => {
    const a = kubeJwtAuthenticator(opts());
    const f = failed(await a.authenticate({ metadata: md('sleep-token', { clusterid: 'remote-1' }) }));
    assert.match(f.reason, /cluster remote-1/);
    assert.match(f.reason, /"Kubernetes"/);
    assert.equal(a.stats().reviews, 0);
    assert.ok((await a.authenticate({ metadata: md('sleep-token', { clusterid: 'Kubernetes' }) }))?.ok, 'our own cluster id is fine');
  });

  it('reuses a positive answer: the second call sends no TokenReview', async () => {
    const a = kubeJwtAuthenticator(opts());
    const n0 = tokenReviews(s);
    assert.ok((await a.authenticate({ metadata: md('reviews-token') }))?.ok);
    assert.equal(tokenReviews(s), n0 + 1);
    const again = await a.authenticate({ metadata: md('reviews-token') });
    assert.deepEqual(again, { ok: true, caller: { identities: ['spiffe://cluster.local/ns/prod/sa/reviews'], via: 'jwt' } });
    assert.equal(tokenReviews(s), n0 + 1, 'served from the cache');
    assert.deepEqual(a.stats(), { reviews: 1, cacheHits: 1, cached: 1 });
    // refusals are not cached
    failed(await a.authenticate({ metadata: md('admin-token') }));
    failed(await a.authenticate({ metadata: md('admin-token') }));
    assert.equal(tokenReviews(s), n0 + 3);
  });

  it('checks one token once when many calls arrive together', async () => {
    const a = kubeJwtAuthenticator(opts());
    const n0 = tokenReviews(s);
    const rs = await Promise.all(Array.from({ length: 20 }, () => a.authenticate({ metadata: md('sleep-token') })));
    assert.ok(rs.every((r) => r?.ok));
    assert.equal(tokenReviews(s), n0 + 1);
  });

  it('expires cached answers after the TTL and never past the token\'s exp', async () => {
    let t = Date.now();
    const a = kubeJwtAuthenticator(opts({ cacheTtlMs: 60_000, now: () => t }));
    const n0 = tokenReviews(s);
    assert.ok((await a.authenticate({ metadata: md('sleep-token') }))?.ok);
    t += 59_000;
    assert.ok((await a.authenticate({ metadata: md('sleep-token') }))?.ok);
    assert.equal(tokenReviews(s), n0 + 1);
    t += 2_000;
    assert.ok((await a.authenticate({ metadata: md('sleep-token') }))?.ok);
    assert.equal(tokenReviews(s), n0 + 2, 'TTL passed: asked again');

    const short = jwtShaped(Math.floor(t / 1000) + 10, 'short');
    s.addToken(short, { username: 'system:serviceaccount:default:short', groups: SA_GROUPS }, ['istio-ca']);
    assert.ok((await a.authenticate({ metadata: md(short) }))?.ok);
    t += 11_000;
    assert.ok((await a.authenticate({ metadata: md(short) }))?.ok);
    assert.equal(tokenReviews(s), n0 + 4, 'the token expired before the TTL: asked again');
  });

  it('keeps the cache bounded', async () => {
    const a = kubeJwtAuthenticator(opts({ cacheMaxEntries: 2 }));
    for (const tok of ['sleep-token', 'reviews-token']) assert.ok((await a.authenticate({ metadata: md(tok) }))?.ok);
    const t3 = 'third-token';
    s.addToken(t3, { username: 'system:serviceaccount:default:third', groups: SA_GROUPS }, ['istio-ca']);
    assert.ok((await a.authenticate({ metadata: md(t3) }))?.ok);
    assert.equal(a.stats().cached, 2);
    const n0 = tokenReviews(s);
    assert.ok((await a.authenticate({ metadata: md('sleep-token') }))?.ok);
    assert.equal(tokenReviews(s), n0 + 1, 'the oldest entry was dropped');
  });

  it('fails with "kubernetes API unavailable" while the API server is down, and recovers', async () => {
    const a = kubeJwtAuthenticator(opts({ cacheTtlMs: 0 }));
    await s.stop();
    try {
      const f = failed(await a.authenticate({ metadata: md('sleep-token') }));
      assert.match(f.reason, /^kubernetes API unavailable: /);
      assert.equal(f.unavailable, true);
    } finally {
      await s.start();
    }
    assert.ok((await a.authenticate({ metadata: md('sleep-token') }))?.ok, 'works again once the API server is back');
  });
});

describe('kubeJwtAuthenticator edge cases (in-process API stand-in)', () => {
  const base = { trustDomain: () => 'cluster.local', clusterId: 'Kubernetes' };
  const answering = (status: unknown) => ({ request: async <T>() => ({ status } as T) });
  const failing = (statusCode: number, message: string) => ({
    request: async <T>(): Promise<T> => { throw Object.assign(new Error(message), { statusCode }); },
  });

  it('turns 5xx into unavailable, 403 into an RBAC hint, and 4xx into a plain failure', async () => {
    const m = md('x');
    const f500 = failed(await kubeJwtAuthenticator({ ...base, client: failing(503, 'etcd down') }).authenticate({ metadata: m }));
    assert.match(f500.reason, /^kubernetes API unavailable: .*HTTP 503.*etcd down/);
    assert.equal(f500.unavailable, true);
    const f403 = failed(await kubeJwtAuthenticator({ ...base, client: failing(403, 'forbidden') }).authenticate({ metadata: m }));
    assert.match(f403.reason, /tokenreviews\.authentication\.k8s\.io/);
    const f401 = failed(await kubeJwtAuthenticator({ ...base, client: failing(401, 'Unauthorized') }).authenticate({ metadata: m }));
    assert.match(f401.reason, /istiod's own credentials/);
    const f400 = failed(await kubeJwtAuthenticator({ ...base, client: failing(400, 'bad request') }).authenticate({ metadata: m }));
    assert.match(f400.reason, /HTTP 400.*bad request/);
    assert.notEqual(f400.unavailable, true);
  });

  it('gives up on a TokenReview that does not answer in time', async () => {
    let release: () => void = () => {};
    const hanging = { request: <T>() => new Promise<T>((_, reject) => { release = () => reject(new Error('aborted')); }) };
    const f = failed(await kubeJwtAuthenticator({ ...base, client: hanging, timeoutMs: 50 }).authenticate({ metadata: md('x') }));
    assert.match(f.reason, /^kubernetes API unavailable: .*no answer within 50 ms/);
    release();
  });

  it('checks status.audiences when the API server names them', async () => {
    const user = { username: 'system:serviceaccount:default:sleep', groups: SA_GROUPS };
    const wrong = failed(await kubeJwtAuthenticator({ ...base, client: answering({ authenticated: true, audiences: ['api'], user }) }).authenticate({ metadata: md('x') }));
    assert.match(wrong.reason, /audiences \[api\] include none of the expected audiences \[istio-ca\]/);
    assert.ok((await kubeJwtAuthenticator({ ...base, client: answering({ authenticated: true, audiences: ['istio-ca'], user }) }).authenticate({ metadata: md('x') }))?.ok);
    assert.ok((await kubeJwtAuthenticator({ ...base, client: answering({ authenticated: true, user }) }).authenticate({ metadata: md('x') }))?.ok, 'not audience-aware: accepted');
  });

  it('survives nonsense answers', async () => {
    for (const status of [undefined, null, 'yes', { authenticated: 'true' }, { authenticated: true }, { authenticated: true, user: { username: 7 } }]) {
      const r = await kubeJwtAuthenticator({ ...base, client: answering(status) }).authenticate({ metadata: md('x') });
      failed(r);
    }
    const throwsLate = { request: async <T>(): Promise<T> => ({ get status(): never { throw new Error('boom'); } } as T) };
    assert.match(failed(await kubeJwtAuthenticator({ ...base, client: throwsLate }).authenticate({ metadata: md('x') })).reason, /boom/);
  });

  it('refuses oversized tokens without a TokenReview', async () => {
    let calls = 0;
    const client = { request: async <T>(): Promise<T> => { calls++; return {} as T; } };
    const f = failed(await kubeJwtAuthenticator({ ...base, client }).authenticate({ metadata: md('a'.repeat(20_000)) }));
    assert.match(f.reason, /larger than 16384 bytes/);
    assert.equal(calls, 0);
  });
});

describe('TokenReview status parsing', () => {
  it('reads system:serviceaccount:<ns>:<sa> and nothing else', () => {
    assert.deepEqual(parseServiceAccountUsername('system:serviceaccount:default:sleep'), { namespace: 'default', serviceAccount: 'sleep' });
    assert.match(parseServiceAccountUsername('jane') as string, /not a service account \(user "jane"/);
    assert.match(parseServiceAccountUsername('system:serviceaccount:default') as string, /invalid username field/);
    assert.match(parseServiceAccountUsername('system:serviceaccount:a:b:c') as string, /invalid username field/);
    assert.match(parseServiceAccountUsername('system:serviceaccount:Bad_NS:sa') as string, /invalid username field/);
    assert.match(parseServiceAccountUsername('system:serviceaccount:ns/x:sa') as string, /invalid username field/);
  });

  it('follows Istio: error first, then authenticated, then the service-account group', () => {
    const user = { username: 'system:serviceaccount:default:sleep', groups: SA_GROUPS };
    assert.match((tokenReviewIdentity({ error: 'token expired', authenticated: false }, ['istio-ca']) as { reason: string }).reason, /^the service account authentication returns an error: token expired$/);
    assert.equal((tokenReviewIdentity({ authenticated: false, user }, ['istio-ca']) as { reason: string }).reason, 'the token is not authenticated');
    const notSa = tokenReviewIdentity({ authenticated: true, user: { username: 'system:serviceaccount:default:sleep', groups: ['system:authenticated'] } }, ['istio-ca']);
    assert.ok(!notSa.ok && /not a service account/.test(notSa.reason) && notSa.idExtraction);
    const ok = tokenReviewIdentity({ authenticated: true, user: { ...user, extra: { 'authentication.kubernetes.io/pod-name': ['sleep-1'] } } }, ['istio-ca']);
    assert.deepEqual(ok, { ok: true, id: { namespace: 'default', serviceAccount: 'sleep', podName: 'sleep-1' } });
  });
});
