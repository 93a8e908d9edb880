/**
 * VirtualService http routes → Envoy routes (shared by the sidecar and proxyless gRPC generators),
 * after Istio's route translation (pilot/pkg/networking/core/route). Weights always sum to 100:
 * gRPC C-core rejects weighted_clusters that do not.
 */
import { SnapshotView } from '../../shared/snapshot/snapshot-view';
import { ConfigModel, ServiceModel } from '../../shared/model/service';
import { parseGoDuration } from '../../shared/duration';
import { outboundClusterName, resolveHost } from './hosts';
import { serviceFor } from './scope';
import { duration } from './types';

type Obj = Record<string, unknown>;

function stringMatch(m: any, ignoreCase = false): Obj | undefined {
  if (!m || typeof m !== 'object') return undefined;
  const base: Obj = ignoreCase ? { ignore_case: true } : {};
  if (typeof m.exact === 'string') return { ...base, exact: m.exact };
  if (typeof m.prefix === 'string') return { ...base, prefix: m.prefix };
  if (typeof m.regex === 'string') return { ...base, safe_regex: { regex: m.regex } };
  return undefined;
}

function headerMatcher(name: string, m: any, invert = false): Obj {
  const sm = stringMatch(m);
  const out: Obj = sm ? { name, string_match: sm } : { name, present_match: true };
  if (invert) out['invert_match'] = true;
  return out;
}

/** One Istio HTTPMatchRequest → Envoy RouteMatch. */
function routeMatch(m: any | undefined): Obj {
  const match: Obj = {};
  const uri = m?.uri;
  if (uri?.exact !== undefined) match['path'] = uri.exact;
  else if (uri?.prefix !== undefined) match['prefix'] = uri.prefix;
  else if (uri?.regex !== undefined) match['safe_regex'] = { regex: uri.regex };
  else match['prefix'] = '/';
  if (m?.ignoreUriCase) match['case_sensitive'] = { value: false };
  const headers: Obj[] = [];
  for (const [name, hm] of Object.entries((m?.headers ?? {}) as Record<string, unknown>)) headers.push(headerMatcher(name.toLowerCase(), hm));
  for (const [name, hm] of Object.entries((m?.withoutHeaders ?? {}) as Record<string, unknown>)) headers.push(headerMatcher(name.toLowerCase(), hm, true));
  if (m?.method) headers.push(headerMatcher(':method', m.method));
  if (m?.authority) headers.push(headerMatcher(':authority', m.authority));
  if (m?.scheme) headers.push(headerMatcher(':scheme', m.scheme));
  if (headers.length > 0) match['headers'] = headers;
  const qps: Obj[] = [];
  for (const [name, qm] of Object.entries((m?.queryParams ?? {}) as Record<string, unknown>)) {
    const sm = stringMatch(qm);
    qps.push(sm ? { name, string_match: sm } : { name, present_match: true });
  }
  if (qps.length > 0) match['query_parameters'] = qps;
  return match;
}

/** Does an Istio match clause apply to traffic on `port` (its `port` field, if any)? */
function matchAppliesToPort(m: any, port: number): boolean {
  return m?.port === undefined || Number(m.port) === port;
}

export interface RouteTarget { svc: ServiceModel; port: number }

/** Cluster for a VS destination, or undefined when the host is unknown to this proxy. */
function destinationCluster(snap: SnapshotView, namespace: string, vs: ConfigModel, dest: any, listenerPort: number): string | undefined {
  const host = resolveHost(String(dest?.host ?? ''), vs.namespace);
  const svc = serviceFor(snap, namespace, host);
  let port: number | undefined = dest?.port?.number;
  if (port === undefined) port = svc && svc.ports.length === 1 ? svc.ports[0]!.port : listenerPort;
  if (!svc) return undefined;
  return outboundClusterName(port, dest?.subset ?? '', host);
}

/** Route action for Istio HTTPRouteDestination[]; weights normalised to sum to 100. */
function routeAction(snap: SnapshotView, namespace: string, vs: ConfigModel, http: any, listenerPort: number): Obj | undefined {
  const dests: any[] = http.route ?? [];
  const resolved = dests
    .map((d) => ({ cluster: destinationCluster(snap, namespace, vs, d.destination, listenerPort), weight: d.weight as number | undefined }))
    .filter((d) => d.weight !== 0);
  if (resolved.length === 0) return undefined;
  const action: Obj = {};
  if (resolved.length === 1) {
    action['cluster'] = resolved[0]!.cluster ?? 'BlackHoleCluster';
  } else {
    const weights = normaliseWeights(resolved.map((d) => d.weight));
    action['weighted_clusters'] = { clusters: resolved.map((d, i) => ({ name: d.cluster ?? 'BlackHoleCluster', weight: { value: weights[i] } })) };
  }
  const timeout = typeof http.timeout === 'string' ? parseGoDuration(http.timeout) : undefined;
  action['timeout'] = duration(timeout ?? 0); // Istio disables Envoy's 15s default route timeout
  if (http.retries && typeof http.retries.attempts === 'number') {
    const retry: Obj = { num_retries: { value: http.retries.attempts }, retry_on: http.retries.retryOn ?? 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes' };
    const per = typeof http.retries.perTryTimeout === 'string' ? parseGoDuration(http.retries.perTryTimeout) : undefined;
    if (per !== undefined) retry['per_try_timeout'] = duration(per);
    action['retry_policy'] = retry;
  }
  return action;
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

/**
 * Envoy routes for traffic to `svc` on `port` from a proxy in `namespace`. With a VirtualService,
 * its http routes in order (one Envoy route per match clause); without one, a catch-all to the
 * service's own cluster.
 */
export interface RouteOptions {
  /** the proxy's selector-relevant labels (GenContext.labels): match sourceLabels */
  readonly labels?: Readonly<Record<string, string>>;
  /** `namespace/name` of the Gateway being generated for; undefined = the `mesh` gateway (sidecars, proxyless) */
  readonly gateway?: string;
  /** proxyless gRPC: only what grpc-js-xds / C-core implement */
  readonly proxyless?: boolean;
}

export function buildRoutes(snap: SnapshotView, namespace: string, vs: ConfigModel | undefined, svc: ServiceModel, port: number, _opts: RouteOptions = {}): Obj[] {
  const fallback = [{ name: 'default', match: { prefix: '/' }, route: { cluster: outboundClusterName(port, '', svc.hostname), timeout: duration(0) } }];
  if (!vs) return fallback;
  const routes: Obj[] = [];
  for (const [i, http] of ((vs.spec?.http ?? []) as any[]).entries()) {
    const matches: any[] = (http.match ?? [undefined]).filter((m: any) => matchAppliesToPort(m, port));
    if (matches.length === 0) continue;
    let action: Obj;
    if (http.directResponse) {
      action = { direct_response: { status: http.directResponse.status, ...(http.directResponse.body?.string ? { body: { inline_string: http.directResponse.body.string } } : {}) } };
    } else if (http.redirect) {
      const r: Obj = {};
      if (http.redirect.uri) r['path_redirect'] = http.redirect.uri;
      if (http.redirect.authority) r['host_redirect'] = http.redirect.authority;
      action = { redirect: r };
    } else {
      const ra = routeAction(snap, namespace, vs, http, port);
      if (!ra) continue;
      action = { route: ra };
    }
    for (const m of matches) {
      routes.push({ name: http.name ?? `${vs.namespace}.${vs.name}.${i}`, match: routeMatch(m), ...action });
    }
  }
  return routes.length > 0 ? routes : fallback;
}
