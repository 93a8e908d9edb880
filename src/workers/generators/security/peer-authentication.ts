/**
 * PeerAuthentication → the mTLS mode of a workload's ports, and the downstream TLS context Istio
 * puts on inbound mTLS filter chains (pilot/pkg/security/authn policy_applier.go
 * ComposePeerAuthentication, model/authentication.go, authn/utils BuildInboundTLS,
 * security/model ApplyToCommonTLSContext).
 *
 * Effective mode for a workload (namespace + labels) and target port:
 * - candidates: PeerAuthentications of the root namespace without selector (mesh-wide), of the
 *   workload's namespace without selector (namespace-wide), and of the workload's namespace whose
 *   selector.matchLabels are all on the workload (workload-level; root-namespace policies with a
 *   selector are ignored, as Istio does);
 * - at each level the oldest wins (creationTimestamp, then name);
 * - mesh, then namespace, then workload replace the mode unless theirs is UNSET (inherit);
 *   nothing at all is PERMISSIVE;
 * - the workload policy's portLevelMtls (keyed by the workload's target port) overrides per port;
 *   an UNSET port entry takes the workload-level result.
 *
 * Pure: reads PeerAuthentication configs and the mesh config through the SnapshotView.
 */
import { SnapshotView } from '../../../shared/snapshot/snapshot-view';
import { ConfigModel } from '../../../shared/model/service';
import { agentSdsSecret } from '../clusters';
import { ROOT_NAMESPACE } from '../types';

type Obj = Record<string, any>;

export type MtlsMode = 'DISABLE' | 'PERMISSIVE' | 'STRICT';

/** Istio MergedPeerAuthentication: the workload's mode and its per-target-port overrides. */
export interface MergedPeerAuthentication {
  readonly mode: MtlsMode;
  readonly perPort: ReadonlyMap<number, MtlsMode>;
}

export const PEER_AUTHENTICATION_KIND = 'PeerAuthentication';
/** The label Kubernetes pods with a sidecar carry (injector); EndpointModel.tlsMode is its value. */
export const TLS_MODE_LABEL = 'security.istio.io/tlsMode';

const DOWNSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';

/** Istio authn_utils SupportedCiphers: the sidecar's inbound mTLS cipher suites. */
export const SUPPORTED_CIPHERS = [
  'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256', 'AES256-GCM-SHA384', 'AES128-GCM-SHA256',
];

/** ALPNs of Istio's filter chain matches (core/listener.go). */
export const MTLS_HTTP_ALPNS = ['istio-http/1.0', 'istio-http/1.1', 'istio-h2'];
export const MTLS_TCP_WITH_MXC_ALPNS = ['istio-peer-exchange', 'istio'];
export const ALL_ISTIO_MTLS_ALPNS = ['istio', 'istio-peer-exchange', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2'];

export function rootNamespaceOf(snap: SnapshotView): string {
  return String((snap.mesh() as Obj)?.['rootNamespace'] ?? ROOT_NAMESPACE);
}

/** Istio ConvertToMutualTLSMode; undefined for UNSET (inherit) or anything unknown. */
function modeOf(mtls: unknown): MtlsMode | undefined {
  const m = (mtls as Obj | undefined)?.['mode'];
  return m === 'DISABLE' || m === 'PERMISSIVE' || m === 'STRICT' ? m : undefined;
}

function selectorOf(pa: ConfigModel): Readonly<Record<string, string>> | undefined {
  const labels = pa.spec?.selector?.matchLabels;
  return labels && typeof labels === 'object' && Object.keys(labels).length > 0 ? labels : undefined;
}

/** sortConfigByCreationTime: oldest first, then by name, then namespace. */
function olderFirst(a: ConfigModel, b: ConfigModel): number {
  return (a.created ?? '').localeCompare(b.created ?? '') || a.name.localeCompare(b.name) || a.namespace.localeCompare(b.namespace);
}

function oldest(list: ConfigModel[]): ConfigModel | undefined {
  return list.length === 0 ? undefined : [...list].sort(olderFirst)[0];
}

/** The mesh-wide and namespace-wide policies (no selector) that apply in `namespace`. */
function widePolicies(snap: SnapshotView, namespace: string): { mesh?: ConfigModel; ns?: ConfigModel } {
  const root = rootNamespaceOf(snap);
  const all = snap.configs(PEER_AUTHENTICATION_KIND).filter((c) => !selectorOf(c));
  return {
    mesh: oldest(all.filter((c) => c.namespace === root)),
    ns: namespace === root ? undefined : oldest(all.filter((c) => c.namespace === namespace)),
  };
}

/** Istio ComposePeerAuthentication for a workload (its namespace and labels). */
export function composePeerAuthentication(snap: SnapshotView, namespace: string, labels: Readonly<Record<string, string>>): MergedPeerAuthentication {
  const root = rootNamespaceOf(snap);
  const { mesh, ns } = widePolicies(snap, namespace);
  const workload = namespace === root ? undefined : oldest(snap.configs(PEER_AUTHENTICATION_KIND).filter((c) => {
    const sel = c.namespace === namespace ? selectorOf(c) : undefined;
    return !!sel && Object.entries(sel).every(([k, v]) => labels[k] === v);
  }));
  let mode: MtlsMode = 'PERMISSIVE';
  for (const c of [mesh, ns, workload]) mode = modeOf(c?.spec?.mtls) ?? mode;
  const perPort = new Map<number, MtlsMode>();
  for (const [port, mtls] of Object.entries((workload?.spec?.portLevelMtls ?? {}) as Record<string, unknown>)) {
    const n = Number(port);
    if (Number.isInteger(n) && n > 0) perPort.set(n, modeOf(mtls) ?? mode);
  }
  return { mode, perPort };
}

/** Istio GetMutualTLSModeForPort. */
export function mtlsModeForPort(merged: MergedPeerAuthentication, targetPort: number): MtlsMode {
  return merged.perPort.get(targetPort) ?? merged.mode;
}

/**
 * Istio AuthenticationPolicies.GetNamespaceMutualTLSMode: the namespace-wide policy's mode (UNSET
 * inherits the mesh's, or PERMISSIVE), else the mesh-wide one's (UNSET is PERMISSIVE), else
 * undefined (no policy: Istio's MTLSUnknown).
 */
export function namespaceMtlsMode(snap: SnapshotView, namespace: string): MtlsMode | undefined {
  const { mesh, ns } = widePolicies(snap, namespace);
  const meshMode = mesh ? (modeOf(mesh.spec?.mtls) ?? 'PERMISSIVE') : undefined;
  if (ns) return modeOf(ns.spec?.mtls) ?? meshMode ?? 'PERMISSIVE';
  return meshMode;
}

/** Istio TrustDomainsForValidation: the mesh trust domain and its aliases, deduplicated. */
export function trustDomains(mesh: Readonly<Obj> | undefined): string[] {
  const tds = [String(mesh?.['trustDomain'] ?? 'cluster.local'), ...((mesh?.['trustDomainAliases'] ?? []) as unknown[]).map(String)];
  return [...new Set(tds.filter((t) => t !== ''))];
}

/** MeshConfig.meshMTLS.minProtocolVersion (GetMinTLSVersion: TLSV1_3, else TLS 1.2). */
function minTlsVersion(mesh: Readonly<Obj> | undefined): string {
  return mesh?.['meshMTLS']?.['minProtocolVersion'] === 'TLSV1_3' ? 'TLSv1_3' : 'TLSv1_2';
}

/**
 * Istio BuildInboundTLS for STRICT/PERMISSIVE, wrapped as a transport socket: client certificate
 * required, the workload certificate `default` and the root `ROOTCA` from the agent's SDS, peers
 * of the mesh's trust domains (SAN prefix spiffe://<td>/); ALPN h2/http1.1 (HTTP chains) or with
 * istio-peer-exchange first (TCP chains, metadata exchange on).
 */
export function inboundMtlsTransportSocket(mesh: Readonly<Obj> | undefined, protocol: 'HTTP' | 'TCP'): Obj {
  const ciphers = (mesh?.['meshMTLS']?.['cipherSuites'] as string[] | undefined) ?? SUPPORTED_CIPHERS;
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': DOWNSTREAM_TLS_TYPE,
      common_tls_context: {
        tls_params: { tls_minimum_protocol_version: minTlsVersion(mesh), tls_maximum_protocol_version: 'TLSv1_3', cipher_suites: [...ciphers] },
        alpn_protocols: protocol === 'TCP' ? ['istio-peer-exchange', 'h2', 'http/1.1'] : ['h2', 'http/1.1'],
        tls_certificate_sds_secret_configs: [agentSdsSecret('default')],
        combined_validation_context: {
          default_validation_context: { match_subject_alt_names: trustDomains(mesh).map((td) => ({ prefix: `spiffe://${td}/` })) },
          validation_context_sds_secret_config: agentSdsSecret('ROOTCA'),
        },
      },
      require_client_certificate: { value: true },
    },
  };
}

/** The per-port mTLS view of one workload, for the inbound policy seam. */
export interface PeerAuthenticationPolicy {
  /** effective mode of a target port (0: the passthrough chains, never a port-level entry) */
  mtls(targetPort: number): MtlsMode;
  /** target ports with a port-level setting (Istio PortLevelSetting), sorted */
  portLevelPorts(): number[];
}

export function peerAuthenticationPolicy(snap: SnapshotView, namespace: string, labels: Readonly<Record<string, string>>): PeerAuthenticationPolicy {
  const merged = composePeerAuthentication(snap, namespace, labels);
  return {
    mtls: (p) => (p === 0 ? merged.mode : mtlsModeForPort(merged, p)),
    portLevelPorts: () => [...merged.perPort.keys()].sort((a, b) => a - b),
  };
}

// ---------------------------------------------------------------- filter chain match options

/** One inbound filter chain variant (Istio FilterChainMatchOptions). */
export interface ChainMatchOption {
  alpn?: readonly string[];
  transport: 'tls' | 'raw_buffer';
  protocol: 'HTTP' | 'TCP';
  /** terminate mTLS on this chain */
  tls: boolean;
}

const PLAINTEXT_HTTP = ['http/1.1', 'h2c'];
const opt = (protocol: 'HTTP' | 'TCP', transport: 'tls' | 'raw_buffer', tls: boolean, alpn?: readonly string[]): ChainMatchOption =>
  (alpn ? { alpn, transport, protocol, tls } : { transport, protocol, tls });

/**
 * Istio getFilterChainMatchOptions (filterchain_options.go): the chains of one port by its listener
 * class (HTTP, TCP, AUTO = sniffed) and mTLS mode. STRICT: mTLS only; PERMISSIVE: mTLS by Istio's
 * ALPNs plus plaintext (and, for TCP, plain TLS passed through); DISABLE: plaintext only.
 */
export function chainMatchOptions(cls: 'HTTP' | 'TCP' | 'AUTO', mode: MtlsMode): ChainMatchOption[] {
  if (cls === 'HTTP') {
    if (mode === 'STRICT') return [opt('HTTP', 'tls', true)];
    if (mode === 'PERMISSIVE') return [opt('HTTP', 'tls', true, ALL_ISTIO_MTLS_ALPNS), opt('HTTP', 'raw_buffer', false)];
    return [opt('HTTP', 'raw_buffer', false)];
  }
  if (cls === 'AUTO') {
    if (mode === 'STRICT') return [opt('HTTP', 'tls', true, MTLS_HTTP_ALPNS), opt('TCP', 'tls', true)];
    if (mode === 'PERMISSIVE') {
      return [
        opt('HTTP', 'tls', true, MTLS_HTTP_ALPNS), opt('HTTP', 'raw_buffer', false, PLAINTEXT_HTTP),
        opt('TCP', 'tls', true, MTLS_TCP_WITH_MXC_ALPNS), opt('TCP', 'raw_buffer', false), opt('TCP', 'tls', false),
      ];
    }
    return [opt('HTTP', 'raw_buffer', false, PLAINTEXT_HTTP), opt('TCP', 'raw_buffer', false)];
  }
  if (mode === 'STRICT') return [opt('TCP', 'tls', true)];
  if (mode === 'PERMISSIVE') return [opt('TCP', 'tls', true, ALL_ISTIO_MTLS_ALPNS), opt('TCP', 'raw_buffer', false), opt('TCP', 'tls', false)];
  return [opt('TCP', 'raw_buffer', false)];
}
