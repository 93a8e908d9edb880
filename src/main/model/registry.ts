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
import { ConfigModel, EndpointModel, ServiceEntryInput, ServiceModel, ServicePort, SnapshotInput, protocolFromPort, Resolution } from '../../shared/model/service';
import { GenContext, InboundPort } from '../../shared/generation';
import { ProxyView } from '../../shared/model/proxy';
import { ModelStore } from './store';

const CONFIG_KINDS = ['VirtualService', 'DestinationRule', 'Sidecar', 'Gateway'];
const SE_RESOLUTION: Record<string, Resolution> = { STATIC: 'eds', NONE: 'passthrough', DNS: 'dns', DYNAMIC_DNS: 'dns', DNS_ROUND_ROBIN: 'dns-round-robin' };

interface Built { inputs: readonly object[]; entry: ServiceEntryInput }

export interface MeshSettings { domainSuffix: string; rootNamespace: string; trustDomain: string; raw: Record<string, unknown> }

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
function keepUnchanged(prev: ServiceEntryInput | undefined, next: ServiceEntryInput): ServiceEntryInput {
  if (!prev) return next;
  const service = JSON.stringify(prev.service) === JSON.stringify(next.service) ? prev.service : next.service;
  const endpoints = JSON.stringify(prev.endpoints) === JSON.stringify(next.endpoints) ? prev.endpoints : next.endpoints;
  if (service === prev.service && endpoints === prev.endpoints) return prev;
  return service === next.service && endpoints === next.endpoints ? next : Object.freeze({ service, endpoints });
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
  }
  return [...keys].sort();
}

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

  constructor(private readonly store: ModelStore, private readonly mesh: MeshSettings) {}

  /** The input most recently built. */
  get current(): SnapshotInput | undefined { return this.last; }

  /** Build the next snapshot input from the store. */
  build(): SnapshotInput {
    const pods = new Map<string, K8sObject>(); // ns/name → pod
    const podsByIp = new Map<string, K8sObject>();
    for (const p of this.store.list('Pod', '')) {
      pods.set(`${p.metadata.namespace}/${p.metadata.name}`, p);
      const ip = (p as any).status?.podIP;
      if (typeof ip === 'string') podsByIp.set(ip, p);
    }
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
    const services: ServiceEntryInput[] = [];
    const reuseOrBuild = (key: string, inputs: object[], build: () => ServiceEntryInput) => {
      const prev = this.built.get(key);
      const b = prev && sameInputs(prev.inputs, inputs) ? prev : { inputs, entry: keepUnchanged(prev?.entry, build()) };
      next.set(key, b);
      services.push(b.entry);
    };

    for (const svc of this.store.list('Service', '')) {
      const ns = svc.metadata.namespace ?? 'default';
      const slices = (slicesBySvc.get(`${ns}/${svc.metadata.name}`) ?? []).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
      const selector = svc.spec?.selector as Record<string, string> | undefined;
      const wes = workloadEntries.filter((we) => we.metadata.namespace === ns && labelsMatch(selector, we.spec?.labels));
      const slicePods = slices.flatMap((s) => ((s as any).endpoints ?? []).map((e: any) => (e.targetRef?.kind === 'Pod' ? pods.get(`${ns}/${e.targetRef.name}`) : podsByIp.get(e.addresses?.[0]))).filter(Boolean)) as K8sObject[];
      reuseOrBuild(`k8s/${ns}/${svc.metadata.name}`, [svc, ...slices, ...wes, ...slicePods], () => this.kubeService(svc, slices, wes, pods, podsByIp));
    }
    for (const se of this.store.list('ServiceEntry', 'networking.istio.io')) {
      const ns = se.metadata.namespace ?? 'default';
      const sel = se.spec?.workloadSelector?.labels as Record<string, string> | undefined;
      const wes = sel ? workloadEntries.filter((we) => we.metadata.namespace === ns && labelsMatch(sel, we.spec?.labels)) : [];
      for (const host of (se.spec?.hosts ?? []) as string[]) {
        reuseOrBuild(`se/${ns}/${se.metadata.name}/${host}`, [se, ...wes], () => this.serviceEntry(se, host, wes));
      }
    }
    services.sort((a, b) => a.service.hostname.localeCompare(b.service.hostname) || a.service.namespace.localeCompare(b.service.namespace));
    this.built = next;

    const configs: ConfigModel[] = [];
    const nextConfigs = new Map<K8sObject, ConfigModel>();
    for (const kind of CONFIG_KINDS) {
      for (const obj of this.store.list(kind, 'networking.istio.io')) {
        const model = this.configs.get(obj) ?? Object.freeze({
          group: splitApiVersion(obj.apiVersion).group, kind, namespace: obj.metadata.namespace ?? 'default', name: obj.metadata.name,
          revision: obj.metadata.resourceVersion ?? '', labels: obj.metadata.labels ?? {}, spec: obj.spec ?? {},
        });
        nextConfigs.set(obj, model);
        configs.push(model);
      }
    }
    configs.sort((a, b) => a.kind.localeCompare(b.kind) || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
    this.configs = nextConfigs;

    this.inboundByIp = new Map();
    for (const { service, endpoints } of services) {
      for (const ep of endpoints) {
        for (const p of service.ports) {
          const target = ep.ports[p.name] ?? (Object.keys(ep.ports).length === 0 ? p.targetPort || p.port : undefined);
          if (target === undefined) continue;
          const list = this.inboundByIp.get(ep.address) ?? [];
          list.push({ hostname: service.hostname, namespace: service.namespace, name: p.name, port: p.port, targetPort: target, protocol: p.protocol });
          this.inboundByIp.set(ep.address, list);
        }
      }
    }
    for (const list of this.inboundByIp.values()) list.sort((a, b) => a.port - b.port || a.hostname.localeCompare(b.hostname));

    this.sidecars = this.store.list('Sidecar', 'networking.istio.io').sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    this.gatewayObjs = this.store.list('Gateway', 'networking.istio.io')
      .sort((a, b) => (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') || a.metadata.name.localeCompare(b.metadata.name));
    this.selectorKeys = selectorKeysOf(configs);

    const mesh = this.last && this.last.mesh === this.mesh.raw ? this.last.mesh : this.mesh.raw;
    this.last = { services, configs, mesh };
    return this.last;
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

  private kubeService(svc: K8sObject, slices: K8sObject[], wes: K8sObject[], pods: Map<string, K8sObject>, podsByIp: Map<string, K8sObject>): ServiceEntryInput {
    const ns = svc.metadata.namespace ?? 'default';
    const ports: ServicePort[] = ((svc.spec?.ports ?? []) as any[]).map((p) => Object.freeze({
      name: p.name ?? '',
      port: Number(p.port),
      protocol: protocolFromPort(p.name, p.appProtocol, p.protocol),
      targetPort: typeof p.targetPort === 'number' ? p.targetPort : typeof p.targetPort === 'string' && /^\d+$/.test(p.targetPort) ? Number(p.targetPort) : Number(p.port),
    }));
    const clusterIP = svc.spec?.clusterIP;
    const exportTo = (svc.metadata.annotations?.['networking.istio.io/exportTo'] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const service: ServiceModel = Object.freeze({
      hostname: `${svc.metadata.name}.${ns}.svc.${this.mesh.domainSuffix}`,
      namespace: ns, name: svc.metadata.name, source: 'kubernetes', ports,
      addresses: typeof clusterIP === 'string' && clusterIP !== 'None' && clusterIP !== '' ? [clusterIP] : [],
      exportTo, resolution: 'eds', meshExternal: false, labels: svc.metadata.labels ?? {},
    });
    const endpoints: EndpointModel[] = [];
    for (const slice of slices) {
      const slicePorts: Record<string, number> = {};
      for (const p of ((slice as any).ports ?? []) as any[]) slicePorts[p.name ?? ''] = Number(p.port);
      for (const e of ((slice as any).endpoints ?? []) as any[]) {
        const pod = e.targetRef?.kind === 'Pod' ? pods.get(`${ns}/${e.targetRef.name}`) : podsByIp.get(e.addresses?.[0]);
        for (const address of (e.addresses ?? []) as string[]) {
          endpoints.push(this.endpoint(address, slicePorts, pod?.metadata.labels ?? {}, e.zone ? `/${e.zone}` : '',
            1, '', pod ? this.spiffe(ns, (pod as any).spec?.serviceAccountName ?? 'default') : '', e.conditions?.ready !== false));
        }
      }
    }
    for (const we of wes) endpoints.push(this.workloadEntryEndpoint(we, ports));
    endpoints.sort((a, b) => a.address.localeCompare(b.address));
    return Object.freeze({ service, endpoints: Object.freeze(endpoints) });
  }

  private serviceEntry(se: K8sObject, host: string, wes: K8sObject[]): ServiceEntryInput {
    const ns = se.metadata.namespace ?? 'default';
    const spec = se.spec ?? {};
    const ports: ServicePort[] = ((spec.ports ?? []) as any[]).map((p) => Object.freeze({
      name: p.name ?? '', port: Number(p.number), protocol: protocolFromPort(p.name, undefined, p.protocol), targetPort: Number(p.targetPort ?? p.number),
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
