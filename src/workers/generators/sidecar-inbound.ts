/**
 * Sidecar inbound LDS (Istio listener_inbound.go): `virtualInbound` 0.0.0.0:15006 with
 * original_dst and http_inspector, the blackhole and passthrough chains, one chain per target port
 * of the proxy's own services (or the Sidecar's ingress listeners, which replace them; captureMode
 * NONE makes a real listener).
 *
 * Security policy enters through one seam, `inboundPolicy(snap, ctx)` (security/inbound-policy.ts):
 * per target port, the HTTP filters before the router (jwt_authn, rbac) and the network filters
 * before tcp_proxy (rbac), and the PeerAuthentication mode, which shapes the chains themselves
 * (Istio getFilterChainMatchOptions): STRICT → mTLS chains only (transport_protocol tls, the
 * DownstreamTlsContext with SDS `default`/`ROOTCA`), PERMISSIVE (the default) → mTLS and plaintext
 * chains, DISABLE → plaintext only. The passthrough chains follow the workload's mode, plus one set
 * per port-level mode on a port no chain serves. Listener filters follow the chains (Istio
 * populateListenerFilters): tls_inspector where a chain matches on TLS, http_inspector where one
 * matches plaintext HTTP ALPNs, each disabled on the ports that do not need it.
 */
import { ConfigModel, serviceEntryPortProtocol } from '../../shared/model/service';
import { GenContext } from '../../shared/generation';
import { inboundClusterName } from './hosts';
import { sidecarConfig } from './scope';
import { duration, Generated, Generator } from './types';
import { hcm, tcpProxy } from './filters';
import {
  address, BLACKHOLE_CLUSTER, HTTP_INSPECTOR, INBOUND_PASSTHROUGH_CLUSTER, listenerClass, meshDurationMs, ORIGINAL_DST, ORIGINAL_SRC, WILDCARD,
} from './sidecar';
import { InboundPolicy, inboundPolicy } from './security/inbound-policy';
import { ChainMatchOption, chainMatchOptions, inboundMtlsTransportSocket } from './security/peer-authentication';

type Obj = Record<string, unknown>;

/** One inbound filter chain's configuration (Istio inboundChainConfig). */
interface InboundChain {
  /** service port (names the virtual host) and target port (matched, names the cluster) */
  port: number;
  targetPort: number;
  protocol: string;
  hostname: string;
  bind: string;
  bindToPort: boolean;
}

interface IngressListener {
  port?: { number?: number; protocol?: string; name?: string };
  bind?: string;
  captureMode?: string;
  defaultEndpoint?: string;
}

export function ingressListeners(sidecar: ConfigModel | undefined): IngressListener[] {
  return ((sidecar?.spec?.ingress ?? []) as IngressListener[]).filter((i) => Number.isInteger(Number(i?.port?.number)) && Number(i.port!.number) > 0);
}

/**
 * Istio buildInboundChainConfigs: the Sidecar's ingress listeners when it has any (they replace the
 * service ports), else one chain per target port of the workload's services (the first service of a
 * port wins) — none without iptables. Sorted by target port.
 */
function inboundChains(ctx: Partial<GenContext>, sidecar: ConfigModel | undefined): InboundChain[] {
  const byPort = new Map<number, InboundChain>();
  const ingress = ingressListeners(sidecar);
  if (ingress.length === 0) {
    if (ctx.interceptionMode === 'NONE') return [];
    for (const ip of ctx.inbound ?? []) {
      if (byPort.has(ip.targetPort) || !listenerClass(ip.protocol)) continue;
      byPort.set(ip.targetPort, { port: ip.port, targetPort: ip.targetPort, protocol: ip.protocol, hostname: ip.hostname, bind: WILDCARD, bindToPort: false });
    }
  } else {
    for (const ing of ingress) {
      const port = Number(ing.port!.number);
      if (byPort.has(port)) continue;
      const mode = ing.captureMode ?? 'DEFAULT';
      const bindToPort = mode === 'DEFAULT' ? ctx.interceptionMode === 'NONE' : mode === 'NONE';
      byPort.set(port, {
        port, targetPort: port, protocol: serviceEntryPortProtocol(ing.port!.protocol),
        hostname: `${sidecar!.name}.${sidecar!.namespace}`, bind: ing.bind || WILDCARD, bindToPort,
      });
    }
  }
  return [...byPort.values()].sort((a, b) => a.targetPort - b.targetPort);
}

/** Istio buildSidecarInboundHTTPRouteConfig: one virtual host, everything to the inbound cluster. */
function inboundRouteConfig(name: string, cluster: string, port: number, hostname: string | undefined): Obj {
  return {
    name,
    virtual_hosts: [{
      name: `inbound|http|${port}`, domains: ['*'],
      routes: [{
        name: 'default', match: { prefix: '/' },
        route: { cluster, timeout: duration(0), max_stream_duration: { max_stream_duration: duration(0), grpc_timeout_header_max: duration(0) } },
        ...(hostname ? { decorator: { operation: `${hostname}:${port}/*` } } : {}),
      }],
    }],
    validate_clusters: { value: false },
  };
}

/**
 * Istio buildSidecarInboundHTTPOpts proxy headers (sidecar defaults): the peer's certificate details
 * appended to x-forwarded-client-cert for the app (Subject, URI, DNS), after what came in.
 */
const INBOUND_CLIENT_CERT: Obj = {
  forward_client_cert_details: 'APPEND_FORWARD',
  set_current_client_cert_details: { subject: { value: true }, uri: true, dns: true },
};

const TLS_INSPECTOR: Obj = { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } };
const VIRTUAL_INBOUND = 'virtualInbound';
const CATCHALL_HTTP = 'virtualInbound-catchall-http';

/** What the chains of one port are built from (Istio inboundChainForOpts inputs). */
interface ChainBuild {
  /** port matched (0: none), chain name per protocol, and the HTTP / TCP filters */
  port: number;
  name(protocol: 'HTTP' | 'TCP'): string;
  http(): Obj[];
  tcp(): Obj[];
}

/** Istio inboundChainForOpts: one filter chain per match option, mTLS ones with the DownstreamTlsContext. */
function chainsForOptions(b: ChainBuild, opts: readonly ChainMatchOption[], mesh: Obj): Obj[] {
  return opts.map((o) => ({
    name: b.name(o.protocol),
    filter_chain_match: {
      ...(b.port > 0 ? { destination_port: { value: b.port } } : {}),
      transport_protocol: o.transport,
      ...(o.alpn ? { application_protocols: [...o.alpn] } : {}),
    },
    filters: o.protocol === 'HTTP' ? b.http() : b.tcp(),
    ...(o.tls ? { transport_socket: inboundMtlsTransportSocket(mesh, o.protocol) } : {}),
  }));
}

/**
 * The filter chains of one inbound chain config: HTTP through an inline route to `inbound|port||`,
 * TCP through tcp_proxy, in the variants the port's class and mTLS mode call for.
 */
function inboundFilterChains(c: InboundChain, policy: InboundPolicy, mesh: Obj): Obj[] {
  const cluster = inboundClusterName(c.targetPort);
  const name = `${c.bind}_${c.targetPort}`;
  const cls = listenerClass(c.protocol) ?? 'TCP';
  return chainsForOptions({
    port: c.targetPort,
    name: () => name,
    http: () => [hcm(`inbound_${name}`, { ...INBOUND_CLIENT_CERT, route_config: inboundRouteConfig(cluster, cluster, c.port, c.hostname) }, { before: policy.httpFilters(c.targetPort) })],
    tcp: () => [...policy.networkFilters(c.targetPort), tcpProxy(cluster, cluster)],
  }, chainMatchOptions(cls, policy.mtls(c.targetPort)), mesh);
}

/**
 * Istio buildInboundPassthroughChains (after the blackhole): the sniffed passthrough chains in the
 * workload's mode, then per port-level mode on a port no chain config serves (Istio
 * needPerPortPassthroughFilterChain), matched on that port. The policy's filters are asked for with
 * the chain's port (0: any port).
 */
function passthroughChains(chains: InboundChain[], policy: InboundPolicy, mesh: Obj): Obj[] {
  const served = new Set(chains.map((c) => c.targetPort));
  const ports = [0, ...policy.mtlsPorts().filter((p) => !served.has(p))];
  return ports.flatMap((port) => chainsForOptions({
    port,
    name: (protocol) => (protocol === 'HTTP' ? CATCHALL_HTTP : VIRTUAL_INBOUND),
    // the security filters apply to passthrough traffic too (Istio builds these chains like any other)
    http: () => [hcm(INBOUND_PASSTHROUGH_CLUSTER, { ...INBOUND_CLIENT_CERT, route_config: inboundRouteConfig(INBOUND_PASSTHROUGH_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER, 0, undefined) }, { before: policy.httpFilters(port) })],
    tcp: () => [...policy.networkFilters(port), tcpProxy(INBOUND_PASSTHROUGH_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER)],
  }, chainMatchOptions('AUTO', policy.mtls(port)), mesh));
}

/** Port ranges [p, p+1) as a listener filter predicate (Istio listenerPredicateExcludePorts). */
function portsPredicate(ports: number[]): Obj {
  const rules = ports.map((p) => ({ destination_port_range: { start: p, end: p + 1 } }));
  return rules.length === 1 ? rules[0]! : { or_match: { rules } };
}

/**
 * Istio populateListenerFilters (inspectors part): per destination port (0 = chains without one),
 * whether some chain needs the TLS inspector (transport_protocol tls) or the HTTP inspector
 * (plaintext HTTP ALPNs); each inspector is disabled on the ports that do not need it.
 */
function inspectors(chains: Obj[]): Obj[] {
  const byPort = new Map<number, { tls: boolean; http: boolean }>();
  for (const fc of chains) {
    const m = (fc['filter_chain_match'] ?? {}) as Obj;
    const port = Number((m['destination_port'] as Obj | undefined)?.['value'] ?? 0);
    const alpn = (m['application_protocols'] ?? []) as string[];
    const cur = byPort.get(port) ?? { tls: false, http: false };
    byPort.set(port, { tls: cur.tls || m['transport_protocol'] === 'tls', http: cur.http || alpn.includes('http/1.1') || alpn.includes('h2c') });
  }
  const out: Obj[] = [];
  const all = [...byPort.entries()].sort((a, b) => a[0] - b[0]);
  if (all.some(([, i]) => i.tls)) {
    const defaultOn = byPort.get(0)?.tls ?? false;
    const ports = all.filter(([p, i]) => p !== 0 && (defaultOn ? !i.tls : i.tls)).map(([p]) => p);
    if (ports.length === 0) out.push(TLS_INSPECTOR);
    else out.push({ ...TLS_INSPECTOR, filter_disabled: defaultOn ? portsPredicate(ports) : { not_match: portsPredicate(ports) } });
  }
  if (all.some(([, i]) => i.http)) {
    const off = all.filter(([, i]) => !i.http).map(([p]) => p);
    out.push(off.length === 0 ? HTTP_INSPECTOR : { ...HTTP_INSPECTOR, filter_disabled: portsPredicate(off) });
  }
  return out;
}

/** Inbound facet of LDS: depends only on the proxy's own workload (and Sidecar ingress). */
export const sidecarInboundListeners: Generator = (snap, ctx) => {
  const sidecar = sidecarConfig(snap, ctx.sidecar);
  const out: Generated[] = [];
  const chains = inboundChains(ctx, sidecar);
  const policy = inboundPolicy(snap, ctx);
  const mesh = (snap.mesh() ?? {}) as Obj;
  const filtersTimeout = duration(meshDurationMs(snap, 'protocolDetectionTimeout', 0));

  // Chains that bind their own port (captureMode NONE, or no iptables): real listeners.
  for (const c of chains.filter((x) => x.bindToPort)) {
    const name = `${c.bind}_${c.targetPort}`;
    const filterChains = inboundFilterChains(c, policy, mesh);
    const listenerFilters = inspectors(filterChains);
    out.push({ name, resource: {
      name, address: address(c.bind, c.targetPort), traffic_direction: 'INBOUND', continue_on_listener_filters_timeout: true,
      filter_chains: filterChains, listener_filters_timeout: filtersTimeout,
      ...(listenerFilters.length > 0 ? { listener_filters: listenerFilters } : {}),
    } });
  }
  if (ctx.interceptionMode === 'NONE') return out;

  const inboundPort = Number(mesh['proxyInboundListenPort'] ?? 15006) || 15006;
  const serviceChains = chains.filter((x) => !x.bindToPort);
  const blackhole = {
    name: 'virtualInbound-blackhole', filter_chain_match: { destination_port: { value: inboundPort } },
    filters: [tcpProxy(BLACKHOLE_CLUSTER, BLACKHOLE_CLUSTER)],
  };
  const filterChains = [
    blackhole, ...passthroughChains(chains, policy, mesh),
    ...serviceChains.flatMap((c) => inboundFilterChains(c, policy, mesh)),
  ];
  out.push({ name: VIRTUAL_INBOUND, resource: {
    name: VIRTUAL_INBOUND, address: address(WILDCARD, inboundPort), traffic_direction: 'INBOUND', continue_on_listener_filters_timeout: true,
    ...(ctx.interceptionMode === 'TPROXY' ? { transparent: { value: true } } : {}),
    listener_filters: [ORIGINAL_DST, ...(ctx.interceptionMode === 'TPROXY' ? [ORIGINAL_SRC] : []), ...inspectors(filterChains)],
    listener_filters_timeout: filtersTimeout,
    filter_chains: filterChains,
  } });
  return out;
};
