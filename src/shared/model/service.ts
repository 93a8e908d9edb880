/**
 * The service registry model: what generators know about services and endpoints, independent of
 * where they came from (Kubernetes Service + EndpointSlice + Pod, ServiceEntry, WorkloadEntry).
 * Values are immutable; the registry builder reuses the same object when nothing changed, which
 * is how the snapshot writer knows it may reuse an encoded segment.
 */
export type ServiceSource = 'kubernetes' | 'serviceentry';
/** How a service's clusters resolve (Istio's model.Resolution). */
export type Resolution = 'eds' | 'dns' | 'dns-round-robin' | 'passthrough';

export interface ServicePort {
  readonly name: string;
  readonly port: number;
  /** Istio protocol: HTTP, HTTP2, GRPC, TCP, TLS, HTTPS, MONGO, REDIS, MYSQL, UDP... */
  readonly protocol: string;
  readonly targetPort: number;
}

export interface ServiceModel {
  readonly hostname: string;
  readonly namespace: string;
  readonly name: string;
  readonly source: ServiceSource;
  readonly ports: readonly ServicePort[];
  readonly addresses: readonly string[];
  /** exportTo as written ('*', '.', '~' or namespace names); empty means the mesh default ('*'). */
  readonly exportTo: readonly string[];
  readonly resolution: Resolution;
  readonly meshExternal: boolean;
  readonly labels: Readonly<Record<string, string>>;
}

export interface EndpointModel {
  readonly address: string;
  /** service port name → endpoint port number */
  readonly ports: Readonly<Record<string, number>>;
  readonly labels: Readonly<Record<string, string>>;
  /** region/zone/subzone */
  readonly locality: string;
  readonly weight: number;
  readonly network: string;
  readonly serviceAccount: string;
  readonly healthy: boolean;
  /** 'istio' when the workload has a sidecar (security.istio.io/tlsMode label), else 'disabled' */
  readonly tlsMode: string;
}

/** A config object as generators see it: kind, identity and spec. */
export interface ConfigModel {
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly revision: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly spec: any;
}

export interface ServiceEntryInput {
  readonly service: ServiceModel;
  readonly endpoints: readonly EndpointModel[];
}

/**
 * A derived config the registry adds to every snapshot: the hosts of mesh VirtualServices that no
 * service in the registry answers for (Istio gives them virtual hosts on port 80). Generators read
 * this one small object instead of scanning every VirtualService, so an unrelated VirtualService edit
 * does not regenerate every proxy's port-80 routes. Reused while unchanged (identity = no change).
 */
export const SERVICELESS_HOSTS_KIND = 'ServicelessVirtualServiceHosts';
export const SERVICELESS_HOSTS_GROUP = 'istiod-ts.internal';
export interface ServicelessHost { readonly namespace: string; readonly name: string; readonly host: string }

/** Everything one snapshot version holds. Reused sub-objects mean reused segments. */
export interface SnapshotInput {
  readonly services: readonly ServiceEntryInput[];
  readonly configs: readonly ConfigModel[];
  readonly mesh: Readonly<Record<string, unknown>>;
}

/** Protocol of a port name/appProtocol the way Istio infers it ("http-web" → HTTP). */
export function protocolFromPort(name: string | undefined, appProtocol: string | undefined, declared: string | undefined): string {
  const norm = (p: string): string => {
    const u = p.toUpperCase();
    if (u === 'HTTP' || u === 'HTTP2' || u === 'GRPC' || u === 'GRPC-WEB' || u === 'HTTPS' || u === 'TLS' || u === 'TCP' || u === 'UDP' || u === 'MONGO' || u === 'REDIS' || u === 'MYSQL') return u;
    if (u === 'H2C' || u === 'KUBERNETES.IO/H2C') return 'HTTP2';
    return '';
  };
  if (appProtocol) { const p = norm(appProtocol); if (p) return p; }
  if (declared && declared.toUpperCase() !== 'TCP' && declared.toUpperCase() !== 'UDP' && declared.toUpperCase() !== 'SCTP') { const p = norm(declared); if (p) return p; }
  if (declared && declared.toUpperCase() === 'UDP') return 'UDP';
  if (name) {
    const prefix = name.split('-')[0]!;
    const p = norm(prefix);
    if (p) return p;
  }
  return 'TCP';
}
