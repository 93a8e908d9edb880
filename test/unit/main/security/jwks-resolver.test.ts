/**
 * JwksResolver against a real HTTP server on 127.0.0.1: it follows the store's
 * RequestAuthentications, writes one JwksCache object per key source (keys or error), refreshes on
 * an injected clock, keeps the last good keys when a refresh fails, retries failures with backoff,
 * drops sources no policy uses, and never lets a bad answer (status, JSON, size, timeout) through
 * as keys.
 */
import { test, TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import * as crypto from 'node:crypto';
import * as client from 'prom-client';
import { AddressInfo } from 'node:net';
import { ModelStore } from '../../../../src/main/model/store';
import { setLogSink } from '../../../../src/main/log';
import { K8sObject } from '../../../../src/shared/model/objects';
import { JwksResolver, ResolverClock, JWKS_ORIGIN } from '../../../../src/main/security/jwks-resolver';
import { JwksCacheSpec, jwksCacheName } from '../../../../src/shared/istio/validate-request-authentication';
import { waitFor } from '../../../helpers/wait-for';

const publicJwk = (kind: 'rsa' | 'ec', kid: string) => {
  const pair = kind === 'rsa' ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }) : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...pair.publicKey.export({ format: 'jwk' }), kid };
};
const KEYS_A = JSON.stringify({ keys: [publicJwk('rsa', 'a')] });
const KEYS_B = JSON.stringify({ keys: [publicJwk('ec', 'b')] });

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

interface KeyServer { url: string; hits: Map<string, number>; handle(path: string, h: Handler): void; close(): Promise<void> }

async function keyServer(t: TestContext): Promise<KeyServer> {
  const handlers = new Map<string, Handler>();
  const hits = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const path = req.url ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const h = handlers.get(path);
    if (h) h(req, res); else { res.statusCode = 404; res.end('not found'); }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); });
  t.after(close);
  return { url, hits, handle: (p, h) => handlers.set(p, h), close };
}

const json = (body: string, status = 200): Handler => (_req, res) => { res.statusCode = status; res.setHeader('content-type', 'application/json'); res.end(body); };

/** A manual clock: timers fire only on advance(). */
class FakeClock implements ResolverClock {
  private t = Date.parse('2026-01-01T00:00:00Z');
  private timers = new Set<{ at: number; fn: () => void }>();
  now(): number { return this.t; }
  setTimeout(fn: () => void, ms: number): unknown { const h = { at: this.t + ms, fn }; this.timers.add(h); return h; }
  clearTimeout(h: unknown): void { this.timers.delete(h as { at: number; fn: () => void }); }
  pending(): number[] { return [...this.timers].map((x) => x.at - this.t).sort((a, b) => a - b); }
  advance(ms: number): void {
    this.t += ms;
    for (const h of [...this.timers].sort((a, b) => a.at - b.at)) if (h.at <= this.t) { this.timers.delete(h); h.fn(); }
  }
}

function ra(name: string, rules: Array<Record<string, unknown>>, ns = 'foo'): K8sObject {
  return { apiVersion: 'security.istio.io/v1', kind: 'RequestAuthentication', metadata: { name, namespace: ns }, spec: { jwtRules: rules } } as unknown as K8sObject;
}

function cached(store: ModelStore, source: string): JwksCacheSpec | undefined {
  return store.get(`internal.istiod-ts.io/JwksCache//${jwksCacheName(source)}`)?.['spec' as keyof K8sObject] as JwksCacheSpec | undefined;
}

function start(t: TestContext, store: ModelStore, opts: Partial<ConstructorParameters<typeof JwksResolver>[0]> = {}): JwksResolver {
  const restoreLog = setLogSink(() => undefined); // the resolver's warnings are expected here
  t.after(restoreLog);
  const r = new JwksResolver({ store, timeoutMs: 2_000, ...opts });
  r.start();
  t.after(() => r.stop());
  return r;
}

test('fetches the jwksUri of a RequestAuthentication into a JwksCache object (one fetch for a URI shared by two policies)', async (t) => {
  const srv = await keyServer(t);
  srv.handle('/jwks', json(KEYS_A));
  const store = new ModelStore();
  const uri = `${srv.url}/jwks`;
  store.replaceOrigin('files', [ra('a', [{ issuer: 'a', jwksUri: uri }]), ra('b', [{ issuer: 'b', jwksUri: uri }, { issuer: 'inline', jwks: KEYS_B }], 'bar')]);
  const r = start(t, store);
  await r.idle();
  assert.deepEqual(r.sourceList(), [uri]);
  const spec = cached(store, uri)!;
  assert.equal(spec.uri, uri);
  assert.equal(spec.jwks, KEYS_A);
  assert.equal(spec.error, undefined);
  assert.ok(!Number.isNaN(Date.parse(spec.fetchedAt)));
  assert.equal(srv.hits.get('/jwks'), 1);
  assert.deepEqual(store.originKeys(JWKS_ORIGIN), [`internal.istiod-ts.io/JwksCache//${jwksCacheName(uri)}`]);
});

test('a policy added later is fetched without a restart', async (t) => {
  const srv = await keyServer(t);
  srv.handle('/late', json(KEYS_B));
  const store = new ModelStore();
  const r = start(t, store);
  await r.idle();
  assert.deepEqual(r.sourceList(), []);
  store.replaceOrigin('files', [ra('late', [{ issuer: 'x', jwksUri: `${srv.url}/late` }])]);
  await waitFor(() => cached(store, `${srv.url}/late`)?.jwks === KEYS_B, 5_000, 'the new source to be fetched');
});

test('a server error, bad JSON, a non-JWKS document and an oversized body are errors, not keys', async (t) => {
  const srv = await keyServer(t);
  srv.handle('/500', json('boom', 500));
  srv.handle('/not-json', json('<html>'));
  srv.handle('/not-jwks', json('{"keys": "nope"}'));
  srv.handle('/huge', json(JSON.stringify({ keys: [{ kty: 'RSA', n: 'x'.repeat(4096) }] })));
  srv.handle('/bad-rsa', json(JSON.stringify({ keys: [{ kty: 'RSA', kid: 'r', e: 'AQAB', n: Buffer.from('Error-IstiodFailedToFetchJwksUri-').toString('base64url') }] })));
  srv.handle('/bad-ec', json(JSON.stringify({ keys: [{ kty: 'EC', kid: 'e', crv: 'P-256', x: 'AAAA', y: 'AAAA' }] })));
  const store = new ModelStore();
  store.replaceOrigin('files', [ra('bad', ['/500', '/not-json', '/not-jwks', '/huge', '/bad-rsa', '/bad-ec'].map((p, i) => ({ issuer: `i${i}`, jwksUri: `${srv.url}${p}` })))]);
  const r = start(t, store, { maxBytes: 1024 });
  await r.idle();
  const err = (p: string) => { const s = cached(store, `${srv.url}${p}`)!; assert.equal(s.jwks, undefined, p); return s.error ?? ''; };
  assert.match(err('/500'), /status 500, message "boom"/);
  assert.match(err('/not-json'), /invalid JWKS: not JSON/);
  assert.match(err('/not-jwks'), /invalid JWKS: "keys" must be a list/);
  assert.match(err('/huge'), /response larger than 1024 bytes/);
  assert.match(err('/bad-rsa'), /invalid JWKS: key 0 \(RSA kid r\): RSA modulus must be odd and at least 512 bits/);
  assert.match(err('/bad-ec'), /invalid JWKS: key 0 \(EC kid e\): /);
});

test('a server that never answers times out (the rule\'s timeout wins over the default)', async (t) => {
  const srv = await keyServer(t);
  const held: http.ServerResponse[] = [];
  srv.handle('/slow', (_req, res) => { held.push(res); });
  const store = new ModelStore();
  const uri = `${srv.url}/slow`;
  store.replaceOrigin('files', [ra('slow', [{ issuer: 's', jwksUri: uri, timeout: '150ms' }])]);
  const r = start(t, store, { timeoutMs: 60_000 });
  await r.idle();
  assert.match(cached(store, uri)!.error ?? '', /timed out after 150ms/);
});

test('a refused connection and an unsupported scheme are errors', async (t) => {
  const srv = await keyServer(t);
  const deadUrl = srv.url;
  await srv.close();
  const store = new ModelStore();
  store.replaceOrigin('files', [ra('dead', [{ issuer: 'd', jwksUri: `${deadUrl}/jwks` }, { issuer: 'f', jwksUri: 'ftp://127.0.0.1/jwks' }])]);
  const r = start(t, store);
  await r.idle();
  assert.match(cached(store, `${deadUrl}/jwks`)!.error ?? '', /GET http:\/\/127\.0\.0\.1:\d+\/jwks: fetch failed/);
  assert.equal(cached(store, 'ftp://127.0.0.1/jwks')!.error, 'URI scheme "ftp" is not supported');
});

test('refresh: new keys replace the old ones; an unchanged refresh writes nothing; a failed refresh keeps the last keys', async (t) => {
  const srv = await keyServer(t);
  let body = KEYS_A, status = 200;
  srv.handle('/jwks', (_req, res) => json(body, status)(_req, res));
  const store = new ModelStore();
  const uri = `${srv.url}/jwks`;
  store.replaceOrigin('files', [ra('a', [{ issuer: 'a', jwksUri: uri }])]);
  const clock = new FakeClock();
  const r = start(t, store, { clock, refreshMs: 20 * 60_000, refreshOnFailureMs: 60_000 });
  await r.idle();
  assert.equal(cached(store, uri)!.jwks, KEYS_A);
  assert.deepEqual(clock.pending(), [20 * 60_000], 'next refresh in 20m');

  const rev = store.storeRevision;
  clock.advance(20 * 60_000);
  await r.idle();
  assert.equal(srv.hits.get('/jwks'), 2);
  assert.equal(store.storeRevision, rev, 'same keys: no store change, no push');

  body = KEYS_B;
  clock.advance(20 * 60_000);
  await r.idle();
  assert.equal(cached(store, uri)!.jwks, KEYS_B);

  status = 503;
  clock.advance(20 * 60_000);
  await r.idle();
  const spec = cached(store, uri)!;
  assert.equal(spec.jwks, KEYS_B, 'last good keys kept');
  assert.equal(spec.error, undefined);
  assert.deepEqual(clock.pending(), [60_000], 'retry after 1m');
});

test('a failing source is retried with backoff (1m, 2m, 4m...) and recovers', async (t) => {
  const srv = await keyServer(t);
  let status = 500;
  srv.handle('/jwks', (req, res) => json(KEYS_A, status)(req, res));
  const store = new ModelStore();
  const uri = `${srv.url}/jwks`;
  store.replaceOrigin('files', [ra('a', [{ issuer: 'a', jwksUri: uri }])]);
  const clock = new FakeClock();
  const r = start(t, store, { clock, refreshMs: 20 * 60_000, refreshOnFailureMs: 60_000 });
  await r.idle();
  assert.match(cached(store, uri)!.error ?? '', /status 500/);
  assert.deepEqual(clock.pending(), [60_000]);
  clock.advance(60_000);
  await r.idle();
  assert.deepEqual(clock.pending(), [120_000]);
  clock.advance(120_000);
  await r.idle();
  assert.deepEqual(clock.pending(), [240_000]);
  status = 200;
  clock.advance(240_000);
  await r.idle();
  assert.equal(cached(store, uri)!.jwks, KEYS_A);
  assert.equal(cached(store, uri)!.error, undefined);
  assert.deepEqual(clock.pending(), [20 * 60_000]);
});

test('keys that cannot be refreshed for 7 days are dropped (Istio JwtPubKeyEvictionDuration): the provider fails closed again', async (t) => {
  const srv = await keyServer(t);
  let status = 200;
  srv.handle('/jwks', (req, res) => json(KEYS_A, status)(req, res));
  const store = new ModelStore();
  const uri = `${srv.url}/jwks`;
  store.replaceOrigin('files', [ra('a', [{ issuer: 'a', jwksUri: uri }])]);
  const clock = new FakeClock();
  const r = start(t, store, { clock, refreshMs: 20 * 60_000, refreshOnFailureMs: 60 * 60_000 });
  await r.idle();
  status = 500;
  const success = clock.now();
  for (;;) {
    clock.advance(clock.pending()[0]!);
    await r.idle();
    if (clock.now() - success >= 7 * 24 * 60 * 60_000) break;
    assert.equal(cached(store, uri)!.jwks, KEYS_A, 'kept while under 7 days');
  }
  const spec = cached(store, uri)!;
  assert.equal(spec.jwks, undefined);
  assert.match(spec.error ?? '', /status 500/);
});

test('fetch outcomes are counted as Istio names them', async (t) => {
  const srv = await keyServer(t);
  srv.handle('/ok', json(KEYS_A));
  srv.handle('/bad', json('x', 500));
  const store = new ModelStore();
  store.replaceOrigin('files', [ra('a', [{ issuer: 'a', jwksUri: `${srv.url}/ok` }, { issuer: 'b', jwksUri: `${srv.url}/bad` }])]);
  const registry = new client.Registry();
  const r = start(t, store, { registry });
  await r.idle();
  const text = await registry.metrics();
  assert.match(text, /^pilot_jwks_resolver_network_fetch_success_total 1$/m);
  assert.match(text, /^pilot_jwks_resolver_network_fetch_fail_total 1$/m);
});

test('a source no policy uses any more is dropped with its cache object and timer', async (t) => {
  const srv = await keyServer(t);
  srv.handle('/a', json(KEYS_A));
  srv.handle('/b', json(KEYS_B));
  const store = new ModelStore();
  store.replaceOrigin('files', [ra('a', [{ issuer: 'a', jwksUri: `${srv.url}/a` }]), ra('b', [{ issuer: 'b', jwksUri: `${srv.url}/b` }])]);
  const clock = new FakeClock();
  const r = start(t, store, { clock });
  await r.idle();
  assert.equal(store.originKeys(JWKS_ORIGIN).length, 2);
  store.replaceOrigin('files', [ra('b', [{ issuer: 'b', jwksUri: `${srv.url}/b` }])]);
  await waitFor(() => store.originKeys(JWKS_ORIGIN).length === 1, 5_000, 'the unused source to be dropped');
  assert.deepEqual(r.sourceList(), [`${srv.url}/b`]);
  assert.equal(cached(store, `${srv.url}/a`), undefined);
  assert.equal(cached(store, `${srv.url}/b`)!.jwks, KEYS_B);
  assert.equal(clock.pending().length, 1, 'only the remaining source has a refresh timer');
});

test('an issuer without jwks or jwksUri: keys by OpenID discovery', async (t) => {
  const srv = await keyServer(t);
  srv.handle('/.well-known/openid-configuration', json(JSON.stringify({ issuer: srv.url, jwks_uri: `${srv.url}/certs` })));
  srv.handle('/certs', json(KEYS_B));
  const store = new ModelStore();
  store.replaceOrigin('files', [ra('oidc', [{ issuer: srv.url }])]);
  const r = start(t, store);
  await r.idle();
  assert.equal(cached(store, `openid:${srv.url}`)!.jwks, KEYS_B);
});

test('stop() aborts a running fetch and nothing is written afterwards', async (t) => {
  const srv = await keyServer(t);
  srv.handle('/slow', () => undefined);
  const store = new ModelStore();
  store.replaceOrigin('files', [ra('slow', [{ issuer: 's', jwksUri: `${srv.url}/slow` }])]);
  const r = start(t, store, { timeoutMs: 60_000 });
  await waitFor(() => (srv.hits.get('/slow') ?? 0) > 0, 5_000, 'the fetch to start');
  await r.stop();
  assert.deepEqual(store.originKeys(JWKS_ORIGIN), []);
});

test('bad options are refused with the option name', () => {
  assert.throws(() => new JwksResolver({ store: new ModelStore(), timeoutMs: 0 }), /JwksResolver timeoutMs: expected a positive number/);
  assert.throws(() => new JwksResolver({ store: new ModelStore(), refreshMs: Number.NaN }), /JwksResolver refreshMs/);
});
