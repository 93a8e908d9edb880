/**
 * Network and HTTP filter builders shared by the sidecar, gateway and proxyless generators, so
 * every HttpConnectionManager carries the same HTTP filter chain, and the per-route configs of
 * those filters (typed_per_filter_config) are built next to the filters they configure.
 *
 * Istio's chain (pilot/pkg/networking/core listener builder): fault, cors, …, router — the fault
 * and cors filters are always present with an empty config so that a route's
 * typed_per_filter_config can turn them on. The router is last, as Envoy requires. Proxyless gRPC
 * (grpcgen) gets fault + router only: grpc-js-xds and C-core implement router, fault and rbac, and
 * NACK any other non-optional filter.
 */
import { parseGoDuration } from '../../shared/duration';
import { ADS_CONFIG_SOURCE, duration } from './types';

type Obj = Record<string, unknown>;

export const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const TCP_PROXY_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
export const FAULT_FILTER = 'envoy.filters.http.fault';
export const CORS_FILTER = 'envoy.filters.http.cors';
export const FAULT_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';
export const CORS_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors';
export const CORS_POLICY_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy';

export function routerFilter(): Obj {
  return { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
}

/** The fault filter with an empty HTTPFault: inert until a route's typed_per_filter_config sets a fault. */
export function faultFilter(): Obj {
  return { name: FAULT_FILTER, typed_config: { '@type': FAULT_TYPE } };
}

/** The cors filter: inert until a route's typed_per_filter_config carries a CorsPolicy. */
export function corsFilter(): Obj {
  return { name: CORS_FILTER, typed_config: { '@type': CORS_TYPE } };
}

export interface HttpFilterOptions {
  /** proxyless gRPC: only the filters grpc-js-xds / C-core implement */
  readonly proxyless?: boolean;
  /** filters ahead of ours (inbound security: jwt_authn, rbac), in order */
  readonly before?: readonly Obj[];
}

/** The HTTP filter chain of every HttpConnectionManager we generate; the router is last. */
export function httpFilters(opts: HttpFilterOptions = {}): Obj[] {
  const own = opts.proxyless ? [faultFilter(), routerFilter()] : [faultFilter(), corsFilter(), routerFilter()];
  return opts.before && opts.before.length > 0 ? [...opts.before, ...own] : own;
}

/** HttpConnectionManager typed_config (no wrapper), e.g. for api_listener. */
export function hcmConfig(statPrefix: string, routing: Obj, opts: HttpFilterOptions = {}): Obj {
  return { '@type': HCM_TYPE, stat_prefix: statPrefix, ...routing, http_filters: httpFilters(opts) };
}

/** The http_connection_manager network filter. */
export function hcm(statPrefix: string, routing: Obj, opts: HttpFilterOptions = {}): Obj {
  return { name: 'envoy.filters.network.http_connection_manager', typed_config: hcmConfig(statPrefix, routing, opts) };
}

/** HCM routing by RDS name over ADS. */
export function rdsRouting(routeConfigName: string): Obj {
  return { rds: { config_source: ADS_CONFIG_SOURCE, route_config_name: routeConfigName } };
}

/** tcp_proxy to one cluster, or to weighted clusters when `cluster` is a list. */
export function tcpProxy(statPrefix: string, cluster: string | ReadonlyArray<{ name: string; weight: number }>): Obj {
  const target = typeof cluster === 'string' ? { cluster } : { weighted_clusters: { clusters: cluster.map((c) => ({ name: c.name, weight: c.weight })) } };
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY_TYPE, stat_prefix: statPrefix, ...target } };
}

// ---------------------------------------------------------------- per-route filter configs

/** Istio Percent {value: 0–100, fractional} → FractionalPercent per million (Istio translatePercentToFractionalPercent). */
export function percentToFraction(p: { value?: number } | undefined): Obj {
  return { numerator: Math.round(Number(p?.value ?? 0) * 10000), denominator: 'MILLION' };
}

/** Integer percent → FractionalPercent per hundred (the deprecated `percent` / `mirrorPercent` fields). */
export function integerPercentToFraction(p: number): Obj {
  return { numerator: Math.max(0, Math.trunc(p)), denominator: 'HUNDRED' };
}

/** gRPC status names Istio accepts in fault.abort.grpcStatus (pkg/util/grpc SupportedGRPCStatus). */
const GRPC_STATUS: Readonly<Record<string, number>> = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, DATA_LOSS: 15, UNAUTHENTICATED: 16,
};

/**
 * Istio HTTPFaultInjection → Envoy HTTPFault (typed, for typed_per_filter_config), after Istio's
 * TranslateFault: fixed delays only (exponential delays are dropped, as Istio does), aborts by
 * HTTP or gRPC status (http2Error is dropped), percentages per million. Undefined when nothing is
 * left to inject.
 */
export function translateFault(fault: any): Obj | undefined {
  if (!fault || typeof fault !== 'object') return undefined;
  const out: Obj = { '@type': FAULT_TYPE };
  const delay = fault.delay;
  if (delay && typeof delay === 'object') {
    const ms = typeof delay.fixedDelay === 'string' ? parseGoDuration(delay.fixedDelay) : undefined;
    if (ms !== undefined && ms >= 0) {
      out['delay'] = {
        fixed_delay: duration(ms),
        percentage: delay.percentage !== undefined ? percentToFraction(delay.percentage) : integerPercentToFraction(Number(delay.percent ?? 0)),
      };
    }
  }
  const abort = fault.abort;
  if (abort && typeof abort === 'object') {
    const a: Obj = {};
    if (abort.percentage !== undefined) a['percentage'] = percentToFraction(abort.percentage);
    if (typeof abort.httpStatus === 'number') a['http_status'] = abort.httpStatus;
    else if (typeof abort.grpcStatus === 'string' && GRPC_STATUS[abort.grpcStatus.toUpperCase()] !== undefined) a['grpc_status'] = GRPC_STATUS[abort.grpcStatus.toUpperCase()];
    if (a['http_status'] !== undefined || a['grpc_status'] !== undefined) out['abort'] = a;
  }
  return out['delay'] || out['abort'] ? out : undefined;
}

/** Istio StringMatch → Envoy StringMatcher (Istio util.ConvertToEnvoyMatch). */
export function envoyStringMatcher(m: any, ignoreCase = false): Obj | undefined {
  if (!m || typeof m !== 'object') return undefined;
  const base: Obj = ignoreCase ? { ignore_case: true } : {};
  if (typeof m.exact === 'string') return { ...base, exact: m.exact };
  if (typeof m.prefix === 'string') return { ...base, prefix: m.prefix };
  if (typeof m.regex === 'string') return { safe_regex: { regex: m.regex } };
  return undefined;
}

/** Istio CorsPolicy → Envoy CorsPolicy (typed, for typed_per_filter_config), after Istio's TranslateCORSPolicy. */
export function translateCors(cors: any): Obj | undefined {
  if (!cors || typeof cors !== 'object') return undefined;
  const out: Obj = {
    '@type': CORS_POLICY_TYPE,
    // UNSPECIFIED / FORWARD keep Envoy's pre-1.30 behaviour; IGNORE stops forwarding unmatched preflights
    forward_not_matching_preflights: { value: cors.unmatchedPreflights !== 'IGNORE' },
    filter_enabled: { default_value: { numerator: 100, denominator: 'HUNDRED' } },
  };
  if (Array.isArray(cors.allowOrigins)) {
    out['allow_origin_string_match'] = cors.allowOrigins.map((m: any) => envoyStringMatcher(m)).filter((m: Obj | undefined): m is Obj => !!m);
  } else if (Array.isArray(cors.allowOrigin)) {
    out['allow_origin_string_match'] = cors.allowOrigin.map((o: string) => ({ exact: String(o) }));
  }
  if (typeof cors.allowCredentials === 'boolean') out['allow_credentials'] = { value: cors.allowCredentials };
  if (Array.isArray(cors.allowHeaders) && cors.allowHeaders.length > 0) out['allow_headers'] = cors.allowHeaders.join(',');
  if (Array.isArray(cors.allowMethods) && cors.allowMethods.length > 0) out['allow_methods'] = cors.allowMethods.join(',');
  if (Array.isArray(cors.exposeHeaders) && cors.exposeHeaders.length > 0) out['expose_headers'] = cors.exposeHeaders.join(',');
  const maxAgeMs = typeof cors.maxAge === 'string' ? parseGoDuration(cors.maxAge) : undefined;
  if (maxAgeMs !== undefined) out['max_age'] = String(Math.trunc(maxAgeMs / 1000));
  return out;
}
