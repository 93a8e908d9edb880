/**
 * Protocol sniffing, as Istio does it for ports whose protocol is not declared (port name without a
 * protocol prefix, no appProtocol; kube.ConvertProtocol → Unsupported): the outbound listener on the
 * VIP holds a TCP chain and an HTTP chain chosen by the http_inspector's ALPN, routed by its own RDS
 * `host:port` (one virtual host, any authority); the shared `0.0.0.0_<port>` route lists sniffed
 * services too; clusters use the downstream protocol upstream; the inbound port gets an HTTP and a
 * TCP chain. Well-known server-first ports (MongoDB 27017, MySQL 3306, DNS, SMTP) stay TCP.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertGolden } from '../../../helpers/golden';
import { ENVOY_SKIP } from '../../../helpers/envoy-ack';
import { SNIFFING } from './golden-sidecar-scenes';
import { assertEnvoyAcks, assertValid, cluster, dumpNames, generate, listener, names, route, withoutHttpFilters } from './golden-sidecar-common';

test('golden sidecar/sniffing: undeclared protocols are sniffed (listeners, routes, clusters, inbound)', () => {
  const set = generate(SNIFFING);
  assertValid(set);
  assert.deepEqual(set.context.inbound.map((p) => `${p.port}->${p.targetPort} ${p.protocol}`), ['8000->8080 UnsupportedProtocol']);
  assert.deepEqual(names(set.listeners).sort(), ['0.0.0.0_8000', '10.5.0.7_8000', '10.96.5.10_8000', '10.96.5.20_27017', 'virtualInbound', 'virtualOutbound']);
  assert.deepEqual(names(set.routes).sort(), ['8000', 'legacy.web.svc.cluster.local:8000', 'stateful.web.svc.cluster.local:8000']);
  const vi = listener(set, 'virtualInbound');
  assertGolden('sidecar/sniffing', withoutHttpFilters({
    listeners: ['10.96.5.10_8000', '10.96.5.20_27017'].map((n) => listener(set, n)),
    sniffedRoute: route(set, 'legacy.web.svc.cluster.local:8000')['virtual_hosts'].map((vh: any) => ({ name: vh.name, domains: vh.domains, cluster: vh.routes[0].route.cluster })),
    sharedRoute: route(set, '8000')['virtual_hosts'].map((vh: any) => vh.name),
    clusters: ['outbound|8000||legacy.web.svc.cluster.local', 'inbound|8080||'].map((n) => ({ name: n, options: cluster(set, n)['typed_extension_protocol_options'] })),
    inbound: {
      chains: vi['filter_chains'].filter((c: any) => c.name === '0.0.0.0_8080').map((c: any) => ({ match: c.filter_chain_match, filter: c.filters[0].name })),
      httpInspector: vi['listener_filters'].find((f: any) => f.name === 'envoy.filters.listener.http_inspector'),
    },
  }));
});

test('sidecar sniffing: a real Envoy ACKs it', { skip: ENVOY_SKIP }, async () => {
  const dump = await assertEnvoyAcks(SNIFFING);
  assert.ok(dumpNames(dump, 'ListenersConfigDump', 'dynamic_listeners').includes('10.96.5.10_8000'));
});
