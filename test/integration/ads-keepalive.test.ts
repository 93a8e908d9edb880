/**
 * --keepaliveMaxServerConnectionAge (Istio's flag; its chart sets 30m): xDS connections are closed
 * after that age (GOAWAY, then the grace period for open streams) so proxies reconnect through the
 * Service and spread over the replicas an autoscaler added. Without it, connections stay.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { startTestServer } from '../helpers/server';
import { AdsClient, testNode } from '../helpers/ads-client';
import { exampleMeshFiles } from '../helpers/mesh-fixtures';
import { waitFor } from '../helpers/wait-for';
import { loadConfig } from '../../src/main/config';
import { CLUSTER_TYPE_URL } from '../../src/shared/resources';

test('a connection older than the max age is closed, and the proxy reconnects and is served again', async (t) => {
  const s = await startTestServer({ files: exampleMeshFiles(), flags: ['--keepaliveMaxServerConnectionAge', '1s'], start: { maxConnectionAgeGraceMs: 200 } });
  t.after(() => s.close());
  const node = testNode({ namespace: 'bookinfo', ip: '10.9.0.1' });
  const started = Date.now();
  const ads = AdsClient.sotw(s.grpcTarget);
  t.after(() => ads.close());
  const first = await ads.request({ type_url: CLUSTER_TYPE_URL, node });
  assert.ok(first.resources.length > 0);
  const status = await Promise.race([ads.status, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000))]);
  assert.ok(status, 'the stream was ended by the server');
  assert.equal(status.code, grpc.status.UNAVAILABLE, status.details);
  assert.ok(Date.now() - started >= 800, 'not before the age (1s − 10% jitter)');
  await waitFor(() => s.discovery.ads.connections.size === 0, 5000, 'the connection is gone from the server');
  // a reconnect (what Envoy and gRPC clients do on UNAVAILABLE) is served as before
  const again = AdsClient.sotw(s.grpcTarget);
  t.after(() => again.close());
  const second = await again.request({ type_url: CLUSTER_TYPE_URL, node });
  assert.equal(second.resources.length, first.resources.length);
});

test('without --keepaliveMaxServerConnectionAge a connection stays open', async (t) => {
  const s = await startTestServer({ files: exampleMeshFiles() });
  t.after(() => s.close());
  const ads = AdsClient.sotw(s.grpcTarget);
  t.after(() => ads.close());
  await ads.request({ type_url: CLUSTER_TYPE_URL, node: testNode({ namespace: 'bookinfo', ip: '10.9.0.2' }) });
  const status = await Promise.race([ads.status, new Promise<'open'>((r) => setTimeout(() => r('open'), 2000))]);
  assert.equal(status, 'open');
  assert.equal(s.discovery.ads.connections.size, 1);
});

test('keepalive flags take Go durations; a bad value names the flag', () => {
  const c = loadConfig(['--keepaliveMaxServerConnectionAge', '30m', '--keepaliveInterval', '15s']);
  assert.deepEqual(c.keepalive, { intervalMs: 15_000, timeoutMs: 10_000, maxConnectionAgeMs: 1_800_000 });
  assert.equal(loadConfig([]).keepalive.maxConnectionAgeMs, undefined);
  assert.throws(() => loadConfig(['--keepaliveMaxServerConnectionAge', 'soon']), /--keepaliveMaxServerConnectionAge: expected a duration such as 30m, got 'soon'/);
  assert.throws(() => loadConfig(['--keepaliveTimeout', '0s']), /--keepaliveTimeout/);
});
