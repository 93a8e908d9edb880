/**
 * Which VirtualServices apply, and the http routes they contribute, as Istio decides:
 * - gateway binding: `spec.gateways` (empty = `mesh`) and per-match `gateways`, with Istio's name
 *   resolution (`name` → the VirtualService's namespace, `ns/name` as is, `name.ns.svc…` legacy form);
 * - visibility: `exportTo` (`.` = own namespace, `*`, namespace names; unset = MeshConfig
 *   defaultVirtualServiceExportTo, default `*`);
 * - delegation (pilot/pkg/model/virtualservice.go mergeVirtualServicesIfNeeded): an http route with
 *   `delegate` is replaced by the delegate VirtualService's routes, each merged with the parent's
 *   match (a delegate match must fall inside one of the parent's, else it is dropped) and inheriting
 *   the parent's rewrite/timeout/retries/fault/mirror/cors/headers where it sets none;
 * - conflicts: for a sidecar (gateway `mesh`) one VirtualService per host, the first in Istio's
 *   order — private to the proxy namespace, exported to it by name, public; then the oldest
 *   (creationTimestamp, which the snapshot does not carry yet: name, then namespace, stand in).
 *   Gateways merge every bound VirtualService of a host (in the same order: sortForProxy).
 */
import { SnapshotView } from '../../shared/snapshot/snapshot-view';
import { ConfigModel } from '../../shared/model/service';
import { hostMatches, resolveHost } from './hosts';

export const MESH_GATEWAY = 'mesh';

/** Istio ResolveGatewayName: a gateway reference as written in `vsNamespace` → `ns/name` (or `mesh`). */
export function resolveGatewayName(ref: string, vsNamespace: string): string {
  if (ref === MESH_GATEWAY) return ref;
  if (ref.includes('/')) {
    const [ns, name] = ref.split('/', 2) as [string, string];
    return `${ns === '.' ? vsNamespace : ns}/${name}`;
  }
  if (ref.includes('.')) {
    // legacy `name.namespace.svc.cluster.local` form
    const [name, ns] = ref.split('.') as [string, string];
    return `${ns}/${name}`;
  }
  return `${vsNamespace}/${ref}`;
}

/** The gateways a VirtualService binds to, resolved (`mesh` when it lists none). */
export function boundGateways(vs: ConfigModel): string[] {
  const list: unknown[] = Array.isArray(vs.spec?.gateways) ? vs.spec.gateways : [];
  return list.length === 0 ? [MESH_GATEWAY] : list.map((g) => resolveGatewayName(String(g), vs.namespace));
}

/** Does a match clause's `gateways` list admit `gateway` (undefined = `mesh`)? An empty list admits any. */
export function matchGatewaysAdmit(gateways: unknown, vsNamespace: string, gateway: string | undefined): boolean {
  if (!Array.isArray(gateways) || gateways.length === 0) return true;
  const want = gateway ?? MESH_GATEWAY;
  return gateways.some((g) => resolveGatewayName(String(g), vsNamespace) === want);
}

/** exportTo with the mesh-wide default (MeshConfig.defaultVirtualServiceExportTo) for an unset list. */
function visibleFrom(snap: SnapshotView, vs: ConfigModel, namespace: string): boolean {
  let exportTo: unknown = vs.spec?.exportTo;
  if (!Array.isArray(exportTo) || exportTo.length === 0) exportTo = snap.mesh()?.['defaultVirtualServiceExportTo'];
  if (!Array.isArray(exportTo) || exportTo.length === 0) return true;
  // `~` (exported nowhere) matches no namespace
  return exportTo.some((e) => e === '*' || e === namespace || (e === '.' && vs.namespace === namespace));
}

/** A delegate VirtualService (no hosts) is never selected by host; only through a parent route. */
function isDelegate(vs: ConfigModel): boolean {
  return !Array.isArray(vs.spec?.hosts) || vs.spec.hosts.length === 0;
}

/**
 * The VirtualService bound to `mesh` for `hostname`: among those naming the host exactly and the
 * most specific wildcard ones (Istio's mostSpecificWildcardVsIndex: a wildcard VirtualService
 * claims a service only if no more specific wildcard does), the first in Istio's order (sortForProxy). `imported` narrows the candidates first (a Sidecar's egress imports).
 */
export function virtualServiceFor(snap: SnapshotView, namespace: string, hostname: string, imported: (vs: ConfigModel) => boolean = () => true): ConfigModel | undefined {
  const candidates = snap.configsForHost('VirtualService', hostname).filter((vs) =>
    !isDelegate(vs) && boundGateways(vs).includes(MESH_GATEWAY) && visibleFrom(snap, vs, namespace) && imported(vs));
  const specificity = (vs: ConfigModel): number => {
    let best = -1;
    for (const h of (Array.isArray(vs.spec?.hosts) ? vs.spec.hosts : []) as unknown[]) {
      const host = resolveHost(String(h), vs.namespace);
      if (host === hostname) return Number.MAX_SAFE_INTEGER;
      if (host.startsWith('*') && hostMatches(host, hostname)) best = Math.max(best, host.length);
    }
    return best;
  };
  const scored = candidates.map((vs) => ({ vs, s: specificity(vs) }));
  const wildcardBest = Math.max(-1, ...scored.filter((x) => x.s !== Number.MAX_SAFE_INTEGER).map((x) => x.s));
  return sortForProxy(snap, scored.filter((x) => x.s === Number.MAX_SAFE_INTEGER || (x.s >= 0 && x.s === wildcardBest)).map((x) => x.vs), namespace)[0];
}

/**
 * Istio's order of the VirtualServices a proxy in `namespace` sees (PushContext
 * VirtualServicesForGateway / SelectVirtualServices): those private to the proxy's namespace
 * (exportTo `.`), then those exported to it by name, then the public ones; within a group by
 * creationTimestamp, then name, then namespace (sortConfigByCreationTime). Objects without a
 * creationTimestamp (hand-written files) sort after those with one, then by name/namespace.
 */
export function sortForProxy(snap: SnapshotView, list: readonly ConfigModel[], namespace: string): ConfigModel[] {
  const group = (vs: ConfigModel): number => {
    let exportTo: unknown = vs.spec?.exportTo;
    if (!Array.isArray(exportTo) || exportTo.length === 0) exportTo = snap.mesh()?.['defaultVirtualServiceExportTo'];
    const e: unknown[] = Array.isArray(exportTo) && exportTo.length > 0 ? exportTo : ['*'];
    if (e.includes('.') && vs.namespace === namespace) return 0;
    if (e.includes(namespace)) return 1;
    return 2;
  };
  const created = (vs: ConfigModel): string => vs.created ?? '~';
  return [...list].sort((a, b) => group(a) - group(b) || created(a).localeCompare(created(b))
    || a.name.localeCompare(b.name) || a.namespace.localeCompare(b.namespace));
}

// ---------------------------------------------------------------- delegation

/**
 * The VirtualService's http routes with every `delegate` route replaced by the delegate's merged
 * routes (one level, as Istio). A delegate that is missing, has hosts, or is not exported to the
 * parent's namespace drops just that route. Reads each delegate through snap.config, so a change to
 * a delegate regenerates what used it. Never mutates the snapshot's objects.
 */
export function httpRoutesOf(snap: SnapshotView, vs: ConfigModel): any[] {
  const out: any[] = [];
  for (const route of (Array.isArray(vs.spec?.http) ? vs.spec.http : []) as any[]) {
    if (!route || typeof route !== 'object') continue;
    if (!route.delegate) { out.push(route); continue; }
    const ns = String(route.delegate.namespace || vs.namespace);
    const delegate = snap.config('VirtualService', ns, String(route.delegate.name ?? ''));
    if (!delegate || !isDelegate(delegate) || !delegateExportedTo(delegate, vs.namespace)) continue;
    for (const sub of (Array.isArray(delegate.spec?.http) ? delegate.spec.http : []) as any[]) {
      if (!sub || typeof sub !== 'object' || sub.delegate) continue;
      const merged = mergeHttpRoute(route, withResolvedHosts(sub, delegate.namespace));
      if (merged) out.push(merged);
    }
  }
  return out;
}

/** Short destination hosts of a delegate resolve in the delegate's namespace (as Istio resolves them at ingestion). */
function withResolvedHosts(route: any, ns: string): any {
  const dest = (d: any) => (d && typeof d.host === 'string' ? { ...d, host: resolveHost(d.host, ns) } : d);
  const out: any = { ...route };
  if (Array.isArray(route.route)) out.route = route.route.map((r: any) => (r && typeof r === 'object' ? { ...r, destination: dest(r.destination) } : r));
  if (route.mirror) out.mirror = dest(route.mirror);
  if (Array.isArray(route.mirrors)) out.mirrors = route.mirrors.map((m: any) => (m && typeof m === 'object' ? { ...m, destination: dest(m.destination) } : m));
  return out;
}

function delegateExportedTo(delegate: ConfigModel, rootNs: string): boolean {
  const exportTo: unknown = delegate.spec?.exportTo;
  if (!Array.isArray(exportTo) || exportTo.length === 0) return true;
  return exportTo.some((e) => e === '*' || e === rootNs || (e === '.' && delegate.namespace === rootNs));
}

const INHERITED = ['rewrite', 'timeout', 'retries', 'fault', 'mirror', 'mirrorPercent', 'mirrorPercentage', 'corsPolicy', 'headers'] as const;

/** Istio mergeHTTPRoute: undefined when the delegate's matches conflict with the root's. */
function mergeHttpRoute(root: any, delegate: any): any | undefined {
  const matches = mergeMatches(root.match, delegate.match);
  if (matches === undefined) return undefined;
  const out: any = { ...delegate };
  if (matches.length > 0) out.match = matches; else delete out.match;
  if (!delegate.name) { if (root.name) out.name = root.name; } else if (root.name) out.name = `${root.name}-${delegate.name}`;
  for (const k of INHERITED) if (out[k] === undefined && root[k] !== undefined) out[k] = root[k];
  return out;
}

function mergeMatches(root: any[] | undefined, delegate: any[] | undefined): any[] | undefined {
  if (!Array.isArray(root) || root.length === 0) return Array.isArray(delegate) ? delegate : [];
  if (!Array.isArray(delegate) || delegate.length === 0) return root;
  const out: any[] = [];
  for (const sub of delegate) {
    let found = false;
    for (const r of root) {
      if (hasConflict(r ?? {}, sub ?? {})) continue;
      out.push(mergeMatch(r ?? {}, sub ?? {}));
      found = true;
    }
    if (!found) return undefined;
  }
  return out.length > 0 ? out : undefined;
}

function mergeMatch(root: any, delegate: any): any {
  const out: any = { ...delegate };
  if (!delegate.name) { if (root.name) out.name = root.name; } else if (root.name) out.name = `${root.name}-${delegate.name}`;
  for (const k of ['uri', 'scheme', 'method', 'authority'] as const) if (out[k] === undefined && root[k] !== undefined) out[k] = root[k];
  for (const k of ['headers', 'withoutHeaders', 'queryParams'] as const) {
    if (root[k] || delegate[k]) out[k] = { ...(root[k] ?? {}), ...(delegate[k] ?? {}) };
  }
  if (!out.port && root.port) out.port = root.port;
  // sourceLabels, sourceNamespace and gateways belong to the root only (Istio ignores them on delegates)
  return out;
}

function hasConflict(root: any, leaf: any): boolean {
  for (const k of ['uri', 'scheme', 'method', 'authority'] as const) if (stringMatchConflict(root[k], leaf[k])) return true;
  for (const [k, v] of Object.entries(leaf.headers ?? {})) if (stringMatchConflict(root.headers?.[k], v)) return true;
  for (const [k, v] of Object.entries(leaf.withoutHeaders ?? {})) if (stringMatchConflict(root.headers?.[k], v)) return true;
  for (const [k, v] of Object.entries(leaf.queryParams ?? {})) if (stringMatchConflict(root.queryParams?.[k], v)) return true;
  if (Boolean(root.ignoreUriCase) !== Boolean(leaf.ignoreUriCase)) return true;
  if (root.port > 0 && leaf.port > 0 && root.port !== leaf.port) return true;
  return false;
}

/** Istio stringMatchConflict: regexes always conflict; a leaf must narrow the root (exact = exact, prefix within prefix). */
function stringMatchConflict(root: any, leaf: any): boolean {
  if (!root || !leaf) return false;
  if (root.regex || leaf.regex) return true;
  if (root.exact) return Boolean(leaf.prefix) || leaf.exact !== root.exact;
  if (root.prefix) {
    if (leaf.prefix) return !String(leaf.prefix).startsWith(root.prefix);
    if (leaf.exact) return !String(leaf.exact).startsWith(root.prefix);
  }
  return true;
}
