/**
 * SPIFFE identities as Istio writes them (pkg/spiffe): `spiffe://<trustDomain>/ns/<ns>/sa/<sa>`.
 * Pure, no I/O.
 */

export interface WorkloadIdentity {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;
}

export const SPIFFE_SCHEME = 'spiffe://';

export function spiffeUri(id: WorkloadIdentity): string {
  return `${SPIFFE_SCHEME}${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}

/** Parse `spiffe://td/ns/NS/sa/SA`; undefined for anything else (other path shapes, empty parts). */
export function parseSpiffeUri(uri: string): WorkloadIdentity | undefined {
  if (!uri.startsWith(SPIFFE_SCHEME)) return undefined;
  const parts = uri.slice(SPIFFE_SCHEME.length).split('/');
  if (parts.length !== 5 || parts[1] !== 'ns' || parts[3] !== 'sa') return undefined;
  const [trustDomain, , namespace, , serviceAccount] = parts as [string, string, string, string, string];
  if (!trustDomain || !namespace || !serviceAccount) return undefined;
  return { trustDomain, namespace, serviceAccount };
}

/** Kubernetes names used in identities: DNS-1123 labels/subdomains (lowercase, digits, '-', '.'). */
const K8S_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
export function isKubernetesName(s: string): boolean {
  return s.length > 0 && s.length <= 253 && K8S_NAME.test(s);
}
