/**
 * DestinationRule subsets → `outbound|port|subset|host` EDS clusters whose load assignment holds
 * only the subset's endpoints; subset trafficPolicy over the top-level one, field by field;
 * portLevelSettings replacing the top-level policy for their port (Istio MergeSubsetTrafficPolicy).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertGolden } from '../../../helpers/golden';
import { ENVOY_SKIP } from '../../../helpers/envoy-ack';
import { assertEnvoyAcks, assertValid, assignments, clusters, fqdn, generate, NS, service } from './golden-destination-rule-common';

const SERVICES = service('cart', '  - {name: grpc, port: 9090, targetPort: 9090}\n');
const RULES = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: cart, namespace: ${NS}}
spec:
  host: cart
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    connectionPool: {tcp: {maxConnections: 100}}
    portLevelSettings:
    - port: {number: 9090}
      loadBalancer: {simple: RANDOM}
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      loadBalancer: {simple: LEAST_REQUEST}
  - name: v3
    labels: {version: v3}
    trafficPolicy:
      connectionPool: {http: {http2MaxRequests: 7}}
      portLevelSettings:
      - port: {number: 8080}
        outlierDetection: {consecutive5xxErrors: 3}
`;
const C = (port: number, subset: string) => `outbound|${port}|${subset}|${fqdn('cart')}`;

test('golden destination-rule/subsets: subset clusters, subset and port-level policy precedence, subset endpoints', () => {
  const set = generate(SERVICES, RULES);
  assertGolden('destination-rule/subsets-clusters', clusters(set, [C(8080, ''), C(8080, 'v1'), C(8080, 'v2'), C(8080, 'v3'), C(9090, ''), C(9090, 'v2'), C(9090, 'v3')]));
  assertGolden('destination-rule/subsets-endpoints', assignments(set, [C(8080, ''), C(8080, 'v1'), C(8080, 'v2'), C(9090, 'v3')]));
  assertValid(set);
});

test('envoy ACKs destination-rule/subsets', { skip: ENVOY_SKIP }, async () => {
  const active = await assertEnvoyAcks(SERVICES, RULES);
  assert.equal(active.get(C(8080, 'v2'))?.['lb_policy'], 'LEAST_REQUEST');
  assert.equal(active.get(C(9090, ''))?.['lb_policy'], 'RANDOM');
});
