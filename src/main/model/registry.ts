/**
 * Service registry: turns the store's Kubernetes and Istio objects into ServiceModel +
 * EndpointModel lists, ConfigModels, and the per-proxy generation context (which Sidecar applies,
 * which service ports the proxy's own workload serves). Main thread.
 *
 * Incremental: a build re-derives only the Services and ServiceEntries the store changes since the
 * last build may have changed (RegistryIndex tracks Pods, Nodes, EndpointSlices and WorkloadEntries
 * and says which services read them), and rebuilds one only when an object it is built from changed
 * (reference compare; the store replaces an object's reference on every change). Unchanged services
 * keep their model objects, so the snapshot writer reuses their segments.
 */
import { K8sObject, ObjectKey, keyOf, splitApiVersion } from '../../shared/model/objects';
import { ConfigModel, EndpointModel, ServiceEntryInput, ServiceModel, ServicePort, SnapshotInput, protocolFromPort, serviceEntryPortProtocol, Resolution, SERVICELESS_HOSTS_GROUP, SERVICELESS_HOSTS_KIND, ServicelessHost } from '../../shared/model/service';
import { GenContext, InboundPort } from '../../shared/generation';
import { ProxyView } from '../../shared/model/proxy';
import { ModelStore } from './store';
import { RegistryIndex, Stale, nodeRef } from './registry-index';
import { ConfigConflict, createdOf, describe, listenerClass, outboundListenerConflicts, sidecarConflicts, virtualServiceConflicts } from './registry-conflicts';

export type { ConfigConflict };
import { hostMatches } from '../../shared/istio/hosts';


/** Group of objects the control plane itself writes into the store (never read from files or the API). */
export const INTERNAL_GROUP = 'internal.istiod-ts.io';

/** Config kinds carried into the snapshot as ConfigModels, by group. */
const CONFIG_KINDS: ReadonlyArray<readonly [group: string, kind: string]> = [
  ['networking.istio.io', 'VirtualService'], ['networking.istio.io', 'DestinationRule'], ['networking.istio.io', 'Sidecar'], ['networking.istio.io', 'Gateway'],
  ['security.istio.io', 'PeerAuthentication'], ['security.istio.io', 'AuthorizationPolicy'], ['security.istio.io', 'RequestAuthentication'],
  // gateway credentials (issue 9); spec = { type, data } with data base64 as in the Secret
  ['', 'Secret'],
  // JWKS the control plane fetched for RequestAuthentication jwksUri (issue 9; written by the main thread)
  [INTERNAL_GROUP, 'JwksCache'],
];
const SE_RESOLUTION: Record<string, Resolution> = { STATIC: 'eds', NONE: 'passthrough', DNS: 'dns', DYNAMIC_DNS: 'dns', DNS_ROUND_ROBIN: 'dns-round-robin' };

/** A built service: what it was built from (for reuse), the object it came from and its creation time (for conflict resolution and order). */
interface Built { readonly inputs: readonly object[]; readonly entry: ServiceEntryInput; readonly source: K8sObject; readonly created: string }

export interface MeshSettings { domainSuffix: string; rootNamespace: string; trustDomain: string; raw: Record<string, unknown> }

/** A Pod serves traffic unless it has ended or reports Ready=False (Istio uses pod readiness for selected pods). */
function podReady(pod: K8sObject): boolean {
  const status = (pod as any).status ?? {};
  if (status.phase === 'Failed' || status.phase === 'Succeeded') return false;
  const ready = ((status.conditions ?? []) as any[]).find((c) => c?.type === 'Ready');
  return !ready || ready.status !== 'False';
}

function labelsMatch(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  for (const [k, v] of Object.entries(selector)) if (labels?.[k] !== v) return false;
  return true;
}

/** The Service or ServiceEntry (store key) a built key belongs to: a ServiceEntry host is `key|host`. */
function unitOf(builtKey: string): ObjectKey {
  const bar = builtKey.indexOf('|');
  return bar < 0 ? builtKey : builtKey.slice(0, bar);
}

function sameInputs(a: readonly object[], b: readonly object[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A rebuilt service often differs in one half only (a pod IP changed: new endpoints, same
 * service). Keep the previous object for the half that is equal, so the snapshot diff sees only
 * what really changed (an endpoint change must not look like a service change, which would
 * invalidate every proxy's clusters and listeners). Costs one compare per rebuilt service.
 */
/** The service with its endpoints' identities (Istio's Service.ServiceAccounts), sorted. */
function withServiceAccounts(e: ServiceEntryInput): ServiceEntryInput {
  const serviceAccounts = [...new Set(e.endpoints.map((ep) => ep.serviceAccount).filter((sa) => sa !== ''))].sort();
  if (serviceAccounts.length === 0) return e;
  return Object.freeze({ service: Object.freeze({ ...e.service, serviceAccounts: Object.freeze(serviceAccounts) }), endpoints: e.endpoints });
}

function keepUnchanged(prev: ServiceEntryInput | undefined, next: ServiceEntryInput): ServiceEntryInput {
  if (!prev) return next;
  const service = JSON.stringify(prev.service) === JSON.stringify(next.service) ? prev.service : next.service;
  const endpoints = JSON.stringify(prev.endpoints) === JSON.stringify(next.endpoints) ? prev.endpoints : next.endpoints;
  if (service === prev.service && endpoints === prev.endpoints) return prev;
  return service === next.service && endpoints === next.endpoints ? next : Object.freeze({ service, endpoints });
}

/**
 * An EndpointSlice endpoint's locality `region/zone/subzone`, as Istio derives it: the pod's
 * `istio-locality` label (dots for slashes), else the topology labels of its node
 * (topology.kubernetes.io/region|zone, topology.istio.io/subzone), else the slice's zone.
 */
function endpointLocality(e: any, pod: K8sObject | undefined, node: (name: string) => K8sObject | undefined): string {
  const label = pod?.metadata.labels?.['istio-locality'];
  if (label) return label.replace(/\./g, '/');
  const nodeName = e.nodeName ?? (pod as any)?.spec?.nodeName;
  const nl = (typeof nodeName === 'string' ? node(nodeName) : undefined)?.metadata.labels ?? {};
  const region = nl['topology.kubernetes.io/region'] ?? nl['failure-domain.beta.kubernetes.io/region'] ?? '';
  const zone = nl['topology.kubernetes.io/zone'] ?? nl['failure-domain.beta.kubernetes.io/zone'] ?? e.zone ?? '';
  const subzone = nl['topology.istio.io/subzone'] ?? '';
  if (!region && !zone && !subzone) return '';
  return subzone ? `${region}/${zone}/${subzone}` : `${region}/${zone}`;
}

/** A Secret as the snapshot carries it: its type and data (base64; stringData folded in, encoded). */
function secretSpec(obj: K8sObject): Record<string, unknown> {
  const data: Record<string, string> = { ...((obj as any).data ?? {}) };
  for (const [k, v] of Object.entries(((obj as any).stringData ?? {}) as Record<string, string>)) data[k] = Buffer.from(String(v)).toString('base64');
  return { type: (obj as any).type ?? 'Opaque', data };
}

/** Label keys read by VirtualService sourceLabels, DestinationRule workloadSelector and Gateway selector. */
function selectorKeysOf(configs: readonly ConfigModel[]): string[] {
  const keys = new Set<string>();
  const add = (sel: unknown) => { if (sel && typeof sel === 'object') for (const k of Object.keys(sel)) keys.add(k); };
  for (const c of configs) {
    if (c.kind === 'VirtualService') {
      for (const section of ['http', 'tcp', 'tls']) {
        for (const route of (c.spec?.[section] ?? []) as any[]) for (const m of (route?.match ?? []) as any[]) add(m?.sourceLabels);
      }
    } else if (c.kind === 'DestinationRule') add(c.spec?.workloadSelector?.matchLabels);
    else if (c.kind === 'Gateway') add(c.spec?.selector);
    else if (c.group === 'security.istio.io') add(c.spec?.selector?.matchLabels);
  }
  return [...keys].sort();
}

/** See Registry.contextChange. */
export interface ContextChange { readonly all: boolean; readonly ips: ReadonlySet<string> }

/** The inbound ports each entry offers per endpoint IP (service port → the endpoint's target port), computed once per entry. */
const inboundOfEntry = new WeakMap<ServiceEntryInput, Map<string, InboundPort[]>>();
function inboundPortsOf(e: ServiceEntryInput): Map<string, InboundPort[]> {
  let byIp = inboundOfEntry.get(e);
  if (byIp) return byIp;
  byIp = new Map();
  const { service } = e;
  for (const ep of e.endpoints) {
    for (const p of service.ports) {
      const target = ep.ports[p.name] ?? (Object.keys(ep.ports).length === 0 ? p.targetPort || p.port : undefined);
      if (target === undefined) continue;
      const list = byIp.get(ep.address) ?? [];
      list.push({ hostname: service.hostname, namespace: service.namespace, name: p.name, port: p.port, targetPort: target, protocol: p.protocol });
      byIp.set(ep.address, list);
    }
  }
  inboundOfEntry.set(e, byIp);
  return byIp;
}

const byInboundOrder = (a: InboundPort, b: InboundPort) => a.port - b.port || a.hostname.localeCompare(b.hostname)
  || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name);

export class Registry {
  /** built services: a Service by its store key, a ServiceEntry host by `key|host` */
  private built = new Map<string, Built>();
  private readonly index: RegistryIndex;
  /** the next build re-derives everything (a new mesh config) */
  private resetIndex = false;
  /** unit (Service or ServiceEntry store key) → the references its build read; reference → units */
  private readonly unitRefs = new Map<ObjectKey, readonly string[]>();
  private readonly refOwners = new Map<string, Set<ObjectKey>>();
  /** ServiceEntry key → its built keys (one per host) */
  private readonly seHosts = new Map<ObjectKey, string[]>();
  /** namespace → ServiceEntries with a workloadSelector there (they read the namespace's pods and WorkloadEntries) */
  private readonly selectorSes = new Map<string, Set<ObjectKey>>();
  /** built keys of the resolved services, in order; reused while no service is added, removed or changed */
  private serviceOrder: readonly string[] = [];
  private duplicateConflicts: readonly ConfigConflict[] = [];
  private configConflicts: readonly ConfigConflict[] = [];
  private outboundConflicts: readonly ConfigConflict[] = [];
  /** InboundListener conflicts by endpoint IP, kept for the IPs that have one */
  private readonly inboundConflicts = new Map<string, ConfigConflict[]>();
  private configs = new Map<K8sObject, ConfigModel>();
  private inboundByIp = new Map<string, InboundPort[]>();
  /** Sidecar resources as of the last build, sorted by name (contextFor runs per connection). */
  private sidecars: K8sObject[] = [];
  /** Gateway resources as of the last build, sorted by namespace/name. */
  private gatewayObjs: K8sObject[] = [];
  /** Label keys some selector in the config reads (see GenContext.labels). */
  private selectorKeys: readonly string[] = [];
  private last?: SnapshotInput;
  private conflictList: readonly ConfigConflict[] = [];
  private servicelessHosts?: ConfigModel;
  /** WorkloadGroup resources as of the last build (templates for auto-registered WorkloadEntries). */
  private workloadGroupObjs: readonly K8sObject[] = [];
  /** Services of the last build, and which of them have an endpoint at each IP (for inboundByIp). */
  private inboundServices: ReadonlySet<ServiceEntryInput> = new Set();
  private servicesByIp = new Map<string, Set<ServiceEntryInput>>();
  /** What of contextFor's inputs the last build changed (see contextChange). */
  private contextDelta: ContextChange = { all: true, ips: new Set() };

  constructor(private readonly store: ModelStore, private mesh: MeshSettings) {
    this.index = new RegistryIndex(store);
  }

  /**
   * New mesh config (Kubernetes mode reloads the `istio` ConfigMap live). Everything derived from
   * it is rebuilt at the next build(): the domain suffix and trust domain are baked into services
   * and endpoints, so the per-service reuse cache is dropped.
   */
  setMesh(mesh: MeshSettings): void {
    if (mesh === this.mesh) return;
    this.mesh = mesh;
    this.built = new Map();
    this.resetIndex = true;
  }

  get meshSettings(): MeshSettings { return this.mesh; }

  /** The input most recently built. */
  get current(): SnapshotInput | undefined { return this.last; }

  /** Conflicts the last build resolved (for /debug/push_status), in a stable order. */
  conflicts(): readonly ConfigConflict[] { return this.conflictList; }

  /** WorkloadGroups of the last build, `namespace/name` → the group's template (metadata labels + WorkloadEntry spec). */
  workloadGroups(): ReadonlyArray<{ namespace: string; name: string; labels: Readonly<Record<string, string>>; template: Readonly<Record<string, unknown>> }> {
    return this.workloadGroupObjs.map((g) => ({
      namespace: g.metadata.namespace ?? 'default', name: g.metadata.name,
      labels: { ...((g.spec?.metadata?.labels ?? {}) as Record<string, string>), ...((g.spec?.template?.labels ?? {}) as Record<string, string>) },
      template: (g.spec?.template ?? {}) as Record<string, unknown>,
    }));
  }

  /**
   * Build the next snapshot input from the store. Only the services the changes since the last
   * build make stale are re-derived (see RegistryIndex); the rest, the service order, the config
   * list and the conflicts are reused while their inputs did not change, so the cost of a build
   * follows what changed, not the size of the mesh.
   */
  build(): SnapshotInput {
    const stale = this.index.take(this.resetIndex);
    this.resetIndex = false;
    if (stale.all) { this.unitRefs.clear(); this.refOwners.clear(); this.seHosts.clear(); this.selectorSes.clear(); }
    let shape = stale.all;
    for (const unit of stale.all ? this.allUnits() : this.staleUnits(stale)) if (this.rebuildUnit(unit)) shape = true;
    if (shape) this.resolveServices();
    const services = this.serviceOrder.map((k) => this.built.get(k)!.entry);

    const prevSelection = this.selectionKey;
    const configs = stale.configs || shape || !this.last ? this.buildConfigs(services) : this.last.configs;
    const inboundChanged = this.updateInbound(services);
    if (shape) this.outboundConflicts = outboundListenerConflicts(services);
    this.updateInboundConflicts(inboundChanged);
    const inbound = [...this.inboundConflicts.keys()].sort((a, b) => a.localeCompare(b)).flatMap((ip) => this.inboundConflicts.get(ip)!);
    this.conflictList = Object.freeze([...this.duplicateConflicts, ...this.configConflicts, ...this.outboundConflicts, ...inbound]);
    this.contextDelta = {
      all: !this.last || this.last.mesh !== this.mesh.raw || prevSelection !== this.selectionKey,
      ips: inboundChanged,
    };

    const mesh = this.last && this.last.mesh === this.mesh.raw ? this.last.mesh : this.mesh.raw;
    this.last = { services, configs, mesh };
    return this.last;
  }

  /** Every Service and ServiceEntry, and every unit built before (so the deleted ones go). */
  private allUnits(): Set<ObjectKey> {
    const units = new Set<ObjectKey>();
    for (const k of this.built.keys()) units.add(unitOf(k));
    for (const o of this.store.list('Service', '')) units.add(keyOf(o));
    for (const o of this.store.list('ServiceEntry', 'networking.istio.io')) units.add(keyOf(o));
    return units;
  }

  /** The units a batch of changes may have changed: directly, through a reference their build read, or by namespace. */
  private staleUnits(stale: Stale): Set<ObjectKey> {
    const units = new Set<ObjectKey>(stale.objects);
    for (const r of stale.refs) for (const u of this.refOwners.get(r) ?? []) units.add(u);
    for (const ns of stale.podNamespaces) for (const u of this.selectorSes.get(ns) ?? []) units.add(u);
    if (stale.workloadEntryNamespaces.size > 0) {
      for (const [k, b] of this.built) if (stale.workloadEntryNamespaces.has(b.entry.service.namespace)) units.add(unitOf(k));
      for (const ns of stale.workloadEntryNamespaces) for (const u of this.selectorSes.get(ns) ?? []) units.add(u);
    }
    return units;
  }

  /** Re-derive one Service or ServiceEntry; true when a service was added, removed or its service half changed. */
  private rebuildUnit(unit: ObjectKey): boolean {
    const isService = unit.startsWith('/Service/');
    const oldKeys = isService ? (this.built.has(unit) ? [unit] : []) : this.seHosts.get(unit) ?? [];
    const prev = new Map(oldKeys.map((k) => [k, this.built.get(k)!]));
    for (const k of oldKeys) this.built.delete(k);
    const obj = this.store.get(unit);
    const made: Array<[string, Built]> = [];
    if (isService) {
      this.setRefs(unit, []);
      if (obj) made.push([unit, this.kubeBuilt(unit, obj, prev.get(unit))]);
    } else {
      for (const set of this.selectorSes.values()) set.delete(unit);
      if (obj) made.push(...this.serviceEntryBuilt(unit, obj, prev));
      if (made.length > 0) this.seHosts.set(unit, made.map(([k]) => k)); else this.seHosts.delete(unit);
    }
    let shape = made.length !== oldKeys.length;
    for (const [k, b] of made) {
      this.built.set(k, b);
      const p = prev.get(k);
      if (!p || p.entry.service !== b.entry.service || p.created !== b.created) shape = true;
    }
    return shape;
  }

  private kubeBuilt(unit: ObjectKey, svc: K8sObject, prev: Built | undefined): Built {
    const ns = svc.metadata.namespace ?? 'default';
    const slices = this.index.slicesOf(unit);
    const selector = svc.spec?.selector as Record<string, string> | undefined;
    const wes = this.index.workloadEntriesIn(ns).filter((we) => labelsMatch(selector, we.spec?.labels));
    const refs: string[] = [];
    const slicePods = slices.flatMap((s) => ((s as any).endpoints ?? []).map((e: any) => this.index.endpointPod(ns, e, refs)).filter(Boolean)) as K8sObject[];
    // Nodes carry the endpoints' locality (topology labels): a relabelled node rebuilds the service.
    const nodeNames = [...new Set(slices.flatMap((s) => ((s as any).endpoints ?? []).map((e: any) => e.nodeName))
      .concat(slicePods.map((p) => (p as any).spec?.nodeName)))].filter((n): n is string => typeof n === 'string').sort();
    for (const n of nodeNames) refs.push(nodeRef(n));
    const sliceNodes = nodeNames.map((n) => this.index.node(n)).filter((n): n is K8sObject => n !== undefined);
    this.setRefs(unit, refs);
    const inputs = [svc, ...slices, ...wes, ...slicePods, ...sliceNodes];
    if (prev && sameInputs(prev.inputs, inputs)) return prev;
    return { inputs, entry: keepUnchanged(prev?.entry, withServiceAccounts(this.kubeService(svc, slices, wes))), source: svc, created: createdOf(svc) };
  }

  private serviceEntryBuilt(unit: ObjectKey, se: K8sObject, prev: ReadonlyMap<string, Built>): Array<[string, Built]> {
    const ns = se.metadata.namespace ?? 'default';
    // workloadSelector selects WorkloadEntries and Pods of the ServiceEntry's namespace (Istio).
    const sel = se.spec?.workloadSelector?.labels as Record<string, string> | undefined;
    if (sel) {
      let set = this.selectorSes.get(ns);
      if (!set) this.selectorSes.set(ns, (set = new Set()));
      set.add(unit);
    }
    const wes = sel ? this.index.workloadEntriesIn(ns).filter((we) => labelsMatch(sel, we.spec?.labels)) : [];
    const selPods = sel ? [...this.index.podsIn(ns)].filter((p) => typeof (p as any).status?.podIP === 'string' && labelsMatch(sel, p.metadata.labels))
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)) : [];
    const out: Array<[string, Built]> = [];
    for (const host of new Set((se.spec?.hosts ?? []) as string[])) {
      const key = `${unit}|${host}`;
      const p = prev.get(key);
      const inputs = [se, ...wes, ...selPods];
      out.push([key, p && sameInputs(p.inputs, inputs) ? p
        : { inputs, entry: keepUnchanged(p?.entry, withServiceAccounts(this.serviceEntry(se, host, wes, selPods))), source: se, created: createdOf(se) }]);
    }
    return out;
  }

  private setRefs(unit: ObjectKey, refs: readonly string[]): void {
    for (const r of this.unitRefs.get(unit) ?? []) {
      const owners = this.refOwners.get(r);
      owners?.delete(unit);
      if (owners && owners.size === 0) this.refOwners.delete(r);
    }
    if (refs.length === 0) { this.unitRefs.delete(unit); return; }
    this.unitRefs.set(unit, refs);
    for (const r of refs) {
      let owners = this.refOwners.get(r);
      if (!owners) this.refOwners.set(r, (owners = new Set()));
      owners.add(unit);
    }
  }

  /** The config half of a build: ConfigModels, Sidecar/Gateway selection inputs, and the config conflicts. */
  private buildConfigs(services: readonly ServiceEntryInput[]): ConfigModel[] {
    this.workloadGroupObjs = this.store.list('WorkloadGroup', 'networking.istio.io')
      .sort((a, b) => (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') || a.metadata.name.localeCompare(b.metadata.name));
    const configs: ConfigModel[] = [];
    const nextConfigs = new Map<K8sObject, ConfigModel>();
    for (const [group, kind] of CONFIG_KINDS) {
      for (const obj of this.store.list(kind, group)) {
        const model = this.configs.get(obj) ?? Object.freeze({
          group: splitApiVersion(obj.apiVersion).group, kind, namespace: obj.metadata.namespace ?? 'default', name: obj.metadata.name,
          revision: obj.metadata.resourceVersion ?? '', labels: obj.metadata.labels ?? {},
          spec: kind === 'Secret' ? secretSpec(obj) : obj.spec ?? {},
          ...(typeof obj.metadata.creationTimestamp === 'string' ? { created: obj.metadata.creationTimestamp } : {}),
        });
        nextConfigs.set(obj, model);
        configs.push(model);
      }
    }
    configs.push(this.servicelessHostsConfig(configs, services));
    configs.sort((a, b) => a.kind.localeCompare(b.kind) || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
    this.configs = nextConfigs;

    // Oldest first (Istio sorts Sidecars by creation time): the first match is the oldest.
    this.sidecars = this.store.list('Sidecar', 'networking.istio.io')
      .sort((a, b) => createdOf(a).localeCompare(createdOf(b)) || a.metadata.name.localeCompare(b.metadata.name));
    this.gatewayObjs = this.store.list('Gateway', 'networking.istio.io')
      .sort((a, b) => (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') || a.metadata.name.localeCompare(b.metadata.name));
    this.selectorKeys = selectorKeysOf(configs);
    const conflicts: ConfigConflict[] = [];
    sidecarConflicts(this.sidecars, conflicts);
    virtualServiceConflicts(this.store.list('VirtualService', 'networking.istio.io'), this.mesh.domainSuffix, conflicts);
    this.configConflicts = conflicts;
    this.selectionKey = this.selectionKeyNow();
    return configs;
  }

  /**
   * Update inboundByIp for the services that changed since the last build (entries are reused
   * objects when their inputs did not change, so identity tells). Returns the IPs touched: every
   * address of an added or removed entry. Cost grows with what changed, not with the mesh.
   */
  private updateInbound(services: readonly ServiceEntryInput[]): Set<string> {
    const next = new Set(services);
    const touched = new Set<string>();
    const index = (e: ServiceEntryInput, add: boolean) => {
      for (const ep of e.endpoints) {
        touched.add(ep.address);
        let set = this.servicesByIp.get(ep.address);
        if (add) {
          if (!set) this.servicesByIp.set(ep.address, (set = new Set()));
          set.add(e);
        } else if (set) {
          set.delete(e);
          if (set.size === 0) this.servicesByIp.delete(ep.address);
        }
      }
    };
    for (const e of this.inboundServices) if (!next.has(e)) index(e, false);
    for (const e of services) if (!this.inboundServices.has(e)) index(e, true);
    this.inboundServices = next;
    for (const ip of touched) {
      const list: InboundPort[] = [];
      for (const e of this.servicesByIp.get(ip) ?? []) list.push(...(inboundPortsOf(e).get(ip) ?? []));
      if (list.length === 0) this.inboundByIp.delete(ip);
      else this.inboundByIp.set(ip, list.sort(byInboundOrder));
    }
    return touched;
  }

  /**
   * Which proxies' contextFor() the last build() may have changed: all of them when a Sidecar or
   * Gateway was added, removed or reselected, the selector label keys or the mesh config changed;
   * otherwise only proxies at the IPs whose inbound services changed. Lets a push skip recomputing
   * the context of every connection on each config change (10,000 connections × contextFor).
   */
  contextChange(): ContextChange { return this.contextDelta; }

  /** Whether the last build() may have changed contextFor(proxy) (see contextChange). */
  contextMayHaveChanged(proxy: ProxyView): boolean {
    const c = this.contextDelta;
    return c.all || proxy.ipAddresses.some((ip) => c.ips.has(ip));
  }

  /** Everything selection-related contextFor reads from Sidecars, Gateways and selectors. */
  private selectionKey = '';
  private selectionKeyNow(): string {
    const sc = this.sidecars.map((o) => [o.metadata.namespace, o.metadata.name, createdOf(o), o.spec?.workloadSelector ?? null]);
    const gw = this.gatewayObjs.map((o) => [o.metadata.namespace, o.metadata.name, o.spec?.selector ?? null]);
    return JSON.stringify([sc, gw, this.selectorKeys, this.mesh.rootNamespace]);
  }

  /** Everything a generator may read about `proxy`, resolved against the current model. */
  contextFor(proxy: ProxyView): GenContext {
    const inbound = proxy.ipAddresses.flatMap((ip) => this.inboundByIp.get(ip) ?? []);
    return {
      generator: proxy.generator,
      proxyType: proxy.type,
      namespace: proxy.namespace,
      sidecar: this.sidecarFor(proxy),
      inbound,
      interceptionMode: proxy.interceptionMode,
      labels: this.selectedLabels(proxy.labels),
      gateways: proxy.type === 'router' ? this.gatewaysFor(proxy) : [],
      locality: proxy.locality.region || proxy.locality.zone || proxy.locality.subZone ? `${proxy.locality.region}/${proxy.locality.zone}/${proxy.locality.subZone}` : '',
    };
  }

  private selectedLabels(labels: Readonly<Record<string, string>>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const k of this.selectorKeys) if (labels[k] !== undefined) out[k] = labels[k]!;
    return out;
  }

  /** Gateways whose selector matches the proxy's labels, in any namespace (Istio's default, PILOT_SCOPE_GATEWAY_TO_NAMESPACE=false). */
  private gatewaysFor(proxy: ProxyView): string[] {
    const out: string[] = [];
    for (const gw of this.gatewayObjs) {
      const selector = gw.spec?.selector as Record<string, string> | undefined;
      // An empty selector selects every gateway proxy (Istio: a nil/empty label selector matches all).
      const selects = !selector || Object.keys(selector).length === 0 || labelsMatch(selector, proxy.labels as Record<string, string>);
      if (selects) out.push(`${gw.metadata.namespace ?? 'default'}/${gw.metadata.name}`);
    }
    return out;
  }

  private sidecarFor(proxy: ProxyView): string {
    const sidecars = this.sidecars;
    const inNs = sidecars.filter((s) => s.metadata.namespace === proxy.namespace);
    const selected = inNs.find((s) => s.spec?.workloadSelector && labelsMatch(s.spec.workloadSelector.labels, proxy.labels as Record<string, string>))
      ?? inNs.find((s) => !s.spec?.workloadSelector)
      ?? sidecars.find((s) => s.metadata.namespace === this.mesh.rootNamespace && !s.spec?.workloadSelector);
    return selected ? `${selected.metadata.namespace}/${selected.metadata.name}` : '';
  }

  /** The derived list of service-less mesh VirtualService hosts (see SERVICELESS_HOSTS_KIND), reused while equal. */
  private servicelessHostsConfig(configs: readonly ConfigModel[], services: readonly ServiceEntryInput[]): ConfigModel {
    const hosts: ServicelessHost[] = [];
    for (const vs of configs) {
      if (vs.kind !== 'VirtualService') continue;
      const gateways = (Array.isArray(vs.spec?.gateways) ? vs.spec.gateways : []) as unknown[];
      if (gateways.length > 0 && !gateways.includes('mesh')) continue;
      const list = (Array.isArray(vs.spec?.hosts) ? vs.spec.hosts : []) as unknown[];
      for (const raw of new Set(list.filter((h): h is string => typeof h === 'string'))) {
        const host = raw === '*' || raw.includes('.') || raw.startsWith('*') ? raw : `${raw}.${vs.namespace}.svc.${this.mesh.domainSuffix}`;
        if (services.some((e) => hostMatches(host, e.service.hostname) || hostMatches(e.service.hostname, host))) continue;
        hosts.push({ namespace: vs.namespace, name: vs.name, host });
      }
    }
    hosts.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name) || a.host.localeCompare(b.host));
    const prev = this.servicelessHosts;
    if (prev && JSON.stringify(prev.spec.hosts) === JSON.stringify(hosts)) return prev;
    this.servicelessHosts = Object.freeze({
      group: SERVICELESS_HOSTS_GROUP, kind: SERVICELESS_HOSTS_KIND, namespace: '', name: 'mesh', revision: '', labels: {}, spec: Object.freeze({ hosts }),
    });
    return this.servicelessHosts;
  }

  /**
   * Istio's PushContext service index: services sorted by creation time; of two with one hostname
   * in one namespace the oldest wins, except that a Kubernetes Service always beats a ServiceEntry
   * (no "domain squatting" on a Service's name). Losers are left out and recorded as conflicts.
   * The result is sorted by hostname, then creation time (so the first of a host is the oldest,
   * which is whom Istio picks across namespaces), then namespace.
   */
  private resolveServices(): void {
    type Candidate = Built & { key: string };
    const byCreation = (a: Candidate, b: Candidate) => a.created.localeCompare(b.created)
      || a.entry.service.namespace.localeCompare(b.entry.service.namespace) || a.entry.service.name.localeCompare(b.entry.service.name);
    const groups = new Map<string, Candidate[]>();
    for (const [key, b] of this.built) {
      const c = { ...b, key };
      const g = `${c.entry.service.namespace}/${c.entry.service.hostname}`;
      const list = groups.get(g);
      if (list) list.push(c); else groups.set(g, [c]);
    }
    const kept: Candidate[] = [];
    const conflicts: ConfigConflict[] = [];
    for (const key of [...groups.keys()].sort()) {
      const list = groups.get(key)!;
      if (list.length === 1) { kept.push(list[0]!); continue; }
      list.sort((a, b) => {
        const ak = a.entry.service.source === 'kubernetes' ? 0 : 1, bk = b.entry.service.source === 'kubernetes' ? 0 : 1;
        return ak - bk || byCreation(a, b);
      });
      kept.push(list[0]!);
      const slash = key.indexOf('/');
      conflicts.push({
        kind: 'DuplicateServiceHost', key: `${key.slice(slash + 1)} in ${key.slice(0, slash)}`,
        objects: list.map((c) => describe(c.source)),
        reason: `${list.length} services define host ${key.slice(slash + 1)} in namespace ${key.slice(0, slash)}; ` +
          `${describe(list[0]!.source)} wins (${list[0]!.entry.service.source === 'kubernetes' ? 'a Kubernetes Service takes precedence' : 'oldest by creationTimestamp, then name'}), the others are ignored`,
      });
    }
    kept.sort((a, b) => a.entry.service.hostname.localeCompare(b.entry.service.hostname) || byCreation(a, b));
    this.serviceOrder = kept.map((c) => c.key);
    this.duplicateConflicts = conflicts;
  }

  /** Re-check InboundListener conflicts at the IPs whose inbound services changed. */
  private updateInboundConflicts(ips: ReadonlySet<string>): void {
    for (const ip of ips) {
      const found: ConfigConflict[] = [];
      const byTarget = new Map<number, InboundPort[]>();
      for (const p of this.inboundByIp.get(ip) ?? []) { const l = byTarget.get(p.targetPort) ?? []; l.push(p); byTarget.set(p.targetPort, l); }
      for (const [target, list] of byTarget) {
        const first = list[0]!;
        const other = list.find((p) => p.hostname !== first.hostname && listenerClass(p.protocol) !== listenerClass(first.protocol));
        if (other) {
          found.push({ kind: 'InboundListener', key: `${ip}:${target}`, objects: [first.hostname, other.hostname],
            reason: `Conflicting inbound listener:${target}. existing: ${first.hostname}, incoming: ${other.hostname}` });
        }
      }
      if (found.length > 0) this.inboundConflicts.set(ip, found); else this.inboundConflicts.delete(ip);
    }
  }

  private kubeService(svc: K8sObject, slices: K8sObject[], wes: K8sObject[]): ServiceEntryInput {
    const ns = svc.metadata.namespace ?? 'default';
    const ports: ServicePort[] = ((svc.spec?.ports ?? []) as any[]).map((p) => Object.freeze({
      name: p.name ?? '',
      port: Number(p.port),
      protocol: protocolFromPort(p.name, p.appProtocol, p.protocol, Number(p.port)),
      targetPort: typeof p.targetPort === 'number' ? p.targetPort : typeof p.targetPort === 'string' && /^\d+$/.test(p.targetPort) ? Number(p.targetPort) : Number(p.port),
    }));
    const clusterIP = svc.spec?.clusterIP;
    const exportTo = (svc.metadata.annotations?.['networking.istio.io/exportTo'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    // Istio's kube conversion: a headless Service (clusterIP None) resolves by original destination
    // (Passthrough); an ExternalName Service is a DNS service of the external name, outside the mesh.
    const externalName = svc.spec?.type === 'ExternalName' && typeof svc.spec?.externalName === 'string' ? String(svc.spec.externalName) : '';
    const resolution: Resolution = externalName ? 'dns' : clusterIP === 'None' ? 'passthrough' : 'eds';
    const service: ServiceModel = Object.freeze({
      hostname: `${svc.metadata.name}.${ns}.svc.${this.mesh.domainSuffix}`,
      namespace: ns, name: svc.metadata.name, source: 'kubernetes', ports,
      addresses: !externalName && typeof clusterIP === 'string' && clusterIP !== 'None' && clusterIP !== '' ? [clusterIP] : [],
      exportTo, resolution, meshExternal: externalName !== '', labels: svc.metadata.labels ?? {},
    });
    if (externalName) {
      return Object.freeze({ service, endpoints: Object.freeze([this.endpoint(externalName, {}, {}, '', 1, '', '', true)]) });
    }
    const endpoints: EndpointModel[] = [];
    for (const slice of slices) {
      const slicePorts: Record<string, number> = {};
      for (const p of ((slice as any).ports ?? []) as any[]) slicePorts[p.name ?? ''] = Number(p.port);
      for (const e of ((slice as any).endpoints ?? []) as any[]) {
        const pod = this.index.endpointPod(ns, e);
        for (const address of (e.addresses ?? []) as string[]) {
          endpoints.push(this.endpoint(address, slicePorts, pod?.metadata.labels ?? {}, endpointLocality(e, pod, (n) => this.index.node(n)),
            1, '', pod ? this.spiffe(ns, (pod as any).spec?.serviceAccountName ?? 'default') : '', e.conditions?.ready !== false));
        }
      }
    }
    for (const we of wes) endpoints.push(this.workloadEntryEndpoint(we, ports));
    endpoints.sort((a, b) => a.address.localeCompare(b.address));
    return Object.freeze({ service, endpoints: Object.freeze(endpoints) });
  }

  private serviceEntry(se: K8sObject, host: string, wes: K8sObject[], selPods: K8sObject[] = []): ServiceEntryInput {
    const ns = se.metadata.namespace ?? 'default';
    const spec = se.spec ?? {};
    const ports: ServicePort[] = ((spec.ports ?? []) as any[]).map((p) => Object.freeze({
      name: p.name ?? '', port: Number(p.number), protocol: serviceEntryPortProtocol(p.protocol), targetPort: Number(p.targetPort ?? p.number),
    }));
    const service: ServiceModel = Object.freeze({
      hostname: host, namespace: ns, name: se.metadata.name, source: 'serviceentry', ports,
      addresses: (spec.addresses ?? []) as string[], exportTo: (spec.exportTo ?? []) as string[],
      resolution: SE_RESOLUTION[spec.resolution ?? 'NONE'] ?? 'passthrough',
      meshExternal: (spec.location ?? 'MESH_EXTERNAL') === 'MESH_EXTERNAL', labels: se.metadata.labels ?? {},
    });
    const endpoints: EndpointModel[] = ((spec.endpoints ?? []) as any[]).map((e) =>
      this.endpoint(String(e.address), e.ports ?? {}, e.labels ?? {}, e.locality ?? '', e.weight ?? 1, e.network ?? '', e.serviceAccount ? this.spiffe(ns, e.serviceAccount) : '', true));
    for (const we of wes) endpoints.push(this.workloadEntryEndpoint(we, ports));
    for (const pod of selPods) {
      const ps = (pod as any).spec ?? {};
      endpoints.push(this.endpoint(String((pod as any).status.podIP), {}, pod.metadata.labels ?? {}, '', 1, '',
        this.spiffe(ns, ps.serviceAccountName ?? 'default'), podReady(pod)));
    }
    return Object.freeze({ service, endpoints: Object.freeze(endpoints) });
  }

  private workloadEntryEndpoint(we: K8sObject, ports: readonly ServicePort[]): EndpointModel {
    const s = we.spec ?? {};
    const mapped: Record<string, number> = {};
    for (const p of ports) if (s.ports?.[p.name] !== undefined) mapped[p.name] = Number(s.ports[p.name]);
    return this.endpoint(String(s.address ?? ''), mapped, s.labels ?? {}, s.locality ?? '', s.weight ?? 1, s.network ?? '',
      s.serviceAccount ? this.spiffe(we.metadata.namespace ?? 'default', s.serviceAccount) : '', true);
  }

  private endpoint(address: string, ports: Record<string, number>, labels: Record<string, string>, locality: string, weight: number, network: string, serviceAccount: string, healthy: boolean): EndpointModel {
    return Object.freeze({
      address, ports: Object.freeze({ ...ports }), labels: Object.freeze({ ...labels }), locality, weight: Number(weight) || 1, network,
      serviceAccount, healthy, tlsMode: labels['security.istio.io/tlsMode'] ?? 'disabled',
    });
  }

  private spiffe(ns: string, sa: string): string {
    return `spiffe://${this.mesh.trustDomain}/ns/${ns}/sa/${sa}`;
  }
}
