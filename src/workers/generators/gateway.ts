/**
 * Gateway generator for router proxies (`router~…` node IDs), after Istio's
 * pilot/pkg/networking/core/gateway.go. Context: ctx.gateways (the Gateways selecting the proxy),
 * ctx.namespace (exportTo and Service visibility, security policy namespace), ctx.labels
 * (VirtualService sourceLabels in RDS; security policy selectors in LDS).
 *
 * LDS: one listener `<bind>_<port>` per merged server port (gateway-merge.ts), bound to the port,
 *   or to its targetPort when the gateway's own Service (ctx.inbound) has that port (Istio resolvePorts).
 *   Plaintext HTTP servers share one HCM chain routed by RDS `http.<port>`; each terminated HTTPS
 *   server gets its own chain matched by SNI (its hosts without namespace) with a
 *   DownstreamTlsContext (gateway-tls.ts) and RDS `https.<port>.<portName>.<gw>.<ns>`; TCP and TLS
 *   servers get tcp_proxy chains from the bound VirtualServices' tcp routes; PASSTHROUGH servers a
 *   chain per tls route SNI match; AUTO_PASSTHROUGH servers a chain per mesh service port (and
 *   subset) matched on the SNI `outbound_.<port>_.<subset>_.<host>` and Istio's mTLS ALPNs. A
 *   tls_inspector listener filter when any chain matches on SNI or offers ALPN.
 * RDS: gateway-routes.ts. CDS: gateway-clusters.ts. Server merging and VirtualService binding:
 *   gateway-merge.ts. DownstreamTlsContext: gateway-tls.ts.
 * Security (Istio buildGatewayListeners + ListenerBuilder authn/authz builders): the
 *   RequestAuthentications and AuthorizationPolicies of the proxy's namespace and the root
 *   namespace whose selector matches the gateway pod's labels (ctx.labels). Every HCM gets
 *   jwt_authn (clear_route_cache: claims can drive routing) then the RBAC filters (CUSTOM, AUDIT,
 *   DENY, ALLOW) ahead of its own filters; every TCP-protocol chain (TCP, TLS terminated to TCP,
 *   PASSTHROUGH, AUTO_PASSTHROUGH) gets the network RBAC filters ahead of tcp_proxy. Selection is
 *   by selector only: policies with targetRef(s) (Gateway API attachment) are skipped, as for
 *   sidecars.
 */
import { SnapshotView } from '../../shared/snapshot/snapshot-view';
import { ConfigModel, ServiceModel } from '../../shared/model/service';
import { RouteOptions } from './routes';
import { L4Target, tcpTargets, tlsTargets } from './tcp-routes';
import { destinationRuleFor } from './destination-rules';
import { visibleServices } from './scope';
import { hcm, rdsRouting, tcpProxy } from './filters';
import { duration, Generated, Generator } from './types';
import {
  GatewayServer, hostSubsetOf, isHttpProtocol, isHttpsTermination, isPassthroughServer, mergeGateways, tlsMode,
  virtualServiceLookup, vsMatchesServer,
} from './gateway-merge';
import { downstreamTlsContext, tlsTransportSocket } from './gateway-tls';
import { sniDnatClusterName } from './gateway-clusters';
import { authorizationFilters } from './security/authorization';
import { jwtAuthnFilter } from './security/request-authentication';

export { gatewayRoutes } from './gateway-routes';
export { gatewayClusters, sniDnatClusterName } from './gateway-clusters';

type Obj = Record<string, unknown>;

/** Istio allIstioMtlsALPNs: what a sidecar offers when it originates mTLS. */
const ISTIO_MTLS_ALPNS = ['istio', 'istio-peer-exchange', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2'];
/** Istio defaultGatewayTransportSocketConnectTimeout (slow-handshake protection). */
const TRANSPORT_SOCKET_CONNECT_TIMEOUT_MS = 15_000;
const TLS_INSPECTOR = {
  name: 'envoy.filters.listener.tls_inspector',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' },
};

/** HCM settings of gateway listeners (Istio buildGatewayConnectionManager defaults). */
function gatewayHcm(statPrefix: string, routeName: string, before: readonly Obj[]): Obj {
  return hcm(statPrefix, {
    ...rdsRouting(routeName),
    use_remote_address: { value: true },
    forward_client_cert_details: 'SANITIZE_SET',
    set_current_client_cert_details: { subject: { value: true }, cert: true, dns: true, uri: true },
    http_protocol_options: {},
  }, { before });
}

/** The security filters of a gateway proxy: HTTP ones ahead of each HCM's own, network ones ahead of tcp_proxy. */
interface GatewaySecurity {
  readonly http: readonly Obj[];
  readonly network: readonly Obj[];
}

function gatewaySecurity(snap: SnapshotView, namespace: string, labels: Readonly<Record<string, string>>): GatewaySecurity {
  const jwt = jwtAuthnFilter(snap, namespace, labels, { clearRouteCache: true });
  const authz = authorizationFilters(snap, { namespace, labels });
  return { http: jwt ? [jwt, ...authz.http] : authz.http, network: authz.network };
}

const HCM_FILTER = 'envoy.filters.network.http_connection_manager';

/** Istio appends the authz TCP filters to every TCP-protocol gateway chain, ahead of its terminal filter. */
function withNetworkPolicy(c: Obj, network: readonly Obj[]): Obj {
  const filters = c['filters'] as Obj[];
  if (network.length === 0 || filters.some((f) => f['name'] === HCM_FILTER)) return c;
  return { ...c, filters: [...network, ...filters] };
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

/**
 * Envoy rejects a listener whose filter chains repeat a match. Server merging already drops
 * repeated TLS hosts; hosts that differ only in their namespace part (`*` and `ns/*`) still meet
 * here: the first chain keeps the match.
 */
function uniqueMatches(chains: Obj[]): Obj[] {
  const seen = new Set<string>();
  return chains.filter((c) => {
    const m = (c['filter_chain_match'] ?? {}) as Obj;
    const key = JSON.stringify([[...((m['server_names'] as string[] | undefined) ?? [])].sort(), m['application_protocols'] ?? [], m['prefix_ranges'] ?? []]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function listenerAddress(bind: string, port: number): Obj {
  if (bind.startsWith('unix://')) return { pipe: { path: bind.slice('unix://'.length) } };
  return { socket_address: { address: bind, port_value: port } };
}

export const gatewayListeners: Generator = (snap, ctx) => {
  const namespace = ctx.namespace ?? 'default';
  const merged = mergeGateways(snap, ctx.gateways ?? []);
  const st: ListenerState = { namespace, vsFor: virtualServiceLookup(snap, namespace), tlsHostsByPort: new Map(), snap };
  const security = gatewaySecurity(snap, namespace, ctx.labels ?? {});
  const listeners = new Map<string, { bind: string; port: number; chains: Obj[] }>();
  for (const m of merged.ports) {
    const bind = m.bind || '0.0.0.0';
    // Istio resolvePorts: a server port that is a port of the gateway's own Service listens on
    // that port's targetPort (Service 80 → pod 8080); route names keep the server port.
    const listenPort = (ctx.inbound ?? []).find((ip) => ip.port === m.number)?.targetPort ?? m.number;
    const name = bind.startsWith('unix://') ? bind : `${bind}_${listenPort}`;
    const defaultStat = `outbound_${name}`;
    const chains: Obj[] = [];
    if (isHttpProtocol(m.protocol)) {
      chains.push(chain(undefined, [gatewayHcm(defaultStat, m.routeName, security.http)]));
    } else {
      for (const s of m.servers) {
        if (isHttpsTermination(s)) {
          chains.push(chain(sniMatch(s.sniHosts), [gatewayHcm(s.name || defaultStat, s.routeName, security.http)], downstreamTlsContext(s.tls!, false)));
        } else if (!s.tls || !isPassthroughServer(s)) {
          chains.push(...tcpRouteChains(st, s));
        } else if (tlsMode(s) === 'AUTO_PASSTHROUGH') {
          chains.push(...autoPassthroughChains(st, s));
        } else {
          chains.push(...passthroughChains(st, s, m.number));
        }
      }
    }
    const l = listeners.get(name) ?? { bind, port: listenPort, chains: [] };
    l.chains.push(...chains.map((c) => withNetworkPolicy(c, security.network)));
    listeners.set(name, l);
  }
  const out: Generated[] = [];
  for (const [name, l] of listeners) {
    l.chains = uniqueMatches(l.chains);
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
