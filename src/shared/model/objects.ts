/**
 * The config objects the control plane consumes, in exactly the shapes a Kubernetes cluster has
 * (file mode reads the same YAML that `kubectl get -o yaml` prints). Pure types, no I/O.
 */

export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  resourceVersion?: string;
  generation?: number;
  uid?: string;
  creationTimestamp?: string;
}

/** Any Kubernetes-shaped object. `spec` is kind-specific and validated per kind. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: any;
  [field: string]: unknown;
}

/** A kind the model understands, identified by group + kind (version-independent, as Istio does). */
export interface KindInfo {
  group: string; // '' for core
  kind: string;
  versions: readonly string[];
  namespaced: boolean;
  /** true for kinds that feed the service registry (not Istio config). */
  registry: boolean;
}

const ISTIO_NET_VERSIONS = ['v1', 'v1beta1', 'v1alpha3'] as const;
const ISTIO_SECURITY_VERSIONS = ['v1', 'v1beta1'] as const;

/** Every kind file mode accepts. Kubernetes mode watches the same list. */
export const KINDS: readonly KindInfo[] = [
  { group: '', kind: 'Namespace', versions: ['v1'], namespaced: false, registry: true },
  { group: '', kind: 'Service', versions: ['v1'], namespaced: true, registry: true },
  { group: 'discovery.k8s.io', kind: 'EndpointSlice', versions: ['v1'], namespaced: true, registry: true },
  { group: '', kind: 'Pod', versions: ['v1'], namespaced: true, registry: true },
  { group: '', kind: 'ServiceAccount', versions: ['v1'], namespaced: true, registry: true },
  { group: '', kind: 'Node', versions: ['v1'], namespaced: false, registry: true },
  { group: 'networking.istio.io', kind: 'ServiceEntry', versions: ISTIO_NET_VERSIONS, namespaced: true, registry: true },
  { group: 'networking.istio.io', kind: 'WorkloadEntry', versions: ISTIO_NET_VERSIONS, namespaced: true, registry: true },
  { group: 'networking.istio.io', kind: 'WorkloadGroup', versions: ['v1', 'v1beta1', 'v1alpha3'], namespaced: true, registry: true },
  { group: 'networking.istio.io', kind: 'VirtualService', versions: ISTIO_NET_VERSIONS, namespaced: true, registry: false },
  { group: 'networking.istio.io', kind: 'DestinationRule', versions: ISTIO_NET_VERSIONS, namespaced: true, registry: false },
  { group: 'networking.istio.io', kind: 'Sidecar', versions: ISTIO_NET_VERSIONS, namespaced: true, registry: false },
  { group: 'networking.istio.io', kind: 'Gateway', versions: ISTIO_NET_VERSIONS, namespaced: true, registry: false },
  { group: 'security.istio.io', kind: 'PeerAuthentication', versions: ISTIO_SECURITY_VERSIONS, namespaced: true, registry: false },
  { group: 'security.istio.io', kind: 'AuthorizationPolicy', versions: ISTIO_SECURITY_VERSIONS, namespaced: true, registry: false },
  { group: 'security.istio.io', kind: 'RequestAuthentication', versions: ISTIO_SECURITY_VERSIONS, namespaced: true, registry: false },
  /** gateway credentials (credentialName): kubernetes.io/tls, or generic with cert/key/cacert keys */
  { group: '', kind: 'Secret', versions: ['v1'], namespaced: true, registry: false },
];

/** Split `apiVersion` into group and version ("v1" → core group). */
export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

export function findKind(apiVersion: string, kind: string): KindInfo | undefined {
  const { group } = splitApiVersion(apiVersion);
  return KINDS.find((k) => k.group === group && k.kind === kind);
}

/** Stable identity of an object: `group/Kind/namespace/name` (namespace empty for cluster-scoped). */
export type ObjectKey = string;

export function objectKey(group: string, kind: string, namespace: string | undefined, name: string): ObjectKey {
  return `${group}/${kind}/${namespace ?? ''}/${name}`;
}

export function keyOf(obj: K8sObject): ObjectKey {
  return objectKey(splitApiVersion(obj.apiVersion).group, obj.kind, obj.metadata.namespace, obj.metadata.name);
}
