/**
 * ServiceEntry on a sidecar, as Istio converts it (serviceentry conversion + cluster_builder):
 * STATIC → EDS fed by `endpoints` and by the WorkloadEntries and Pods its workloadSelector picks;
 * DNS → STRICT_DNS with a load assignment of the endpoints (by locality) or of the host itself;
 * DNS_ROUND_ROBIN → LOGICAL_DNS with exactly one endpoint; NONE → ORIGINAL_DST. Addresses: a VIP
 * becomes the TCP listener address, a CIDR a prefix-range match on `0.0.0.0_<port>`; an address-less
 * NONE entry gets one listener per endpoint IP; TLS/HTTPS hosts without VIP share `0.0.0.0_443` by SNI.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertGolden } from '../../../helpers/golden';
import { ENVOY_SKIP } from '../../../helpers/envoy-ack';
import { SERVICE_ENTRIES } from './golden-sidecar-scenes';
import { assertEnvoyAcks, assertValid, assignment, cluster, dumpNames, generate, listener, names, route } from './golden-sidecar-common';

const CLUSTERS = [
  'outbound|7070||inventory.shop.internal', 'outbound|5432||ledger.shop.internal', 'outbound|80||mirror.example.com',
  'outbound|80||httpbin.org', 'outbound|443||cdn.example.com', 'outbound|3306||corp.internal', 'outbound|6379||cache.shop.internal',
  'outbound|8000||docs.shop.svc.cluster.local',
];

test('golden sidecar/serviceentry-clusters: STATIC → EDS, DNS → STRICT_DNS, DNS_ROUND_ROBIN → LOGICAL_DNS, NONE → ORIGINAL_DST (and an ExternalName Service → STRICT_DNS)', () => {
  const set = generate(SERVICE_ENTRIES);
  assertValid(set);
  // Only the fields resolution decides (load balancing and pool settings belong to the DestinationRule goldens).
  const FIELDS = ['name', 'type', 'eds_cluster_config', 'dns_lookup_family', 'dns_refresh_rate', 'respect_dns_ttl', 'load_assignment'];
  const brief = (c: Record<string, any>) => Object.fromEntries([
    ...FIELDS.filter((f) => c[f] !== undefined).map((f) => [f, c[f]]),
    ...(c['type'] === 'ORIGINAL_DST' ? [['lb_policy', c['lb_policy']]] : []),
  ]);
  assertGolden('sidecar/serviceentry-clusters', CLUSTERS.map((n) => brief(cluster(set, n))));
});

test('golden sidecar/serviceentry-endpoints: inline endpoints (port override, weight) and workloadSelector WorkloadEntries + Pods', () => {
  const set = generate(SERVICE_ENTRIES);
  assert.deepEqual(names(set.endpoints).sort(), ['outbound|5432||ledger.shop.internal', 'outbound|7070||inventory.shop.internal']);
  assertGolden('sidecar/serviceentry-endpoints', [assignment(set, 'outbound|7070||inventory.shop.internal'), assignment(set, 'outbound|5432||ledger.shop.internal')]);
});

test('golden sidecar/serviceentry-listeners: VIP, CIDR prefix ranges, per-endpoint listeners for NONE, SNI for TLS hosts, VIP domains, a service-less VirtualService host on port 80', () => {
  const set = generate(SERVICE_ENTRIES);
  assert.deepEqual(names(set.listeners).sort(),
    ['0.0.0.0_3306', '0.0.0.0_443', '0.0.0.0_7070', '0.0.0.0_80', '0.0.0.0_8000', '10.3.2.1_6379', '10.3.2.2_6379', '240.0.0.11_5432', 'virtualInbound', 'virtualOutbound']);
  const brief = (l: Record<string, any>) => ({
    name: l['name'], address: l['address'],
    filter_chains: l['filter_chains'].map((c: any) => ({ filter_chain_match: c.filter_chain_match, cluster: c.filters.at(-1).typed_config.cluster ?? c.filters.at(-1).typed_config.rds?.route_config_name })),
    listener_filters: (l['listener_filters'] ?? []).map((f: any) => f.name),
    default_filter_chain: l['default_filter_chain']?.name,
  });
  assertGolden('sidecar/serviceentry-listeners', {
    listeners: ['240.0.0.11_5432', '0.0.0.0_3306', '10.3.2.1_6379', '10.3.2.2_6379', '0.0.0.0_443', '0.0.0.0_7070'].map((n) => brief(listener(set, n))),
    routes: ['80', '7070'].map((n) => route(set, n)['virtual_hosts'].map((vh: any) => ({ name: vh.name, domains: vh.domains }))),
  });
});

test('sidecar ServiceEntry: a real Envoy ACKs every resolution', { skip: ENVOY_SKIP }, async () => {
  const dump = await assertEnvoyAcks(SERVICE_ENTRIES);
  const held = dumpNames(dump, 'ClustersConfigDump', 'dynamic_active_clusters');
  for (const n of CLUSTERS) assert.ok(held.includes(n), `${n} active in Envoy (${held.join(', ')})`);
});
