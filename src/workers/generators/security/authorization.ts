/**
 * AuthorizationPolicy → Envoy RBAC filters for a workload's inbound side, after Istio's
 * pilot/pkg/security/authz/builder and model.AuthorizationPolicies:
 *
 * - Selection (ListAuthorizationPolicies): policies of the root namespace (mesh-wide) and of the
 *   workload's namespace, oldest first; a policy without `selector` (or with empty matchLabels)
 *   applies to every workload of its namespace (every workload of the mesh from the root
 *   namespace), otherwise its matchLabels must all equal the workload's labels. Policies with
 *   `targetRef`/`targetRefs` attach to gateways and waypoints only, never to sidecars, so they are
 *   skipped here.
 * - Filters, in Istio's order: CUSTOM (a shadow RBAC filter + ext_authz, authorization-extauthz.ts),
 *   then AUDIT (action LOG), DENY, ALLOW — one `envoy.filters.http.rbac` (HTTP chains) or
 *   `envoy.filters.network.rbac` (TCP chains, stat_prefix `tcp.`) per action present.
 * - Policy names `ns[<ns>]-policy[<name>]-rule[<i>]`; a policy without rules contributes one policy
 *   that matches nothing, so an ALLOW policy without rules (allow-nothing) denies everything and a
 *   DENY policy without rules denies nothing. An ALLOW filter whose every rule was dropped (HTTP
 *   fields on a TCP chain) keeps its empty policy map: Envoy then denies everything, as in Istio.
 *
 * Not modelled: the `istio.io/dry-run` annotation (shadow rules; ConfigModel carries no
 * annotations) and the root-namespace DENY split of PILOT_ENABLE_GATEWAY_API_HTTPROUTE_AUTHZ
 * (off by default in Istio). Pure; reads the snapshot through SnapshotView.
 */
import { SnapshotView } from '../../../shared/snapshot/snapshot-view';
import { ConfigModel } from '../../../shared/model/service';
import { ROOT_NAMESPACE } from '../types';
import { RbacAction } from './authorization-model';
import { buildRules, RBAC_HTTP_FILTER, RBAC_HTTP_TYPE, RBAC_NETWORK_FILTER, RBAC_NETWORK_TYPE, RBAC_TCP_STAT_PREFIX } from './authorization-rules';
import { customHttpFilters, customNetworkFilters } from './authorization-extauthz';

export { RBAC_HTTP_FILTER, RBAC_HTTP_TYPE, RBAC_NETWORK_FILTER, RBAC_NETWORK_TYPE, RBAC_TCP_STAT_PREFIX } from './authorization-rules';

type Obj = Record<string, unknown>;

/** The policies that apply to one workload, by action, each list oldest first (Istio AuthorizationPoliciesResult). */
export interface SelectedPolicies {
  custom: ConfigModel[];
  deny: ConfigModel[];
  allow: ConfigModel[];
  audit: ConfigModel[];
}

/** The workload an inbound policy is built for: its config namespace and (selector-key) labels. */
export interface AuthzWorkload {
  namespace: string;
  labels: Readonly<Record<string, string>>;
}

export function rootNamespace(snap: SnapshotView): string {
  const r = snap.mesh()['rootNamespace'];
  return typeof r === 'string' && r !== '' ? r : ROOT_NAMESPACE;
}

/** Istio sortConfigByCreationTime: creation time, then name, then namespace. */
function byCreation(a: ConfigModel, b: ConfigModel): number {
  const ta = a.created ? Date.parse(a.created) : 0;
  const tb = b.created ? Date.parse(b.created) : 0;
  return (ta - tb) || a.name.localeCompare(b.name) || a.namespace.localeCompare(b.namespace);
}

function selects(spec: Obj, labels: Readonly<Record<string, string>>): boolean {
  if (spec['targetRef'] || (Array.isArray(spec['targetRefs']) && spec['targetRefs'].length > 0)) return false;
  const ml = (spec['selector'] as Obj | undefined)?.['matchLabels'] as Record<string, string> | undefined;
  if (!ml || typeof ml !== 'object') return true;
  return Object.entries(ml).every(([k, v]) => labels[k] === v);
}

/** Istio ListAuthorizationPolicies for a sidecar or proxyless workload. */
export function selectPolicies(snap: SnapshotView, w: AuthzWorkload): SelectedPolicies {
  const out: SelectedPolicies = { custom: [], deny: [], allow: [], audit: [] };
  const all = snap.configs('AuthorizationPolicy');
  if (all.length === 0) return out;
  const root = rootNamespace(snap);
  for (const ns of [...new Set([root, w.namespace])]) {
    for (const p of all.filter((c) => c.namespace === ns).sort(byCreation)) {
      const spec = (p.spec ?? {}) as Obj;
      if (!selects(spec, w.labels)) continue;
      switch (spec['action'] ?? 'ALLOW') {
        case 'ALLOW': out.allow.push(p); break;
        case 'DENY': out.deny.push(p); break;
        case 'AUDIT': out.audit.push(p); break;
        case 'CUSTOM': out.custom.push(p); break;
        default: break; // validation rejects other actions
      }
    }
  }
  return out;
}

/** The mesh's trust domain followed by its aliases (Istio trustdomain.NewBundle). */
export function trustDomains(snap: SnapshotView): string[] {
  const mesh = snap.mesh();
  const td = typeof mesh['trustDomain'] === 'string' && mesh['trustDomain'] !== '' ? mesh['trustDomain'] : 'cluster.local';
  const aliases = Array.isArray(mesh['trustDomainAliases']) ? (mesh['trustDomainAliases'] as unknown[]).filter((x): x is string => typeof x === 'string') : [];
  return [td, ...aliases];
}

function rbacHttp(rules: Obj): Obj {
  return { name: RBAC_HTTP_FILTER, typed_config: { '@type': RBAC_HTTP_TYPE, rules } };
}

function rbacNetwork(rules: Obj): Obj {
  return { name: RBAC_NETWORK_FILTER, typed_config: { '@type': RBAC_NETWORK_TYPE, rules, stat_prefix: RBAC_TCP_STAT_PREFIX } };
}

const ACTIONS: ReadonlyArray<[keyof SelectedPolicies, RbacAction]> = [['audit', 'LOG'], ['deny', 'DENY'], ['allow', 'ALLOW']];

/**
 * The authorization filters of one workload, per chain kind. The caller (inbound-policy.ts)
 * places the HTTP ones after jwt_authn and before the HCM's own filters, the network ones before
 * tcp_proxy. Results are the same for every port of the workload (port conditions are matched by
 * Envoy through destination_port), so they are computed once.
 */
export interface AuthorizationFilters {
  http: Obj[];
  network: Obj[];
}

export function authorizationFilters(snap: SnapshotView, w: AuthzWorkload): AuthorizationFilters {
  const selected = selectPolicies(snap, w);
  if (selected.custom.length + selected.deny.length + selected.allow.length + selected.audit.length === 0) return { http: [], network: [] };
  const tds = trustDomains(snap);
  const http: Obj[] = customHttpFilters(snap, selected.custom, tds);
  const network: Obj[] = customNetworkFilters(snap, selected.custom, tds);
  for (const [key, action] of ACTIONS) {
    const h = buildRules(selected[key], action, tds, { forTCP: false });
    if (h) http.push(rbacHttp(h));
    const t = buildRules(selected[key], action, tds, { forTCP: true });
    if (t) network.push(rbacNetwork(t));
  }
  return { http, network };
}

/** gRPC's filter instance name for the DENY RBAC filter (Istio grpcgen RBACHTTPFilterNameDeny). */
export const GRPC_RBAC_DENY_FILTER = 'envoy.filters.http.rbac.DENY';

/**
 * Proxyless gRPC servers (Istio grpcgen buildInboundFilterChain): gRPC implements RBAC ALLOW and
 * DENY only (no LOG, no ext_authz), so AUDIT and CUSTOM policies are left out. A DENY filter
 * `envoy.filters.http.rbac.DENY` then an ALLOW filter `envoy.filters.http.rbac`, policies named
 * `<ns>-<name>-<i>`. Unlike grpcgen, which drops a filter without policies, the ALLOW filter is
 * kept whenever ALLOW policies apply (allow-nothing yields a never-matching policy, rules that
 * cannot be generated leave it empty), so an ALLOW policy never fails open: it denies as on Envoy.
 */
export function grpcAuthorizationFilters(snap: SnapshotView, w: AuthzWorkload): Obj[] {
  const selected = selectPolicies(snap, w);
  const tds = trustDomains(snap);
  const name = (p: ConfigModel, i: number): string => `${p.namespace}-${p.name}-${i}`;
  const out: Obj[] = [];
  const deny = buildRules(selected.deny, 'DENY', tds, { forTCP: false, name });
  if (deny && Object.keys(deny['policies'] as Obj).length > 0) out.push({ name: GRPC_RBAC_DENY_FILTER, typed_config: { '@type': RBAC_HTTP_TYPE, rules: deny } });
  const allow = buildRules(selected.allow, 'ALLOW', tds, { forTCP: false, name });
  if (allow) out.push(rbacHttp(allow));
  return out;
}
