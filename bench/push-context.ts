/**
 * Main-thread cost, per push, of deciding which connections' generation context changed, on the
 * large load-test mesh (load-test/scenarios/large.yaml: 1,000 services, 10,000 endpoints,
 * namespace Sidecars, 10,000 proxies). "every connection" recomputes contextFor + JSON.stringify
 * for each connection (what a config change cost before Registry.contextChange); "changed only"
 * asks contextMayHaveChanged() first, as src/main/index.ts now does.
 *
 *   node dist/bench/push-context.js [--proxies 10000] [--rounds 5]
 */
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { ModelStore } from '../src/main/model/store';
import { Registry, MeshSettings } from '../src/main/model/registry';
import { ProxyView, parseProxy } from '../src/shared/model/proxy';
import { K8sObject } from '../src/shared/model/objects';
import { loadScenario } from '../load-test/scenario/schema';
import { buildMesh } from '../load-test/scenario/mesh-model';
import { namespaceObjects, routingObjects, serviceObjects, sidecarObjects } from '../load-test/scenario/render';
import { median, ms, option, table } from './common';

const MESH: MeshSettings = { domainSuffix: 'cluster.local', rootNamespace: 'istio-system', trustDomain: 'cluster.local', raw: {} };

function main(): void {
  const loaded = loadScenario(path.join(__dirname, '..', '..', 'load-test', 'scenarios', 'large.yaml'));
  if (!loaded.ok) throw new Error(loaded.errors.join('; '));
  const scenario = { ...loaded.value, proxies: option('proxies', loaded.value.proxies) };
  const rounds = option('rounds', 5);
  const mesh = buildMesh(scenario);
  const store = new ModelStore();
  const objects: K8sObject[] = [...namespaceObjects(mesh)] as K8sObject[];
  for (const svc of mesh.services) objects.push(...(serviceObjects(svc) as K8sObject[]), ...(svc.routing ? routingObjects(svc) as K8sObject[] : []));
  if (scenario.sidecarScoping === 'namespace') for (const ns of mesh.namespaces) objects.push(...(sidecarObjects(ns) as K8sObject[]));
  store.replaceOrigin('mesh', objects);
  const registry = new Registry(store, MESH);
  registry.build();
  const proxies: ProxyView[] = mesh.proxies.map((p) => {
    const r = parseProxy({ id: p.nodeId, metadata: { NAMESPACE: p.namespace, LABELS: p.labels, INSTANCE_IPS: p.ip } });
    if (!r.ok) throw new Error(r.errors.join('; '));
    return r.value;
  });
  const fingerprints = proxies.map((p) => JSON.stringify(registry.contextFor(p)));

  const rows: Array<Array<string | number>> = [];
  const measure = (label: string, change: () => void) => {
    const all: number[] = [];
    const scoped: number[] = [];
    const builds: number[] = [];
    let recomputed = 0;
    for (let r = 0; r < rounds; r++) {
      change();
      let t = performance.now();
      registry.build();
      builds.push(performance.now() - t);
      t = performance.now();
      for (let i = 0; i < proxies.length; i++) void (JSON.stringify(registry.contextFor(proxies[i]!)) !== fingerprints[i]);
      all.push(performance.now() - t);
      t = performance.now();
      recomputed = 0;
      for (let i = 0; i < proxies.length; i++) {
        if (registry.contextMayHaveChanged(proxies[i]!)) { recomputed++; void (JSON.stringify(registry.contextFor(proxies[i]!)) !== fingerprints[i]); }
      }
      scoped.push(performance.now() - t);
    }
    rows.push([label, proxies.length, ms(median(builds)), ms(median(all)), ms(median(scoped)), recomputed]);
  };

  let round = 0;
  const svc = mesh.services.find((x) => x.routing)!;
  measure('VirtualService edit', () => {
    const vs = routingObjects(svc)[0] as K8sObject;
    store.patchOrigin('mesh', [{ ...vs, spec: { ...vs.spec, hosts: [...(vs.spec?.hosts ?? []), `edit-${round++}.example`] } } as K8sObject]);
  });
  measure('endpoint change (one pod IP)', () => {
    const objs = serviceObjects(svc) as K8sObject[];
    const slice = objs.find((o) => o.kind === 'EndpointSlice')!;
    const eps = (slice as any).endpoints as any[];
    store.patchOrigin('mesh', [{ ...slice, endpoints: eps.map((e, i) => (i === eps.length - 1 ? { ...e, addresses: [`10.250.${round % 250}.${round++ % 250 + 1}`] } : e)) } as K8sObject]);
  });
  console.log(`# Per-push context check on the main thread (node ${process.version}; median of ${rounds})\n`);
  console.log(table(['change', 'connections', 'registry build', 'context check: every connection', 'changed only', 'contexts recomputed'], rows, ['l', 'r', 'r', 'r', 'r', 'r']));
  console.log('\n(milliseconds of main thread per push)');
}

main();
