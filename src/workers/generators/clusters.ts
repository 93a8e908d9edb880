/**
 * Outbound clusters for a service port (+ DestinationRule subsets and load-balancer settings),
 * shared by the sidecar and proxyless gRPC generators.
 */
import { SnapshotView } from '../../shared/snapshot/snapshot-view';
import { ConfigModel, ServiceModel, ServicePort } from '../../shared/model/service';
import { outboundClusterName } from './hosts';
import { destinationRuleFor } from './destination-rules';
import { ADS_CONFIG_SOURCE, duration } from './types';

type Obj = Record<string, unknown>;

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000; // Istio mesh default connectTimeout

export interface ClusterFlavour {
  /** proxyless gRPC accepts only ROUND_ROBIN / RING_HASH via lb_policy */
  proxyless: boolean;
}

function lbSettings(policy: any, flavour: ClusterFlavour): Obj {
  const lb = policy?.loadBalancer;
  if (lb?.consistentHash) {
    const ringSize = lb.consistentHash.ringHash?.minimumRingSize ?? lb.consistentHash.minimumRingSize;
    return {
      lb_policy: 'RING_HASH',
      ring_hash_lb_config: { hash_function: 'XX_HASH', ...(ringSize ? { minimum_ring_size: { value: ringSize } } : {}) },
    };
  }
  switch (lb?.simple) {
    case 'LEAST_REQUEST':
    case 'LEAST_CONN':
      // grpc-js-xds NACKs LEAST_REQUEST through lb_policy (REFERENCE §9): keep proxyless on ROUND_ROBIN.
      return { lb_policy: flavour.proxyless ? 'ROUND_ROBIN' : 'LEAST_REQUEST' };
    case 'RANDOM':
      return { lb_policy: flavour.proxyless ? 'ROUND_ROBIN' : 'RANDOM' };
    case 'PASSTHROUGH':
      return { lb_policy: flavour.proxyless ? 'ROUND_ROBIN' : 'CLUSTER_PROVIDED' };
    default:
      return { lb_policy: 'ROUND_ROBIN' };
  }
}

function subsetPolicy(dr: ConfigModel | undefined, subset: string): any {
  if (!dr) return undefined;
  const base = dr.spec?.trafficPolicy;
  if (!subset) return base;
  const s = (dr.spec?.subsets ?? []).find((x: any) => x.name === subset);
  return s?.trafficPolicy ?? base;
}

/** Apply portLevelSettings for `port` over the policy, as Istio does. */
function portPolicy(policy: any, port: number): any {
  const pls = (policy?.portLevelSettings ?? []).find((p: any) => p?.port?.number === port);
  return pls ? { ...policy, ...pls } : policy;
}

export function buildOutboundCluster(svc: ServiceModel, port: ServicePort, subset: string, dr: ConfigModel | undefined, flavour: ClusterFlavour, endpointsForDns?: Obj): Obj {
  const name = outboundClusterName(port.port, subset, svc.hostname);
  const policy = portPolicy(subsetPolicy(dr, subset), port.port);
  const cluster: Obj = { name, connect_timeout: duration(DEFAULT_CONNECT_TIMEOUT_MS), ...lbSettings(policy, flavour) };
  if (svc.resolution === 'eds' || flavour.proxyless) {
    cluster['type'] = 'EDS';
    cluster['eds_cluster_config'] = { service_name: name, eds_config: ADS_CONFIG_SOURCE };
  } else if (svc.resolution === 'passthrough') {
    cluster['type'] = 'ORIGINAL_DST';
    cluster['lb_policy'] = 'CLUSTER_PROVIDED';
  } else {
    cluster['type'] = svc.resolution === 'dns' ? 'STRICT_DNS' : 'LOGICAL_DNS';
    cluster['dns_lookup_family'] = 'V4_ONLY';
    if (endpointsForDns) cluster['load_assignment'] = endpointsForDns;
  }
  const pool = policy?.connectionPool;
  if (pool?.http?.http2MaxRequests || pool?.tcp?.maxConnections || pool?.http?.http1MaxPendingRequests) {
    const t: Obj = {};
    if (pool.tcp?.maxConnections) t['max_connections'] = { value: pool.tcp.maxConnections };
    if (pool.http?.http1MaxPendingRequests) t['max_pending_requests'] = { value: pool.http.http1MaxPendingRequests };
    if (pool.http?.http2MaxRequests) t['max_requests'] = { value: pool.http.http2MaxRequests };
    if (pool.http?.maxRetries) t['max_retries'] = { value: pool.http.maxRetries };
    cluster['circuit_breakers'] = { thresholds: [t] };
  }
  if (!flavour.proxyless && (port.protocol === 'HTTP2' || port.protocol === 'GRPC')) {
    cluster['typed_extension_protocol_options'] = {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http2_protocol_options: {} },
      },
    };
  }
  return cluster;
}

/** Every outbound cluster (default + one per DR subset) for the service's ports. */
export function outboundClustersFor(snap: SnapshotView, namespace: string, svc: ServiceModel, flavour: ClusterFlavour, portFilter?: number): Array<{ name: string; resource: Obj }> {
  const dr = destinationRuleFor(snap, namespace, svc);
  const subsets: string[] = ['', ...((dr?.spec?.subsets ?? []) as any[]).map((s) => String(s.name))];
  const out: Array<{ name: string; resource: Obj }> = [];
  for (const port of svc.ports) {
    if (portFilter !== undefined && port.port !== portFilter) continue;
    for (const subset of subsets) {
      const r = buildOutboundCluster(svc, port, subset, dr, flavour);
      out.push({ name: r['name'] as string, resource: r });
    }
  }
  return out;
}
