/**
 * Sidecar inbound, as Istio builds it (listener_inbound.go, filterchain_options.go,
 * cluster_builder.go) without mTLS: `virtualInbound` on 15006 with original_dst and an
 * http_inspector disabled on the ports that do not need it; the `virtualInbound-blackhole` chain,
 * the passthrough chains (`virtualInbound-catchall-http` by ALPN, `virtualInbound` for the rest) to
 * InboundPassthroughCluster, and one raw_buffer chain per target port named `0.0.0.0_<targetPort>`
 * (HTTP through an inline route `inbound|<targetPort>||`, TCP through tcp_proxy); clusters
 * `inbound|<targetPort>||` ORIGINAL_DST from 127.0.0.6. A Sidecar's ingress listeners replace the
 * service ports: a defaultEndpoint makes a STATIC cluster, captureMode NONE a real listener.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertGolden } from '../../../helpers/golden';
import { ENVOY_SKIP } from '../../../helpers/envoy-ack';
import { INBOUND, INGRESS } from './golden-sidecar-scenes';
import { assertEnvoyAcks, assertValid, cluster, dumpNames, generate, listener, names, withoutHttpFilters } from './golden-sidecar-common';

const INBOUND_CLUSTERS = ['inbound|9080||', 'inbound|9091||', 'inbound|9100||', 'InboundPassthroughCluster'];

test('golden sidecar/inbound: virtualInbound chains per target port and the inbound clusters', () => {
  const set = generate(INBOUND);
  assertValid(set);
  assert.deepEqual(set.context.inbound.map((p) => `${p.port}->${p.targetPort}`), ['9080->9080', '9090->9091', '9100->9100']);
  assertGolden('sidecar/inbound', withoutHttpFilters({ listener: listener(set, 'virtualInbound'), clusters: INBOUND_CLUSTERS.map((n) => cluster(set, n)) }));
});

test('sidecar inbound with TPROXY: transparent virtual listeners and original_src after original_dst', () => {
  const set = generate({ ...INBOUND, metadata: { INTERCEPTION_MODE: 'TPROXY' } });
  assertValid(set);
  assert.equal(set.context.interceptionMode, 'TPROXY');
  const vi = listener(set, 'virtualInbound');
  assert.deepEqual(vi['transparent'], { value: true });
  assert.deepEqual(vi['listener_filters'].map((f: any) => f.name), ['envoy.filters.listener.original_dst', 'envoy.filters.listener.original_src', 'envoy.filters.listener.tls_inspector', 'envoy.filters.listener.http_inspector']);
  assert.equal(vi['listener_filters'][1].typed_config.mark, 1337);
  assert.deepEqual(listener(set, 'virtualOutbound')['transparent'], { value: true });
});

test('golden sidecar/ingress: Sidecar ingress listeners replace the service ports (defaultEndpoint, bind, captureMode NONE)', () => {
  const set = generate(INGRESS);
  assertValid(set);
  assert.equal(set.context.sidecar, 'bookinfo/reviews');
  const inbound = set.clusters.filter((c) => String(c['name']).startsWith('inbound|'));
  assert.deepEqual(names(inbound).sort(), ['inbound|19443||', 'inbound|9080||']);
  assertGolden('sidecar/ingress', withoutHttpFilters({
    listeners: ['127.0.0.1_19443', 'virtualInbound'].map((n) => listener(set, n)),
    clusters: ['inbound|9080||', 'inbound|19443||'].map((n) => cluster(set, n)),
  }));
});

test('sidecar inbound: a real Envoy ACKs the inbound listener and clusters', { skip: ENVOY_SKIP }, async () => {
  const dump = await assertEnvoyAcks(INBOUND);
  const held = dumpNames(dump, 'ClustersConfigDump', 'dynamic_active_clusters');
  for (const n of INBOUND_CLUSTERS) assert.ok(held.includes(n), `${n} active in Envoy`);
});

test('sidecar ingress: a real Envoy ACKs the Sidecar ingress listeners (one bound on 127.0.0.1)', { skip: ENVOY_SKIP }, async () => {
  const dump = await assertEnvoyAcks(INGRESS, [19443]);
  const held = dumpNames(dump, 'ListenersConfigDump', 'dynamic_listeners');
  assert.ok(held.includes('virtualInbound'));
  assert.ok(held.some((n) => n.startsWith('127.0.0.1_')), held.join(', '));
});
