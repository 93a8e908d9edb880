/**
 * Gateway generator for router proxies (`router~…` node IDs), after Istio's
 * pilot/pkg/networking/core/gateway.go. Context: ctx.gateways (the Gateways selecting the proxy),
 * ctx.namespace (exportTo and Service visibility), ctx.labels (VirtualService sourceLabels, RDS/CDS).
 *
 * LDS: one listener `<bind>_<port>` per merged server port (gateway-merge.ts), bound to the port.
 *   Plaintext HTTP servers share one HCM chain routed by RDS `http.<port>`; each terminated HTTPS
 *   server gets its own chain matched by SNI (its hosts without namespace) with a
 *   DownstreamTlsContext (gateway-tls.ts) and RDS `https.<port>.<portName>.<gw>.<ns>`; TCP and TLS
 *   servers get tcp_proxy chains from the bound VirtualServices' tcp routes; PASSTHROUGH servers a
 *   chain per tls route SNI match; AUTO_PASSTHROUGH servers a chain per mesh service port (and
 *   subset) matched on the SNI `outbound_.<port>_.<subset>_.<host>` and Istio's mTLS ALPNs. A
 *   tls_inspector listener filter when any chain matches on SNI or offers ALPN.
 * RDS: per route name, a virtual host per host of the bound VirtualServices that meets a server's
 *   hosts (named `<host>:<port>`, domain the host; Envoy ignores the port in host matching),
 *   routes from buildRoutes with the gateway; httpsRedirect → require_tls ALL; identical route
 *   lists collapse into one virtual host; no virtual host at all → a `blackhole:<port>` 404 host.
 * CDS: outbound clusters of every service visible from the proxy namespace, or with
 *   PILOT_FILTER_GATEWAY_CLUSTER_CONFIG (mesh().features.filterGatewayClusterConfig, published by
 *   the main thread) only the services the gateway's VirtualServices route or mirror to;
 *   BlackHoleCluster; for AUTO_PASSTHROUGH the SNI-DNAT clusters `outbound_.<port>_.<subset>_.<host>`
 *   (EDS, no TLS; their EDS service_name is the `outbound|…` name our EDS already serves).
 */
import { SnapshotView } from '../../shared/snapshot/snapshot-view';
import { ConfigModel, ServiceModel } from '../../shared/model/service';
import { GenContext } from '../../shared/generation';
import { parseClusterName, resolveHost } from './hosts';
import { endpointPort } from './endpoints';
import { RouteOptions, virtualServiceRoutes } from './routes';
import { L4Target, tcpTargets, tlsTargets } from './tcp-routes';
import { outboundClustersFor, DEFAULT_CONNECT_TIMEOUT_MS } from './clusters';
import { destinationRuleFor } from './destination-rules';
import { visibleServices } from './scope';
import { hcm, rdsRouting, tcpProxy } from './filters';
import { duration, Generated, Generator } from './types';
import {
  GatewayServer, MergedGateway, hostSubsetOf, intersectHosts, isHttpProtocol, isHttpsTermination, isPassthroughServer,
  mergeGateways, serverHostsForNamespace, tlsMode, virtualServiceHosts, virtualServicesForGateway, vsMatchesServer,
} from './gateway-merge';
import { downstreamTlsContext, tlsTransportSocket } from './gateway-tls';

type Obj = Record<string, unknown>;

const BLACKHOLE = 'BlackHoleCluster';
/** Istio allIstioMtlsALPNs: what a sidecar offers when it originates mTLS. */
const ISTIO_MTLS_ALPNS = ['istio', 'istio-peer-exchange', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2'];
/** Istio defaultGatewayTransportSocketConnectTimeout (slow-handshake protection). */
const TRANSPORT_SOCKET_CONNECT_TIMEOUT_MS = 15_000;
/** Istio DefaultMaxDirectResponseBodySizeBytes. */
const MAX_DIRECT_RESPONSE_BODY_BYTES = 1024 * 1024;
const TLS_INSPECTOR = {
  name: 'envoy.filters.listener.tls_inspector',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' },
};

function namespaceOf(ctx: Partial<GenContext>): string { return ctx.namespace ?? 'default'; }

/** VirtualServices per gateway, looked up once per generation. */
function vsLookup(snap: SnapshotView, namespace: string): (gateway: string) => ConfigModel[] {
  const cache = new Map<string, ConfigModel[]>();
  return (gw) => {
    let list = cache.get(gw);
    if (!list) { list = virtualServicesForGateway(snap, namespace, gw); cache.set(gw, list); }
    return list;
  };
}

/** Istio BuildDNSSrvSubsetKey: the SNI a sidecar sends for AUTO_PASSTHROUGH. */
export function sniDnatClusterName(port: number, subset: string, host: string): string {
  return `outbound_.${port}_.${subset}_.${host}`;
}

// ---------------------------------------------------------------- LDS

/** HCM settings of gateway listeners (Istio buildGatewayConnectionManager defaults). */
function gatewayHcm(statPrefix: string, routeName: string): Obj {
  return hcm(statPrefix, {
    ...rdsRouting(routeName),
    use_remote_address: { value: true },
    forward_client_cert_details: 'SANITIZE_SET',
    set_current_client_cert_details: { subject: { value: true }, cert: true, dns: true, uri: true },
    http_protocol_options: {},
  });
}

function sniMatch(sniHosts: readonly string[], applicationProtocols?: readonly string[]): Obj | undefined {
  const match: Obj = {};
  if (sniHosts.length > 0 && !sniHosts.includes('*')) match['server_names'] = [...sniHosts].sort();
  if (applicationProtocols && applicationProtocols.length > 0) match['application_protocols'] = [...applicationProtocols];
  return Object.keys(match).length > 0 ? match : undefined;
}

function chain(match: Obj | undefined, filters: Obj[], tls?: Obj): Obj {
  return {
    ...(match ? { filter_chain_match: match } : {}),
    filters,
    ...(tls ? { transport_socket: tlsTransportSocket(tls) } : {}),
    transport_socket_connect_timeout: duration(TRANSPORT_SOCKET_CONNECT_TIMEOUT_MS),
  };
}

function l4Filter(vs: ConfigModel, target: L4Target): Obj | undefined {
  const clusters = target.clusters.filter((c) => c.weight > 0);
  if (clusters.length === 0) return undefined;
  return clusters.length === 1 ? tcpProxy(clusters[0]!.name, clusters[0]!.name) : tcpProxy(`${vs.name}.${vs.namespace}`, clusters);
}

interface ListenerState {
  readonly namespace: string;
  readonly vsFor: (gateway: string) => ConfigModel[];
  /** SNI hosts already claimed by passthrough chains, per listener port: host → bind */
  readonly tlsHostsByPort: Map<number, Map<string, string>>;
  readonly snap: SnapshotView;
}

/** TCP servers and TLS servers terminated at the gateway: the first matching tcp route (Istio buildGatewayNetworkFiltersFromTCPRoutes). */
function tcpRouteChains(st: ListenerState, s: GatewayServer): Obj[] {
  const opts: RouteOptions = { gateway: s.gateway };
  for (const vs of st.vsFor(s.gateway)) {
    if (!vsMatchesServer(vs, s)) continue;
    for (const target of tcpTargets(st.snap, st.namespace, vs, s.port.number, opts)) {
      const filter = l4Filter(vs, target);
      if (!filter) continue;
      if (!s.tls) return [chain(undefined, [filter])];
      const tls = downstreamTlsContext(s.tls, true);
      return [chain(sniMatch(s.sniHosts), [filter], tls)];
    }
  }
  return [];
}

/** PASSTHROUGH: a chain per tls route match, keyed by its SNI hosts (Istio buildGatewayNetworkFiltersFromTLSRoutes). */
function passthroughChains(st: ListenerState, s: GatewayServer, listenerPort: number): Obj[] {
  const out: Obj[] = [];
  const known = st.tlsHostsByPort.get(listenerPort) ?? new Map<string, string>();
  st.tlsHostsByPort.set(listenerPort, known);
  for (const vs of st.vsFor(s.gateway)) {
    if (!vsMatchesServer(vs, s)) continue;
    for (const target of tlsTargets(st.snap, st.namespace, vs, s.port.number, { gateway: s.gateway })) {
      const sni = [...(target.sniHosts ?? [])];
      if (sni.some((h) => known.get(h) === s.bind)) continue; // Envoy rejects duplicate SNI matches
      const filter = l4Filter(vs, target);
      if (!filter) continue;
      for (const h of sni) known.set(h, s.bind);
      out.push(chain(sniMatch(sni), [filter]));
    }
  }
  return out;
}

/** AUTO_PASSTHROUGH: one chain per in-mesh service port and subset whose host the server exposes. */
function autoPassthroughChains(st: ListenerState, s: GatewayServer): Obj[] {
  const out: Obj[] = [];
  for (const svc of visibleServices(st.snap, st.namespace, undefined)) {
    if (svc.meshExternal || !s.sniHosts.some((h) => hostSubsetOf(svc.hostname, h))) continue;
    const subsets = ['', ...subsetNames(st.snap, st.namespace, svc)];
    for (const port of svc.ports) {
      if (port.protocol.toUpperCase() === 'UDP') continue;
      for (const subset of subsets) {
        const name = sniDnatClusterName(port.port, subset, svc.hostname);
        out.push(chain({ server_names: [name], application_protocols: ISTIO_MTLS_ALPNS }, [tcpProxy(name, name)]));
      }
    }
  }
  return out;
}

function subsetNames(snap: SnapshotView, namespace: string, svc: ServiceModel): string[] {
  const dr = destinationRuleFor(snap, namespace, svc);
  const subsets: unknown[] = Array.isArray(dr?.spec?.subsets) ? dr!.spec.subsets : [];
  return subsets.map((x: any) => x?.name).filter((n): n is string => typeof n === 'string' && n !== '');
}

function listenerAddress(bind: string, port: number): Obj {
  if (bind.startsWith('unix://')) return { pipe: { path: bind.slice('unix://'.length) } };
  return { socket_address: { address: bind, port_value: port } };
}

export const gatewayListeners: Generator = (snap, ctx) => {
  const namespace = namespaceOf(ctx);
  const merged = mergeGateways(snap, ctx.gateways ?? []);
  const st: ListenerState = { namespace, vsFor: vsLookup(snap, namespace), tlsHostsByPort: new Map(), snap };
  const listeners = new Map<string, { bind: string; port: number; chains: Obj[] }>();
  for (const m of merged.ports) {
    const bind = m.bind || '0.0.0.0';
    const name = bind.startsWith('unix://') ? bind : `${bind}_${m.number}`;
    const defaultStat = `outbound_${name}`;
    const chains: Obj[] = [];
    if (isHttpProtocol(m.protocol)) {
      chains.push(chain(undefined, [gatewayHcm(defaultStat, m.routeName)]));
    } else {
      for (const s of m.servers) {
        if (isHttpsTermination(s)) {
          chains.push(chain(sniMatch(s.sniHosts), [gatewayHcm(s.name || defaultStat, s.routeName)], downstreamTlsContext(s.tls!, false)));
        } else if (!s.tls || !isPassthroughServer(s)) {
          chains.push(...tcpRouteChains(st, s));
        } else if (tlsMode(s) === 'AUTO_PASSTHROUGH') {
          chains.push(...autoPassthroughChains(st, s));
        } else {
          chains.push(...passthroughChains(st, s, m.number));
        }
      }
    }
    const l = listeners.get(name) ?? { bind, port: m.number, chains: [] };
    l.chains.push(...chains);
    listeners.set(name, l);
  }
  const out: Generated[] = [];
  for (const [name, l] of listeners) {
    if (l.chains.length === 0) continue; // Istio omits a listener without filter chains
    const inspect = l.chains.some((c) => (c['filter_chain_match'] as Obj | undefined)?.['server_names'] || c['transport_socket']);
    out.push({
      name,
      resource: {
        name, address: listenerAddress(l.bind, l.port), traffic_direction: 'OUTBOUND',
        ...(inspect ? { listener_filters: [TLS_INSPECTOR] } : {}),
        filter_chains: l.chains,
      },
    });
  }
  return out;
};

// ---------------------------------------------------------------- RDS

/** Istio isCatchAllRoute: matches every request on the path and has no header/query conditions. */
function isCatchAll(r: Obj): boolean {
  const m = (r['match'] ?? {}) as Obj;
  const everyPath = m['prefix'] === '/' || m['path_separated_prefix'] === '/' || ['*', '.*'].includes(String((m['safe_regex'] as Obj | undefined)?.['regex'] ?? ''));
  return everyPath && !(Array.isArray(m['headers']) && m['headers'].length > 0) && !(Array.isArray(m['query_parameters']) && m['query_parameters'].length > 0);
}

/** Istio SortVHostRoutes: catch-all routes move to the end, others keep their order. */
function sortRoutes(routes: Obj[]): Obj[] {
  return [...routes.filter((r) => !isCatchAll(r)), ...routes.filter(isCatchAll)];
}

interface VHost { name: string; domains: string[]; routes: Obj[]; requireTls: boolean }

function buildRouteConfig(snap: SnapshotView, ctx: Partial<GenContext>, merged: MergedGateway, routeName: string): Obj {
  const namespace = namespaceOf(ctx);
  const empty = { name: routeName, virtual_hosts: [], validate_clusters: { value: false } };
  const servers = merged.serversByRouteName.get(routeName);
  if (!servers || servers.length === 0) return empty; // e.g. a Gateway just deleted while Envoy drains
  const vsFor = vsLookup(snap, namespace);
  const routesByGatewayVs = new Map<string, Obj[]>();
  const vhosts = new Map<string, VHost>();
  for (const server of servers) {
    const port = server.port.number;
    for (const vs of vsFor(server.gateway)) {
      const hosts = intersectHosts(serverHostsForNamespace(server.hosts, vs.namespace), virtualServiceHosts(vs));
      if (hosts.length === 0) continue;
      const key = `${server.gateway}|${vs.namespace}/${vs.name}`;
      let routes = routesByGatewayVs.get(key);
      if (!routes) {
        routes = virtualServiceRoutes(snap, namespace, vs, port, { gateway: server.gateway, labels: ctx.labels ?? {} });
        routesByGatewayVs.set(key, routes);
      }
      for (const h of hosts) {
        const hostname = h.toLowerCase();
        const existing = vhosts.get(hostname);
        if (existing) {
          existing.routes.push(...routes);
          if (server.tls?.['httpsRedirect']) existing.requireTls = true;
        } else {
          vhosts.set(hostname, { name: `${hostname}:${port}`, domains: [hostname], routes: [...routes], requireTls: Boolean(server.tls?.['httpsRedirect']) });
        }
      }
    }
    // httpsRedirect applies to every host of the server, with or without a VirtualService
    if (server.tls?.['httpsRedirect']) {
      for (const raw of server.hosts) {
        const hostname = (raw.includes('/') ? raw.slice(raw.indexOf('/') + 1) : raw).toLowerCase();
        const existing = vhosts.get(hostname);
        if (existing) existing.requireTls = true;
        else vhosts.set(hostname, { name: `${hostname}:${port}`, domains: [hostname], routes: [], requireTls: true });
      }
    }
  }
  let list: VHost[];
  if (vhosts.size === 0) {
    const port = servers[0]!.port.number;
    // no routes: Envoy answers 404 (NR) for everything
    list = [{ name: `blackhole:${port}`, domains: ['*'], routes: [], requireTls: false }];
  } else {
    list = collapse(vhosts);
    for (const v of list) v.routes = sortRoutes(v.routes);
  }
  list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    name: routeName,
    virtual_hosts: list.map((v) => ({ name: v.name, domains: v.domains, routes: v.routes, ...(v.requireTls ? { require_tls: 'ALL' } : {}) })),
    validate_clusters: { value: false },
    ignore_port_in_host_matching: true,
    max_direct_response_body_size_bytes: { value: MAX_DIRECT_RESPONSE_BODY_BYTES },
  };
}

/** Istio collapseDuplicateRoutes: hosts with identical routes (and TLS requirement) share one virtual host, named after the first host alphabetically. */
function collapse(vhosts: Map<string, VHost>): VHost[] {
  const out: VHost[] = [];
  const byRoutes = new Map<string, VHost>();
  for (const host of [...vhosts.keys()].sort()) {
    const v = vhosts.get(host)!;
    const key = `${v.requireTls}|${JSON.stringify(v.routes)}`;
    const primary = byRoutes.get(key);
    if (primary && v.routes.length > 0) primary.domains.push(...v.domains);
    else { byRoutes.set(key, v); out.push(v); }
  }
  return out;
}

export const gatewayRoutes: Generator = (snap, ctx, names) => {
  const merged = mergeGateways(snap, ctx.gateways ?? []);
  const wanted = names ?? [...merged.serversByRouteName.keys()];
  return wanted.map((name) => ({ name, resource: buildRouteConfig(snap, ctx, merged, name) }));
};

// ---------------------------------------------------------------- CDS

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
  const namespace = namespaceOf(ctx);
  const merged = mergeGateways(snap, ctx.gateways ?? []);
  let services = visibleServices(snap, namespace, undefined);
  if (filterGatewayClusterConfig(snap)) {
    const vsFor = vsLookup(snap, namespace);
    const hosts = new Set<string>();
    for (const gw of new Set(merged.ports.flatMap((m) => m.servers.map((s) => s.gateway)))) {
      for (const vs of vsFor(gw)) for (const h of destinationHosts(vs)) hosts.add(h);
    }
    services = services.filter((s) => hosts.has(s.hostname));
  }
  const out: Generated[] = [];
  const seen = new Set<string>();
  const add = (g: Generated) => { if (!seen.has(g.name)) { seen.add(g.name); out.push(g); } };
  const isDns = (svc: ServiceModel) => svc.resolution === 'dns' || svc.resolution === 'dns-round-robin';
  for (const svc of services) {
    for (const c of outboundClustersFor(snap, namespace, svc, { proxyless: false })) add(isDns(svc) ? withDnsEndpoints(snap, svc, c.name, c) : c);
  }
  add({ name: BLACKHOLE, resource: { name: BLACKHOLE, type: 'STATIC', connect_timeout: duration(DEFAULT_CONNECT_TIMEOUT_MS) } });
  if (merged.autoPassthrough) {
    // SNI-DNAT clusters: every in-mesh service (Istio buildOutboundSniDnatClusters uses the full scope, not the filtered one)
    for (const svc of visibleServices(snap, namespace, undefined)) {
      if (svc.meshExternal) continue;
      for (const c of outboundClustersFor(snap, namespace, svc, { proxyless: false })) {
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
