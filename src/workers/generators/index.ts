/**
 * The generator table: (generator family, type URL) → generator. A plain map built here and
 * read by the worker entry (grpc-js-xds `register()`, go-control-plane NewServer).
 */
import { GeneratorKind } from '../../shared/model/proxy';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL, SECRET_TYPE_URL, XdsTypeUrl } from '../../shared/resources';
import { generateEndpoints } from './endpoints';
import { gatewayClusters, gatewayListeners, gatewayRoutes } from './gateway';
import { grpcClusters, grpcListeners, grpcRoutes } from './grpc';
import { gatewaySecrets } from './secrets';
import { sidecarInboundListeners, sidecarListeners, sidecarOutboundListeners, sidecarRoutes } from './sidecar';
import { sidecarClusters, sidecarInboundClusters, sidecarOutboundClusters } from './sidecar-clusters';
import { Generator } from './types';

export const GENERATORS: Record<GeneratorKind, Partial<Record<XdsTypeUrl, Generator>>> = {
  grpc: {
    [LISTENER_TYPE_URL]: grpcListeners,
    [ROUTE_TYPE_URL]: grpcRoutes,
    [CLUSTER_TYPE_URL]: grpcClusters,
    [ENDPOINT_TYPE_URL]: generateEndpoints,
  },
  sidecar: {
    [LISTENER_TYPE_URL]: sidecarListeners,
    [ROUTE_TYPE_URL]: sidecarRoutes,
    [CLUSTER_TYPE_URL]: sidecarClusters,
    [ENDPOINT_TYPE_URL]: generateEndpoints,
  },
  router: {
    [LISTENER_TYPE_URL]: gatewayListeners,
    [ROUTE_TYPE_URL]: gatewayRoutes,
    [CLUSTER_TYPE_URL]: gatewayClusters,
    [ENDPOINT_TYPE_URL]: generateEndpoints,
    [SECRET_TYPE_URL]: gatewaySecrets,
  },
};

/** Per-facet generators of the types GENERATOR_FACETS splits (names must match it). */
export const FACET_GENERATORS: Partial<Record<GeneratorKind, Partial<Record<XdsTypeUrl, Record<string, Generator>>>>> = {
  sidecar: {
    [LISTENER_TYPE_URL]: { outbound: sidecarOutboundListeners, inbound: sidecarInboundListeners },
    [CLUSTER_TYPE_URL]: { outbound: sidecarOutboundClusters, inbound: sidecarInboundClusters },
  },
};
