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
  /**
   * Sorted SPIFFE identities of the service's endpoints (Istio's Service.ServiceAccounts): the SANs
   * auto mTLS verifies. Filled by the registry; absent in hand-built test models (= none).
   */
  readonly serviceAccounts?: readonly string[];
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
  /** metadata.creationTimestamp (RFC 3339) when the object has one: Istio resolves conflicts oldest first */
  readonly created?: string;
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

/**
 * Istio's protocol.Unsupported: the protocol is not declared, so sidecars detect it per connection
 * (protocol sniffing: an HTTP filter chain selected by the http_inspector's ALPN, TCP otherwise).
 */
export const UNSUPPORTED_PROTOCOL = 'UnsupportedProtocol';

/** Istio protocol.Parse: a known protocol name (case-insensitive), or '' */
function parseProtocol(p: string): string {
  const u = p.toUpperCase();
  if (u === 'HTTP' || u === 'HTTP2' || u === 'GRPC' || u === 'GRPC-WEB' || u === 'HTTPS' || u === 'TLS' || u === 'TCP' || u === 'UDP' || u === 'MONGO' || u === 'REDIS' || u === 'MYSQL') return u;
  if (u === 'H2C' || u === 'KUBERNETES.IO/H2C') return 'HTTP2';
  if (u === 'KUBERNETES.IO/WS' || u === 'KUBERNETES.IO/WSS') return u.endsWith('WSS') ? 'HTTPS' : 'HTTP';
  return '';
}

/** Ports where Istio never sniffs an undeclared protocol (server-first: SMTP, DNS, MySQL, MongoDB). */
const WELL_KNOWN_TCP_PORTS = new Set([25, 53, 3306, 27017]);

/**
 * Protocol of a Kubernetes Service port the way Istio infers it (kube.ConvertProtocol): UDP from
 * the port's protocol; else appProtocol if set, else the port name's prefix ("http-web" → HTTP,
 * "grpc-web…" → GRPC-WEB); an unknown one is UNSUPPORTED_PROTOCOL (sniffed), except on well-known
 * server-first ports, which are TCP.
 */
export function protocolFromPort(name: string | undefined, appProtocol: string | undefined, declared: string | undefined, port?: number): string {
  if (declared && declared.toUpperCase() === 'UDP') return 'UDP';
  const label = appProtocol || name || '';
  if (label.toLowerCase().startsWith('grpc-web')) return 'GRPC-WEB';
  const dash = label.indexOf('-');
  const p = parseProtocol(dash >= 0 && !label.includes('/') ? label.slice(0, dash) : label);
  if (p) return p;
  return port !== undefined && WELL_KNOWN_TCP_PORTS.has(port) ? 'TCP' : UNSUPPORTED_PROTOCOL;
}

/** Protocol of a ServiceEntry port (Istio protocol.Parse of its `protocol`): unknown or unset → UNSUPPORTED_PROTOCOL. */
export function serviceEntryPortProtocol(declared: string | undefined): string {
  return parseProtocol(declared ?? '') || UNSUPPORTED_PROTOCOL;
}
