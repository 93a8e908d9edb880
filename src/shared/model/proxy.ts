/**
 * ProxyView: immutable facts about a connected proxy, parsed from its xDS Node the way Istio's
 * `ParseServiceNodeWithMetadata` does (pilot/pkg/model/context.go). No derived state lives here;
 * scope is computed from (snapshot version, proxy) elsewhere.
 *
 * Node ID format: `<type>~<ip>~<pod>.<ns>~<ns>.svc.<domain>` (exactly four `~`-separated parts).
 */
import { isIP } from 'node:net';
import { Result } from '../errors';

export type ProxyType = 'sidecar' | 'router';
/** Which generator family builds this proxy's config (node metadata GENERATOR). */
export type GeneratorKind = 'grpc' | 'sidecar' | 'router';

export interface Locality { region: string; zone: string; subZone: string }

export interface ProxyView {
  readonly id: string;
  readonly type: ProxyType;
  readonly ipAddresses: readonly string[];
  /** `<pod>.<ns>` part of the node ID */
  readonly podId: string;
  readonly podName: string;
  readonly dnsDomain: string;
  /** ConfigNamespace: metadata NAMESPACE, else the namespace from the node ID. */
  readonly namespace: string;
  readonly generator: GeneratorKind;
  readonly clusterId: string;
  readonly istioVersion: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly serviceAccount: string;
  readonly workloadName: string;
  readonly locality: Locality;
  /** INTERCEPTION_MODE metadata: REDIRECT (default), TPROXY or NONE (no iptables: no virtual listeners). */
  readonly interceptionMode: 'REDIRECT' | 'TPROXY' | 'NONE';
  /** Raw metadata for debug views; generators must not read it (it is not part of any key). */
  readonly metadata: Readonly<Record<string, unknown>>;
}

export interface NodeInput {
  id: string;
  cluster?: string;
  metadata?: Record<string, unknown>;
  locality?: { region?: string; zone?: string; sub_zone?: string };
}

const PROXY_TYPES = new Set(['sidecar', 'router']);

export function parseProxy(node: NodeInput): Result<ProxyView> {
  const parts = node.id.split('~');
  if (parts.length !== 4) {
    return { ok: false, errors: [`missing parts in the service node ${JSON.stringify(node.id)}: want <type>~<ip>~<pod>.<ns>~<ns>.svc.<domain>`] };
  }
  const [type, ip, podId, dnsDomain] = parts as [string, string, string, string];
  if (!PROXY_TYPES.has(type)) {
    return { ok: false, errors: [`invalid node type (valid types: sidecar, router) in the service node ${JSON.stringify(node.id)}`] };
  }
  const md = node.metadata ?? {};
  const str = (k: string): string => (typeof md[k] === 'string' ? (md[k] as string) : '');
  const instanceIps = str('INSTANCE_IPS').split(',').map((s) => s.trim()).filter(Boolean);
  const ips = instanceIps.length > 0 ? instanceIps : [ip];
  const bad = ips.find((a) => isIP(a) === 0);
  if (bad !== undefined) return { ok: false, errors: [`invalid IP address ${JSON.stringify(bad)} in the service node ${JSON.stringify(node.id)}`] };

  const dot = podId.indexOf('.');
  const podName = dot < 0 ? podId : podId.slice(0, dot);
  const idNamespace = dot < 0 ? '' : podId.slice(dot + 1);
  const namespace = str('NAMESPACE') || idNamespace || 'default';
  const genMeta = str('GENERATOR');
  const generator: GeneratorKind = genMeta === 'grpc' ? 'grpc' : type === 'router' ? 'router' : 'sidecar';
  const labels: Record<string, string> = {};
  const rawLabels = md['LABELS'];
  if (rawLabels && typeof rawLabels === 'object') {
    for (const [k, v] of Object.entries(rawLabels as Record<string, unknown>)) if (typeof v === 'string') labels[k] = v;
  }
  return {
    ok: true,
    value: Object.freeze({
      id: node.id,
      type: type as ProxyType,
      ipAddresses: Object.freeze(ips),
      podId,
      podName,
      dnsDomain,
      namespace,
      generator,
      clusterId: str('CLUSTER_ID') || node.cluster || 'Kubernetes',
      istioVersion: str('ISTIO_VERSION'),
      labels: Object.freeze(labels),
      serviceAccount: str('SERVICE_ACCOUNT'),
      workloadName: str('WORKLOAD_NAME') || podName,
      locality: {
        region: node.locality?.region ?? '',
        zone: node.locality?.zone ?? '',
        subZone: node.locality?.sub_zone ?? '',
      },
      interceptionMode: str('INTERCEPTION_MODE') === 'NONE' ? 'NONE' : str('INTERCEPTION_MODE') === 'TPROXY' ? 'TPROXY' : 'REDIRECT',
      metadata: Object.freeze({ ...md }),
    }),
  };
}
