/**
 * Network and HTTP filter builders shared by the sidecar, gateway and proxyless generators, so
 * every HttpConnectionManager carries the same HTTP filter chain (Istio: fault, cors, router; the
 * router last, as Envoy requires).
 */
import { ADS_CONFIG_SOURCE } from './types';

type Obj = Record<string, unknown>;

export const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const TCP_PROXY_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

export function routerFilter(): Obj {
  return { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
}

export interface HttpFilterOptions {
  /** proxyless gRPC: only the filters grpc-js-xds / C-core implement */
  readonly proxyless?: boolean;
}

/** The HTTP filter chain of every HttpConnectionManager we generate; the router is last. */
export function httpFilters(_opts: HttpFilterOptions = {}): Obj[] {
  return [routerFilter()];
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
