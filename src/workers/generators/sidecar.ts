/**
 * Sidecar generator (Envoy with `sidecar~` node IDs), after Istio's listener.go, listener_builder.go,
 * listener_inbound.go, tls.go, httproute.go and cluster_builder.go:
 *
 * Outbound (shared by every proxy of a namespace + Sidecar scope):
 * - `virtualOutbound` 0.0.0.0:15001, use_original_dst, chains `virtualOutbound-blackhole` (traffic
 *   sent to 15001 itself) and `virtualOutbound-catchall-tcp` → PassthroughCluster, BlackHoleCluster
 *   (REGISTRY_ONLY) or the Sidecar's egressProxy cluster;
 * - one listener per (bind, port) built service by service with Istio's conflict rules: HTTP on
 *   `0.0.0.0_<port>` (RDS `<port>`, chain matched by the HTTP ALPNs the http_inspector sets), TCP on
 *   `<vip>_<port>` (or `0.0.0.0_<port>` with prefix ranges for CIDR addresses, SNI for TLS services,
 *   one listener per endpoint for address-less NONE ServiceEntries); HTTP and TCP on one listener
 *   merge behind protocol sniffing; TCP chains that match alike keep the first; MONGO/MYSQL never
 *   share a port; VirtualService tcp/tls routes become chains (tcp-routes.ts); every listener falls
 *   back to `PassthroughFilterChain`;
 * - Sidecar egress listeners (port, bind, captureMode) come first and lock their (bind, port).
 * Inbound (per workload): `virtualInbound` 0.0.0.0:15006 with original_dst and http_inspector, the
 * blackhole and passthrough chains, one chain per target port of the proxy's own services (or the
 * Sidecar's ingress listeners, which replace them; captureMode NONE makes a real listener).
 * RDS: one virtual host per service and port with Istio's domains, then allow_any / block_all.
 * CDS: sidecar-clusters.ts.
 * Inbound LDS: sidecar-inbound.ts (with the security policy seam, security/inbound-policy.ts).
 */
import { SnapshotView } from '../../shared/snapshot/snapshot-view';
import { ConfigModel, ServiceModel, SERVICELESS_HOSTS_KIND, ServicelessHost, serviceEntryPortProtocol, UNSUPPORTED_PROTOCOL } from '../../shared/model/service';
import { parseGoDuration } from '../../shared/duration';
import { hostMatches, outboundClusterName, resolveHost } from './hosts';
import { buildRoutes, virtualServiceRoutes } from './routes';
import { EgressListener, egressListenersOf, egressMatches, sidecarConfig, visibleServices } from './scope';
import { virtualServiceFor } from './virtual-services';
import { tcpTargets, tlsTargets, L4Target } from './tcp-routes';
import { ADS_CONFIG_SOURCE, DEFAULT_DOMAIN_SUFFIX, duration, Generated, Generator } from './types';
import { hcm, rdsRouting, tcpProxy } from './filters';
import { GenContext } from '../../shared/generation';

type Obj = Record<string, unknown>;

export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
export const BLACKHOLE_CLUSTER = 'BlackHoleCluster';
export const INBOUND_PASSTHROUGH_CLUSTER = 'InboundPassthroughCluster';
const PASSTHROUGH_FILTER_CHAIN = 'PassthroughFilterChain';
/** Istio's source address for traffic Envoy sends to the local workload, which iptables lets through. */
export const INBOUND_PASSTHROUGH_BIND = '127.0.0.6';
export const WILDCARD = '0.0.0.0';
export const LOCALHOST = '127.0.0.1';
/** ALPNs the http_inspector sets for plaintext HTTP (Istio plaintextHTTPALPNs without HTTP/1.0). */
export const PLAINTEXT_HTTP_ALPNS = ['http/1.1', 'h2c'];
export const RAW_BUFFER = 'raw_buffer';
export const DNS_REFRESH_MS = 60_000; // MeshConfig dnsRefreshRate default

const HTTP_PROTOCOLS = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB']);
/** The protocol of a listener entry that sniffs (HTTP chain by ALPN, TCP otherwise). */
const AUTO = 'AUTO';
type ListenerClass = 'HTTP' | 'TCP' | 'AUTO';
/** Istio ModelProtocolToListenerProtocol: HTTP, TCP, AUTO (undeclared: sniffed), or undefined for UDP (no listener). */
export function listenerClass(protocol: string | undefined): ListenerClass | undefined {
  if (protocol === UNSUPPORTED_PROTOCOL || protocol === AUTO) return 'AUTO';
  const p = (protocol ?? '').toUpperCase();
  if (p === 'UDP') return undefined;
  return HTTP_PROTOCOLS.has(p) ? 'HTTP' : 'TCP';
}
const isTls = (protocol: string | undefined): boolean => ['TLS', 'HTTPS'].includes((protocol ?? '').toUpperCase());
/** Istio IsHTTPOrSniffed: the port gets virtual hosts. */
const isHttpOrSniffed = (protocol: string | undefined): boolean => listenerClass(protocol) === 'HTTP' || listenerClass(protocol) === 'AUTO';
const isCidr = (a: string): boolean => a.includes('/');

export function address(bind: string, port: number): Obj {
  if (bind.startsWith('unix://')) return { pipe: { path: bind.slice('unix://'.length) } };
  return { socket_address: { address: bind, port_value: port } };
}

/** `10.0.0.0/8` / `10.1.2.3` → CidrRange (a bare address is a /32 or /128). */
function cidrRange(a: string): Obj {
  const slash = a.indexOf('/');
  const ip = slash < 0 ? a : a.slice(0, slash);
  const len = slash < 0 ? (ip.includes(':') ? 128 : 32) : Number(a.slice(slash + 1));
  return { address_prefix: ip, prefix_len: { value: len } };
}

export function meshDurationMs(snap: SnapshotView, field: string, fallbackMs: number): number {
  const v = (snap.mesh() as Record<string, unknown>)[field];
  if (typeof v !== 'string') return fallbackMs;
  const ms = parseGoDuration(v);
  return ms === undefined ? fallbackMs : ms;
}

// ---------------------------------------------------------------- outbound traffic policy

interface Egress { allowAny: boolean; cluster: string }

/**
 * Istio IsAllowAnyOutbound + the Sidecar's egressProxy: the cluster for traffic to unknown
 * destinations (the catch-all chains and the allow_any virtual host).
 */
function egressPolicy(snap: SnapshotView, sidecar: ConfigModel | undefined): Egress {
  const policy = sidecar?.spec?.outboundTrafficPolicy;
  const mode = policy?.mode ?? (snap.mesh() as any)?.outboundTrafficPolicy?.mode ?? 'ALLOW_ANY';
  if (mode === 'REGISTRY_ONLY') return { allowAny: false, cluster: BLACKHOLE_CLUSTER };
  const proxy = policy?.egressProxy;
  if (proxy && typeof proxy.host === 'string' && proxy.host !== '') {
    // Istio GetDestinationCluster(egressProxy, nil, 0)
    return { allowAny: true, cluster: outboundClusterName(Number(proxy.port?.number ?? 0), String(proxy.subset ?? ''), resolveHost(proxy.host, sidecar!.namespace)) };
  }
  return { allowAny: true, cluster: PASSTHROUGH_CLUSTER };
}

/**
 * The VirtualService for `hostname` if the egress listener imports it: Istio's SidecarScope imports
 * VirtualServices by `namespace/host` like services, the namespace being the VirtualService's own.
 */
export function importedVirtualService(snap: SnapshotView, namespace: string, hostname: string, egressHosts: readonly string[]): ConfigModel | undefined {
  return virtualServiceFor(snap, namespace, hostname, (vs) => egressMatches(egressHosts, namespace, vs.namespace, hostname));
}

// ---------------------------------------------------------------- LDS outbound

/** What becomes one filter chain (Istio filterChainOpts). */
interface ChainOpts {
  sniHosts?: readonly string[];
  cidrs?: readonly string[];
  alpn?: readonly string[];
  transport?: string;
  /** network filters (TCP chains) */
  filters?: Obj[];
  /** RDS name (HTTP chains) */
  rds?: string;
}

/** One outbound listener being built (Istio outboundListenerEntry). */
interface ListenerEntry {
  bind: string;
  port: number;
  bindToPort: boolean;
  /** the accepted port protocol (MONGO, HTTP...) or AUTO once HTTP and TCP share the listener */
  protocol: string;
  chains: ChainOpts[];
  locked: boolean;
}

interface BuildCtx {
  snap: SnapshotView;
  namespace: string;
  /** selector-relevant proxy labels: VirtualService tcp/tls match sourceLabels */
  labels: Readonly<Record<string, string>>;
  entries: Map<string, ListenerEntry>;
  /** hosts of the egress listener being built (VirtualService imports) */
  egressHosts: readonly string[];
}

function isMatchAll(c: ChainOpts): boolean {
  return (!c.sniHosts || c.sniHosts.length === 0 || c.sniHosts.includes('*')) && !c.alpn?.length && !c.transport && !c.cidrs?.length;
}

/** Istio filterChainOpts.conflictsWith: two chains Envoy could not tell apart. */
function chainsConflict(a: ChainOpts, b: ChainOpts): boolean {
  if ((a.transport ?? '') !== (b.transport ?? '')) return false;
  if ((a.alpn ?? []).join(',') !== (b.alpn ?? []).join(',')) return false;
  const set = (l: readonly string[] | undefined, f: (s: string) => string | undefined) =>
    [...new Set((l ?? []).map(f).filter((x): x is string => x !== undefined))].sort().join(',');
  if (set(a.sniHosts, (s) => (s === '*' ? undefined : s)) !== set(b.sniHosts, (s) => (s === '*' ? undefined : s))) return false;
  const cidr = (s: string) => { const r = cidrRange(s) as any; return r.address_prefix === WILDCARD ? undefined : `${r.address_prefix}/${r.prefix_len.value}`; };
  return set(a.cidrs, cidr) === set(b.cidrs, cidr);
}

function mergeChains(entry: ListenerEntry, incoming: ChainOpts[]): void {
  for (const c of incoming) {
    if (!entry.chains.some((e) => chainsConflict(e, c))) entry.chains.push(c);
  }
}

function l4Filter(statPrefix: string, clusters: L4Target['clusters']): Obj {
  if (clusters.length === 1) return tcpProxy(statPrefix || clusters[0]!.name, clusters[0]!.name);
  return tcpProxy(statPrefix || clusters[0]!.name, clusters);
}

/** Istio buildSidecarOutboundTLSFilterChainOpts + buildSidecarOutboundTCPFilterChainOpts. */
function tcpChainOpts(b: BuildCtx, svc: ServiceModel, listenPort: { port: number; protocol: string }, bind: string, cidrs: string[]): ChainOpts[] {
  const vs = importedVirtualService(b.snap, b.namespace, svc.hostname, b.egressHosts);
  // A Sidecar port other than the service's: a single-port service still gets its own port.
  const port = svc.ports.length === 1 ? svc.ports[0]!.port : listenPort.port;
  const cluster = outboundClusterName(port, '', svc.hostname);
  const out: ChainOpts[] = [];
  if (isTls(listenPort.protocol)) {
    for (const t of vs ? tlsTargets(b.snap, b.namespace, vs, listenPort.port, { labels: b.labels }) : []) {
      out.push({ sniHosts: t.sniHosts, cidrs: t.destinationSubnets?.length ? t.destinationSubnets : cidrs, filters: [l4Filter('', t.clusters)] });
    }
    if (out.length === 0) {
      // SNI only where the destination address cannot tell services apart: CIDR or no VIP on the wildcard listener.
      const vip = svc.addresses.find((a) => !isCidr(a)) ?? (svc.addresses.some(isCidr) ? '' : WILDCARD);
      const sni = cidrs.length > 0 || vip === '' || (vip === WILDCARD && bind === WILDCARD);
      out.push({ ...(sni ? { sniHosts: [svc.hostname] } : {}), cidrs, filters: [tcpProxy(cluster, cluster)] });
    }
    return out;
  }
  let defaultAdded = false;
  for (const t of vs ? tcpTargets(b.snap, b.namespace, vs, listenPort.port, { labels: b.labels }) : []) {
    if (!t.destinationSubnets || t.destinationSubnets.length === 0) {
      out.push({ cidrs, filters: [l4Filter('', t.clusters)] });
      defaultAdded = true;
      break;
    }
    out.push({ cidrs: t.destinationSubnets, filters: [l4Filter('', t.clusters)] });
    if ([...t.destinationSubnets].sort().join(',') === [...cidrs].sort().join(',')) defaultAdded = true;
  }
  if (!defaultAdded) out.push({ cidrs, filters: [tcpProxy(cluster, cluster)] });
  return out;
}

/** Istio buildSidecarOutboundListener: add one service port to the listener map, resolving conflicts. */
function addServicePort(b: BuildCtx, svc: ServiceModel, listenPort: { port: number; protocol: string }, bindIn: string | undefined, bindToPort: boolean): void {
  const cls = listenerClass(listenPort.protocol);
  if (!cls) return;
  let bind = bindIn ?? '';
  let cidrs: string[] = [];
  if (cls !== 'HTTP' && bind === '') {
    // TCP and sniffed ports listen on the service VIP; a CIDR becomes a prefix-range match on 0.0.0.0.
    const first = svc.addresses[0];
    if (first === undefined) bind = WILDCARD;
    else if (!isCidr(first)) bind = first;
    else { bind = WILDCARD; cidrs = [first]; }
  } else if (bind === '') bind = WILDCARD;
  const key = `${bind}_${listenPort.port}`;
  const current = b.entries.get(key);
  if (current?.locked) return;
  const currentCls = current ? listenerClass(current.protocol) : undefined;

  type Conflict = 'none' | 'HTTPOverTCP' | 'TCPOverHTTP' | 'TCPOverTCP' | 'TCPOverAuto' | 'AutoOverHTTP' | 'AutoOverTCP';
  let conflict: Conflict = 'none';
  const incoming = cls === 'AUTO' ? AUTO : listenPort.protocol.toUpperCase();
  let protocol = incoming;
  let opts: ChainOpts[];
  const httpOpts = (rds: string): ChainOpts => (bind === WILDCARD || cls === 'AUTO' ? { rds, alpn: PLAINTEXT_HTTP_ALPNS, transport: RAW_BUFFER } : { rds });
  if (cls === 'HTTP') {
    if (current) {
      if (currentCls === 'TCP') conflict = 'HTTPOverTCP';
      else return; // the port's HTTP (or sniffed) listener exists: services share it through RDS
    }
    opts = [httpOpts(String(listenPort.port))];
    if (bind === WILDCARD) protocol = AUTO; // the TCP fallthrough chain makes it a sniffed listener
  } else if (cls === 'TCP') {
    opts = tcpChainOpts(b, svc, listenPort, bind, cidrs);
    if (current) conflict = currentCls === 'AUTO' ? 'TCPOverAuto' : currentCls === 'HTTP' ? 'TCPOverHTTP' : 'TCPOverTCP';
  } else {
    if (current) {
      if (currentCls === 'HTTP') conflict = 'AutoOverHTTP';
      else if (currentCls === 'TCP') conflict = 'AutoOverTCP';
      else return;
    }
    // A sniffed service on its own address gets its own route configuration `host:port`.
    const rds = bind !== WILDCARD ? `${svc.hostname}:${listenPort.port}` : String(listenPort.port);
    opts = [...tcpChainOpts(b, svc, listenPort, bind, cidrs), httpOpts(rds)];
  }
  // MONGO and MYSQL are server-first: they never share a port with another protocol (first wins).
  if (current && conflict !== 'none') {
    const e = current.protocol;
    if ((['MONGO', 'MYSQL'].includes(incoming) || ['MONGO', 'MYSQL'].includes(e)) && incoming !== e) return;
  }
  if (!current || conflict === 'AutoOverHTTP') {
    b.entries.set(key, { bind, port: listenPort.port, bindToPort, protocol, chains: opts, locked: false });
    return;
  }
  mergeChains(current, opts);
  if (conflict === 'HTTPOverTCP' || conflict === 'TCPOverHTTP' || conflict === 'AutoOverTCP') current.protocol = AUTO;
}

/** Istio buildListenerFromEntry. */
function listenerFromEntry(snap: SnapshotView, e: ListenerEntry, egress: Egress): Obj {
  const name = `${e.bind}_${e.port}`;
  const l: Obj = { name, address: address(e.bind, e.port), traffic_direction: 'OUTBOUND', continue_on_listener_filters_timeout: true };
  if (!e.bindToPort) l['bind_to_port'] = { value: false };
  const needTls = e.chains.some((c) => (c.sniHosts?.length ?? 0) > 0);
  const needHttp = e.chains.some((c) => (c.alpn?.length ?? 0) > 0);
  const listenerFilters: Obj[] = [];
  if (needTls || needHttp) listenerFilters.push(TLS_INSPECTOR);
  if (needHttp) listenerFilters.push(HTTP_INSPECTOR);
  if (listenerFilters.length > 0) l['listener_filters'] = listenerFilters;
  l['listener_filters_timeout'] = duration(needHttp ? meshDurationMs(snap, 'protocolDetectionTimeout', 0) : 0);
  const chains: Obj[] = [];
  let defaultChain: Obj | undefined;
  for (const c of e.chains) {
    const chain: Obj = { filters: c.rds !== undefined ? [hcm(`outbound_${name}`, rdsRouting(c.rds))] : c.filters ?? [] };
    if (isMatchAll(c)) { defaultChain = chain; continue; }
    const match: Obj = {};
    if (c.alpn?.length) match['application_protocols'] = [...c.alpn];
    if (c.transport) match['transport_protocol'] = c.transport;
    if (c.sniHosts?.length && !c.sniHosts.includes('*')) match['server_names'] = [...c.sniHosts].sort();
    const ranges = [...(c.cidrs ?? [])].sort().map(cidrRange).filter((r: any) => r.address_prefix !== WILDCARD);
    if (ranges.length > 0) match['prefix_ranges'] = ranges;
    chain['filter_chain_match'] = match;
    chains.push(chain);
  }
  if (defaultChain && chains.length === 0) {
    chains.push(defaultChain);
    defaultChain = undefined;
  } else if (!defaultChain) {
    defaultChain = { filter_chain_match: {}, name: PASSTHROUGH_FILTER_CHAIN, filters: [tcpProxy(egress.cluster, egress.cluster)] };
  }
  l['filter_chains'] = chains;
  if (defaultChain) l['default_filter_chain'] = defaultChain;
  return l;
}

const TLS_INSPECTOR: Obj = { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } };
export const HTTP_INSPECTOR: Obj = { name: 'envoy.filters.listener.http_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector' } };
/** TPROXY keeps the client's source address toward the app (Istio xdsfilters.OriginalSrc, mark 1337). */
export const ORIGINAL_SRC: Obj = { name: 'envoy.filters.listener.original_src', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.original_src.v3.OriginalSrc', mark: 1337 } };
export const ORIGINAL_DST: Obj = { name: 'envoy.filters.listener.original_dst', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst' } };

/** Valid IPv4/IPv6 literal (endpoint addresses of NONE ServiceEntries may be hostnames). */
function isIp(a: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(a) || (a.includes(':') && /^[0-9a-fA-F:.]+$/.test(a));
}

/** Outbound facet of LDS: shared by every proxy of a scope (namespace + Sidecar). */
export const sidecarOutboundListeners: Generator = (snap, ctx) => {
  const namespace = ctx.namespace ?? 'default';
  const sidecar = sidecarConfig(snap, ctx.sidecar);
  const egress = egressPolicy(snap, sidecar);
  const noCapture = ctx.interceptionMode === 'NONE';
  const b: BuildCtx = { snap, namespace, labels: ctx.labels ?? {}, entries: new Map(), egressHosts: [] };

  for (const eg of egressListenersOf(sidecar)) {
    const bindToPort = noCapture || eg.captureMode === 'NONE' || (eg.bind ?? '').startsWith('unix://');
    const bind = eg.bind ? eg.bind : bindToPort ? LOCALHOST : undefined;
    const services = visibleServices(snap, namespace, sidecar, eg);
    b.egressHosts = eg.hosts ?? [];
    if (eg.port) {
      const portNumber = Number(eg.port.number);
      if (!Number.isInteger(portNumber) || portNumber <= 0) continue;
      // Istio gives a port egress listener the imported services that have the port (their
      // protocol unless the listener declares one).
      for (const svc of services) {
        const sp = svc.ports.find((p) => p.port === portNumber);
        if (!sp) continue;
        // Istio protocol.Parse of the listener's protocol: unset means sniffing.
        addServicePort(b, svc, { port: portNumber, protocol: serviceEntryPortProtocol(eg.port.protocol) }, bind, bindToPort);
      }
      continue;
    }
    // The catch-all egress listener: every port of every imported service, except (bind, port)
    // pairs the port listeners above already own.
    for (const e of b.entries.values()) e.locked = true;
    for (const svc of services) {
      for (const sp of svc.ports) {
        // Address-less TCP ServiceEntries with resolution NONE: one listener per endpoint IP (Istio;
        // a wildcard listener when there are no endpoints), so they do not all collide on 0.0.0.0.
        // Headless Kubernetes services likewise (no endpoints: no listener, a scale-down must not leave a wildcard).
        if (bind === undefined && svc.resolution === 'passthrough' && svc.addresses.length === 0 && listenerClass(sp.protocol) !== 'HTTP') {
          const ips = [...new Set(snap.endpoints(svc.hostname, svc.namespace).map((ep) => ep.address).filter(isIp))];
          for (const ip of ips) addServicePort(b, svc, { port: sp.port, protocol: sp.protocol }, ip, bindToPort);
          if (ips.length > 0 || svc.source === 'kubernetes') continue;
        }
        addServicePort(b, svc, { port: sp.port, protocol: sp.protocol }, bind, bindToPort);
      }
    }
  }

  const out: Generated[] = [];
  for (const e of b.entries.values()) {
    const l = listenerFromEntry(snap, e, egress);
    out.push({ name: l['name'] as string, resource: l });
  }
  if (noCapture) return out;
  const listenPort = Number((snap.mesh() as any).proxyListenPort ?? 15001) || 15001;
  out.push({
    name: 'virtualOutbound',
    resource: {
      name: 'virtualOutbound', address: address(WILDCARD, listenPort), use_original_dst: { value: true }, traffic_direction: 'OUTBOUND',
      ...(ctx.interceptionMode === 'TPROXY' ? { transparent: { value: true } } : {}),
      filter_chains: [
        { name: 'virtualOutbound-blackhole', filter_chain_match: { destination_port: { value: listenPort } }, filters: [tcpProxy(BLACKHOLE_CLUSTER, BLACKHOLE_CLUSTER)] },
        { name: 'virtualOutbound-catchall-tcp', filters: [tcpProxy(egress.cluster, egress.cluster)] },
      ],
    },
  });
  return out;
};

// ---------------------------------------------------------------- RDS

/**
 * Istio's virtual host domains for a service port seen from `proxyNs` (generateVirtualHostDomains
 * with the alternate Kubernetes names): the host and host:port; for `name.ns.svc.<suffix>` hosts
 * `name`, `name.ns.svc`, `name.ns` in the same namespace, `name.ns`, `name.ns.svc` from others, each
 * with and without the port; then
 * every VIP (not CIDRs) with and without the port.
 */
export function virtualHostDomains(svc: ServiceModel, port: number, proxyNs: string, domainSuffix = DEFAULT_DOMAIN_SUFFIX): string[] {
  const h = svc.hostname;
  const out = [h, `${h}:${port}`];
  const svcSuffix = `.svc.${domainSuffix}`;
  if (h.endsWith(svcSuffix)) {
    const nameNs = h.slice(0, -svcSuffix.length);
    const dot = nameNs.indexOf('.');
    if (dot > 0 && dot < nameNs.length - 1) {
      const name = nameNs.slice(0, dot), ns = nameNs.slice(dot + 1);
      // Istio generateAltVirtualHostsForKubernetesService orders them so
      if (ns === proxyNs) out.push(name, `${name}:${port}`, `${nameNs}.svc`, `${nameNs}.svc:${port}`, nameNs, `${nameNs}:${port}`);
      else out.push(nameNs, `${nameNs}:${port}`, `${nameNs}.svc`, `${nameNs}.svc:${port}`);
    }
  }
  // Headless Kubernetes services also answer for their pods' names (`pod.svc.ns.svc.cluster.local`).
  if (svc.resolution === 'passthrough' && svc.source === 'kubernetes') out.push(...out.map((d) => `*.${d}`));
  for (const a of svc.addresses) if (!isCidr(a) && a !== WILDCARD) out.push(a, `${a}:${port}`);
  return out;
}

/** The egress listener that decides routes for `port`: an explicit port listener wins over the catch-all. */
function egressFor(sidecar: ConfigModel | undefined, port: number): EgressListener | undefined {
  const list = egressListenersOf(sidecar);
  return list.find((e) => Number(e.port?.number) === port) ?? list.find((e) => !e.port);
}

export const sidecarRoutes: Generator = (snap, ctx, names) => {
  const namespace = ctx.namespace ?? 'default';
  const sidecar = sidecarConfig(snap, ctx.sidecar);
  const egress = egressPolicy(snap, sidecar);
  const out: Generated[] = [];
  for (const name of names ?? []) {
    const sniffed = sniffedRoute(snap, namespace, sidecar, name, ctx.labels);
    if (sniffed) { out.push({ name, resource: sniffed }); continue; }
    const port = Number(name);
    if (!/^\d+$/.test(name) || !Number.isInteger(port) || port <= 0 || port > 65535) continue;
    const eg = egressFor(sidecar, port);
    if (!eg) continue;
    const explicit = Number(eg.port?.number) === port;
    const services = visibleServices(snap, namespace, sidecar, eg).filter((s) => s.ports.some((p) => p.port === port && (isHttpOrSniffed(p.protocol) || explicit)));
    // One virtual host per service; a domain a previous host already claims is left out (Istio dedupeDomains).
    const used = new Set<string>();
    const virtualHosts: Obj[] = [];
    for (const svc of services) {
      const domains = virtualHostDomains(svc, port, namespace).filter((d) => !used.has(d) && (used.add(d), true));
      if (domains.length === 0) continue;
      virtualHosts.push({ name: `${svc.hostname}:${port}`, domains, routes: buildRoutes(snap, namespace, importedVirtualService(snap, namespace, svc.hostname, eg.hosts ?? []), svc, port, { labels: ctx.labels }) });
    }
    // VirtualService hosts no service answers for get virtual hosts on port 80 (Istio's
    // buildSidecarVirtualHostsForVirtualService: "serviceByPort[80] = nil").
    if (port === 80) virtualHosts.push(...serviceLessVirtualHosts(snap, namespace, sidecar, eg, used, ctx.labels));
    virtualHosts.push(egress.allowAny
      ? { name: 'allow_any', domains: ['*'], routes: [{ name: 'allow_any', match: { prefix: '/' }, route: { cluster: egress.cluster, timeout: duration(0), max_stream_duration: { max_stream_duration: duration(0), grpc_timeout_header_max: duration(0) } } }] }
      : { name: 'block_all', domains: ['*'], routes: [{ name: 'block_all', match: { prefix: '/' }, direct_response: { status: 502 } }] });
    out.push({ name, resource: { name, virtual_hosts: virtualHosts, validate_clusters: { value: false } } });
  }
  return out;
};

/**
 * RDS `host:port`: the route configuration of a sniffed service's own listener (Istio
 * getVirtualHostsForSniffedServicePort): that service's virtual host alone, matching any authority.
 */
function sniffedRoute(snap: SnapshotView, namespace: string, sidecar: ConfigModel | undefined, name: string, labels: GenContext['labels'] | undefined): Obj | undefined {
  const colon = name.lastIndexOf(':');
  if (colon <= 0 || !/^\d+$/.test(name.slice(colon + 1))) return undefined;
  const host = name.slice(0, colon), port = Number(name.slice(colon + 1));
  const eg = egressFor(sidecar, port);
  const svc = eg ? visibleServices(snap, namespace, sidecar, eg).find((s) => s.hostname === host && s.ports.some((p) => p.port === port)) : undefined;
  const virtualHosts = svc ? [{ name, domains: ['*'], routes: buildRoutes(snap, namespace, virtualServiceFor(snap, namespace, host), svc, port, { labels }) }] : [];
  return { name, virtual_hosts: virtualHosts, validate_clusters: { value: false } };
}

/**
 * Virtual hosts for hosts of mesh VirtualServices (imported by the egress listener) that match no
 * service. The registry lists them (SERVICELESS_HOSTS_KIND), so this reads that one object plus the
 * VirtualServices of those hosts, not every VirtualService.
 */
function serviceLessVirtualHosts(snap: SnapshotView, namespace: string, sidecar: ConfigModel | undefined, eg: EgressListener, used: Set<string>, labels: GenContext['labels'] | undefined): Obj[] {
  const entries = (snap.config(SERVICELESS_HOSTS_KIND, '', 'mesh')?.spec?.hosts ?? []) as ServicelessHost[];
  if (entries.length === 0) return [];
  const services = visibleServices(snap, namespace, sidecar);
  const out: Obj[] = [];
  for (const { namespace: vsNs, name, host } of entries) {
    if (services.some((s) => hostMatches(host, s.hostname) || hostMatches(s.hostname, host))) continue;
    const vs = importedVirtualService(snap, namespace, host, eg.hosts ?? []);
    if (!vs || vs.namespace !== vsNs || vs.name !== name) continue;
    const routes = virtualServiceRoutes(snap, namespace, vs, 80, { labels });
    const domains = [host, `${host}:80`].filter((d) => !used.has(d) && (used.add(d), true));
    if (routes.length === 0 || domains.length === 0) continue;
    out.push({ name: `${host}:80`, domains, routes });
  }
  return out;
}

/** Whole-type LDS generator (both facets), for callers that do not split by facet. */
import { sidecarInboundListeners } from './sidecar-inbound';
export { sidecarInboundListeners, ingressListeners } from './sidecar-inbound';

export const sidecarListeners: Generator = (snap, ctx, names) => [...sidecarOutboundListeners(snap, ctx, names), ...sidecarInboundListeners(snap, ctx, names)];

export { ADS_CONFIG_SOURCE };
