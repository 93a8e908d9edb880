/**
 * DestinationRule connectionPool and outlierDetection → Cluster (Istio applyConnectionPool,
 * applyH2Upgrade, applyOutlierDetection): circuit breaker thresholds with Istio's MaxUint32
 * defaults for unset ones, connect timeout, TCP keepalive, HttpProtocolOptions (idle timeout,
 * requests per connection, max connection duration, h2 streams, use client protocol, h2 upgrade),
 * outlier detection with Istio's enforcing_* values and the panic threshold from minHealthPercent.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertGolden, parseMesh } from '../../../helpers/golden';
import { publishSnapshot } from '../../../helpers/fixtures';
import { ModelStore } from '../../../../src/main/model/store';
import { Registry } from '../../../../src/main/model/registry';
import { inboundConnectionPool } from '../../../../src/workers/generators/clusters';
import { ENVOY_SKIP } from '../../../helpers/envoy-ack';
import { assertEnvoyAcks, assertValid, clusters, fqdn, generate, NS, service } from './golden-destination-rule-common';

const dr = (host: string, policy: string) => `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${host}, namespace: ${NS}}
spec:
  host: ${host}
  trafficPolicy:
${policy}`;

const HOSTS = ['pool-tcp', 'pool-http', 'pool-h2', 'client-protocol', 'upgrade', 'outlier', 'outlier-local'];
const SERVICES = [
  service('pool-tcp', '', 60), service('pool-http', '', 61),
  service('pool-h2', '  - {name: grpc, port: 9090, targetPort: 9090}\n', 62),
  service('client-protocol', '', 63), service('upgrade', '', 64), service('outlier', '', 65), service('outlier-local', '', 66),
  service('budget', '', 67),
].join('');
const RULES = [
  dr('pool-tcp', `    connectionPool:
      tcp:
        maxConnections: 50
        connectTimeout: 250ms
        tcpKeepalive: {probes: 3, time: 7200s, interval: 75s}
        maxConnectionDuration: 1h
        idleTimeout: 5m
`),
  dr('pool-http', `    connectionPool:
      http: {http1MaxPendingRequests: 10, http2MaxRequests: 200, maxRequestsPerConnection: 1, maxRetries: 4, idleTimeout: 30s}
`),
  dr('pool-h2', `    connectionPool:
      http: {maxConcurrentStreams: 64, idleTimeout: 15s}
`),
  dr('client-protocol', `    connectionPool:
      http: {useClientProtocol: true}
`),
  dr('upgrade', `    connectionPool:
      http: {h2UpgradePolicy: UPGRADE}
`),
  dr('outlier', `    outlierDetection:
      consecutive5xxErrors: 1
      consecutiveGatewayErrors: 0
      interval: 1s
      baseEjectionTime: 30s
      maxEjectionPercent: 100
      minHealthPercent: 25
`),
  dr('outlier-local', `    outlierDetection:
      splitExternalLocalOriginErrors: true
      consecutiveLocalOriginFailures: 2
      consecutiveGatewayErrors: 3
`),
  dr('budget', '    connectionPool: {http: {maxRetries: 5}}\n    retryBudget: {percent: 25, minRetryConcurrency: 4}\n'),
].join('\n');
const C = (host: string, port = 8080) => `outbound|${port}||${fqdn(host)}`;

test('golden destination-rule/pool-outlier: connection pool, protocol options, outlier detection', () => {
  const set = generate(SERVICES, RULES);
  assertGolden('destination-rule/pool-outlier', clusters(set, [...HOSTS.map((h) => C(h)), C('pool-h2', 9090)]));
  assertValid(set);
});

test('pool: the mesh tcpKeepalive, connectTimeout and h2UpgradePolicy apply under the rule', () => {
  const set = generate(SERVICES, RULES, { connectTimeout: '2s', h2UpgradePolicy: 'UPGRADE', tcpKeepalive: { time: '600s', probes: 9 } });
  const [tcp, http] = clusters(set, [C('pool-tcp'), C('pool-http')]);
  assert.deepEqual(tcp!['connect_timeout'], { seconds: 0, nanos: 250_000_000 }, 'the rule connectTimeout wins');
  assert.deepEqual(http!['connect_timeout'], { seconds: 2, nanos: 0 }, 'the mesh connectTimeout');
  assert.deepEqual(tcp!['upstream_connection_options'], { tcp_keepalive: { keepalive_probes: { value: 3 }, keepalive_time: { value: 7200 }, keepalive_interval: { value: 75 } } });
  assert.deepEqual(http!['upstream_connection_options'], { tcp_keepalive: { keepalive_probes: { value: 9 }, keepalive_time: { value: 600 } } });
  const opts = http!['typed_extension_protocol_options']['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
  assert.ok(opts['explicit_http_config']['http2_protocol_options'], 'mesh h2UpgradePolicy UPGRADE upgrades HTTP ports');
});

test('envoy ACKs destination-rule/pool-outlier', { skip: ENVOY_SKIP }, async () => {
  const active = await assertEnvoyAcks(SERVICES, RULES);
  assert.equal(active.get(C('outlier'))?.['outlier_detection']?.['consecutive_5xx'], 1);
  assert.equal(active.get(C('pool-tcp'))?.['connect_timeout'], '0.250s');
  assert.equal(active.get(C('budget'))?.['circuit_breakers']?.['thresholds']?.[0]?.['retry_budget']?.['budget_percent']?.['value'], 25);
});

test('inbound clusters take the connection pool of the service rule, with Istio defaults otherwise', () => {
  const store = new ModelStore();
  store.replaceOrigin('t', parseMesh(`apiVersion: v1\nkind: Namespace\nmetadata: {name: ${NS}}\n${SERVICES}\n---\n${RULES}`));
  const snap = publishSnapshot(new Registry(store, { domainSuffix: 'cluster.local', rootNamespace: 'istio-system', trustDomain: 'cluster.local', raw: {} }).build()).view;
  const svc = (h: string) => snap.servicesByHost(fqdn(h))[0]!;
  const tcp = inboundConnectionPool(snap, svc('pool-tcp'), svc('pool-tcp').ports[0]!);
  assert.deepEqual(tcp['circuit_breakers'].thresholds[0].max_connections, { value: 50 });
  assert.deepEqual(tcp['connect_timeout'], { seconds: 0, nanos: 250_000_000 });
  const plain = inboundConnectionPool(snap, svc('client-protocol'), svc('client-protocol').ports[0]!);
  assert.deepEqual(plain['circuit_breakers'].thresholds[0].max_requests, { value: 4294967295 }, 'Istio default thresholds');
  assert.ok(plain['typed_extension_protocol_options'], 'useClientProtocol applies inbound too');
});

test('retryBudget → the circuit breaker retry budget, with Istio defaults for unset fields', () => {
  const services = SERVICES + service('budget-default', '', 68);
  const rules = `${RULES}\n${dr('budget-default', '    connectionPool: {http: {maxRetries: 5}}\n    retryBudget: {}\n')}`;
  const set = generate(services, rules);
  const [a, b] = clusters(set, [C('budget'), C('budget-default')]);
  assert.deepEqual(a!['circuit_breakers'].thresholds[0].retry_budget, { budget_percent: { value: 25 }, min_retry_concurrency: { value: 4 } });
  assert.deepEqual(b!['circuit_breakers'].thresholds[0].retry_budget, { budget_percent: { value: 0.2 }, min_retry_concurrency: { value: 3 } });
  assertValid(set);
});
