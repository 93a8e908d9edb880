/**
 * The security policy of one proxy's inbound side, per target port: the seam between the inbound
 * listener builder (sidecar-inbound.ts) and the security generators of issue 9
 * (PeerAuthentication, RequestAuthentication, AuthorizationPolicy). Pure; reads the snapshot through
 * SnapshotView (dependency-tracked) and only the GenContext fields the sidecar LDS key holds
 * (namespace, labels — restricted to the selector keys security policies read).
 */
import { SnapshotView } from '../../../shared/snapshot/snapshot-view';
import { GenContext } from '../../../shared/generation';

type Obj = Record<string, unknown>;

export interface InboundPolicy {
  /** HTTP filters placed before the HCM's own filters (Istio order: jwt_authn, then rbac) */
  httpFilters(targetPort: number): Obj[];
  /** network filters placed before tcp_proxy (rbac) */
  networkFilters(targetPort: number): Obj[];
}

export function inboundPolicy(_snap: SnapshotView, _ctx: Partial<GenContext>): InboundPolicy {
  return { httpFilters: () => [], networkFilters: () => [] };
}
