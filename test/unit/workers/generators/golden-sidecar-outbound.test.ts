/**
 * Sidecar outbound listeners and virtual-host domains, as Istio builds them (listener.go,
 * tls.go, httproute.go): HTTP services share `0.0.0.0_<port>` behind RDS `<port>`; TCP services get
 * `<vip>_<port>` (a headless service one listener per pod IP); TLS services without a VIP share
 * `0.0.0.0_443` by SNI; an HTTP and a TCP service on one `0.0.0.0` port merge behind protocol sniffing; VirtualService tcp/tls routes become chains;
 * virtualOutbound catches the rest.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertGolden } from '../../../helpers/golden';
import { ENVOY_SKIP } from '../../../helpers/envoy-ack';
import { OUTBOUND } from './golden-sidecar-scenes';
import { assertEnvoyAcks, assertValid, dumpNames, generate, listener, names, route, withoutHttpFilters } from './golden-sidecar-common';

const SCENE = OUTBOUND;

test('golden sidecar/outbound-listeners: HTTP, TCP (VIP), TLS by SNI, HTTP+TCP sniffing, VirtualService tcp/tls chains, virtualOutbound', () => {
  const set = generate(SCENE);
  assertValid(set);
  assert.deepEqual(names(set.listeners).filter((n) => n !== 'virtualInbound').sort(),
    ['0.0.0.0_443', '0.0.0.0_7000', '0.0.0.0_9000', '0.0.0.0_9080', '10.1.7.1_7000', '10.1.7.2_7000', '10.96.0.30_9000', 'virtualOutbound']);
  assertGolden('sidecar/outbound-listeners', withoutHttpFilters(['0.0.0.0_9080', '0.0.0.0_9000', '10.96.0.30_9000', '0.0.0.0_7000', '10.1.7.1_7000', '0.0.0.0_443', 'virtualOutbound'].map((n) => listener(set, n))));
});

test('golden sidecar/outbound-domains: a virtual host per service and port with Istio\'s domains (FQDN, short names, VIP, with and without port)', () => {
  const set = generate(SCENE);
  assert.deepEqual(names(set.routes).sort(), ['7000', '9000', '9080']);
  assertGolden('sidecar/outbound-domains', {
    '9080': route(set, '9080')['virtual_hosts'].map((vh: any) => ({ name: vh.name, domains: vh.domains })),
    '9000': route(set, '9000')['virtual_hosts'].map((vh: any) => ({ name: vh.name, domains: vh.domains })),
    '7000': route(set, '7000')['virtual_hosts'].map((vh: any) => ({ name: vh.name, domains: vh.domains })),
  });
});

test('sidecar outbound: a real Envoy ACKs the outbound scene and holds every listener', { skip: ENVOY_SKIP }, async () => {
  const dump = await assertEnvoyAcks(SCENE);
  const held = dumpNames(dump, 'ListenersConfigDump', 'dynamic_listeners');
  for (const n of ['0.0.0.0_443', '0.0.0.0_7000', '0.0.0.0_9000', '0.0.0.0_9080', '10.1.7.1_7000', '10.96.0.30_9000', 'virtualOutbound']) assert.ok(held.includes(n), `${n} in ${held.join(', ')}`);
});
