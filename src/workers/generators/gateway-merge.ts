/**
 * Gateway merging, after Istio's MergeGateways (pilot/pkg/model/gateway.go): the servers of every
 * Gateway selecting a router proxy, grouped by (port, protocol, bind); RDS route names per server;
 * SNI hosts of TLS servers; the conflicts Istio rejects (a second plaintext non-HTTP server on a
 * port, HTTP and TLS servers sharing a port, duplicate TLS hosts on a port, duplicate HTTPS route
 * names). Also which VirtualServices bind to a gateway and how a server's hosts meet a
 * VirtualService's hosts.
 *
 * Differences from Istio, on purpose:
 * - Ports are not translated through the gateway Service's targetPort (Istio's resolvePorts): the
 *   router's own Service ports are not part of its generation key. A server port is bound as written
 *   (what Istio does for a legacy selector with no matching Service port).
 * - Conflicts are returned (for tests and debug), not counted in pilot_total_rejected_configs.
 * - Order: Gateways merge in namespace/name order (the context's); Istio merges them by creation
 *   time, which a file-based config does not have. VirtualServices bind in Istio's order for the
 *   proxy (virtual-services.ts sortForProxy).
 * - A plaintext server on a port that a TLS server already holds (same bind) is always rejected;
 *   Istio's bind bookkeeping lets the first such server through.
 */
import { SnapshotView } from '../../shared/snapshot/snapshot-view';
import { ConfigModel } from '../../shared/model/service';
import { resolveHost } from './hosts';
import { exportedTo } from './scope';
import { boundGateways, sortForProxy } from './virtual-services';

const HTTP_PROTOCOLS = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB', 'HTTP_PROXY']);

/** Istio protocol.Parse(...).IsHTTP() for a server port protocol. */
export function isHttpProtocol(protocol: string): boolean {
  return HTTP_PROTOCOLS.has(protocol.toUpperCase());
}

export interface GatewayServer {
  /** `namespace/name` of the owning Gateway */
  readonly gateway: string;
  readonly gatewayName: string;
  readonly gatewayNamespace: string;
  /** server.name ('' when unset) */
  readonly name: string;
  readonly port: { readonly number: number; readonly protocol: string; readonly name: string };
  readonly bind: string;
  /** hosts with `./` resolved to the Gateway namespace and `*​/` dropped (Istio sanitizeServerHostNamespace) */
  readonly hosts: readonly string[];
  readonly tls: Record<string, any> | undefined;
  /** RDS name for HTTP servers and terminated HTTPS servers, '' otherwise */
  readonly routeName: string;
  /** TLS servers: hosts without their namespace part, sorted and unique */
  readonly sniHosts: readonly string[];
}

/** Servers sharing one (port, protocol, bind): one listener's worth of filter chains. */
export interface MergedServers {
  readonly number: number;
  readonly protocol: string;
  readonly bind: string;
  readonly servers: GatewayServer[];
  /** RDS name of the plaintext HTTP servers on this port */
  routeName: string;
}

export interface MergedGateway {
  /** in the order ports were first seen (gateways by namespace/name, servers in order) */
  readonly ports: MergedServers[];
  readonly serversByRouteName: ReadonlyMap<string, GatewayServer[]>;
  /** human-readable reasons servers were skipped */
  readonly conflicts: string[];
  readonly autoPassthrough: boolean;
}

export function tlsMode(server: GatewayServer): string {
  return String(server.tls?.['mode'] ?? 'PASSTHROUGH').toUpperCase();
}

/** TLS passthrough (manual or auto): the gateway routes on SNI without terminating. */
export function isPassthroughServer(server: GatewayServer): boolean {
  if (!server.tls) return false;
  const mode = tlsMode(server);
  return mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH';
}

/** Non-HTTP protocol with TLS settings (Istio IsTLSServer). */
export function isTlsServer(server: GatewayServer): boolean {
  return server.tls !== undefined && !isHttpProtocol(server.port.protocol);
}

/** HTTP, or HTTPS terminated at the gateway (Istio IsHTTPServer). */
export function isHttpServer(server: GatewayServer): boolean {
  if (isHttpProtocol(server.port.protocol)) return true;
  return server.port.protocol.toUpperCase() === 'HTTPS' && server.tls !== undefined && !isPassthroughServer(server);
}

/** HTTPS with TLS termination: an HCM chain with a DownstreamTlsContext. */
export function isHttpsTermination(server: GatewayServer): boolean {
  return server.port.protocol.toUpperCase() === 'HTTPS' && server.tls !== undefined && !isPassthroughServer(server);
}

/** Istio gatewayRDSRouteName: `http.<port>[.<bind>]`, `https.<port>.<portName>.<gateway>.<namespace>[.<bind>]`, else ''. */
export function gatewayRouteName(server: Omit<GatewayServer, 'routeName' | 'sniHosts'>): string {
  const bind = server.bind ? `.${server.bind}` : '';
  if (isHttpProtocol(server.port.protocol)) return `http.${server.port.number}${bind}`;
  const probe = server as GatewayServer;
  if (server.port.protocol.toUpperCase() === 'HTTPS' && server.tls && !isPassthroughServer(probe)) {
    return `https.${server.port.number}.${server.port.name}.${server.gatewayName}.${server.gatewayNamespace}${bind}`;
  }
  return '';
}

/** `./host` → `<gwns>/host`, `*​/host` → `host`, `*​/*` → the whole list becomes `*`. */
export function sanitizeServerHosts(hosts: readonly string[], gatewayNamespace: string): string[] {
  const out: string[] = [];
  for (const h of hosts) {
    const slash = h.indexOf('/');
    if (slash < 0) { out.push(h); continue; }
    const ns = h.slice(0, slash), host = h.slice(slash + 1);
    if (ns === '.') out.push(`${gatewayNamespace}/${host}`);
    else if (ns === '*') {
      if (host === '*') return ['*'];
      out.push(host);
    } else out.push(h);
  }
  return out;
}

function sniHostsOf(hosts: readonly string[]): string[] {
  return [...new Set(hosts.map((h) => (h.includes('/') ? h.slice(h.indexOf('/') + 1) : h)))].sort();
}

function readServer(cfg: ConfigModel, raw: any): GatewayServer | string {
  const gateway = `${cfg.namespace}/${cfg.name}`;
  const number = Number(raw?.port?.number);
  if (!raw?.port || !Number.isInteger(number) || number <= 0 || number > 65535) return `gateway ${gateway}: server without a valid port`;
  const tls = raw.tls && typeof raw.tls === 'object' ? raw.tls as Record<string, any> : undefined;
  const base = {
    gateway, gatewayName: cfg.name, gatewayNamespace: cfg.namespace,
    name: typeof raw.name === 'string' ? raw.name : '',
    port: { number, protocol: String(raw.port.protocol ?? 'TCP'), name: String(raw.port.name ?? '') },
    bind: typeof raw.bind === 'string' ? raw.bind : '',
    hosts: sanitizeServerHosts(Array.isArray(raw.hosts) ? raw.hosts.filter((h: unknown): h is string => typeof h === 'string') : [], cfg.namespace),
    tls,
  };
  return { ...base, routeName: gatewayRouteName(base), sniHosts: tls ? sniHostsOf(base.hosts) : [] };
}

/** The Gateway configs named by the proxy's context (`ns/name`), skipping ones that no longer exist. */
export function gatewayConfigs(snap: SnapshotView, gateways: readonly string[]): ConfigModel[] {
  const out: ConfigModel[] = [];
  for (const g of gateways) {
    const slash = g.indexOf('/');
    const cfg = slash > 0 ? snap.config('Gateway', g.slice(0, slash), g.slice(slash + 1)) : undefined;
    if (cfg) out.push(cfg);
  }
  return out;
}

/** Merge the servers of `gateways` (in the order given) the way Istio's mergeGateways does. */
export function mergeGateways(snap: SnapshotView, gateways: readonly string[]): MergedGateway {
  const ports: MergedServers[] = [];
  const byKey = new Map<string, MergedServers>();
  const gatewayPorts = new Set<number>();
  const plainText = new Map<number, MergedServers>();
  const nonPlainTextBinds = new Map<number, Set<string>>();
  const tlsHostsByPort = new Map<number, Map<string, string>>();
  const serversByRouteName = new Map<string, GatewayServer[]>();
  const conflicts: string[] = [];
  let autoPassthrough = false;

  const entry = (s: GatewayServer, routeName: string): MergedServers => {
    const key = `${s.port.number}|${s.port.protocol}|${s.bind}`;
    let m = byKey.get(key);
    if (!m) {
      m = { number: s.port.number, protocol: s.port.protocol, bind: s.bind, servers: [], routeName };
      byKey.set(key, m);
      ports.push(m);
    }
    return m;
  };

  for (const cfg of gatewayConfigs(snap, gateways)) {
    const servers: unknown[] = Array.isArray(cfg.spec?.servers) ? cfg.spec.servers : [];
    for (const raw of servers) {
      const s = readServer(cfg, raw);
      if (typeof s === 'string') { conflicts.push(s); continue; }
      const where = `gateway ${s.gateway} server ${s.port.name || s.port.number}`;
      const portNo = s.port.number;
      if (s.tls) {
        // Envoy rejects two filter chains with the same SNI match: a TLS host may appear once per port and bind.
        const known = tlsHostsByPort.get(portNo) ?? new Map<string, string>();
        tlsHostsByPort.set(portNo, known);
        const dups = s.hosts.filter((h) => known.has(h) && known.get(h) === s.bind);
        if (dups.length > 0) { conflicts.push(`${where}: duplicate TLS hosts on port ${portNo}: ${dups.join(', ')}`); continue; }
        for (const h of s.hosts) known.set(h, s.bind);
        if (tlsMode(s) === 'AUTO_PASSTHROUGH') autoPassthrough = true;
      }
      const routeName = s.routeName;
      if (gatewayPorts.has(portNo)) {
        const current = plainText.get(portNo);
        if (current) {
          const canMerge = isHttpProtocol(current.protocol) && isHttpProtocol(s.port.protocol);
          if (!canMerge && current.bind === s.bind) { conflicts.push(`${where}: port ${portNo} already serves ${current.protocol}, cannot add ${s.port.protocol}`); continue; }
          if (routeName === '' && current.bind === s.bind) { conflicts.push(`${where}: port ${portNo} is taken`); continue; }
          if (current.bind !== s.bind) {
            const m = entry(s, routeName);
            m.routeName = routeName;
            m.servers.push(s);
          } else current.servers.push(s);
          if (routeName) serversByRouteName.set(routeName, [...(serversByRouteName.get(routeName) ?? []), s]);
        } else {
          // The port already has TLS servers; a second server must be TLS as well (SNI tells them apart).
          const binds = nonPlainTextBinds.get(portNo) ?? new Set<string>();
          nonPlainTextBinds.set(portNo, binds);
          const newBind = !binds.has(s.bind);
          if (!s.tls && !newBind) { conflicts.push(`${where}: plaintext server on TLS port ${portNo}`); continue; }
          if (isHttpServer(s)) {
            if (routeName === '' || serversByRouteName.has(routeName)) { conflicts.push(`${where}: non-unique route name ${routeName || '(none)'} on port ${portNo}`); continue; }
            serversByRouteName.set(routeName, [s]);
          }
          binds.add(s.bind);
          entry(s, routeName).servers.push(s);
        }
      } else {
        gatewayPorts.add(portNo);
        const m = entry(s, routeName);
        m.servers.push(s);
        if (!isTlsServer(s)) plainText.set(portNo, m);
        else nonPlainTextBinds.set(portNo, new Set([s.bind]));
        if (isHttpServer(s)) serversByRouteName.set(routeName, [s]);
      }
    }
  }
  return { ports, serversByRouteName, conflicts, autoPassthrough };
}

// ---------------------------------------------------------------- VirtualService binding

/**
 * VirtualServices bound to `gateway` and visible from the proxy's namespace (exportTo, with
 * MeshConfig defaultVirtualServiceExportTo for an unset list), in Istio's order for a proxy
 * (virtual-services.ts sortForProxy: private, exported to the namespace, public; then age, name).
 */
export function virtualServicesForGateway(snap: SnapshotView, proxyNamespace: string, gateway: string): ConfigModel[] {
  const bound = snap.configs('VirtualService').filter((vs) => boundGateways(vs).includes(gateway) && visibleFrom(snap, vs, proxyNamespace));
  return sortForProxy(snap, bound, proxyNamespace);
}

function visibleFrom(snap: SnapshotView, vs: ConfigModel, namespace: string): boolean {
  let exportTo: unknown = vs.spec?.exportTo;
  if (!Array.isArray(exportTo) || exportTo.length === 0) exportTo = snap.mesh()?.['defaultVirtualServiceExportTo'];
  return exportedTo(Array.isArray(exportTo) ? exportTo.map(String) : undefined, vs.namespace, namespace);
}

/** VirtualServices per gateway, looked up once per generation. */
export function virtualServiceLookup(snap: SnapshotView, namespace: string): (gateway: string) => ConfigModel[] {
  const cache = new Map<string, ConfigModel[]>();
  return (gw) => {
    let list = cache.get(gw);
    if (!list) { list = virtualServicesForGateway(snap, namespace, gw); cache.set(gw, list); }
    return list;
  };
}

/** Istio host.Name.SubsetOf: every name `a` matches is matched by `b`. */
export function hostSubsetOf(a: string, b: string): boolean {
  if (b === '*') return true;
  if (b.startsWith('*.')) {
    if (a.startsWith('*')) return a === b || a.slice(1).endsWith(b.slice(1));
    return a.endsWith(b.slice(1));
  }
  return a === b;
}

/** Server hosts that apply to a VirtualService in `namespace` (unqualified hosts apply to every namespace). */
export function serverHostsForNamespace(hosts: readonly string[], namespace: string): string[] {
  const out: string[] = [];
  for (const h of hosts) {
    const slash = h.indexOf('/');
    if (slash < 0) out.push(h);
    else if (h.slice(0, slash) === namespace || h.slice(0, slash) === '*') out.push(h.slice(slash + 1));
  }
  return out;
}

/** Istio host.Names.Intersection: for each pair that overlaps, the more specific name, first-seen order. */
export function intersectHosts(a: readonly string[], b: readonly string[]): string[] {
  const out: string[] = [];
  for (const x of a) {
    for (const y of b) {
      const pick = hostSubsetOf(x, y) ? x : hostSubsetOf(y, x) ? y : undefined;
      if (pick !== undefined && !out.includes(pick)) out.push(pick);
    }
  }
  return out;
}

/** The VirtualService's hosts, resolved against its namespace (Istio resolves short names in the push context). */
export function virtualServiceHosts(vs: ConfigModel): string[] {
  const hosts: unknown[] = Array.isArray(vs.spec?.hosts) ? vs.spec.hosts : [];
  return hosts.filter((h): h is string => typeof h === 'string').map((h) => resolveHost(h, vs.namespace));
}

/** Does the VirtualService cover any host the server exposes (Istio pickMatchingGatewayHosts, non-empty)? */
export function vsMatchesServer(vs: ConfigModel, server: GatewayServer): boolean {
  const vsHosts = virtualServiceHosts(vs);
  for (const gh of server.hosts) {
    const slash = gh.indexOf('/');
    if (slash >= 0 && gh.slice(0, slash) !== vs.namespace) continue;
    const pattern = slash >= 0 ? gh.slice(slash + 1) : gh;
    // Istio's host.Name.Matches: either side may be the wildcard
    if (vsHosts.some((h) => hostSubsetOf(h, pattern) || hostSubsetOf(pattern, h))) return true;
  }
  return false;
}
