/**
 * Sidecar resource scoping and outboundTrafficPolicy, as Istio's SidecarScope applies them
 * (pilot/pkg/model/sidecar.go): the workload-selected Sidecar of the namespace, else its default
 * one, else the root namespace's default; egress hosts `ns/host`, `./*`, `*\/…`, `~/*`; a port egress
 * listener with bind and captureMode NONE is a real listener that locks its (bind, port); the
 * catch-all listener takes every other port; REGISTRY_ONLY blackholes unknown destinations (virtual
 * outbound, PassthroughFilterChain, RDS block_all) and egressProxy sends them to its cluster. What a
 * proxy gets shrinks with its scope.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { GeneratedSet, assertGolden } from '../../../helpers/golden';
import { ENVOY_SKIP } from '../../../helpers/envoy-ack';
import { REGISTRY_ONLY, SCOPE_CANARY, SCOPE_FRONTEND, SCOPE_LEGACY, SCOPE_YAML } from './golden-sidecar-scenes';
import { Scene, assertEnvoyAcks, assertValid, dumpNames, generate, listener, names, route, withoutHttpFilters } from './golden-sidecar-common';

/** What a scope decides: which Sidecar, which listeners, clusters and virtual hosts, where unknown traffic goes. */
function scopeSummary(set: GeneratedSet): Record<string, unknown> {
  const vo = set.listeners.find((l) => l['name'] === 'virtualOutbound');
  return {
    sidecar: set.context.sidecar,
    listeners: names(set.listeners),
    clusters: names(set.clusters),
    virtualHosts: Object.fromEntries(set.routes.map((r) => [r['name'], r['virtual_hosts'].map((vh: any) => vh.name)])),
    catchAll: vo?.['filter_chains'].find((c: any) => c.name === 'virtualOutbound-catchall-tcp')?.filters[0].typed_config.cluster,
  };
}

const SCENES: Record<string, Scene> = { frontend: SCOPE_FRONTEND, canary: SCOPE_CANARY, legacy: SCOPE_LEGACY };

test('golden sidecar/scope: namespace default Sidecar, workload-selected Sidecar, root-namespace fallback', () => {
  const out: Record<string, unknown> = {};
  for (const [label, scene] of Object.entries(SCENES)) {
    const set = generate(scene);
    assertValid(set);
    out[label] = scopeSummary(set);
  }
  assert.deepEqual(Object.values(out).map((s: any) => s.sidecar), ['frontend/default', 'frontend/canary', 'istio-system/default']);
  // the narrow scope gets less than the wide one
  assert.ok((out['frontend'] as any).clusters.length < (out['canary'] as any).clusters.length);
  assertGolden('sidecar/scope', out);
});

test('golden sidecar/egress-listener: a port egress listener with bind 127.0.0.1 and captureMode NONE binds for real and routes only its hosts', () => {
  const set = generate(SCOPE_FRONTEND);
  assertGolden('sidecar/egress-listener', withoutHttpFilters({
    listener: listener(set, '127.0.0.1_9080'),
    virtualHosts: route(set, '9080')['virtual_hosts'].map((vh: any) => ({ name: vh.name, domains: vh.domains })),
  }));
});

test('golden sidecar/outbound-traffic-policy: mesh REGISTRY_ONLY, Sidecar REGISTRY_ONLY, Sidecar egressProxy', () => {
  const policy = (set: GeneratedSet) => ({
    virtualOutbound: listener(set, 'virtualOutbound')['filter_chains'],
    passthroughFilterChain: set.listeners.map((l) => l['default_filter_chain']).find((c) => c?.name === 'PassthroughFilterChain'),
    catchAllVirtualHost: set.routes[0]!['virtual_hosts'].at(-1),
  });
  assertGolden('sidecar/outbound-traffic-policy', {
    meshRegistryOnly: policy(generate(REGISTRY_ONLY)),
    sidecarRegistryOnly: policy(generate(SCOPE_FRONTEND)),
    sidecarEgressProxy: policy(generate(SCOPE_CANARY)),
  });
});

for (const [label, scene] of Object.entries({ ...SCENES, registryOnly: REGISTRY_ONLY })) {
  test(`sidecar scope ${label}: a real Envoy ACKs it`, { skip: ENVOY_SKIP }, async () => {
    const dump = await assertEnvoyAcks(scene, scene === SCOPE_FRONTEND ? [9080] : []);
    assert.ok(dumpNames(dump, 'ListenersConfigDump', 'dynamic_listeners').includes('virtualOutbound'));
  });
}

test('sidecar scope: exportTo, and MeshConfig defaultServiceExportTo for services that set none', () => {
  const yaml = `${SCOPE_YAML}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: hidden, namespace: backend}
spec: {hosts: [hidden.example.com], exportTo: ["~"], ports: [{number: 80, name: http, protocol: HTTP}], resolution: DNS}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: shared, namespace: backend}
spec: {hosts: [shared.example.com], exportTo: ["*"], ports: [{number: 80, name: http, protocol: HTTP}], resolution: DNS}
`;
  const canary = (mesh?: Record<string, unknown>) => names(generate({ ...SCOPE_CANARY, yaml, mesh }).clusters).filter((n) => n.startsWith('outbound|'));
  const all = canary();
  assert.ok(!all.includes('outbound|80||hidden.example.com'), 'exportTo ~ hides a service from everyone');
  assert.ok(all.includes('outbound|8080||old.legacy.svc.cluster.local'));
  // only services without exportTo fall back to the mesh default ('.': own namespace)
  assert.deepEqual(canary({ defaultServiceExportTo: ['.'] }), ['outbound|80||shared.example.com', 'outbound|8080||web.frontend.svc.cluster.local']);
});

test('sidecar scope: a VirtualService applies only if the egress hosts import its namespace', () => {
  const vs = (ns: string) => `${SCOPE_YAML}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web-timeout, namespace: ${ns}}
spec:
  hosts: [web.frontend.svc.cluster.local]
  http: [{timeout: 3s, route: [{destination: {host: web.frontend.svc.cluster.local}}]}]
`;
  const timeoutOf = (yaml: string) => route(generate({ ...SCOPE_FRONTEND, yaml }), '8080')['virtual_hosts'][0].routes[0].route.timeout;
  // frontend's Sidecar imports ./* (frontend) and one backend host: a backend VirtualService for web is not imported
  assert.deepEqual(timeoutOf(vs('backend')), { seconds: 0, nanos: 0 });
  assert.deepEqual(timeoutOf(vs('frontend')), { seconds: 3, nanos: 0 });
});
