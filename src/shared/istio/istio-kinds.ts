/**
 * The Istio custom resources as Istio's CRDs serve them (the webhooks answer for all of them; Kubernetes mode watches the ones the model reads)
 * (manifests/charts/base/files/crd-all.gen.yaml; REFERENCE.md §8): group, kind, plural resource
 * name and served versions. All served versions of a kind share one schema, which is why
 * conversion between them is only the apiVersion change.
 *
 * This is wider than the model's KINDS (src/shared/model/objects.ts): the webhook must recognise
 * every Istio kind, including the ones istiod-ts does not consume yet (security, telemetry,
 * EnvoyFilter, ...), so that it admits them instead of calling them "unrecognized".
 */

export interface IstioKind {
  readonly group: string;
  readonly kind: string;
  /** lower-case plural, as in AdmissionRequest.resource.resource */
  readonly resource: string;
  /** served versions, storage version first */
  readonly versions: readonly string[];
}

const NET = 'networking.istio.io';
const SEC = 'security.istio.io';
const TEL = 'telemetry.istio.io';
const EXT = 'extensions.istio.io';
const NET_VERSIONS = ['v1', 'v1beta1', 'v1alpha3'] as const;

export const ISTIO_KINDS: readonly IstioKind[] = [
  { group: NET, kind: 'DestinationRule', resource: 'destinationrules', versions: NET_VERSIONS },
  { group: NET, kind: 'EnvoyFilter', resource: 'envoyfilters', versions: ['v1alpha3'] },
  { group: NET, kind: 'Gateway', resource: 'gateways', versions: NET_VERSIONS },
  { group: NET, kind: 'ProxyConfig', resource: 'proxyconfigs', versions: ['v1beta1'] },
  { group: NET, kind: 'ServiceEntry', resource: 'serviceentries', versions: NET_VERSIONS },
  { group: NET, kind: 'Sidecar', resource: 'sidecars', versions: NET_VERSIONS },
  { group: NET, kind: 'VirtualService', resource: 'virtualservices', versions: NET_VERSIONS },
  { group: NET, kind: 'WorkloadEntry', resource: 'workloadentries', versions: NET_VERSIONS },
  { group: NET, kind: 'WorkloadGroup', resource: 'workloadgroups', versions: NET_VERSIONS },
  { group: SEC, kind: 'AuthorizationPolicy', resource: 'authorizationpolicies', versions: ['v1', 'v1beta1'] },
  { group: SEC, kind: 'PeerAuthentication', resource: 'peerauthentications', versions: ['v1', 'v1beta1'] },
  { group: SEC, kind: 'RequestAuthentication', resource: 'requestauthentications', versions: ['v1', 'v1beta1'] },
  { group: TEL, kind: 'Telemetry', resource: 'telemetries', versions: ['v1', 'v1alpha1'] },
  { group: EXT, kind: 'WasmPlugin', resource: 'wasmplugins', versions: ['v1alpha1'] },
];

/** The API groups the validating webhook is registered for (Istio's webhook rules). */
export const ISTIO_GROUPS: ReadonlySet<string> = new Set([NET, SEC, TEL, EXT]);

export function findIstioKind(group: string, kind: string): IstioKind | undefined {
  return ISTIO_KINDS.find((k) => k.group === group && k.kind === kind);
}

/** Kubernetes' GroupVersionKind.String(), which Istio prints in "unrecognized type" messages. */
export function gvkString(group: string, version: string, kind: string): string {
  return `${group === '' ? '' : `${group}/`}${version}, Kind=${kind}`;
}
