/**
 * The security policy of one proxy's inbound side, per target port: the seam between the inbound
 * listener builder (sidecar-inbound.ts) and the security generators of issue 9
 * (PeerAuthentication, RequestAuthentication, AuthorizationPolicy). Pure; reads the snapshot through
 * SnapshotView (dependency-tracked) and only the GenContext fields the sidecar LDS key holds
 * (namespace, labels — restricted to the selector keys security policies read).
 */
import { SnapshotView } from '../../../shared/snapshot/snapshot-view';
import { GenContext } from '../../../shared/generation';
import { MtlsMode, peerAuthenticationPolicy } from './peer-authentication';
import { jwtAuthnFilter } from './request-authentication';
import { authorizationFilters } from './authorization';

type Obj = Record<string, unknown>;

export interface InboundPolicy {
  /** HTTP filters placed before the HCM's own filters (Istio order: jwt_authn, then rbac) */
  httpFilters(targetPort: number): Obj[];
  /** network filters placed before tcp_proxy (rbac) */
  networkFilters(targetPort: number): Obj[];
  /** PeerAuthentication mode of a target port (0: the passthrough chains); mtlsPorts: ports with a port-level mode */
  mtls(targetPort: number): MtlsMode;
  mtlsPorts(): number[];
}

export function inboundPolicy(_snap: SnapshotView, _ctx: Partial<GenContext>): InboundPolicy {
  // RequestAuthentication: one jwt_authn filter for every HTTP port, first (Istio: JwtFilter(false) for sidecars)
  const jwt = jwtAuthnFilter(_snap, _ctx.namespace ?? '', _ctx.labels ?? {});
  // PeerAuthentication: the mTLS mode per target port (shapes the inbound chains in sidecar-inbound.ts)
  const peer = peerAuthenticationPolicy(_snap, _ctx.namespace ?? '', _ctx.labels ?? {});
  // AuthorizationPolicy: CUSTOM (rbac shadow + ext_authz), AUDIT, DENY, ALLOW rbac filters after jwt_authn; network rbac before tcp_proxy
  const authz = authorizationFilters(_snap, { namespace: _ctx.namespace ?? '', labels: _ctx.labels ?? {} });
  return { httpFilters: () => [...(jwt ? [jwt] : []), ...authz.http], networkFilters: () => [...authz.network], mtls: peer.mtls, mtlsPorts: peer.portLevelPorts };
}
