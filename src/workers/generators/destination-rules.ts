/**
 * Which DestinationRule applies to a service for a proxy, and the traffic policy it gives one
 * cluster, as Istio computes them (pilot/pkg/model push_context.go destinationRule,
 * destination_rule.go mergeDestinationRule, sidecar.go SidecarScope.DestinationRule,
 * networking/util MergeSubsetTrafficPolicy).
 *
 * Lookup order: DestinationRules of the proxy's namespace (those visible in it: exportTo empty,
 * `*`, `.` or the namespace itself), then the ones the service's namespace exports to the proxy,
 * then the ones the root namespace exports. Within a namespace the most specific host wins (exact
 * host, else the longest matching wildcard); several rules for that same host are merged (subsets
 * concatenated, the first top-level trafficPolicy kept). A rule with a workloadSelector applies
 * only to matching proxies of its own namespace; Istio orders those first and picks the first
 * whose selector matches, else the rule without a selector. Istio orders rules by creation time,
 * then name, then namespace; objects without a creationTimestamp sort after those with one.
 */
import { SnapshotView } from '../../shared/snapshot/snapshot-view';
import { ConfigModel, ServiceModel } from '../../shared/model/service';
import { hostMatches, resolveHost } from './hosts';
import { ROOT_NAMESPACE } from './types';

type Labels = Readonly<Record<string, string>>;

/** One consolidated rule: the merged spec of the DRs of one host in one namespace (per selector). */
interface Consolidated { dr: ConfigModel; selector: Labels | undefined; exportTo: readonly string[] }

function selectorOf(dr: ConfigModel): Labels | undefined {
  const ws = dr.spec?.workloadSelector;
  return ws ? (ws.matchLabels ?? {}) as Labels : undefined;
}

function exportToOf(dr: ConfigModel): readonly string[] {
  // destination rules with workloadSelector are not exported to other namespaces
  if (selectorOf(dr)) return ['.'];
  return (dr.spec?.exportTo ?? []) as string[];
}

function sameLabels(a: Labels | undefined, b: Labels | undefined): boolean {
  const ak = Object.keys(a ?? {}), bk = Object.keys(b ?? {});
  return ak.length === bk.length && ak.every((k) => a![k] === b?.[k]);
}

function subsetOfLabels(selector: Labels, labels: Labels | undefined): boolean {
  for (const [k, v] of Object.entries(selector)) if (labels?.[k] !== v) return false;
  return true;
}

/** Istio's mergeDestinationRule over rules of one host in one namespace, in Istio's order. */
function consolidate(drs: readonly ConfigModel[]): Consolidated[] {
  const sorted = [...drs].sort((a, b) => (selectorOf(a) ? 0 : 1) - (selectorOf(b) ? 0 : 1)
    || (a.created ?? '~').localeCompare(b.created ?? '~') || a.name.localeCompare(b.name) || a.namespace.localeCompare(b.namespace));
  const out: Consolidated[] = [];
  for (const dr of sorted) {
    const sel = selectorOf(dr);
    let add = true;
    for (let i = 0; i < out.length; i++) {
      const e = out[i]!;
      if (e.selector && sel && !sameLabels(e.selector, sel)) continue;
      if ((!e.selector && !sel) || (sel && sameLabels(e.selector, sel))) add = false;
      const spec = { ...e.dr.spec };
      const names = new Set(((spec.subsets ?? []) as any[]).map((s) => s?.name));
      spec.subsets = [...(spec.subsets ?? []), ...((dr.spec?.subsets ?? []) as any[]).filter((s) => !names.has(s?.name))];
      if (!spec.trafficPolicy && dr.spec?.trafficPolicy) spec.trafficPolicy = dr.spec.trafficPolicy;
      out[i] = { dr: Object.freeze({ ...e.dr, spec }), selector: e.selector, exportTo: e.exportTo.length > 0 ? e.exportTo : exportToOf(dr) };
    }
    if (add) out.push({ dr, selector: sel, exportTo: exportToOf(dr) });
  }
  return out;
}

/** SidecarScope.DestinationRule: the first rule whose selector matches the labels, else the catch-all. */
function pick(list: readonly Consolidated[], labels: Labels | undefined): ConfigModel | undefined {
  let catchAll: ConfigModel | undefined;
  for (const c of list) {
    if (!c.selector) { catchAll = c.dr; continue; }
    if (labels && subsetOfLabels(c.selector, labels)) return c.dr;
  }
  return catchAll;
}

/** The host group of `drs` most specific for `hostname`: exact host, else the longest matching wildcard. */
function mostSpecific(drs: readonly ConfigModel[], hostname: string): ConfigModel[] {
  let best = '';
  for (const dr of drs) {
    const h = resolveHost(String(dr.spec?.host ?? ''), dr.namespace);
    if (!hostMatches(h, hostname)) continue;
    if (h === hostname) { best = h; break; }
    if (best === '' || h.length > best.length || (h.length === best.length && h < best)) best = h;
  }
  return best === '' ? [] : drs.filter((dr) => resolveHost(String(dr.spec?.host ?? ''), dr.namespace) === best);
}

interface Index { root: string; meshDefault: readonly string[] }

function indexOf(snap: SnapshotView): Index {
  const mesh = snap.mesh() as Record<string, any>;
  const meshDefault = (mesh?.['defaultDestinationRuleExportTo'] ?? []) as string[];
  return { root: String(mesh?.['rootNamespace'] ?? ROOT_NAMESPACE), meshDefault };
}

/** In the namespace-local pool of its own namespace (Istio namespaceLocal). */
function isLocal(dr: ConfigModel): boolean {
  const e = exportToOf(dr);
  return e.length === 0 || e.includes('*') || e.includes('.') || e.includes(dr.namespace);
}

function isPrivateOnly(dr: ConfigModel, idx: Index): boolean {
  const e = exportToOf(dr);
  if (e.length === 0) return idx.meshDefault.includes('.');
  return e.length === 1 && (e[0] === '.' || e[0] === dr.namespace);
}

/** getExportedDestinationRuleFromNamespace: exported rules of `owner` for the host, if exported to `client`. */
function exportedFrom(all: readonly ConfigModel[], owner: string, hostname: string, client: string, idx: Index): Consolidated[] | undefined {
  const group = consolidate(mostSpecific(all.filter((dr) => dr.namespace === owner && !isPrivateOnly(dr, idx)), hostname));
  if (group.length === 0) return undefined;
  const exportTo = group[0]!.exportTo;
  const visible = exportTo.length === 0 || exportTo.includes('*') || exportTo.includes(client);
  return visible ? group : undefined;
}

/** Every consolidated rule Istio would consider for the service from `namespace` (before picking by labels). */
function candidatesFor(snap: SnapshotView, namespace: string, svc: ServiceModel): Consolidated[] {
  const all = snap.configsForHost('DestinationRule', svc.hostname);
  if (all.length === 0) return [];
  const idx = indexOf(snap);
  // 1. the proxy's namespace (for a proxy in the root namespace: its private rules only)
  const local = namespace !== idx.root
    ? all.filter((dr) => dr.namespace === namespace && isLocal(dr))
    : all.filter((dr) => dr.namespace === namespace && isPrivateOnly(dr, idx));
  const own = consolidate(mostSpecific(local, svc.hostname));
  if (own.length > 0) return own;
  // 2. the service's namespace, 3. the root namespace: rules they export to the proxy's namespace
  return exportedFrom(all, svc.namespace, svc.hostname, namespace, idx) ?? exportedFrom(all, idx.root, svc.hostname, namespace, idx) ?? [];
}

/**
 * The DestinationRule for `svc` as a proxy in `namespace` with (selector-relevant) `labels` sees
 * it. Without labels, rules with a workloadSelector never apply. The result may be a merged copy.
 */
export function destinationRuleFor(snap: SnapshotView, namespace: string, svc: ServiceModel, labels?: Labels): ConfigModel | undefined {
  return pick(candidatesFor(snap, namespace, svc), labels);
}

/**
 * For EDS, which is keyed by namespace (and locality) only, not by labels: the rule that defines
 * `subset`, preferring the catch-all rule, then rules with a workloadSelector in their order.
 */
export function destinationRuleWithSubset(snap: SnapshotView, namespace: string, svc: ServiceModel, subset: string): ConfigModel | undefined {
  const list = candidatesFor(snap, namespace, svc);
  const ordered = [...list.filter((c) => !c.selector), ...list.filter((c) => c.selector)];
  return ordered.find((c) => ((c.dr.spec?.subsets ?? []) as any[]).some((s) => s?.name === subset))?.dr;
}

// ---------------------------------------------------------------- traffic policy merge

/** The parts of a TrafficPolicy a cluster uses (plain Istio JSON). */
export interface TrafficPolicy {
  loadBalancer?: any;
  connectionPool?: any;
  outlierDetection?: any;
  tls?: any;
  tunnel?: any;
  proxyProtocol?: any;
  retryBudget?: any;
}

/**
 * GetPortLevelTrafficPolicy: a portLevelSettings entry for the port replaces the whole policy
 * (fields it omits take defaults, they are not inherited from the top level).
 */
function portLevel(policy: any, port: number): { policy: TrafficPolicy | undefined; hasPortLevel: boolean } {
  if (!policy) return { policy: undefined, hasPortLevel: false };
  const pls = ((policy.portLevelSettings ?? []) as any[]).find((p) => Number(p?.port?.number) === port);
  if (!pls) return { policy, hasPortLevel: false };
  const { loadBalancer, connectionPool, outlierDetection, tls } = pls;
  return { policy: { loadBalancer, connectionPool, outlierDetection, tls }, hasPortLevel: true };
}

/**
 * MergeSubsetTrafficPolicy: the DR's policy for the port, overridden field by field by the
 * subset's policy; a subset portLevelSettings entry for the port replaces all four parts.
 */
export function trafficPolicyFor(dr: ConfigModel | undefined, port: number, subset: string): TrafficPolicy | undefined {
  if (!dr) return undefined;
  const top = portLevel(dr.spec?.trafficPolicy, port).policy;
  const subsetPolicy = subset ? ((dr.spec?.subsets ?? []) as any[]).find((s) => s?.name === subset)?.trafficPolicy : undefined;
  if (!subsetPolicy) return top;
  const { policy: sp, hasPortLevel } = portLevel(subsetPolicy, port);
  if (!top) return sp;
  const merged: TrafficPolicy = { loadBalancer: top.loadBalancer, connectionPool: top.connectionPool, outlierDetection: top.outlierDetection, tls: top.tls, tunnel: top.tunnel, proxyProtocol: top.proxyProtocol, retryBudget: top.retryBudget };
  for (const f of ['connectionPool', 'outlierDetection', 'loadBalancer', 'tls'] as const) if (sp?.[f] !== undefined || hasPortLevel) merged[f] = sp?.[f];
  if (sp?.tunnel !== undefined) merged.tunnel = sp.tunnel;
  if (sp?.proxyProtocol !== undefined) merged.proxyProtocol = sp.proxyProtocol;
  if (sp?.retryBudget !== undefined) merged.retryBudget = sp.retryBudget;
  return merged;
}

/** The subset's labels, or undefined when the rule has no such subset. */
export function subsetLabels(dr: ConfigModel | undefined, subset: string): Labels | undefined {
  const s = ((dr?.spec?.subsets ?? []) as any[]).find((x) => x?.name === subset);
  return s ? (s.labels ?? {}) as Labels : undefined;
}
