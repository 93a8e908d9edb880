/**
 * Gateway CDS, after Istio's cluster builder for gateways (pilot/pkg/networking/core/cluster.go):
 * outbound clusters (and DestinationRule subsets) of every service visible from the proxy
 * namespace, or with PILOT_FILTER_GATEWAY_CLUSTER_CONFIG (mesh().features.filterGatewayClusterConfig,
 * published by the main thread) only those the gateway's VirtualServices route or mirror to (Istio
 * GatewayServices); BlackHoleCluster (gateways have no original-dst listener, so no
 * PassthroughCluster); for AUTO_PASSTHROUGH servers the SNI-DNAT clusters
 * `outbound_.<port>_.<subset>_.<host>` of every in-mesh service, without TLS (the sidecar's mTLS
 * passes through). Their EDS service_name is the `outbound|…` name our EDS already serves.
 */
import { SnapshotView } from '../../shared/snapshot/snapshot-view';
import { ConfigModel, ServiceModel } from '../../shared/model/service';
import { parseClusterName, resolveHost } from './hosts';
import { endpointPort } from './endpoints';
import { outboundClustersFor, DEFAULT_CONNECT_TIMEOUT_MS } from './clusters';
import { visibleServices } from './scope';
import { duration, Generated, Generator } from './types';
import { mergeGateways, virtualServiceLookup } from './gateway-merge';

type Obj = Record<string, unknown>;

const BLACKHOLE = 'BlackHoleCluster';

/** Istio BuildDNSSrvSubsetKey: the SNI a sidecar sends for AUTO_PASSTHROUGH. */
export function sniDnatClusterName(port: number, subset: string, host: string): string {
  return `outbound_.${port}_.${subset}_.${host}`;
}

/** Hosts a VirtualService sends traffic to: http route and mirror destinations, tcp and tls routes (Istio virtualServiceDestinations). */
function destinationHosts(vs: ConfigModel): string[] {
  const out: string[] = [];
  const add = (d: any) => { if (d && typeof d.host === 'string') out.push(resolveHost(d.host, vs.namespace)); };
  for (const h of (Array.isArray(vs.spec?.http) ? vs.spec.http : []) as any[]) {
    for (const r of h?.route ?? []) add(r?.destination);
    add(h?.mirror);
    for (const m of h?.mirrors ?? []) add(m?.destination);
  }
  for (const section of ['tcp', 'tls']) {
    for (const t of (Array.isArray(vs.spec?.[section]) ? vs.spec[section] : []) as any[]) for (const r of t?.route ?? []) add(r?.destination);
  }
  return out;
}

/** PILOT_FILTER_GATEWAY_CLUSTER_CONFIG, carried in the snapshot's mesh object by the main thread. */
export function filterGatewayClusterConfig(snap: SnapshotView): boolean {
  return (snap.mesh() as any)?.features?.filterGatewayClusterConfig === true;
}

export const gatewayClusters: Generator = (snap, ctx) => {
  const namespace = ctx.namespace ?? 'default';
  const merged = mergeGateways(snap, ctx.gateways ?? []);
  let services = visibleServices(snap, namespace, undefined);
  if (filterGatewayClusterConfig(snap)) {
    const vsFor = virtualServiceLookup(snap, namespace);
    const hosts = new Set<string>();
    for (const gw of new Set(merged.ports.flatMap((m) => m.servers.map((s) => s.gateway)))) {
      for (const vs of vsFor(gw)) for (const h of destinationHosts(vs)) hosts.add(h);
    }
    services = services.filter((s) => hosts.has(s.hostname));
  }
  const out: Generated[] = [];
  const seen = new Set<string>();
  const add = (g: Generated) => { if (!seen.has(g.name)) { seen.add(g.name); out.push(g); } };
  // gateway: DestinationRule credentialName applies to gateways (Istio); labels: workload-selected DestinationRules
  const flavour = { proxyless: false, gateway: true, labels: ctx.labels ?? {} };
  const isDns = (svc: ServiceModel) => svc.resolution === 'dns' || svc.resolution === 'dns-round-robin';
  for (const svc of services) {
    for (const c of outboundClustersFor(snap, namespace, svc, flavour)) add(isDns(svc) ? withDnsEndpoints(snap, svc, c.name, c) : c);
  }
  add({ name: BLACKHOLE, resource: { name: BLACKHOLE, type: 'STATIC', connect_timeout: duration(DEFAULT_CONNECT_TIMEOUT_MS) } });
  if (merged.autoPassthrough) {
    // SNI-DNAT clusters: every in-mesh service (Istio buildOutboundSniDnatClusters uses the full scope, not the filtered one)
    for (const svc of visibleServices(snap, namespace, undefined)) {
      if (svc.meshExternal) continue;
      // without the proxy labels: the same DestinationRule (and subsets) LDS's SNI chains were built from
      for (const c of outboundClustersFor(snap, namespace, svc, { proxyless: false, gateway: true })) {
        const parsed = parseClusterName(c.name);
        const port = svc.ports.find((p) => p.port === parsed?.port);
        if (!parsed || !port || port.protocol.toUpperCase() === 'UDP') continue;
        const name = sniDnatClusterName(port.port, parsed.subset, svc.hostname);
        const r: Obj = { ...c.resource, name };
        delete r['transport_socket'];
        delete r['transport_socket_matches'];
        add(isDns(svc) ? withDnsEndpoints(snap, svc, c.name, { name, resource: r }) : { name, resource: r });
      }
    }
  }
  return out;
};

/** DNS clusters carry their endpoints inline (load_assignment), as the sidecar generator does. */
function withDnsEndpoints(snap: SnapshotView, svc: ServiceModel, outboundName: string, c: Generated): Generated {
  const parsed = parseClusterName(outboundName);
  const port = svc.ports.find((p) => p.port === parsed?.port);
  if (!port) return c;
  const eps = snap.endpoints(svc.hostname, svc.namespace).filter((e) => e.healthy);
  const lb = eps.length > 0
    ? eps.map((e) => ({ endpoint: { address: { socket_address: { address: e.address, port_value: endpointPort(e, port.name, port.targetPort || port.port) ?? port.port } } }, load_balancing_weight: { value: e.weight || 1 } }))
    : [{ endpoint: { address: { socket_address: { address: svc.hostname, port_value: port.port } } }, load_balancing_weight: { value: 1 } }];
  const total = lb.reduce((a, e) => a + e.load_balancing_weight.value, 0);
  return { name: c.name, resource: { ...c.resource, load_assignment: { cluster_name: c.name, endpoints: [{ locality: {}, lb_endpoints: lb, load_balancing_weight: { value: total } }] } } };
}
