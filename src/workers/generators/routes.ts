/**
 * VirtualService http routes → Envoy routes, shared by the sidecar, gateway and proxyless gRPC
 * generators, after Istio's route translation (pilot/pkg/networking/core/route/route.go,
 * BuildHTTPRoutesForVirtualService / translateRoute / TranslateRouteMatch):
 * - one Envoy route per match clause, in order; a clause for another port, for other source labels
 *   or source namespace, or for other gateways is skipped; nothing after a catch-all route;
 * - route names are Istio's: `http.name`, `http.name.match.name`, or none;
 * - destinations → cluster / weighted_clusters (weights normalised to sum to 100: gRPC C-core
 *   rejects weighted_clusters that do not), redirect, direct_response, rewrite, timeout (0 =
 *   disabled when unset), retries (Istio's default policy when unset, off with attempts 0), fault
 *   and cors as typed_per_filter_config, mirrors, header operations, consistent-hash policies from
 *   the destination's DestinationRule;
 * - no VirtualService (or none of its routes applies): Istio's `default` route to the service's own
 *   cluster, with the default retry policy.
 * Proxyless gRPC (opts.proxyless) gets only what grpc-js-xds implements (REFERENCE §9): no
 * redirect/direct_response routes (NACKed), routes with query-parameter matches dropped (gRFC A28),
 * timeouts as max_stream_duration, retries by gRPC code names, header hash policies, fault.
 * A destination host the proxy cannot see routes to BlackHoleCluster (Envoy answers 503 where Istio
 * would name a cluster that does not exist); a mirror to such a host is left out.
 */
import { SnapshotView } from '../../shared/snapshot/snapshot-view';
import { ConfigModel, ServiceModel } from '../../shared/model/service';
import { parseGoDuration } from '../../shared/duration';
import { outboundClusterName, parseClusterName, resolveHost } from './hosts';
import { serviceFor } from './scope';
import { destinationRuleFor } from './destination-rules';
import { httpRoutesOf, matchGatewaysAdmit } from './virtual-services';
import { CORS_FILTER, envoyStringMatcher, FAULT_FILTER, integerPercentToFraction, percentToFraction, translateCors, translateFault } from './filters';
import { duration } from './types';

type Obj = Record<string, unknown>;

export const BLACKHOLE_CLUSTER = 'BlackHoleCluster';

export interface RouteOptions {
  /** the proxy's selector-relevant labels (GenContext.labels): match sourceLabels */
  readonly labels?: Readonly<Record<string, string>>;
  /** `namespace/name` of the Gateway being generated for; undefined = the `mesh` gateway (sidecars, proxyless) */
  readonly gateway?: string;
  /** proxyless gRPC: only what grpc-js-xds / C-core implement */
  readonly proxyless?: boolean;
  /** the routes serve a TLS-terminating listener (gateway HTTPS): redirect default scheme is https */
  readonly tls?: boolean;
}

// ---------------------------------------------------------------- match

function headerMatcher(name: string, m: any): Obj {
  // Istio canBeConvertedToPresentMatch: no match type, or the regex "*", means "header present"
  const sm = m && !(typeof m.regex === 'string' && m.regex === '*') ? envoyStringMatcher(m) : undefined;
  return sm ? { name, string_match: sm } : { name, present_match: true };
}

/** One Istio HTTPMatchRequest → Envoy RouteMatch (Istio TranslateRouteMatch). */
export function routeMatch(m: any | undefined): Obj {
  if (!m) return { prefix: '/' };
  const match: Obj = {};
  const uri = m.uri;
  if (typeof uri?.exact === 'string') match['path'] = uri.exact;
  else if (typeof uri?.prefix === 'string') match['prefix'] = uri.prefix;
  else if (typeof uri?.regex === 'string') match['safe_regex'] = { regex: uri.regex };
  else match['prefix'] = '/';
  match['case_sensitive'] = { value: !m.ignoreUriCase };
  const headers: Obj[] = [];
  for (const [name, hm] of Object.entries((m.headers ?? {}) as Record<string, any>)) headers.push(headerMatcher(name, hm));
  for (const [name, hm] of Object.entries((m.withoutHeaders ?? {}) as Record<string, any>)) {
    const h = headerMatcher(name, hm);
    h['invert_match'] = true;
    // treat_missing_header_as_empty conflicts with present_match
    if (!h['present_match']) h['treat_missing_header_as_empty'] = true;
    headers.push(h);
  }
  headers.sort((a, b) => (a['name'] as string < (b['name'] as string) ? -1 : a['name'] === b['name'] ? 0 : 1));
  if (m.method) headers.push(headerMatcher(':method', m.method));
  if (m.authority) headers.push(headerMatcher(':authority', m.authority));
  if (m.scheme) headers.push(headerMatcher(':scheme', m.scheme));
  if (headers.length > 0) match['headers'] = headers;
  const qps = Object.keys(m.queryParams ?? {}).sort().map((name) => {
    const qm = m.queryParams[name];
    const sm = qm && !(typeof qm.regex === 'string' && qm.regex === '*') ? envoyStringMatcher(qm) : undefined;
    return sm ? { name, string_match: sm } : { name, present_match: true };
  });
  if (qps.length > 0) match['query_parameters'] = qps;
  return match;
}

/** Istio IsCatchAllRoute: `/` prefix or `.*` regex with no header or query matchers. */
function isCatchAll(match: Obj): boolean {
  const path = match['prefix'] === '/' || (match['safe_regex'] as Obj | undefined)?.['regex'] === '.*';
  return path && !match['headers'] && !match['query_parameters'];
}

/** Istio translateRoute's guards: port, then gateways or (else) sourceLabels + sourceNamespace. */
function matchApplies(m: any, port: number, vs: ConfigModel, namespace: string, opts: RouteOptions): boolean {
  if (!m) return true;
  if (m.port !== undefined && Number(m.port) !== 0 && Number(m.port) !== port) return false;
  if (Array.isArray(m.gateways) && m.gateways.length > 0) return matchGatewaysAdmit(m.gateways, vs.namespace, opts.gateway);
  const labels = opts.labels ?? {};
  for (const [k, v] of Object.entries((m.sourceLabels ?? {}) as Record<string, string>)) if (labels[k] !== v) return false;
  return !m.sourceNamespace || m.sourceNamespace === namespace;
}

// ---------------------------------------------------------------- destinations

/** Cluster for a VirtualService destination (Istio GetDestinationCluster), BlackHoleCluster for an unknown host. */
export function destinationClusterName(snap: SnapshotView, namespace: string, vsNamespace: string, dest: any, listenerPort: number): string {
  const { svc, cluster } = resolveDestination(snap, namespace, vsNamespace, dest, listenerPort);
  return svc ? cluster : BLACKHOLE_CLUSTER;
}

function resolveDestination(snap: SnapshotView, namespace: string, vsNamespace: string, dest: any, listenerPort: number): { svc?: ServiceModel; host: string; port: number; cluster: string } {
  const host = resolveHost(String(dest?.host ?? ''), vsNamespace);
  const svc = serviceFor(snap, namespace, host);
  let port = Number(dest?.port?.number ?? 0);
  if (!port) port = svc && svc.ports.length === 1 ? svc.ports[0]!.port : listenerPort;
  return { svc, host, port, cluster: outboundClusterName(port, String(dest?.subset ?? ''), host) };
}

/** Istio hashForHTTPDestination: subset port-level, subset, DR port-level, DR consistentHash. */
function consistentHashFor(snap: SnapshotView, namespace: string, svc: ServiceModel | undefined, dest: any, labels: RouteOptions['labels']): any {
  if (!svc) return undefined;
  const dr = destinationRuleFor(snap, namespace, svc, labels);
  if (!dr) return undefined;
  const portNumber = dest?.port?.number;
  const plsHash = (pls: any): any => (portNumber === undefined ? undefined
    : ((pls ?? []) as any[]).find((s) => s?.port?.number === portNumber)?.loadBalancer?.consistentHash);
  const tp = dr.spec?.trafficPolicy;
  const subset = ((dr.spec?.subsets ?? []) as any[]).find((s) => s?.name === (dest?.subset ?? ''));
  return plsHash(subset?.trafficPolicy?.portLevelSettings) ?? subset?.trafficPolicy?.loadBalancer?.consistentHash
    ?? plsHash(tp?.portLevelSettings) ?? tp?.loadBalancer?.consistentHash;
}

/** Istio consistentHashToHashPolicy; proxyless gRPC implements header hashing only. */
function hashPolicy(ch: any, proxyless: boolean): Obj | undefined {
  if (!ch || typeof ch !== 'object') return undefined;
  if (typeof ch.httpHeaderName === 'string') return { header: { header_name: ch.httpHeaderName } };
  if (proxyless) return undefined;
  if (ch.httpCookie && typeof ch.httpCookie === 'object') {
    const c: Obj = { name: String(ch.httpCookie.name ?? '') };
    const ttl = typeof ch.httpCookie.ttl === 'string' ? parseGoDuration(ch.httpCookie.ttl) : undefined;
    if (ttl !== undefined) c['ttl'] = duration(ttl);
    if (ch.httpCookie.path) c['path'] = String(ch.httpCookie.path);
    return { cookie: c };
  }
  if (ch.useSourceIp === true) return { connection_properties: { source_ip: true } };
  if (typeof ch.httpQueryParameterName === 'string') return { query_parameter: { name: ch.httpQueryParameterName } };
  return undefined;
}

// ---------------------------------------------------------------- headers

interface HeaderOps { requestAdd: Obj[]; responseAdd: Obj[]; requestRemove: string[]; responseRemove: string[]; authority: string }

const isInternalHeader = (k: string): boolean => k.startsWith(':') || k.toLowerCase() === 'host';
const isAuthorityHeader = (k: string): boolean => k.toLowerCase() === ':authority' || k.toLowerCase() === 'host';

function appendHeaders(headers: Record<string, string> | undefined, append: boolean): { list: Obj[]; authority: string } {
  let authority = '';
  const list: Obj[] = [];
  for (const key of Object.keys(headers ?? {}).sort()) {
    const value = String(headers![key]);
    if (isAuthorityHeader(key)) authority = value;
    if (isInternalHeader(key)) continue;
    list.push({ header: { key, value }, append_action: append ? 'APPEND_IF_EXISTS_OR_ADD' : 'OVERWRITE_IF_EXISTS_OR_ADD' });
  }
  return { list, authority };
}

/** Istio TranslateHeadersOperations: set overwrites, add appends, `:authority`/`host` become a host rewrite. */
function headerOps(h: any): HeaderOps {
  const reqSet = appendHeaders(h?.request?.set, false), reqAdd = appendHeaders(h?.request?.add, true);
  const respSet = appendHeaders(h?.response?.set, false), respAdd = appendHeaders(h?.response?.add, true);
  const drop = (l: unknown): string[] => (Array.isArray(l) ? l.map(String).filter((k) => !isInternalHeader(k)) : []);
  return {
    requestAdd: [...reqSet.list, ...reqAdd.list], responseAdd: [...respSet.list, ...respAdd.list],
    requestRemove: drop(h?.request?.remove), responseRemove: drop(h?.response?.remove),
    authority: reqSet.authority || reqAdd.authority,
  };
}

function putHeaderOps(target: Obj, ops: HeaderOps): void {
  const add = (k: string, v: unknown[]) => { if (v.length > 0) target[k] = [...((target[k] as unknown[]) ?? []), ...v]; };
  add('request_headers_to_add', ops.requestAdd);
  add('response_headers_to_add', ops.responseAdd);
  add('request_headers_to_remove', ops.requestRemove);
  add('response_headers_to_remove', ops.responseRemove);
}

// ---------------------------------------------------------------- retries and timeouts

const PREVIOUS_HOSTS = { name: 'envoy.retry_host_predicates.previous_hosts', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate' } };
const DEFAULT_RETRY_ON = 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes';

/**
 * Istio retry.ConvertPolicy: `policy` undefined → the default (2 retries of connect-failure,
 * refused-stream, unavailable, cancelled and 503, other hosts preferred, 5 host selection attempts;
 * without the previous-hosts predicate under consistent hashing); attempts ≤ 0 → no policy.
 */
export function retryPolicy(policy: any, consistentHash: boolean, proxyless: boolean): Obj | undefined {
  if (policy && typeof policy === 'object' && !(Number(policy.attempts) > 0)) return undefined;
  let retryOn = DEFAULT_RETRY_ON;
  let codes: number[] = [503];
  const out: Obj = { num_retries: { value: 2 } };
  let previousHosts = !consistentHash;
  if (policy) {
    out['num_retries'] = { value: Number(policy.attempts) };
    if (typeof policy.retryOn === 'string' && policy.retryOn.trim() !== '') {
      const parts = policy.retryOn.split(',').map((p: string) => p.trim()).filter((p: string) => p !== '');
      codes = parts.filter((p: string) => /^\d+$/.test(p) && Number(p) >= 100 && Number(p) <= 599).map(Number);
      retryOn = parts.filter((p: string) => !(/^\d+$/.test(p) && Number(p) >= 100 && Number(p) <= 599)).join(',');
      if (codes.length > 0 && !retryOn.includes('retriable-status-codes')) retryOn += (retryOn ? ',' : '') + 'retriable-status-codes';
    }
    const per = typeof policy.perTryTimeout === 'string' ? parseGoDuration(policy.perTryTimeout) : undefined;
    if (per !== undefined && !proxyless) out['per_try_timeout'] = duration(per);
    if (typeof policy.retryIgnorePreviousHosts === 'boolean') previousHosts = policy.retryIgnorePreviousHosts;
    if (policy.retryRemoteLocalities === true && !proxyless) {
      out['retry_priority'] = { name: 'envoy.retry_priorities.previous_priorities', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig', update_frequency: 2 } };
    }
    const backoff = typeof policy.backoff === 'string' ? parseGoDuration(policy.backoff) : undefined;
    if (backoff !== undefined && backoff > 0) out['retry_back_off'] = { base_interval: duration(backoff) };
  }
  out['retry_on'] = retryOn;
  if (proxyless) return out; // gRPC reads retry_on (gRPC code names), num_retries and retry_back_off only
  if (codes.length > 0) out['retriable_status_codes'] = codes;
  if (previousHosts) out['retry_host_predicate'] = [PREVIOUS_HOSTS];
  out['host_selection_retry_max_attempts'] = 5;
  return out;
}

/** Istio setTimeout: the route timeout (0 = none); Envoy gets max_grpc_timeout, gRPC max_stream_duration. */
function setTimeout(action: Obj, timeout: unknown, proxyless: boolean): void {
  const ms = typeof timeout === 'string' ? parseGoDuration(timeout) ?? 0 : 0;
  action['timeout'] = duration(ms);
  if (proxyless) action['max_stream_duration'] = { max_stream_duration: duration(ms) };
  else action['max_grpc_timeout'] = duration(ms);
}

function meshRetryPolicy(snap: SnapshotView): any {
  return snap.mesh()?.['defaultHttpRetryPolicy'] ?? undefined;
}

// ---------------------------------------------------------------- actions

const REDIRECT_CODES: Readonly<Record<number, string>> = { 301: 'MOVED_PERMANENTLY', 302: 'FOUND', 303: 'SEE_OTHER', 307: 'TEMPORARY_REDIRECT', 308: 'PERMANENT_REDIRECT' };

/** Istio ApplyRedirect; undefined for a redirect code Envoy cannot express (Istio drops the action too). */
function redirectAction(r: any, port: number, tls: boolean): Obj | undefined {
  const code = r.redirectCode === undefined || Number(r.redirectCode) === 0 ? 301 : Number(r.redirectCode);
  if (!REDIRECT_CODES[code]) return undefined;
  const out: Obj = {};
  if (r.authority) out['host_redirect'] = String(r.authority);
  if (r.uri) out['path_redirect'] = String(r.uri);
  if (r.scheme) out['scheme_redirect'] = String(r.scheme);
  if (r.port !== undefined || r.derivePort !== undefined) {
    let p = 0;
    if (r.port !== undefined) p = Number(r.port);
    else if (r.derivePort === 'FROM_REQUEST_PORT') p = port;
    const scheme = r.scheme || (tls ? 'https' : 'http');
    // no explicit :80 / :443 for their own scheme
    if (!((p === 80 && scheme === 'http') || (p === 443 && scheme === 'https')) && p > 0) out['port_redirect'] = p;
  }
  out['response_code'] = REDIRECT_CODES[code];
  return out;
}

/** Istio ApplyDirectResponse; undefined for a status Envoy rejects (outside 200–599). */
function directResponseAction(d: any): Obj | undefined {
  const status = Number(d?.status);
  if (!Number.isInteger(status) || status < 200 || status > 599) return undefined;
  const out: Obj = { status };
  if (typeof d.body?.string === 'string') out['body'] = { inline_string: d.body.string };
  else if (typeof d.body?.bytes === 'string') out['body'] = { inline_bytes: d.body.bytes };
  return out;
}

function mirrorFraction(percentage: any, legacyPercent: any): Obj | undefined {
  if (percentage !== undefined) return Number(percentage?.value ?? 0) > 0 ? { default_value: percentToFraction(percentage) } : undefined;
  if (legacyPercent !== undefined) return Number(legacyPercent) > 0 ? { default_value: integerPercentToFraction(Number(legacyPercent)) } : undefined;
  return { default_value: integerPercentToFraction(100) };
}

/** Istio applyHTTPRouteDestination. Undefined when the route has no usable destination. */
function routeAction(snap: SnapshotView, namespace: string, vs: ConfigModel, http: any, port: number, opts: RouteOptions, routeLevel: Obj, authorityIn: string): Obj | undefined {
  const proxyless = opts.proxyless === true;
  const dests = (Array.isArray(http.route) ? http.route : []) as any[];
  if (dests.length === 0) return undefined;
  const action: Obj = {};
  setTimeout(action, http.timeout, proxyless);
  let authority = authorityIn;
  if (http.rewrite && !proxyless) {
    const rw = http.rewrite;
    if (rw.uriRegexRewrite && typeof rw.uriRegexRewrite === 'object') {
      action['regex_rewrite'] = { pattern: { regex: String(rw.uriRegexRewrite.match ?? '') }, substitution: String(rw.uriRegexRewrite.rewrite ?? '') };
    } else if (rw.uri) {
      // For an exact (`path`) match Envoy swaps the whole path: Istio's rewrite of an exact match.
      action['prefix_rewrite'] = String(rw.uri);
    }
    if (rw.authority) authority = String(rw.authority);
  }
  if (authority && !proxyless) action['host_rewrite_literal'] = authority;
  if (!proxyless) {
    const mirrors: Obj[] = [];
    const addMirror = (dest: any, fraction: Obj | undefined) => {
      if (!fraction || !dest) return;
      const r = resolveDestination(snap, namespace, vs.namespace, dest, port);
      if (r.svc) mirrors.push({ cluster: r.cluster, runtime_fraction: fraction, trace_sampled: { value: false } });
    };
    if (http.mirror) addMirror(http.mirror, mirrorFraction(http.mirrorPercentage, http.mirrorPercent));
    for (const m of (Array.isArray(http.mirrors) ? http.mirrors : []) as any[]) addMirror(m?.destination, mirrorFraction(m?.percentage, undefined));
    if (mirrors.length > 0) action['request_mirror_policies'] = mirrors;
  }
  const hashes: Obj[] = [];
  let consistentHash = false;
  const resolved = dests.map((d) => {
    const r = resolveDestination(snap, namespace, vs.namespace, d?.destination, port);
    const ch = consistentHashFor(snap, namespace, r.svc, d?.destination, opts.labels);
    return { d, r, ch };
  });
  if (resolved.length === 1) {
    const { d, r, ch } = resolved[0]!;
    action['cluster'] = r.svc ? r.cluster : BLACKHOLE_CLUSTER;
    if (d?.headers && !proxyless) {
      const ops = headerOps(d.headers);
      putHeaderOps(routeLevel, ops);
      if (ops.authority && action['host_rewrite_literal'] === undefined) action['host_rewrite_literal'] = ops.authority;
    }
    const hp = hashPolicy(ch, proxyless);
    if (hp) hashes.push(hp);
    consistentHash = !!ch;
  } else {
    // Istio ignores weight-0 destinations when there are several
    const kept = resolved.filter((x) => destinationWeight(x.d) !== 0);
    if (kept.length === 0) return undefined;
    const weights = normaliseWeights(kept.map((x) => destinationWeight(x.d)));
    action['weighted_clusters'] = {
      clusters: kept.map(({ d, r, ch }, i) => {
        const cw: Obj = { name: r.svc ? r.cluster : BLACKHOLE_CLUSTER, weight: { value: weights[i] } };
        if (d?.headers && !proxyless) {
          const ops = headerOps(d.headers);
          putHeaderOps(cw, ops);
          if (ops.authority) cw['host_rewrite_literal'] = ops.authority;
        }
        const hp = hashPolicy(ch, proxyless);
        if (hp) hashes.push(hp);
        return cw;
      }),
    };
  }
  if (hashes.length > 0) action['hash_policy'] = hashes;
  const retry = retryPolicy(http.retries ?? meshRetryPolicy(snap), consistentHash, proxyless);
  if (retry) action['retry_policy'] = retry;
  return action;
}

/** A destination's weight; undefined when unset or not a usable number. */
export function destinationWeight(d: any): number | undefined {
  const w = d?.weight;
  if (w === undefined || w === null) return undefined;
  const n = Number(w);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/** Missing weights share what is left; the result is integers summing to exactly 100. */
export function normaliseWeights(weights: ReadonlyArray<number | undefined>): number[] {
  const given = weights.reduce<number>((a, w) => a + (w ?? 0), 0);
  const unset = weights.filter((w) => w === undefined).length;
  let raw = weights.map((w) => (w === undefined ? Math.max(0, 100 - given) / Math.max(unset, 1) : w));
  const sum = raw.reduce((a, b) => a + b, 0);
  if (sum <= 0) raw = weights.map(() => 100 / weights.length);
  const scale = 100 / raw.reduce((a, b) => a + b, 0);
  const out = raw.map((w) => Math.floor(w * scale));
  let rest = 100 - out.reduce((a, b) => a + b, 0);
  for (let i = 0; rest > 0; i = (i + 1) % out.length, rest--) out[i]!++;
  return out;
}

/** Istio GetRouteOperation: `host:port/path` for a single cluster, `vsName:port/path` otherwise. */
function routeOperation(match: Obj, action: Obj | undefined, vsName: string, port: number): string {
  const path = typeof match['prefix'] === 'string' ? `${match['prefix']}*` : typeof match['path'] === 'string' ? match['path'] as string
    : (match['safe_regex'] as Obj | undefined)?.['regex'] as string | undefined ?? '/*';
  const parsed = typeof action?.['cluster'] === 'string' ? parseClusterName(action['cluster'] as string) : undefined;
  return parsed ? `${parsed.host}:${parsed.port}${path}` : `${vsName}:${port}${path}`;
}

/** One Istio HTTPRoute + one of its matches → an Envoy route (Istio translateRoute). */
function translateRoute(snap: SnapshotView, namespace: string, vs: ConfigModel, http: any, m: any, port: number, opts: RouteOptions): Obj | undefined {
  const proxyless = opts.proxyless === true;
  const match = routeMatch(m);
  const name = http.name ? (m?.name ? `${http.name}.${m.name}` : String(http.name)) : undefined;
  const route: Obj = { ...(name ? { name } : {}), match };
  if (!proxyless && typeof m?.statPrefix === 'string' && m.statPrefix !== '') route['stat_prefix'] = m.statPrefix;
  const ops = http.headers && !proxyless ? headerOps(http.headers) : undefined;
  if (ops) putHeaderOps(route, ops);
  if (http.redirect) {
    if (proxyless) return undefined;
    const r = redirectAction(http.redirect, port, opts.tls === true);
    if (!r) return undefined;
    route['redirect'] = r;
  } else if (http.directResponse) {
    if (proxyless) return undefined;
    const d = directResponseAction(http.directResponse);
    if (!d) return undefined;
    route['direct_response'] = d;
  } else {
    const action = routeAction(snap, namespace, vs, http, port, opts, route, ops?.authority ?? '');
    if (!action) return undefined;
    route['route'] = action;
  }
  if (!proxyless) route['decorator'] = { operation: routeOperation(match, route['route'] as Obj | undefined, vs.name, port) };
  const perFilter: Obj = {};
  const fault = translateFault(http.fault);
  if (fault) perFilter[FAULT_FILTER] = fault;
  const cors = proxyless ? undefined : translateCors(http.corsPolicy);
  if (cors) perFilter[CORS_FILTER] = cors;
  if (Object.keys(perFilter).length > 0) route['typed_per_filter_config'] = perFilter;
  // keep Envoy's field order readable: headers after the action
  for (const k of ['request_headers_to_add', 'response_headers_to_add', 'request_headers_to_remove', 'response_headers_to_remove']) {
    if (route[k] !== undefined) { const v = route[k]; delete route[k]; route[k] = v; }
  }
  return route;
}

/** Istio BuildDefaultHTTPOutboundRoute (+ the DestinationRule's consistent hash, hashForService). */
export function defaultRoute(snap: SnapshotView, namespace: string, svc: ServiceModel, port: number, opts: RouteOptions = {}): Obj {
  const proxyless = opts.proxyless === true;
  const cluster = outboundClusterName(port, '', svc.hostname);
  const action: Obj = { cluster };
  setTimeout(action, undefined, proxyless);
  const dr = destinationRuleFor(snap, namespace, svc, opts.labels);
  const tp = dr?.spec?.trafficPolicy;
  const pls = ((tp?.portLevelSettings ?? []) as any[]).find((s) => s?.port?.number === port);
  const hp = hashPolicy(pls?.loadBalancer?.consistentHash ?? tp?.loadBalancer?.consistentHash, proxyless);
  if (hp) action['hash_policy'] = [hp];
  const retry = retryPolicy(meshRetryPolicy(snap), false, proxyless);
  if (retry) action['retry_policy'] = retry;
  return { name: 'default', match: { prefix: '/' }, route: action, ...(proxyless ? {} : { decorator: { operation: `${svc.hostname}:${port}/*` } }) };
}

/**
 * Envoy routes for traffic to `svc` on `port` from a proxy in `namespace` (Istio
 * BuildHTTPRoutesForVirtualService). With a VirtualService, its http routes (delegates merged) in
 * order, one Envoy route per applicable match clause, stopping after a catch-all; without one, or
 * when none applies, Istio's default route to the service.
 */
export function buildRoutes(snap: SnapshotView, namespace: string, vs: ConfigModel | undefined, svc: ServiceModel, port: number, opts: RouteOptions = {}): Obj[] {
  const routes = vs ? virtualServiceRoutes(snap, namespace, vs, port, opts) : [];
  return routes.length > 0 ? routes : [defaultRoute(snap, namespace, svc, port, opts)];
}

/** The routes a VirtualService yields on `port` (possibly none); gateways merge these across VirtualServices. */
export function virtualServiceRoutes(snap: SnapshotView, namespace: string, vs: ConfigModel, port: number, opts: RouteOptions = {}): Obj[] {
  const routes: Obj[] = [];
  for (const http of httpRoutesOf(snap, vs)) {
    const matches: any[] = Array.isArray(http.match) && http.match.length > 0 ? http.match : [undefined];
    let catchAll = matches[0] === undefined;
    for (const m of matches) {
      if (!matchApplies(m, port, vs, namespace, opts)) continue;
      // gRPC ignores routes with query-parameter matchers (A28): skip rather than widen the match
      if (opts.proxyless && m?.queryParams && Object.keys(m.queryParams).length > 0) continue;
      const r = translateRoute(snap, namespace, vs, http, m, port, opts);
      if (!r) continue;
      routes.push(r);
      if (isCatchAll(r['match'] as Obj)) { catchAll = true; break; }
    }
    if (catchAll) break;
  }
  return routes;
}
