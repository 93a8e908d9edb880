/**
 * The RBAC `rules` of one action's AuthorizationPolicies (Istio Builder.build): one Envoy RBAC
 * policy per rule, named `ns[<ns>]-policy[<name>]-rule[<i>]` (a prefix for CUSTOM, another scheme
 * for proxyless gRPC); a policy without rules contributes one never-matching policy; rules that
 * cannot be generated are skipped (see authorization-model.ts). Shared by the RBAC filters
 * (authorization.ts) and the CUSTOM shadow rules (authorization-extauthz.ts). Pure.
 */
import { ConfigModel } from '../../../shared/model/service';
import { generatePolicy, MATCH_NEVER, migrateTrustDomain, RbacAction, ruleModel } from './authorization-model';

type Obj = Record<string, unknown>;

export const RBAC_HTTP_FILTER = 'envoy.filters.http.rbac';
export const RBAC_NETWORK_FILTER = 'envoy.filters.network.rbac';
export const RBAC_HTTP_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
export const RBAC_NETWORK_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC';
/** Istio authzmodel.RBACTCPFilterStatPrefix */
export const RBAC_TCP_STAT_PREFIX = 'tcp.';

export function policyName(p: ConfigModel, rule: number, prefix = ''): string {
  return `${prefix}ns[${p.namespace}]-policy[${p.name}]-rule[${rule}]`;
}

export interface BuildOptions {
  forTCP: boolean;
  /** CUSTOM policies: names carry the ext_authz match prefix */
  namePrefix?: string;
  /** the name of each policy (proxyless gRPC names them `<ns>-<name>-<i>`) */
  name?: (p: ConfigModel, rule: number) => string;
}

/**
 * Istio Builder.build: the RBAC `rules` (action + policies) of one action's policies, or undefined
 * when there are none. Rules that cannot be generated are skipped (see authorization-model.ts).
 */
export function buildRules(policies: readonly ConfigModel[], action: RbacAction, tds: readonly string[], opts: BuildOptions): Obj | undefined {
  if (policies.length === 0) return undefined;
  const out: Record<string, Obj> = {};
  const name = opts.name ?? ((p: ConfigModel, i: number) => policyName(p, i, opts.namePrefix));
  for (const p of policies) {
    const rules = (p.spec as Obj)?.['rules'];
    const list = Array.isArray(rules) ? rules : [];
    list.forEach((rule, i) => {
      if (!rule || typeof rule !== 'object') return;
      try {
        const m = ruleModel(rule as Obj, p.namespace);
        migrateTrustDomain(m, tds);
        out[name(p, i)] = generatePolicy(m, opts.forTCP, action);
      } catch {
        // skipped rule (Istio logs "skipped rule ... on TCP filter chain" / "skipped invalid rule")
      }
    });
    if (list.length === 0) out[name(p, 0)] = MATCH_NEVER;
  }
  return { action, policies: out };
}

