/**
 * xDS type URLs as consts plus literal types (grpc-js-xds style), and the ADS push order,
 * declared once.
 */
export const CLUSTER_TYPE_URL = 'type.googleapis.com/envoy.config.cluster.v3.Cluster' as const;
export const ENDPOINT_TYPE_URL = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment' as const;
export const LISTENER_TYPE_URL = 'type.googleapis.com/envoy.config.listener.v3.Listener' as const;
export const ROUTE_TYPE_URL = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration' as const;
export const SECRET_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret' as const;

export type ClusterTypeUrl = typeof CLUSTER_TYPE_URL;
export type EndpointTypeUrl = typeof ENDPOINT_TYPE_URL;
export type ListenerTypeUrl = typeof LISTENER_TYPE_URL;
export type RouteTypeUrl = typeof ROUTE_TYPE_URL;
export type SecretTypeUrl = typeof SECRET_TYPE_URL;
export type XdsTypeUrl = ClusterTypeUrl | EndpointTypeUrl | ListenerTypeUrl | RouteTypeUrl | SecretTypeUrl;

/** Fully-qualified protobuf message name for each type URL. */
export const MESSAGE_OF: { readonly [K in XdsTypeUrl]: string } = {
  [CLUSTER_TYPE_URL]: 'envoy.config.cluster.v3.Cluster',
  [ENDPOINT_TYPE_URL]: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
  [LISTENER_TYPE_URL]: 'envoy.config.listener.v3.Listener',
  [ROUTE_TYPE_URL]: 'envoy.config.route.v3.RouteConfiguration',
  [SECRET_TYPE_URL]: 'envoy.extensions.transport_sockets.tls.v3.Secret',
};

/**
 * ORDER MATTERS. Make-before-break (xDS protocol doc, Istio PushOrder): clusters first, then their
 * endpoints, then listeners, then routes, then secrets. Pushes walk the watched types in this order.
 */
export const PUSH_ORDER: readonly XdsTypeUrl[] = [
  CLUSTER_TYPE_URL,
  ENDPOINT_TYPE_URL,
  LISTENER_TYPE_URL,
  ROUTE_TYPE_URL,
  SECRET_TYPE_URL,
];

/** Istio's short names, used in metric labels (`pilot_xds_pushes{type="cds"}`) and logs. */
export const SHORT_NAME: { readonly [K in XdsTypeUrl]: string } = {
  [CLUSTER_TYPE_URL]: 'cds',
  [ENDPOINT_TYPE_URL]: 'eds',
  [LISTENER_TYPE_URL]: 'lds',
  [ROUTE_TYPE_URL]: 'rds',
  [SECRET_TYPE_URL]: 'sds',
};

export function isXdsTypeUrl(url: string): url is XdsTypeUrl {
  return Object.prototype.hasOwnProperty.call(MESSAGE_OF, url);
}

/** Wildcard types: an empty or "*" subscription means "everything" (CDS and LDS only, per the spec). */
export function isWildcardType(url: string): boolean {
  return url === CLUSTER_TYPE_URL || url === LISTENER_TYPE_URL;
}
