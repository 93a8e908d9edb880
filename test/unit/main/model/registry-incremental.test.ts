/**
 * Registry.build() is incremental (it re-derives only the services a change makes stale). After any
 * sequence of changes its output must equal a fresh registry's build of the same store: services
 * and endpoints, configs, conflicts, and every proxy's context.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { ModelStore } from '../../../../src/main/model/store';
import { Registry, MeshSettings } from '../../../../src/main/model/registry';
import { K8sObject, keyOf } from '../../../../src/shared/model/objects';
import { ProxyView } from '../../../../src/shared/model/proxy';

const MESH: MeshSettings = { domainSuffix: 'cluster.local', rootNamespace: 'istio-system', trustDomain: 'cluster.local', raw: {} };
const NS = ['ns1', 'ns2'];
const APPS = ['a', 'b', 'c'];

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function objects(r: () => number, step: number): Record<string, () => K8sObject> {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const ns = pick(NS), app = pick(APPS), i = Math.floor(r() * 4), ip = `10.${NS.indexOf(ns)}.${APPS.indexOf(app)}.${i + 1}`;
  const node = `node-${Math.floor(r() * 3)}`;
  return {
    pod: () => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `${app}-${i}`, namespace: ns, labels: { app, version: `v${step % 3}` } },
      spec: { serviceAccountName: pick(['default', app]), nodeName: node }, status: { podIP: r() < 0.8 ? ip : `10.9.9.${i}` } }) as unknown as K8sObject,
    node: () => ({ apiVersion: 'v1', kind: 'Node', metadata: { name: node, labels: { 'topology.kubernetes.io/region': pick(['r1', 'r2']), 'topology.kubernetes.io/zone': pick(['z1', 'z2']) } } }) as unknown as K8sObject,
    service: () => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: app, namespace: ns, ...(r() < 0.3 ? { creationTimestamp: `2024-01-0${1 + Math.floor(r() * 5)}T00:00:00Z` } : {}) },
      spec: { clusterIP: `10.96.${NS.indexOf(ns)}.${APPS.indexOf(app) + 1}`, selector: { app }, ports: [{ name: pick(['http', 'tcp', 'grpc']), port: pick([80, 9080]), targetPort: 8080 }] } }) as unknown as K8sObject,
    slice: () => {
      const eps = Array.from({ length: 1 + Math.floor(r() * 3) }, (_, k) => {
        const byRef = r() < 0.5;
        return { addresses: [`10.${NS.indexOf(ns)}.${APPS.indexOf(app)}.${k + 1}`], conditions: { ready: r() < 0.9 },
          ...(byRef ? { targetRef: { kind: 'Pod', name: `${app}-${k}`, namespace: ns } } : {}), ...(r() < 0.5 ? { nodeName: `node-${k % 3}` } : {}) };
      });
      return { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `${app}-${Math.floor(r() * 2)}`, namespace: ns, labels: { 'kubernetes.io/service-name': r() < 0.85 ? app : pick(APPS) } },
        ports: [{ name: 'http', port: 8080 }], endpoints: eps } as unknown as K8sObject;
    },
    workloadEntry: () => ({ apiVersion: 'networking.istio.io/v1', kind: 'WorkloadEntry', metadata: { name: `we-${i}`, namespace: ns },
      spec: { address: `10.8.${NS.indexOf(ns)}.${i + 1}`, labels: { app: pick(APPS) }, serviceAccount: 'vm' } }) as unknown as K8sObject,
    serviceEntry: () => ({ apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: `se-${i % 2}`, namespace: ns },
      spec: { hosts: r() < 0.3 ? [`${app}.${ns}.svc.cluster.local`, 'ext.example.com'] : [`se-${app}.example.com`], location: 'MESH_INTERNAL', resolution: 'STATIC',
        ports: [{ number: 80, name: 'p80', protocol: pick(['HTTP', 'TCP']) }], ...(r() < 0.3 ? { addresses: [`240.0.0.${i}`] } : {}), ...(r() < 0.7 ? { workloadSelector: { labels: { app } } } : {}) } }) as unknown as K8sObject,
    sidecar: () => ({ apiVersion: 'networking.istio.io/v1', kind: 'Sidecar', metadata: { name: `sc-${i % 2}`, namespace: ns },
      spec: { ...(r() < 0.5 ? { workloadSelector: { labels: { app } } } : {}), egress: [{ hosts: ['./*'] }] } }) as unknown as K8sObject,
    virtualService: () => ({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: `vs-${i % 2}`, namespace: ns },
      spec: { hosts: [pick([app, 'nowhere.example.com'])], http: [{ route: [{ destination: { host: app } }] }] } }) as unknown as K8sObject,
  };
}

const proxy = (ip: string, ns: string, app: string): ProxyView => ({
  id: `sidecar~${ip}~p.${ns}~${ns}.svc.cluster.local`, type: 'sidecar', ipAddresses: [ip], namespace: ns, labels: { app }, generator: '', interceptionMode: 'REDIRECT',
  locality: { region: '', zone: '', subZone: '' },
} as unknown as ProxyView);

const PROXIES = NS.flatMap((ns, n) => APPS.flatMap((app, a) => [1, 2, 3, 4].map((i) => proxy(`10.${n}.${a}.${i}`, ns, app))));

function snapshotOf(reg: Registry): string {
  const input = reg.build();
  return JSON.stringify({ input, conflicts: reg.conflicts(), contexts: PROXIES.map((p) => reg.contextFor(p)) });
}

for (const seed of [1, 2, 3, 4]) {
  test(`incremental build equals a fresh build after every change (seed ${seed}, 250 random changes)`, () => {
    const r = rng(seed);
    const store = new ModelStore();
    const reg = new Registry(store, MESH);
    reg.build();
    let reusedOrder = 0;
    for (let step = 0; step < 250; step++) {
      const gen = objects(r, step);
      const kinds = Object.keys(gen);
      const batch: K8sObject[] = [];
      const removals: string[] = [];
      for (let n = 0; n < 1 + Math.floor(r() * 3); n++) {
        const obj = gen[kinds[Math.floor(r() * kinds.length)]!]!();
        if (r() < 0.2) removals.push(keyOf(obj)); else batch.push(obj);
      }
      store.patchOrigin('test', batch, removals);
      const before = reg.current?.services;
      const incremental = snapshotOf(reg);
      if (before && reg.current?.services !== before && reg.current?.services.length === before.length) reusedOrder++;
      const fresh = snapshotOf(new Registry(store, MESH));
      assert.equal(incremental, fresh, `step ${step}: the incremental build differs from a fresh one after ${JSON.stringify(batch.map(keyOf))} / removed ${JSON.stringify(removals)}`);
    }
    assert.ok(reusedOrder > 0);
  });
}

test('an endpoint-only change re-derives one service and reuses every other service object', () => {
  const store = new ModelStore();
  const reg = new Registry(store, MESH);
  for (const ns of NS) for (const app of APPS) {
    store.patchOrigin('mesh', [
      { apiVersion: 'v1', kind: 'Service', metadata: { name: app, namespace: ns }, spec: { clusterIP: '10.96.0.1', selector: { app }, ports: [{ name: 'http', port: 80 }] } } as unknown as K8sObject,
      { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `${app}-1`, namespace: ns, labels: { 'kubernetes.io/service-name': app } }, ports: [{ name: 'http', port: 8080 }], endpoints: [{ addresses: ['10.1.1.1'] }] } as unknown as K8sObject,
    ]);
  }
  const first = reg.build().services;
  store.patchOrigin('mesh', [{ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'b-1', namespace: 'ns2', labels: { 'kubernetes.io/service-name': 'b' } }, ports: [{ name: 'http', port: 8080 }], endpoints: [{ addresses: ['10.1.1.2'] }] } as unknown as K8sObject]);
  const second = reg.build().services;
  const changed = second.filter((e, i) => e !== first[i]);
  assert.deepEqual(changed.map((e) => e.service.hostname), ['b.ns2.svc.cluster.local']);
  assert.equal(changed[0]!.service, first.find((e) => e.service.hostname === 'b.ns2.svc.cluster.local')!.service, 'the service half is the same object: only endpoints changed');
});
