/**
 * Service registry: turns the store's Kubernetes and Istio objects into ServiceModel +
 * EndpointModel lists, ConfigModels, and the per-proxy generation context (which Sidecar applies,
 * which service ports the proxy's own workload serves). Main thread.
 *
 * Reuse: a service is rebuilt only when one of the store objects it was built from changed
 * (reference compare; the store replaces an object's reference on every change), so unchanged
 * services keep their model objects and the snapshot writer reuses their segments.
 */
import { K8sObject, splitApiVersion } from '../../shared/model/objects';
import { ConfigModel, EndpointModel, ServiceEntryInput, ServiceModel, ServicePort, SnapshotInput, protocolFromPort, serviceEntryPortProtocol, Resolution, UNSUPPORTED_PROTOCOL, SERVICELESS_HOSTS_GROUP, SERVICELESS_HOSTS_KIND, ServicelessHost } from '../../shared/model/service';
import { GenContext, InboundPort } from '../../shared/generation';
import { ProxyView } from '../../shared/model/proxy';
import { ModelStore } from './store';
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

interface Built { inputs: readonly object[]; entry: ServiceEntryInput }
/** A built service with the object it came from, for conflict resolution and creation order. */
interface Candidate { entry: ServiceEntryInput; source: K8sObject; created: string }

export interface MeshSettings { domainSuffix: string; rootNamespace: string; trustDomain: string; raw: Record<string, unknown> }

/**
 * A configuration conflict the registry resolved the way Istio does, for /debug/push_status
 * (Istio reports these as pilot_conflict_* / pilot_duplicate_* push-status metrics).
 */
export interface ConfigConflict {
  /**
   * DuplicateServiceHost: two Services/ServiceEntries with one hostname in one namespace;
   * VirtualServiceHost: several mesh VirtualServices for one host; OutboundListener: one
   * listener address:port wanted with different protocols (or twice by TCP services);
   * InboundListener: two services of one workload on one target port with different protocols;
   * Sidecar: several Sidecars without workloadSelector in one namespace (the oldest applies).
   */
  readonly kind: 'DuplicateServiceHost' | 'VirtualServiceHost' | 'OutboundListener' | 'InboundListener' | 'Sidecar';
  /** the listener, host or port the conflict is about */
  readonly key: string;
  /** the objects involved, `Kind namespace/name` (or hostnames for listeners), the winner first */
  readonly objects: readonly string[];
  readonly reason: string;
}

const HTTP_PROTOCOLS = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB']);
/**
 * Istio's listener protocol class of a port protocol (ModelProtocolToListenerProtocol): HTTP, TCP,
 * UNKNOWN (undeclared: sniffed; Istio's push-status name for it), or undefined (UDP: no listener).
 */
function listenerClass(protocol: string): 'HTTP' | 'TCP' | 'UNKNOWN' | undefined {
  if (protocol === UNSUPPORTED_PROTOCOL) return 'UNKNOWN';
  const p = protocol.toUpperCase();
  if (p === 'UDP') return undefined;
  return HTTP_PROTOCOLS.has(p) ? 'HTTP' : 'TCP';
}

/** creationTimestamp as sortable text; objects without one sort last (Istio: zero time sorts first, but files rarely carry it). */
function createdOf(obj: K8sObject | undefined): string {
  const t = obj?.metadata.creationTimestamp;
  if (typeof t !== 'string' || t === '') return '~';
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? '~' : new Date(ms).toISOString();
}

/** A Pod serves traffic unless it has ended or reports Ready=False (Istio uses pod readiness for selected pods). */
function podReady(pod: K8sObject): boolean {
  const status = (pod as any).status ?? {};
  if (status.phase === 'Failed' || status.phase === 'Succeeded') return false;
  const ready = ((status.conditions ?? []) as any[]).find((c) => c?.type === 'Ready');
  return !ready || ready.status !== 'False';
}

const describe = (o: K8sObject) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;

function labelsMatch(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  for (const [k, v] of Object.entries(selector)) if (labels?.[k] !== v) return false;
  return true;
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
function endpointLocality(e: any, pod: K8sObject | undefined, nodes: Map<string, K8sObject>): string {
  const label = pod?.metadata.labels?.['istio-locality'];
  if (label) return label.replace(/\./g, '/');
  const nodeName = e.nodeName ?? (pod as any)?.spec?.nodeName;
  const node = typeof nodeName === 'string' ? nodes.get(nodeName) : undefined;
  const nl = node?.metadata.labels ?? {};
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
  private built = new Map<string, Built>();
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

  constructor(private readonly store: ModelStore, private mesh: MeshSettings) {}

  /**
   * New mesh config (Kubernetes mode reloads the `istio` ConfigMap live). Everything derived from
   * it is rebuilt at the next build(): the domain suffix and trust domain are baked into services
   * and endpoints, so the per-service reuse cache is dropped.
   */
  setMesh(mesh: MeshSettings): void {
    if (mesh === this.mesh) return;
    this.mesh = mesh;
    this.built = new Map();
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

  /** Build the next snapshot input from the store. */
  build(): SnapshotInput {
    const pods = new Map<string, K8sObject>(); // ns/name → pod
    const podsByIp = new Map<string, K8sObject>();
    for (const p of this.store.list('Pod', '')) {
      pods.set(`${p.metadata.namespace}/${p.metadata.name}`, p);
      const ip = (p as any).status?.podIP;
      if (typeof ip === 'string') podsByIp.set(ip, p);
    }
    const nodes = new Map<string, K8sObject>();
    for (const n of this.store.list('Node', '')) nodes.set(n.metadata.name, n);
    const slicesBySvc = new Map<string, K8sObject[]>();
    for (const s of this.store.list('EndpointSlice', 'discovery.k8s.io')) {
      const svc = s.metadata.labels?.['kubernetes.io/service-name'];
      if (!svc) continue;
      const key = `${s.metadata.namespace}/${svc}`;
      const list = slicesBySvc.get(key) ?? [];
      list.push(s);
      slicesBySvc.set(key, list);
    }
    const workloadEntries = this.store.list('WorkloadEntry', 'networking.istio.io');

    const next = new Map<string, Built>();
    const candidates: Candidate[] = [];
    const reuseOrBuild = (key: string, inputs: object[], build: () => ServiceEntryInput) => {
      const prev = this.built.get(key);
      const b = prev && sameInputs(prev.inputs, inputs) ? prev : { inputs, entry: keepUnchanged(prev?.entry, withServiceAccounts(build())) };
      next.set(key, b);
      const source = inputs[0] as K8sObject;
      candidates.push({ entry: b.entry, source, created: createdOf(source) });
    };

    for (const svc of this.store.list('Service', '')) {
      const ns = svc.metadata.namespace ?? 'default';
      const slices = (slicesBySvc.get(`${ns}/${svc.metadata.name}`) ?? []).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
      const selector = svc.spec?.selector as Record<string, string> | undefined;
      const wes = workloadEntries.filter((we) => we.metadata.namespace === ns && labelsMatch(selector, we.spec?.labels));
      const slicePods = slices.flatMap((s) => ((s as any).endpoints ?? []).map((e: any) => (e.targetRef?.kind === 'Pod' ? pods.get(`${ns}/${e.targetRef.name}`) : podsByIp.get(e.addresses?.[0]))).filter(Boolean)) as K8sObject[];
      // Nodes carry the endpoints' locality (topology labels): a relabelled node rebuilds the service.
      const sliceNodes = [...new Set(slices.flatMap((s) => ((s as any).endpoints ?? []).map((e: any) => e.nodeName))
        .concat(slicePods.map((p) => (p as any).spec?.nodeName)))].filter((n): n is string => typeof n === 'string' && nodes.has(n)).sort().map((n) => nodes.get(n)!);
      reuseOrBuild(`k8s/${ns}/${svc.metadata.name}`, [svc, ...slices, ...wes, ...slicePods, ...sliceNodes], () => this.kubeService(svc, slices, wes, pods, podsByIp, nodes));
    }
    for (const se of this.store.list('ServiceEntry', 'networking.istio.io')) {
      const ns = se.metadata.namespace ?? 'default';
      // workloadSelector selects WorkloadEntries and Pods of the ServiceEntry's namespace (Istio).
      const sel = se.spec?.workloadSelector?.labels as Record<string, string> | undefined;
      const wes = sel ? workloadEntries.filter((we) => we.metadata.namespace === ns && labelsMatch(sel, we.spec?.labels)) : [];
      const selPods = sel ? [...pods.values()].filter((p) => p.metadata.namespace === ns && typeof (p as any).status?.podIP === 'string' && labelsMatch(sel, p.metadata.labels))
        .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name)) : [];
      for (const host of (se.spec?.hosts ?? []) as string[]) {
        reuseOrBuild(`se/${ns}/${se.metadata.name}/${host}`, [se, ...wes, ...selPods], () => this.serviceEntry(se, host, wes, selPods));
      }
    }
    this.built = next;
    const conflicts: ConfigConflict[] = [];
    const services = this.resolveServices(candidates, conflicts);
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

    const inboundChanged = this.updateInbound(services);
    const prevSelection = this.selectionKey;

    // Oldest first (Istio sorts Sidecars by creation time): the first match is the oldest.
    this.sidecars = this.store.list('Sidecar', 'networking.istio.io')
      .sort((a, b) => createdOf(a).localeCompare(createdOf(b)) || a.metadata.name.localeCompare(b.metadata.name));
    this.sidecarConflicts(conflicts);
    this.gatewayObjs = this.store.list('Gateway', 'networking.istio.io')
      .sort((a, b) => (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') || a.metadata.name.localeCompare(b.metadata.name));
    this.selectorKeys = selectorKeysOf(configs);
    this.virtualServiceConflicts(conflicts);
    this.listenerConflicts(services, conflicts);
    this.conflictList = Object.freeze(conflicts);
    this.selectionKey = this.selectionKeyNow();
    this.contextDelta = {
      all: !this.last || this.last.mesh !== this.mesh.raw || prevSelection !== this.selectionKey,
      ips: inboundChanged,
    };

    const mesh = this.last && this.last.mesh === this.mesh.raw ? this.last.mesh : this.mesh.raw;
    this.last = { services, configs, mesh };
    return this.last;
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
  private resolveServices(candidates: Candidate[], conflicts: ConfigConflict[]): ServiceEntryInput[] {
    const byCreation = (a: Candidate, b: Candidate) => a.created.localeCompare(b.created)
      || a.entry.service.namespace.localeCompare(b.entry.service.namespace) || a.entry.service.name.localeCompare(b.entry.service.name);
    const groups = new Map<string, Candidate[]>();
    for (const c of candidates) {
      const key = `${c.entry.service.namespace}/${c.entry.service.hostname}`;
      const list = groups.get(key);
      if (list) list.push(c); else groups.set(key, [c]);
    }
    const kept: Candidate[] = [];
    for (const [key, list] of groups) {
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
    return kept.map((c) => c.entry);
  }

  /** Several Sidecars without workloadSelector in one namespace: every proxy there gets the oldest. */
  private sidecarConflicts(conflicts: ConfigConflict[]): void {
    const byNs = new Map<string, K8sObject[]>();
    for (const sc of this.sidecars) {
      if (sc.spec?.workloadSelector) continue;
      const ns = sc.metadata.namespace ?? 'default';
      const list = byNs.get(ns);
      if (list) list.push(sc); else byNs.set(ns, [sc]);
    }
    for (const ns of [...byNs.keys()].sort()) {
      const list = byNs.get(ns)!;
      if (list.length < 2) continue;
      conflicts.push({
        kind: 'Sidecar', key: ns, objects: list.map(describe),
        reason: `${list.length} Sidecars without workloadSelector in namespace ${ns}; its proxies use the oldest (${describe(list[0]!)})`,
      });
    }
  }

  /** Several mesh-bound VirtualServices for one host: sidecars use the oldest (Istio does not merge them for sidecars). */
  private virtualServiceConflicts(conflicts: ConfigConflict[]): void {
    const byHost = new Map<string, K8sObject[]>();
    for (const vs of this.store.list('VirtualService', 'networking.istio.io')) {
      const gateways = (vs.spec?.gateways ?? []) as unknown[];
      if (gateways.length > 0 && !gateways.includes('mesh')) continue;
      const ns = vs.metadata.namespace ?? 'default';
      for (const h of new Set(((vs.spec?.hosts ?? []) as unknown[]).filter((x): x is string => typeof x === 'string').map((x) => (x.includes('.') || x.startsWith('*') ? x : `${x}.${ns}.svc.${this.mesh.domainSuffix}`)))) {
        const list = byHost.get(h);
        if (list) list.push(vs); else byHost.set(h, [vs]);
      }
    }
    for (const host of [...byHost.keys()].sort()) {
      const list = byHost.get(host)!;
      if (list.length < 2) continue;
      list.sort((a, b) => createdOf(a).localeCompare(createdOf(b)) || (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') || a.metadata.name.localeCompare(b.metadata.name));
      conflicts.push({
        kind: 'VirtualServiceHost', key: host, objects: list.map(describe),
        reason: `${list.length} VirtualServices bound to mesh define host ${host}; sidecars use the first by creationTimestamp (${describe(list[0]!)}) and ignore the rest`,
      });
    }
  }

  /**
   * Listener conflicts Istio reports while building sidecar listeners, computed once per build
   * from the whole registry (each proxy sees a subset, so a conflict here may not affect every proxy):
   * - outbound: HTTP and TCP services on one `0.0.0.0_port` (Istio merges them behind protocol
   *   sniffing, except MONGO/MYSQL ports where the first wins), and two TCP services on one
   *   `address_port` without distinguishing SNI (the first wins);
   * - inbound: two services of one workload on one target port with different protocols (the first wins).
   */
  private listenerConflicts(services: readonly ServiceEntryInput[], conflicts: ConfigConflict[]): void {
    interface Slot { cls: 'HTTP' | 'TCP' | 'UNKNOWN'; protocol: string; host: string; sni: boolean }
    const slots = new Map<string, Slot[]>();
    for (const { service } of services) {
      for (const p of service.ports) {
        const cls = listenerClass(p.protocol);
        if (!cls) continue;
        const vip = service.addresses.find((a) => !a.includes('/'));
        const cidr = service.addresses.some((a) => a.includes('/'));
        const bind = cls === 'HTTP' || !vip ? '0.0.0.0' : vip;
        const tls = p.protocol === 'TLS' || p.protocol === 'HTTPS';
        const key = `${bind}_${p.port}`;
        const list = slots.get(key) ?? [];
        list.push({ cls, protocol: p.protocol, host: service.hostname, sni: tls && (bind === '0.0.0.0' || cidr) });
        slots.set(key, list);
      }
    }
    for (const key of [...slots.keys()].sort()) {
      const list = slots.get(key)!;
      const first = list[0]!;
      for (const s of list.slice(1)) {
        if (s.host === first.host) continue;
        const wellKnown = (s.protocol !== first.protocol) && ['MONGO', 'MYSQL'].some((w) => w === s.protocol || w === first.protocol);
        if (s.cls !== first.cls) {
          conflicts.push({ kind: 'OutboundListener', key, objects: [first.host, s.host],
            reason: `Listener=${key} Accepted=${first.cls} Rejected=${s.cls} (${s.host}): ` + (wellKnown
              ? `${s.protocol === 'MONGO' || s.protocol === 'MYSQL' ? s.protocol : first.protocol} is server-first and cannot share a port with another protocol; the first service keeps the listener`
              : first.cls === 'HTTP' && s.cls === 'UNKNOWN' ? 'the sniffed service replaces the HTTP listener (protocol sniffing)'
              : first.cls === 'UNKNOWN' && s.cls === 'HTTP' ? 'the port is already sniffed; the HTTP service is reached through its route configuration'
              : 'HTTP and TCP services share the port; the listener uses protocol sniffing (HTTP filter chain by ALPN, TCP otherwise)') });
        } else if (s.cls !== 'HTTP' && !(s.sni && first.sni)) {
          conflicts.push({ kind: 'OutboundListener', key, objects: [first.host, s.host],
            reason: `Listener=${key} Accepted=${first.cls} Rejected=${s.cls} (${s.host}): both services match every connection on ${key}; the first keeps the filter chain` });
        }
      }
    }
    for (const [ip, ports] of [...this.inboundByIp].sort((a, b) => a[0].localeCompare(b[0]))) {
      const byTarget = new Map<number, InboundPort[]>();
      for (const p of ports) { const l = byTarget.get(p.targetPort) ?? []; l.push(p); byTarget.set(p.targetPort, l); }
      for (const [target, list] of byTarget) {
        const first = list[0]!;
        const other = list.find((p) => p.hostname !== first.hostname && listenerClass(p.protocol) !== listenerClass(first.protocol));
        if (other) {
          conflicts.push({ kind: 'InboundListener', key: `${ip}:${target}`, objects: [first.hostname, other.hostname],
            reason: `Conflicting inbound listener:${target}. existing: ${first.hostname}, incoming: ${other.hostname}` });
        }
      }
    }
  }

  private kubeService(svc: K8sObject, slices: K8sObject[], wes: K8sObject[], pods: Map<string, K8sObject>, podsByIp: Map<string, K8sObject>, nodes: Map<string, K8sObject>): ServiceEntryInput {
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
        const pod = e.targetRef?.kind === 'Pod' ? pods.get(`${ns}/${e.targetRef.name}`) : podsByIp.get(e.addresses?.[0]);
        for (const address of (e.addresses ?? []) as string[]) {
          endpoints.push(this.endpoint(address, slicePorts, pod?.metadata.labels ?? {}, endpointLocality(e, pod, nodes),
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
