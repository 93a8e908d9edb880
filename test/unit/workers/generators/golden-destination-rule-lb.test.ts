/**
 * DestinationRule loadBalancer → Cluster lb_policy and lb config (Istio applyLoadBalancer):
 * simple policies (UNSPECIFIED is Istio's default LEAST_REQUEST), warmupDurationSecs → slow start,
 * consistentHash → RING_HASH (ringHash.minimumRingSize, the deprecated minimumRingSize or 1024) or
 * MAGLEV (tableSize), PASSTHROUGH → ORIGINAL_DST; localityLbSetting → locality-weighted clusters and
 * per-proxy-locality EDS weights (distribute) and priorities (failover, failoverPriority, only with
 * outlierDetection).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertGolden, generateFor } from '../../../helpers/golden';
import { GENERATOR_INPUTS } from '../../../../src/shared/generation';
import { ENDPOINT_TYPE_URL } from '../../../../src/shared/resources';
import { ENVOY_SKIP } from '../../../helpers/envoy-ack';
import { assertEnvoyAcks, assertValid, assignments, baseMesh, clusters, fqdn, generate, NODE_ID, NODE_META, NS, service } from './golden-destination-rule-common';

const dr = (host: string, policy: string) => `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${host}, namespace: ${NS}}
spec:
  host: ${host}
  trafficPolicy:
${policy}`;

const SIMPLE_HOSTS = ['rr', 'lr', 'random', 'unspecified', 'passthrough', 'ring', 'ring-legacy', 'maglev', 'nolb'];
const SIMPLE_SERVICES = SIMPLE_HOSTS.map((h, i) => service(h, '', 20 + i)).join('');
const SIMPLE_RULES = [
  dr('rr', '    loadBalancer: {simple: ROUND_ROBIN, warmupDurationSecs: 30s}\n'),
  dr('lr', '    loadBalancer: {simple: LEAST_REQUEST, warmupDurationSecs: 1m}\n'),
  dr('random', '    loadBalancer: {simple: RANDOM}\n'),
  dr('unspecified', '    loadBalancer: {simple: UNSPECIFIED}\n'),
  dr('passthrough', '    loadBalancer: {simple: PASSTHROUGH}\n'),
  dr('ring', '    loadBalancer: {consistentHash: {httpHeaderName: x-user, ringHash: {minimumRingSize: 2048}}}\n'),
  dr('ring-legacy', '    loadBalancer: {consistentHash: {useSourceIp: true}}\n'),
  dr('maglev', '    loadBalancer: {consistentHash: {httpCookie: {name: session, ttl: 60s}, maglev: {tableSize: 65537}}}\n'),
].join('\n');
const C = (host: string, subset = '') => `outbound|8080|${subset}|${fqdn(host)}`;

test('golden destination-rule/lb-simple: simple policies, warmup, consistent hash', () => {
  const set = generate(SIMPLE_SERVICES, SIMPLE_RULES);
  assertGolden('destination-rule/lb-simple', clusters(set, SIMPLE_HOSTS.map((h) => C(h))));
  assertValid(set);
});

test('envoy ACKs destination-rule/lb-simple', { skip: ENVOY_SKIP }, async () => {
  const active = await assertEnvoyAcks(SIMPLE_SERVICES, SIMPLE_RULES);
  assert.equal(active.get(C('maglev'))?.['lb_policy'], 'MAGLEV');
  assert.equal(active.get(C('ring'))?.['ring_hash_lb_config']?.['minimum_ring_size'], '2048');
  assert.equal(active.get(C('passthrough'))?.['type'], 'ORIGINAL_DST');
});

// The client is in us-east/us-east-1a/rack1; endpoints v1 there, v2 in us-east/us-east-1b, v3 in eu-west/eu-west-1a.
const LOCALITY_HOSTS = ['failover-default', 'failover-region', 'distribute', 'failover-priority', 'no-outlier', 'disabled'];
const LOCALITY_SERVICES = LOCALITY_HOSTS.map((h, i) => service(h, '', 40 + i)).join('');
const OUTLIER = '    outlierDetection: {consecutive5xxErrors: 5, interval: 10s, baseEjectionTime: 30s}\n';
const LOCALITY_RULES = [
  dr('failover-default', OUTLIER),
  dr('failover-region', `${OUTLIER}    loadBalancer:
      localityLbSetting:
        enabled: true
        failover: [{from: us-east, to: ap-south}]
`),
  dr('distribute', `    loadBalancer:
      localityLbSetting:
        distribute:
        - from: us-east/us-east-1a/*
          to: {"us-east/us-east-1a/*": 80, "us-east/us-east-1b/*": 20}
        - from: eu-west/*
          to: {"eu-west/*": 100}
`),
  dr('failover-priority', `${OUTLIER}    loadBalancer:
      localityLbSetting:
        failoverPriority: [topology.kubernetes.io/region, topology.kubernetes.io/zone]
`),
  dr('no-outlier', `    loadBalancer:
      localityLbSetting:
        failover: [{from: us-east, to: eu-west}]
`),
  dr('disabled', `${OUTLIER}    loadBalancer:
      localityLbSetting: {enabled: false}
`),
].join('\n');

test('golden destination-rule/lb-locality: failover priorities, distribute weights, failoverPriority, outlier requirement', () => {
  const set = generate(LOCALITY_SERVICES, LOCALITY_RULES);
  assertGolden('destination-rule/lb-locality-clusters', clusters(set, LOCALITY_HOSTS.map((h) => C(h))).map((c) => ({ name: c['name'], common_lb_config: c['common_lb_config'] })));
  assertGolden('destination-rule/lb-locality-endpoints', assignments(set, LOCALITY_HOSTS.map((h) => C(h))));
  assertValid(set);
});

test('lb-locality: the mesh-wide localityLbSetting applies when the rule has none; enabled false turns it off', () => {
  const meshFailover = { localityLbSetting: { failover: [{ from: 'us-east', to: 'ap-south' }] } };
  const set = generate(LOCALITY_SERVICES, LOCALITY_RULES, meshFailover);
  const [cla] = assignments(set, [C('failover-default')]);
  // eu-west is not the allowed failover region: priority 4 → renumbered after us-east's 0 and 2 (same as failover-region)
  assert.deepEqual(cla!['endpoints'].map((e: any) => [e.locality.region, e.locality.zone, e.priority ?? 0]), [['eu-west', 'eu-west-1a', 2], ['us-east', 'us-east-1a', 0], ['us-east', 'us-east-1b', 1]]);
  const off = generate(LOCALITY_SERVICES, LOCALITY_RULES, { localityLbSetting: { enabled: false } });
  assert.ok(assignments(off, [C('failover-default')])[0]!['endpoints'].every((e: any) => !e.priority), 'mesh locality LB disabled: no priorities');
});

test('envoy ACKs destination-rule/lb-locality', { skip: ENVOY_SKIP }, async () => {
  const active = await assertEnvoyAcks(LOCALITY_SERVICES, LOCALITY_RULES);
  assert.ok(active.get(C('distribute'))?.['common_lb_config']?.['locality_weighted_lb_config'] !== undefined);
});

test('lb-locality: EDS follows the proxy locality (GenContext.locality is an EDS input)', () => {
  const yaml = `${baseMesh(LOCALITY_SERVICES)}\n---\n${LOCALITY_RULES}`;
  const eu = generateFor(yaml, { id: NODE_ID, metadata: NODE_META, locality: { region: 'eu-west', zone: 'eu-west-1a' } });
  assert.equal(eu.context.locality, 'eu-west/eu-west-1a/');
  const cla = eu.endpoints.find((e) => e['cluster_name'] === C('failover-default'))!;
  assert.deepEqual(cla['endpoints'].map((e: any) => [e.locality.region, e.locality.zone, e.priority ?? 0]), [['eu-west', 'eu-west-1a', 0], ['us-east', 'us-east-1a', 1], ['us-east', 'us-east-1b', 1]]);
  // distribute applies only to proxies in a `from` locality: eu-west sends everything to eu-west
  const dist = eu.endpoints.find((e) => e['cluster_name'] === C('distribute'))!;
  assert.deepEqual(dist['endpoints'].map((e: any) => [e.locality.region, e.lb_endpoints?.length ?? 0, e.load_balancing_weight.value]), [['eu-west', 1, 100], ['us-east', 0, 1], ['us-east', 0, 1]]);
  assert.ok(GENERATOR_INPUTS.sidecar[ENDPOINT_TYPE_URL]!.includes('locality'));
});
