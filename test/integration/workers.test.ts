/**
 * The worker-pool pipeline: generation runs in worker threads, proxies with equal generation
 * inputs share one generation, and failing or hung worker jobs are retried or resent later —
 * never a lost push, never a crash.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { threadId } from 'node:worker_threads';
import { startTestServer } from '../helpers/server';
import { AdsClient, testNode } from '../helpers/ads-client';
import { ConfigPool } from '../../src/main/pools/config-pool';
import { CLUSTER_TYPE_URL, LISTENER_TYPE_URL } from '../../src/shared/resources';
import { waitFor } from '../helpers/wait-for';

const MESH = {
  'mesh.yaml': `
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo}
spec: {clusterIP: 10.96.0.20, ports: [{name: http, port: 9080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: reviews-1, namespace: bookinfo, labels: {kubernetes.io/service-name: reviews}}
addressType: IPv4
ports: [{name: http, port: 9080}]
endpoints: [{addresses: [10.244.0.5], conditions: {ready: true}}]
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: bookinfo}
spec: {clusterIP: 10.96.0.21, ports: [{name: http, port: 9080}]}
`,
};

test('generation runs in worker threads: the main thread encodes no resource', async (t) => {
  const server = await startTestServer({ files: MESH });
  t.after(() => server.close());
  const s = AdsClient.sotw(server.grpcTarget);
  t.after(() => s.close());
  const res = await s.request({ node: testNode({ namespace: 'bookinfo' }), type_url: CLUSTER_TYPE_URL, resource_names: [] });
  assert.ok(res.resources.length >= 2, 'clusters generated');
  assert.equal(server.discovery.mainThreadEncodes(), 0, 'main thread encoded nothing');
  assert.ok(server.discovery.generation.stats.lastWorkerEncodeCount > 0, 'a worker did the encoding');
  assert.equal(threadId, 0, 'this test itself runs on the main thread');
});

test('proxies with equal generation inputs share one generation', async (t) => {
  const server = await startTestServer({ files: MESH });
  t.after(() => server.close());
  const streams = Array.from({ length: 20 }, () => AdsClient.sotw(server.grpcTarget));
  t.after(() => { for (const s of streams) s.close(); });
  const before = server.discovery.generation.stats.jobs;
  // 20 sidecars in one namespace, no workload of their own: identical CDS and LDS inputs
  await Promise.all(streams.map((s, i) => s.request({ node: testNode({ namespace: 'bookinfo', pod: `client-${i}`, ip: `10.1.0.${i + 1}` }), type_url: CLUSTER_TYPE_URL, resource_names: [] })));
  await Promise.all(streams.map((s) => s.request({ type_url: LISTENER_TYPE_URL, resource_names: [] })));
  const jobs = server.discovery.generation.stats.jobs - before;
  // CDS and LDS are each built from two facets (outbound per scope, inbound per workload):
  // four generations in all for 20 proxies
  assert.equal(jobs, 4, `one generation per facet of CDS and LDS for 20 proxies, got ${jobs}`);
  const st = server.discovery.generation.stats;
  assert.ok(st.groupHits + st.sharedInFlight >= 38, `38 of 40 answers shared (${st.groupHits} group hits, ${st.sharedInFlight} in flight)`);

  // A proxy in another namespace has different outbound inputs; its (empty) inbound part is shared.
  const other = AdsClient.sotw(server.grpcTarget);
  t.after(() => other.close());
  await other.request({ node: testNode({ namespace: 'shop', pod: 'x' }), type_url: CLUSTER_TYPE_URL, resource_names: [] });
  assert.equal(server.discovery.generation.stats.jobs - before, 5);
});

/** A pool that fails (or hangs) `n` jobs once armed, then behaves. */
function flaky(n: number, mode: 'reject' | 'hang', armed = true): { wrap: (p: ConfigPool) => ConfigPool; failures: () => number; arm: () => void } {
  let failures = 0;
  return {
    failures: () => failures,
    arm: () => { armed = true; },
    wrap: (pool) => ({
      ...pool,
      run: (msg, signal) => {
        if (!armed || failures >= n) return pool.run(msg, signal);
        failures++;
        if (mode === 'reject') return Promise.reject(new Error('injected worker crash'));
        return new Promise((_resolve, reject) => signal?.addEventListener('abort', () => reject(signal.reason)));
      },
    }),
  };
}

test('a failing worker job is retried and the proxy still gets its config', async (t) => {
  const f = flaky(2, 'reject');
  const server = await startTestServer({ files: MESH, start: { wrapPool: f.wrap } });
  t.after(() => server.close());
  const s = AdsClient.sotw(server.grpcTarget);
  t.after(() => s.close());
  const res = await s.request({ node: testNode({ namespace: 'bookinfo' }), type_url: CLUSTER_TYPE_URL, resource_names: [] });
  assert.ok(res.resources.length >= 2);
  assert.equal(f.failures(), 2);
  assert.equal(server.discovery.generation.stats.jobFailures, 2);
});

test('a hung worker job times out, and exhausted retries become a later resend, not a lost push', async (t) => {
  // 3 attempts per resolve (retries: 2): the first resolve fails entirely, the stream retries later.
  const f = flaky(3, 'hang', false);
  const server = await startTestServer({ files: MESH, env: { ISTIOD_GENERATION_TIMEOUT: '200ms' }, start: { wrapPool: f.wrap, retryDelayMs: 50 } });
  t.after(() => server.close());
  // Warm the workers first: a cold worker (descriptor load, codegen) could itself overrun 200 ms.
  const warm = AdsClient.sotw(server.grpcTarget);
  t.after(() => warm.close());
  await warm.request({ node: testNode({ namespace: 'shop', pod: 'warm' }), type_url: CLUSTER_TYPE_URL, resource_names: [] });
  f.arm();
  const s = AdsClient.sotw(server.grpcTarget);
  t.after(() => s.close());
  s.send({ node: testNode({ namespace: 'bookinfo' }), type_url: CLUSTER_TYPE_URL, resource_names: [] });
  const res = await s.next(5000);
  assert.equal(res.type_url, CLUSTER_TYPE_URL);
  assert.ok(res.resources.length >= 2, 'the resend carries the clusters');
  assert.equal(f.failures(), 3);
  await waitFor(() => [...server.discovery.ads.connections.values()].every((c) => [...c.watches.values()].every((w) => !w.dirty)), 2000, 'watch no longer dirty');
});

test('a resource that fails to generate holds back the whole answer instead of deleting it', async (t) => {
  let broken = 1;
  const server = await startTestServer({
    files: MESH,
    start: {
      retryDelayMs: 50,
      wrapPool: (pool) => ({
        ...pool,
        run: async (msg, signal) => {
          const res = await pool.run(msg, signal);
          if (broken-- > 0) return { ...res, errors: [{ code: 'MESH_GENERATION_FAILED', message: 'injected encode failure' }] };
          return res;
        },
      }),
    },
  });
  t.after(() => server.close());
  const s = AdsClient.sotw(server.grpcTarget);
  t.after(() => s.close());
  s.send({ node: testNode({ namespace: 'bookinfo' }), type_url: CLUSTER_TYPE_URL, resource_names: [] });
  const res = await s.next(5000);
  // the first answer was withheld (a partial SotW CDS would have removed clusters); the resend is whole
  assert.ok(res.resources.length >= 2);
  assert.ok(broken < 0, 'the broken result was not used, the resend came from a new job');
});
