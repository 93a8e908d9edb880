/**
 * Gateway RDS, after Istio's buildGatewayHTTPRouteConfig (pilot/pkg/networking/core/gateway.go):
 * for a route name (`http.<port>` or `https.<port>.<portName>.<gw>.<ns>`), the servers it serves;
 * per server, the VirtualServices bound to its Gateway whose hosts meet the server's hosts give a
 * virtual host per host (`<host>:<port>`, domain the host; Envoy ignores the port in host
 * matching), routes from virtualServiceRoutes with the gateway; a host served by several
 * VirtualServices gets their routes in order; httpsRedirect → require_tls ALL (also for server
 * hosts no VirtualService serves); identical route lists collapse into one virtual host; catch-all
 * routes go last; no virtual host at all → a `blackhole:<port>` host with no routes (404).
 */
import { SnapshotView } from '../../shared/snapshot/snapshot-view';
import { GenContext } from '../../shared/generation';
import { virtualServiceRoutes } from './routes';
import { Generator } from './types';
import { MergedGateway, intersectHosts, mergeGateways, serverHostsForNamespace, virtualServiceHosts, virtualServiceLookup } from './gateway-merge';

type Obj = Record<string, unknown>;

/** Istio DefaultMaxDirectResponseBodySizeBytes. */
const MAX_DIRECT_RESPONSE_BODY_BYTES = 1024 * 1024;

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

interface VHost { name: string; domains: string[]; routes: Obj[]; requireTls: boolean; from: Set<string> }

function buildRouteConfig(snap: SnapshotView, ctx: Partial<GenContext>, merged: MergedGateway, routeName: string): Obj {
  const namespace = ctx.namespace ?? 'default';
  const empty = { name: routeName, virtual_hosts: [], validate_clusters: { value: false } };
  const servers = merged.serversByRouteName.get(routeName);
  if (!servers || servers.length === 0) return empty; // e.g. a Gateway just deleted while Envoy drains
  const vsFor = virtualServiceLookup(snap, namespace);
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
          // another VirtualService for the host adds its routes; the same one (met again through a
          // second server of its Gateway) would only repeat them
          if (!existing.from.has(key)) existing.routes.push(...routes);
          existing.from.add(key);
          if (server.tls?.['httpsRedirect']) existing.requireTls = true;
        } else {
          vhosts.set(hostname, { name: `${hostname}:${port}`, domains: [hostname], routes: [...routes], requireTls: Boolean(server.tls?.['httpsRedirect']), from: new Set([key]) });
        }
      }
    }
    // httpsRedirect applies to every host of the server, with or without a VirtualService. (Istio
    // keeps a `ns/` prefix in such a domain, which no Host header can match; we drop it.)
    if (server.tls?.['httpsRedirect']) {
      for (const raw of server.hosts) {
        const hostname = (raw.includes('/') ? raw.slice(raw.indexOf('/') + 1) : raw).toLowerCase();
        const existing = vhosts.get(hostname);
        if (existing) existing.requireTls = true;
        else vhosts.set(hostname, { name: `${hostname}:${port}`, domains: [hostname], routes: [], requireTls: true, from: new Set() });
      }
    }
  }
  let list: VHost[];
  if (vhosts.size === 0) {
    const port = servers[0]!.port.number;
    // no routes: Envoy answers 404 (NR) for everything
    list = [{ name: `blackhole:${port}`, domains: ['*'], routes: [], requireTls: false, from: new Set() }];
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
    if (primary) primary.domains.push(...v.domains);
    else { byRoutes.set(key, v); out.push(v); }
  }
  return out;
}

export const gatewayRoutes: Generator = (snap, ctx, names) => {
  const merged = mergeGateways(snap, ctx.gateways ?? []);
  const wanted = names ?? [...merged.serversByRouteName.keys()];
  return wanted.map((name) => ({ name, resource: buildRouteConfig(snap, ctx, merged, name) }));
};
