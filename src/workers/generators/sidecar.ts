/**
 * First sidecar generator (Envoy with `sidecar~` node IDs): outbound listeners and routes by
 * port, outbound clusters, inbound listener and clusters for the proxy's own service, and the
 * Sidecar resource's egress/ingress listeners (port + bind + captureMode). The traffic-management
 * issue deepens it toward full parity with Istio's sidecar config.
 */
import { SnapshotView } from '../../shared/snapshot/snapshot-view';
import { ConfigModel, ServiceModel } from '../../shared/model/service';
import { hostAliases, inboundClusterName, outboundClusterName } from './hosts';
import { buildRoutes } from './routes';
import { outboundClustersFor, DEFAULT_CONNECT_TIMEOUT_MS } from './clusters';
import { EgressListener, sidecarConfig, visibleServices } from './scope';
import { virtualServiceFor } from './virtual-services';
import { ADS_CONFIG_SOURCE, duration, Generated, Generator } from './types';
import { endpointPort } from './endpoints';
import { hcm, tcpProxy } from './filters';

type Obj = Record<string, unknown>;
const HTTP_PROTOCOLS = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB']);
const isHttp = (protocol: string | undefined): boolean => HTTP_PROTOCOLS.has((protocol ?? '').toUpperCase());

const PASSTHROUGH = 'PassthroughCluster';
const BLACKHOLE = 'BlackHoleCluster';

function socketAddress(address: string, port: number): Obj {
  return { socket_address: { address, port_value: port } };
}

function allowAny(snap: SnapshotView, sidecar: ConfigModel | undefined): boolean {
  const mode = sidecar?.spec?.outboundTrafficPolicy?.mode ?? (snap.mesh() as any)?.outboundTrafficPolicy?.mode ?? 'ALLOW_ANY';
  return mode !== 'REGISTRY_ONLY';
}

function egressListeners(sidecar: ConfigModel | undefined): EgressListener[] {
  return (sidecar?.spec?.egress ?? []) as EgressListener[];
}

/** The egress listener whose scope decides routes for `port` (an explicit port wins over the catch-all). */
function egressFor(sidecar: ConfigModel | undefined, port: number): EgressListener | undefined {
  const list = egressListeners(sidecar);
  return list.find((e) => e.port?.number === port) ?? list.find((e) => !e.port);
}

function routeNameFor(port: number): string { return String(port); }

// ---------------------------------------------------------------- LDS

/** Outbound facet of LDS: shared by every proxy of a scope (namespace + Sidecar). */
export const sidecarOutboundListeners: Generator = (snap, ctx) => {
  const namespace = ctx.namespace ?? 'default';
  const sidecar = sidecarConfig(snap, ctx.sidecar);
  const noCapture = ctx.interceptionMode === 'NONE';
  const out: Generated[] = [];
  const add = (resource: Obj) => out.push({ name: resource['name'] as string, resource });

  // Sidecar egress listeners with an explicit port
  for (const eg of egressListeners(sidecar)) {
    if (!eg.port) continue;
    const bindToPort = noCapture || eg.captureMode === 'NONE';
    const bind = eg.bind ?? (bindToPort ? '127.0.0.1' : '0.0.0.0');
    const name = `${bind}_${eg.port.number}`;
    const services = visibleServices(snap, namespace, sidecar, eg).filter((s) => s.ports.some((p) => p.port === eg.port!.number));
    const protocol = eg.port.protocol ?? services[0]?.ports.find((p) => p.port === eg.port!.number)?.protocol ?? 'TCP';
    const filter = isHttp(protocol)
      ? hcm(`outbound_${bind}_${eg.port.number}`, { rds: { config_source: ADS_CONFIG_SOURCE, route_config_name: routeNameFor(eg.port.number) } })
      : tcpProxy(`outbound_${bind}_${eg.port.number}`, services.length === 1 ? outboundClusterName(eg.port.number, '', services[0]!.hostname) : allowAny(snap, sidecar) ? PASSTHROUGH : BLACKHOLE);
    add({ name, address: socketAddress(bind, eg.port.number), filter_chains: [{ filters: [filter] }], ...(bindToPort ? {} : { bind_to_port: { value: false } }), traffic_direction: 'OUTBOUND' });
  }

  if (noCapture) return out;

  // Per-port outbound listeners behind virtualOutbound (catch-all egress scope)
  const explicitPorts = new Set(egressListeners(sidecar).filter((e) => e.port).map((e) => e.port!.number));
  const catchAll = sidecar ? egressListeners(sidecar).find((e) => !e.port) : undefined;
  const seenHttpPorts = new Set<number>();
  if (!sidecar || catchAll) {
    for (const svc of visibleServices(snap, namespace, sidecar, catchAll)) {
      for (const p of svc.ports) {
        if (explicitPorts.has(p.port)) continue;
        if (isHttp(p.protocol)) {
          if (seenHttpPorts.has(p.port)) continue;
          seenHttpPorts.add(p.port);
          add({ name: `0.0.0.0_${p.port}`, address: socketAddress('0.0.0.0', p.port), bind_to_port: { value: false }, traffic_direction: 'OUTBOUND',
            filter_chains: [{ filters: [hcm(`outbound_0.0.0.0_${p.port}`, { rds: { config_source: ADS_CONFIG_SOURCE, route_config_name: routeNameFor(p.port) } })] }] });
        } else {
          for (const addr of svc.addresses) {
            add({ name: `${addr}_${p.port}`, address: socketAddress(addr, p.port), bind_to_port: { value: false }, traffic_direction: 'OUTBOUND',
              filter_chains: [{ filters: [tcpProxy(`outbound|${p.port}||${svc.hostname}`, outboundClusterName(p.port, '', svc.hostname))] }] });
          }
        }
      }
    }
  }
  add({
    name: 'virtualOutbound', address: socketAddress('0.0.0.0', 15001), use_original_dst: { value: true }, traffic_direction: 'OUTBOUND',
    filter_chains: [{ name: 'virtualOutbound-catchall-tcp', filters: [tcpProxy(allowAny(snap, sidecar) ? PASSTHROUGH : BLACKHOLE, allowAny(snap, sidecar) ? PASSTHROUGH : BLACKHOLE)] }],
  });
  return out;
};

/** Inbound facet of LDS: depends only on the proxy's own workload (and Sidecar ingress). */
export const sidecarInboundListeners: Generator = (snap, ctx) => {
  const sidecar = sidecarConfig(snap, ctx.sidecar);
  const out: Generated[] = [];
  const add = (resource: Obj) => out.push({ name: resource['name'] as string, resource });

  // Sidecar ingress listeners
  for (const ing of (sidecar?.spec?.ingress ?? []) as any[]) {
    const port = Number(ing?.port?.number);
    if (!Number.isInteger(port)) continue;
    const bind = ing.bind ?? '0.0.0.0';
    const cluster = inboundClusterName(port);
    const filter = isHttp(ing.port.protocol)
      ? hcm(`inbound_${port}`, { route_config: { name: `inbound|${port}||`, virtual_hosts: [{ name: 'inbound|http|' + port, domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster, timeout: duration(0) } }] }] } })
      : tcpProxy(`inbound_${port}`, cluster);
    add({ name: `${bind}_${port}`, address: socketAddress(bind, port), filter_chains: [{ filters: [filter] }], traffic_direction: 'INBOUND' });
  }

  if (ctx.interceptionMode === 'NONE') return out;

  const inboundChains = (ctx.inbound ?? []).map((ip) => ({
    name: `${inboundClusterName(ip.port)}`,
    filter_chain_match: { destination_port: { value: ip.targetPort } },
    filters: [isHttp(ip.protocol)
      ? hcm(`inbound_0.0.0.0_${ip.targetPort}`, { route_config: { name: `inbound|${ip.port}|${ip.name}|${ip.hostname}`, virtual_hosts: [{ name: `inbound|http|${ip.port}`, domains: ['*'], routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster: inboundClusterName(ip.port), timeout: duration(0) } }] }] } })
      : tcpProxy(`inbound_0.0.0.0_${ip.targetPort}`, inboundClusterName(ip.port))],
  }));
  add({
    name: 'virtualInbound', address: socketAddress('0.0.0.0', 15006), traffic_direction: 'INBOUND',
    listener_filters: [{ name: 'envoy.filters.listener.original_dst', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst' } }],
    filter_chains: [...dedupeByPort(inboundChains), { name: 'virtualInbound-catchall', filters: [tcpProxy('InboundPassthroughCluster', PASSTHROUGH)] }],
  });
  return out;
};

function dedupeByPort<T extends { filter_chain_match: { destination_port: { value: number } } }>(chains: T[]): T[] {
  const seen = new Set<number>();
  return chains.filter((c) => !seen.has(c.filter_chain_match.destination_port.value) && seen.add(c.filter_chain_match.destination_port.value));
}

// ---------------------------------------------------------------- RDS

export const sidecarRoutes: Generator = (snap, ctx, names) => {
  const namespace = ctx.namespace ?? 'default';
  const sidecar = sidecarConfig(snap, ctx.sidecar);
  const out: Generated[] = [];
  for (const name of names ?? []) {
    const port = Number(name);
    if (!Number.isInteger(port) || port <= 0) continue;
    const eg = sidecar ? egressFor(sidecar, port) : undefined;
    if (sidecar && !eg) continue;
    const services = visibleServices(snap, namespace, sidecar, eg).filter((s) => s.ports.some((p) => p.port === port && (isHttp(p.protocol) || eg?.port?.number === port)));
    const virtualHosts: Obj[] = services.map((svc: ServiceModel) => {
      const aliases = hostAliases(svc.hostname, namespace, svc.namespace);
      const domains = [...aliases, ...aliases.map((a) => `${a}:${port}`), ...svc.addresses.flatMap((a) => [a, `${a}:${port}`])];
      return { name: `${svc.hostname}:${port}`, domains: [...new Set(domains)], routes: buildRoutes(snap, namespace, virtualServiceFor(snap, namespace, svc.hostname), svc, port) };
    });
    virtualHosts.push(allowAny(snap, sidecar)
      ? { name: 'allow_any', domains: ['*'], routes: [{ name: 'allow_any', match: { prefix: '/' }, route: { cluster: PASSTHROUGH, timeout: duration(0) } }] }
      : { name: 'block_all', domains: ['*'], routes: [{ name: 'block_all', match: { prefix: '/' }, direct_response: { status: 502 } }] });
    out.push({ name, resource: { name, virtual_hosts: virtualHosts, validate_clusters: { value: false } } });
  }
  return out;
};

// ---------------------------------------------------------------- CDS

function dnsLoadAssignment(snap: SnapshotView, svc: ServiceModel, port: ServiceModel['ports'][number]): Obj {
  const name = outboundClusterName(port.port, '', svc.hostname);
  const eps = snap.endpoints(svc.hostname, svc.namespace);
  const lb = eps.length > 0
    ? eps.map((e) => ({ endpoint: { address: socketAddress(e.address, endpointPort(e, port.name, port.targetPort || port.port) ?? port.port) }, load_balancing_weight: { value: e.weight || 1 } }))
    : [{ endpoint: { address: socketAddress(svc.hostname, port.port) }, load_balancing_weight: { value: 1 } }];
  return { cluster_name: name, endpoints: [{ locality: {}, lb_endpoints: lb, load_balancing_weight: { value: lb.reduce((a, e) => a + e.load_balancing_weight.value, 0) } }] };
}

/** Outbound facet of CDS: shared by every proxy of a scope (namespace + Sidecar). */
export const sidecarOutboundClusters: Generator = (snap, ctx) => {
  const namespace = ctx.namespace ?? 'default';
  const sidecar = sidecarConfig(snap, ctx.sidecar);
  const out: Generated[] = [];
  const seen = new Set<string>();
  const add = (g: Generated) => { if (!seen.has(g.name)) { seen.add(g.name); out.push(g); } };
  for (const svc of visibleServices(snap, namespace, sidecar)) {
    for (const c of outboundClustersFor(snap, namespace, svc, { proxyless: false })) {
      if (svc.resolution === 'dns' || svc.resolution === 'dns-round-robin') {
        const port = svc.ports.find((p) => c.name.startsWith(`outbound|${p.port}|`))!;
        c.resource['load_assignment'] = { ...dnsLoadAssignment(snap, svc, port), cluster_name: c.name };
      }
      add(c);
    }
  }
  add({ name: PASSTHROUGH, resource: { name: PASSTHROUGH, type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: duration(DEFAULT_CONNECT_TIMEOUT_MS) } });
  add({ name: BLACKHOLE, resource: { name: BLACKHOLE, type: 'STATIC', connect_timeout: duration(DEFAULT_CONNECT_TIMEOUT_MS) } });
  return out;
};

/** Inbound facet of CDS: `inbound|port||` clusters of the proxy's own workload and Sidecar ingress. */
export const sidecarInboundClusters: Generator = (snap, ctx) => {
  const sidecar = sidecarConfig(snap, ctx.sidecar);
  const out: Generated[] = [];
  const seen = new Set<string>();
  const add = (g: Generated) => { if (!seen.has(g.name)) { seen.add(g.name); out.push(g); } };
  const inboundStatic = (port: number, address: string, targetPort: number) => add({
    name: inboundClusterName(port),
    resource: {
      name: inboundClusterName(port), type: 'STATIC', connect_timeout: duration(DEFAULT_CONNECT_TIMEOUT_MS),
      load_assignment: { cluster_name: inboundClusterName(port), endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(address, targetPort) } }] }] },
    },
  });
  for (const ing of (sidecar?.spec?.ingress ?? []) as any[]) {
    const port = Number(ing?.port?.number);
    const target = String(ing?.defaultEndpoint ?? `127.0.0.1:${port}`);
    const colon = target.lastIndexOf(':');
    if (Number.isInteger(port) && colon > 0) inboundStatic(port, target.slice(0, colon), Number(target.slice(colon + 1)));
  }
  for (const ip of ctx.inbound ?? []) inboundStatic(ip.port, '127.0.0.1', ip.targetPort);
  return out;
};

/** Whole-type generators (both facets), for callers that do not split by facet. */
export const sidecarListeners: Generator = (snap, ctx, names) => [...sidecarOutboundListeners(snap, ctx, names), ...sidecarInboundListeners(snap, ctx, names)];
export const sidecarClusters: Generator = (snap, ctx, names) => [...sidecarOutboundClusters(snap, ctx, names), ...sidecarInboundClusters(snap, ctx, names)];
