/**
 * The resource table of the Kubernetes API test server (test/helpers/kube-apiserver.ts) and the
 * discovery documents built from it (/api, /api/v1, /apis, /apis/<group>/<version>).
 *
 * Every group+resource has ONE storage whatever the version it is read in, like a CRD with
 * `conversion: None`: the object is returned with the requested version's apiVersion.
 */

export interface ResourceDef {
  /** '' for the core group */
  group: string;
  /** served versions, in the order the table lists them */
  versions: string[];
  /** plural, as in the URL */
  resource: string;
  singular: string;
  kind: string;
  namespaced: boolean;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
  /** CustomResourceDefinition-backed: list items carry apiVersion/kind (unstructured lists) */
  crd: boolean;
  /** has a /status subresource */
  status: boolean;
  /** PUT without metadata.resourceVersion allowed (false: 422 "must be specified for an update") */
  unconditionalUpdate: boolean;
  /** DELETE answers with the object (true) or a Status Success (false) */
  deleteReturnsObject: boolean;
  /** metadata.generation: none, moved by changes outside metadata/status ('spec'), or by those and label changes ('spec+labels') */
  generation: 'none' | 'spec' | 'spec+labels';
}

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
/** custom resources list them in this order */
const CR_VERBS = ['delete', 'deletecollection', 'get', 'list', 'patch', 'create', 'update', 'watch'];

function def(group: string, versions: string[], kind: string, resource: string, namespaced: boolean, extra: Partial<ResourceDef> = {}): ResourceDef {
  return {
    group, versions, resource, singular: kind.toLowerCase(), kind, namespaced, verbs: ALL_VERBS, crd: false, status: false,
    unconditionalUpdate: true, deleteReturnsObject: false, generation: 'none', ...extra,
  };
}

const NET_VERSIONS = ['v1', 'v1beta1', 'v1alpha3'];
const istio = (group: string, versions: string[], kind: string, resource: string, shortNames?: string[]): ResourceDef =>
  def(group, versions, kind, resource, true, { crd: true, status: true, verbs: CR_VERBS, unconditionalUpdate: false, generation: 'spec', ...(shortNames ? { shortNames } : {}) });

/**
 * Per-resource behaviour (unconditional update, DELETE answer, generation, verbs) as observed on
 * kube-apiserver v1.37 (scripts/kube-apiserver).
 */
export const RESOURCES: ResourceDef[] = [
  def('', ['v1'], 'Namespace', 'namespaces', false, { shortNames: ['ns'], status: true, deleteReturnsObject: true, verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] }),
  def('', ['v1'], 'Service', 'services', true, { shortNames: ['svc'], status: true, deleteReturnsObject: true, categories: ['all'] }),
  def('', ['v1'], 'Endpoints', 'endpoints', true, { shortNames: ['ep'], singular: 'endpoints' }),
  def('', ['v1'], 'Pod', 'pods', true, { shortNames: ['po'], status: true, deleteReturnsObject: true, generation: 'spec', categories: ['all'] }),
  def('', ['v1'], 'Node', 'nodes', false, { shortNames: ['no'], status: true }),
  def('', ['v1'], 'Secret', 'secrets', true),
  def('', ['v1'], 'ConfigMap', 'configmaps', true, { shortNames: ['cm'] }),
  def('', ['v1'], 'ServiceAccount', 'serviceaccounts', true, { shortNames: ['sa'], deleteReturnsObject: true }),
  def('', ['v1'], 'Event', 'events', true, { shortNames: ['ev'] }),
  def('discovery.k8s.io', ['v1'], 'EndpointSlice', 'endpointslices', true, { generation: 'spec+labels' }),
  def('coordination.k8s.io', ['v1'], 'Lease', 'leases', true, { unconditionalUpdate: false }),
  def('admissionregistration.k8s.io', ['v1'], 'ValidatingWebhookConfiguration', 'validatingwebhookconfigurations', false, { categories: ['api-extensions'], unconditionalUpdate: false, generation: 'spec' }),
  def('admissionregistration.k8s.io', ['v1'], 'MutatingWebhookConfiguration', 'mutatingwebhookconfigurations', false, { categories: ['api-extensions'], unconditionalUpdate: false, generation: 'spec' }),
  def('apiextensions.k8s.io', ['v1'], 'CustomResourceDefinition', 'customresourcedefinitions', false, { shortNames: ['crd', 'crds'], categories: ['api-extensions'], status: true, unconditionalUpdate: false, deleteReturnsObject: true, generation: 'spec' }),
  def('authentication.k8s.io', ['v1'], 'TokenReview', 'tokenreviews', false, { verbs: ['create'] }),
  def('rbac.authorization.k8s.io', ['v1'], 'ClusterRole', 'clusterroles', false),
  def('rbac.authorization.k8s.io', ['v1'], 'ClusterRoleBinding', 'clusterrolebindings', false),
  def('rbac.authorization.k8s.io', ['v1'], 'Role', 'roles', true),
  def('rbac.authorization.k8s.io', ['v1'], 'RoleBinding', 'rolebindings', true),
  istio('networking.istio.io', NET_VERSIONS, 'VirtualService', 'virtualservices', ['vs']),
  istio('networking.istio.io', NET_VERSIONS, 'DestinationRule', 'destinationrules', ['dr']),
  istio('networking.istio.io', NET_VERSIONS, 'Gateway', 'gateways', ['gw']),
  istio('networking.istio.io', NET_VERSIONS, 'ServiceEntry', 'serviceentries', ['se']),
  istio('networking.istio.io', NET_VERSIONS, 'Sidecar', 'sidecars'),
  istio('networking.istio.io', NET_VERSIONS, 'WorkloadEntry', 'workloadentries', ['we']),
  istio('networking.istio.io', NET_VERSIONS, 'WorkloadGroup', 'workloadgroups', ['wg']),
  istio('networking.istio.io', ['v1alpha3'], 'EnvoyFilter', 'envoyfilters'),
  istio('networking.istio.io', ['v1beta1'], 'ProxyConfig', 'proxyconfigs'),
  istio('security.istio.io', ['v1', 'v1beta1'], 'PeerAuthentication', 'peerauthentications', ['pa']),
  istio('security.istio.io', ['v1', 'v1beta1'], 'AuthorizationPolicy', 'authorizationpolicies', ['ap']),
  istio('security.istio.io', ['v1', 'v1beta1'], 'RequestAuthentication', 'requestauthentications', ['ra']),
  istio('telemetry.istio.io', ['v1', 'v1alpha1'], 'Telemetry', 'telemetries', ['telemetry']),
  istio('extensions.istio.io', ['v1alpha1'], 'WasmPlugin', 'wasmplugins'),
];

/** group/resource → definition */
export function storeKey(d: Pick<ResourceDef, 'group' | 'resource'>): string {
  return `${d.group}/${d.resource}`;
}

export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const i = apiVersion.indexOf('/');
  return i < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

export function apiVersionOf(group: string, version: string): string {
  return group ? `${group}/${version}` : version;
}

/** Which resource versions a server serves (all by default; see KubeTestServerOptions.omitResources). */
export type Served = (d: ResourceDef, version: string) => boolean;
export const SERVE_ALL: Served = () => true;

/**
 * A Served predicate leaving out `omit` entries: `group` (the whole group, e.g. an Istio group
 * whose CRDs are not installed), `group/resource` (every version) or `group/version/resource`.
 * The core group is written `core`.
 */
export function servedExcept(omit: readonly string[]): Served {
  if (omit.length === 0) return SERVE_ALL;
  const g = (d: ResourceDef) => d.group || 'core';
  return (d, version) => !omit.some((o) => o === g(d) || o === `${g(d)}/${d.resource}` || o === `${g(d)}/${version}/${d.resource}`);
}

/** The resource for a URL segment in a group/version, or undefined. */
export function findByResource(group: string, version: string, resource: string, served: Served = SERVE_ALL): ResourceDef | undefined {
  return RESOURCES.find((d) => d.group === group && d.resource === resource && d.versions.includes(version) && served(d, version));
}

/** Versions of `group` served, highest priority first. */
export function groupVersions(group: string, served: Served = SERVE_ALL): string[] {
  const set = new Set<string>();
  for (const d of RESOURCES) if (d.group === group) d.versions.filter((v) => served(d, v)).forEach((v) => set.add(v));
  return [...set].sort(compareVersions);
}

/** The resource for apiVersion + kind; throws a clear error when the server does not serve it. */
export function findByKind(apiVersion: string, kind: string): ResourceDef {
  const { group, version } = splitApiVersion(apiVersion ?? '');
  const d = RESOURCES.find((r) => r.group === group && r.kind === kind);
  if (!d) throw new Error(`kube test server: no resource for kind ${JSON.stringify(kind)} in group ${JSON.stringify(group)} (apiVersion ${JSON.stringify(apiVersion)})`);
  if (!d.versions.includes(version)) throw new Error(`kube test server: ${kind} is not served in ${apiVersion} (served: ${d.versions.map((v) => apiVersionOf(group, v)).join(', ')})`);
  return d;
}

/** `services` or `leases.coordination.k8s.io`, as in API-server messages. */
export function qualifiedResource(d: ResourceDef): string {
  return d.group ? `${d.resource}.${d.group}` : d.resource;
}

/** Kubernetes version priority: GA > beta > alpha, then higher number first (v1 > v1beta2 > v1beta1 > v1alpha3). */
export function compareVersions(a: string, b: string): number {
  const rank = (v: string): [number, number, number] => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return [0, 0, 0];
    const stage = m[2] === 'alpha' ? 1 : m[2] === 'beta' ? 2 : 3;
    return [stage, Number(m[1]), Number(m[3] ?? 0)];
  };
  const [ra, rb] = [rank(a), rank(b)];
  for (let i = 0; i < 3; i++) if (ra[i] !== rb[i]) return rb[i] - ra[i];
  return 0;
}

export function apiVersions(serverAddress: string): object {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

export function apiGroupList(served: Served = SERVE_ALL): object {
  const groups = [...new Set(RESOURCES.map((d) => d.group).filter((g) => g !== '' && groupVersions(g, served).length > 0))];
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: groups.map((name) => {
      const versions = groupVersions(name, served).map((version) => ({ groupVersion: `${name}/${version}`, version }));
      return { name, versions, preferredVersion: versions[0] };
    }),
  };
}

/** APIResourceList for a group/version, or undefined when the server does not serve it. */
export function apiResourceList(group: string, version: string, served: Served = SERVE_ALL): object | undefined {
  const defs = RESOURCES.filter((d) => d.group === group && d.versions.includes(version) && served(d, version));
  if (defs.length === 0) return undefined;
  const resources: object[] = [];
  for (const d of defs) {
    resources.push({
      name: d.resource,
      singularName: d.singular,
      namespaced: d.namespaced,
      kind: d.kind,
      verbs: d.verbs,
      ...(d.shortNames ? { shortNames: d.shortNames } : {}),
      ...(d.crd ? { categories: ['istio-io', `${group.split('.')[0]}-istio-io`] } : d.categories ? { categories: d.categories } : {}),
    });
    if (d.status) resources.push({ name: `${d.resource}/status`, singularName: '', namespaced: d.namespaced, kind: d.kind, verbs: ['get', 'patch', 'update'] });
    if (d.resource === 'serviceaccounts') {
      resources.push({ name: 'serviceaccounts/token', singularName: '', namespaced: true, group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest', verbs: ['create'] });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf(group, version), resources };
}
