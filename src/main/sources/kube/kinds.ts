/**
 * What Kubernetes mode watches, and how each kind's objects are shaped before they reach the model
 * store. Pure apart from `discoverIstioKinds`, which asks the API server which Istio kinds it
 * serves and in which version.
 */
import { KubeClient, KubeObject, isStatus } from '../../kube/client';
import { K8sObject } from '../../../shared/model/objects';
import { ISTIO_KINDS as ISTIO_CRDS } from '../../../shared/istio/istio-kinds';

export interface WatchedKind {
  /** '' for core */
  group: string;
  kind: string;
  /** URL resource name */
  plural: string;
  namespaced: boolean;
  /** Istio custom resource: version chosen from discovery, validated like file mode */
  istio: boolean;
  /** fixed version of a built-in kind; Istio kinds: the versions we accept, newest first */
  versions: readonly string[];
  /** namespaced objects are kept only in namespaces selected by discoverySelectors */
  scoped: boolean;
  /** server-side filter for list and watch */
  fieldSelector?: string;
}

const core = (group: string, kind: string, plural: string, namespaced: boolean): WatchedKind =>
  ({ group, kind, plural, namespaced, istio: false, versions: ['v1'], scoped: namespaced });
const istio = (group: string, kind: string, plural: string, versions: readonly string[]): WatchedKind =>
  ({ group, kind, plural, namespaced: true, istio: true, versions, scoped: true });

/** Built-in kinds feeding the store (the mesh ConfigMap is watched separately and never stored). */
export const CORE_KINDS: readonly WatchedKind[] = [
  core('', 'Namespace', 'namespaces', false),
  core('', 'Service', 'services', true),
  core('discovery.k8s.io', 'EndpointSlice', 'endpointslices', true),
  core('', 'Pod', 'pods', true),
  core('', 'Node', 'nodes', false),
  // Istio's credentials controller skips these server-side (helm releases can be megabytes each)
  { ...core('', 'Secret', 'secrets', true), fieldSelector: 'type!=helm.sh/release.v1,type!=kubernetes.io/service-account-token' },
];

/** The Istio kinds the model (or a feature that reads the store) consumes; the rest of Istio's CRDs are not watched. */
const WATCHED_ISTIO_KINDS: ReadonlySet<string> = new Set([
  'VirtualService', 'DestinationRule', 'Gateway', 'ServiceEntry', 'Sidecar', 'WorkloadEntry', 'WorkloadGroup', 'EnvoyFilter',
  'PeerAuthentication', 'AuthorizationPolicy', 'RequestAuthentication', 'Telemetry',
]);

/** Every Istio kind the model (or a later feature) reads, with its served versions (newest first); skipped while its CRD is not installed. */
export const ISTIO_KINDS: readonly WatchedKind[] = ISTIO_CRDS
  .filter((k) => WATCHED_ISTIO_KINDS.has(k.kind))
  .map((k) => istio(k.group, k.kind, k.resource, k.versions));

/** `kube:networking.istio.io/VirtualService`, `kube:Pod`: the store origin of a kind. */
export function originOf(k: Pick<WatchedKind, 'group' | 'kind'>): string {
  return `kube:${k.group ? `${k.group}/` : ''}${k.kind}`;
}

export function apiVersionOf(group: string, version: string): string {
  return group ? `${group}/${version}` : version;
}

/** Collection path for a kind in a version (all namespaces). */
export function collectionPath(k: Pick<WatchedKind, 'group' | 'plural'>, version: string): string {
  return k.group ? `/apis/${k.group}/${version}/${k.plural}` : `/api/${version}/${k.plural}`;
}

// ---- discovery ----------------------------------------------------------------------------------

/** Version preference when the group's preferred version does not serve a kind (newest first). */
const VERSION_ORDER = ['v1', 'v1beta1', 'v1alpha3', 'v1alpha1'];

interface ApiGroup { name: string; versions?: Array<{ version: string }>; preferredVersion?: { version: string } }
interface ApiResourceList { resources?: Array<{ name: string; kind: string }> }

/**
 * For each Istio kind the API server serves: the version to watch. The group's preferred version
 * if it serves the kind (and we accept it), else the newest of v1 > v1beta1 > v1alpha3 > v1alpha1
 * that does. Kinds absent from the result are not installed. Rejects when discovery itself fails.
 */
export async function discoverIstioKinds(client: KubeClient, kinds: readonly WatchedKind[] = ISTIO_KINDS): Promise<Map<WatchedKind, string>> {
  const groups = await client.request<{ groups?: ApiGroup[] }>('GET', '/apis');
  const out = new Map<WatchedKind, string>();
  const byGroup = new Map<string, WatchedKind[]>();
  for (const k of kinds) byGroup.set(k.group, [...(byGroup.get(k.group) ?? []), k]);
  for (const [group, wanted] of byGroup) {
    const g = groups?.groups?.find((x) => x.name === group);
    if (!g) continue;
    const served = (g.versions ?? []).map((v) => v.version);
    const preferred = g.preferredVersion?.version;
    const order = [...new Set([...(preferred ? [preferred] : []), ...VERSION_ORDER.filter((v) => served.includes(v))])];
    const kindsByVersion = new Map<string, Set<string>>();
    for (const version of order) {
      let list: ApiResourceList;
      try {
        list = await client.request<ApiResourceList>('GET', `/apis/${group}/${version}`);
      } catch (err) {
        if (isStatus(err, 404)) continue; // version listed but gone meanwhile (CRD being changed)
        throw err;
      }
      kindsByVersion.set(version, new Set((list.resources ?? []).filter((r) => !r.name.includes('/')).map((r) => r.kind)));
    }
    for (const k of wanted) {
      const version = order.find((v) => k.versions.includes(v) && kindsByVersion.get(v)?.has(k.kind));
      if (version) out.set(k, version);
    }
  }
  return out;
}

// ---- shaping objects for the store ------------------------------------------------------------------

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** apiVersion/kind set (list items may lack them), managedFields and the last-applied annotation dropped. */
export function cleanObject(obj: KubeObject, apiVersion: string, kind: string): K8sObject {
  const { managedFields: _mf, ...metadata } = obj.metadata as KubeObject['metadata'] & { managedFields?: unknown };
  if (metadata.annotations && LAST_APPLIED in metadata.annotations) {
    const { [LAST_APPLIED]: _la, ...rest } = metadata.annotations;
    if (Object.keys(rest).length > 0) metadata.annotations = rest; else delete metadata.annotations;
  }
  return { ...obj, apiVersion, kind, metadata } as K8sObject;
}

/**
 * The fields of a Pod the model reads. Everything else (container statuses, probes' timestamps,
 * resourceVersion) churns without mattering, so two pods with equal projections are one store
 * object (Istio filters pod status churn the same way).
 */
export function projectPod(pod: K8sObject): K8sObject {
  const md = pod.metadata;
  const spec = (pod.spec ?? {}) as Record<string, unknown>;
  const status = ((pod as { status?: Record<string, unknown> }).status ?? {});
  const conditions = Array.isArray(status.conditions)
    ? (status.conditions as Array<Record<string, unknown>>).map((c) => ({ type: c?.type, status: c?.status }))
    : undefined;
  return {
    apiVersion: pod.apiVersion,
    kind: pod.kind,
    metadata: definedOnly({
      name: md.name, namespace: md.namespace, labels: md.labels, annotations: md.annotations,
      creationTimestamp: md.creationTimestamp,
    }) as unknown as K8sObject['metadata'],
    spec: definedOnly({ nodeName: spec.nodeName, serviceAccountName: spec.serviceAccountName }),
    status: definedOnly({ podIP: status.podIP, podIPs: status.podIPs, phase: status.phase, conditions }),
  };
}

/** A Node as the model reads it: name and labels (locality). Heartbeats never reach the store. */
export function projectNode(node: K8sObject): K8sObject {
  const md = node.metadata;
  return {
    apiVersion: node.apiVersion,
    kind: node.kind,
    metadata: definedOnly({ name: md.name, labels: md.labels, annotations: md.annotations, creationTimestamp: md.creationTimestamp }) as unknown as K8sObject['metadata'],
  };
}

/** Data keys of a gateway credential (Istio's credentials controller reads these). */
const CREDENTIAL_KEYS = ['tls.crt', 'tls.key', 'cert', 'key', 'cacert', 'ca.crt'];

/** Secrets worth keeping: TLS secrets and generic (Opaque) ones holding certificate or key data. */
export function isCredentialSecret(secret: KubeObject): boolean {
  const type = typeof secret.type === 'string' ? secret.type : 'Opaque';
  if (type === 'kubernetes.io/tls') return true;
  if (type !== 'Opaque') return false;
  const data = { ...((secret.data ?? {}) as object), ...((secret.stringData ?? {}) as object) };
  return CREDENTIAL_KEYS.some((k) => k in data);
}

function definedOnly(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}
