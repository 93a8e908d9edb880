/**
 * Golden-test harness for generators: Istio YAML in → the resources a proxy receives, decoded
 * through Envoy's protos (the same normalised JSON Envoy's config_dump shows) → compared with a
 * reviewed golden file under test/golden/.
 *
 * The pipeline is the server's own: YAML → per-kind validation → ModelStore → Registry →
 * snapshot (SharedArrayBuffer arena) → GenContext from the node (Registry.contextFor) →
 * generators (facets joined, RDS names from the listeners, EDS names from the clusters) →
 * encode → decode.
 *
 * Goldens are written from Istio's documented behaviour. `UPDATE_GOLDEN=1` writes missing or
 * changed files for review; it never makes a test pass silently in CI (CI never sets it).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as assert from 'node:assert/strict';
import * as YAML from 'yaml';
import { ModelStore } from '../../src/main/model/store';
import { Registry, MeshSettings } from '../../src/main/model/registry';
import { DEFAULT_MESH } from '../../src/main/mesh-config';
import { K8sObject } from '../../src/shared/model/objects';
import { parseProxy, NodeInput } from '../../src/shared/model/proxy';
import { validateObject, formatIssue } from '../../src/shared/istio/validation';
import { facetsOf, projectFacet, GenContext } from '../../src/shared/generation';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL, XdsTypeUrl } from '../../src/shared/resources';
import { FACET_GENERATORS, GENERATORS } from '../../src/workers/generators/index';
import { encodeAny, decodeAny } from '../../src/shared/envoy/proto';
import { publishSnapshot } from './fixtures';
import { validateResources } from '../../src/shared/envoy/validate';

export interface GeneratedSet {
  /** the context the registry derived for the node */
  context: GenContext;
  listeners: Array<Record<string, any>>;
  routes: Array<Record<string, any>>;
  clusters: Array<Record<string, any>>;
  endpoints: Array<Record<string, any>>;
}

export interface GoldenOptions {
  /** MeshConfig fields over Istio's defaults */
  mesh?: Record<string, unknown>;
  /** RDS names to generate besides those the listeners reference (proxyless clients name them) */
  routeNames?: string[];
  /** LDS/CDS names for generators that answer only named requests (proxyless gRPC) */
  listenerNames?: string[];
}

/** Parse multi-document YAML into objects; every object must pass the server's validation. */
export function parseMesh(yaml: string): K8sObject[] {
  const out: K8sObject[] = [];
  for (const doc of YAML.parseAllDocuments(yaml)) {
    if (doc.errors.length > 0) throw new Error(`fixture YAML: ${doc.errors[0]!.message}`);
    const obj = doc.toJS() as K8sObject | null;
    if (!obj) continue;
    if (obj.metadata && obj.metadata.namespace === undefined && obj.kind !== 'Namespace') obj.metadata.namespace = 'default';
    const res = validateObject(obj);
    if (!res.ok) throw new Error(`fixture ${obj.kind} ${obj.metadata?.namespace}/${obj.metadata?.name} is invalid: ${res.errors.map(formatIssue).join('; ')}`);
    out.push(obj);
  }
  return out;
}

/** Run the whole generation pipeline for one node over a YAML mesh. */
export function generateFor(yaml: string, node: NodeInput, opts: GoldenOptions = {}): GeneratedSet {
  const store = new ModelStore();
  store.replaceOrigin('golden', parseMesh(yaml));
  const raw = Object.freeze({ ...DEFAULT_MESH, ...(opts.mesh ?? {}) }) as Record<string, unknown>;
  const mesh: MeshSettings = { domainSuffix: 'cluster.local', rootNamespace: String(raw['rootNamespace'] ?? 'istio-system'), trustDomain: String(raw['trustDomain'] ?? 'cluster.local'), raw };
  const registry = new Registry(store, mesh);
  const input = registry.build();
  const snap = publishSnapshot(input);
  const parsed = parseProxy(node);
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  const context = registry.contextFor(parsed.value);

  const run = (typeUrl: XdsTypeUrl, names: readonly string[] | null): Array<Record<string, any>> => {
    const out: Array<Record<string, any>> = [];
    for (const facet of facetsOf(context.generator, typeUrl)) {
      const gen = facet.name ? FACET_GENERATORS[context.generator]?.[typeUrl]?.[facet.name] : GENERATORS[context.generator][typeUrl];
      if (!gen) continue;
      let res = gen(snap.view, projectFacet(context, facet), names);
      if (names !== null) res = res.filter((g) => names.includes(g.name));
      for (const g of res) out.push(decodeAny(encodeAny(typeUrl, g.resource)).value as Record<string, any>);
    }
    return out;
  };
  const named = context.generator === 'grpc';
  const listeners = run(LISTENER_TYPE_URL, named ? (opts.listenerNames ?? []) : null);
  const routeNames = new Set<string>(opts.routeNames ?? []);
  for (const l of listeners) for (const n of rdsNames(l)) routeNames.add(n);
  const routes = run(ROUTE_TYPE_URL, [...routeNames].sort());
  const clusters = run(CLUSTER_TYPE_URL, named ? clusterNamesOf(routes) : null);
  const edsNames = clusters.filter((c) => c['type'] === 'EDS' || c['eds_cluster_config']).map((c) => c['eds_cluster_config']?.['service_name'] ?? c['name']);
  const endpoints = run(ENDPOINT_TYPE_URL, [...new Set<string>(edsNames)].sort());
  return { context, listeners, routes, clusters, endpoints };
}

/** RDS names an (already decoded) listener references, in HCMs of filter chains and api_listener. */
export function rdsNames(listener: Record<string, any>): string[] {
  const out: string[] = [];
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) { v.forEach(visit); return; }
    if (!v || typeof v !== 'object') return;
    const o = v as Record<string, any>;
    if (o['rds']?.['route_config_name']) out.push(o['rds']['route_config_name']);
    for (const x of Object.values(o)) visit(x);
  };
  visit(listener);
  return out;
}

/** Clusters routes point at (route.cluster, weighted clusters, mirrors). */
export function clusterNamesOf(routes: Array<Record<string, any>>): string[] {
  const out = new Set<string>();
  for (const rc of routes) {
    for (const vh of rc['virtual_hosts'] ?? []) {
      for (const r of vh['routes'] ?? []) {
        const a = r['route'];
        if (!a) continue;
        if (a['cluster']) out.add(a['cluster']);
        for (const w of a['weighted_clusters']?.['clusters'] ?? []) out.add(w['name']);
        for (const m of a['request_mirror_policies'] ?? []) out.add(m['cluster']);
      }
    }
  }
  return [...out].sort();
}

const GOLDEN_DIR = path.join(__dirname, '..', '..', '..', 'test', 'golden');

/**
 * Compare `actual` with test/golden/<name>.json. With UPDATE_GOLDEN=1 a missing or different file
 * is (re)written and the test fails, so a regenerated golden is always reviewed before it lands.
 */
export function assertGolden(name: string, actual: unknown): void {
  const file = path.join(GOLDEN_DIR, `${name}.json`);
  const text = JSON.stringify(actual, null, 2) + '\n';
  const existing = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
  if (existing === text) return;
  if (process.env['UPDATE_GOLDEN'] === '1') {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
    assert.fail(`golden ${name}.json ${existing === undefined ? 'written' : 'updated'}: review it (git diff test/golden) and re-run without UPDATE_GOLDEN`);
  }
  if (existing === undefined) assert.fail(`golden test/golden/${name}.json is missing (write it with UPDATE_GOLDEN=1, then review)`);
  assert.deepEqual(actual, JSON.parse(existing), `generated resources differ from test/golden/${name}.json`);
}

/** The structural validator finds nothing Envoy would NACK in the whole generated set. */
export function assertStructurallyValid(set: GeneratedSet): void {
  assert.deepEqual(validateResources({ listeners: set.listeners, routes: set.routes, clusters: set.clusters, endpoints: set.endpoints }), []);
}
