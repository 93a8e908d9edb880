/**
 * Checks across a set of resources meant for one proxy (validateResources in validate.ts calls
 * these after checking each resource alone): references resolve, names and bound addresses are
 * unique, filter chain matches do not collide, virtual hosts and domains are unique per route table.
 * Resources are plain objects that already passed the per-resource walk, so reads here are defensive
 * but do not report shape problems again.
 */
import type { ResourceSet } from './validate';

type Obj = Record<string, unknown>;
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** A listener's filter chains with their field paths. */
export function chainsOf(l: Obj): Array<{ chain: unknown; path: string }> {
  const chains = Array.isArray(l['filter_chains']) ? l['filter_chains'] : [];
  return chains.map((chain, i) => ({ chain, path: `filter_chains[${i}]` }));
}

/** Network filters' typed_config payloads of a listener, with paths (default chain and api_listener included). */
function networkFilters(l: Obj): Array<{ cfg: Obj; path: string }> {
  const out: Array<{ cfg: Obj; path: string }> = [];
  const fromChain = (chain: unknown, path: string): void => {
    const filters = isObj(chain) && Array.isArray(chain['filters']) ? chain['filters'] : [];
    filters.forEach((f, j) => { if (isObj(f) && isObj(f['typed_config'])) out.push({ cfg: f['typed_config'], path: `${path}.filters[${j}].typed_config` }); });
  };
  for (const { chain, path } of chainsOf(l)) fromChain(chain, path);
  if (isObj(l['default_filter_chain'])) fromChain(l['default_filter_chain'], 'default_filter_chain');
  const api = l['api_listener'];
  if (isObj(api) && isObj(api['api_listener'])) out.push({ cfg: api['api_listener'], path: 'api_listener.api_listener' });
  return out;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const objs = (v: unknown): Obj[] => (Array.isArray(v) ? v.filter(isObj) : []);
const nameOf = (r: object, key = 'name'): string => String((r as Obj)[key] ?? '');

/** Append the set-level problems of `set` to `out`. `requireReferences` false skips only the "exists" checks. */
export function crossCheck(set: ResourceSet, requireReferences: boolean, out: string[]): void {
  const clusters = (set.clusters ?? []).filter(isObj);
  const listeners = (set.listeners ?? []).filter(isObj);
  const routes = (set.routes ?? []).filter(isObj);
  const endpoints = (set.endpoints ?? []).filter(isObj);
  unique('Cluster', clusters.map((c) => nameOf(c)), out);
  unique('Listener', listeners.map((l) => nameOf(l)), out);
  unique('RouteConfiguration', routes.map((r) => nameOf(r)), out);
  unique('ClusterLoadAssignment', endpoints.map((e) => nameOf(e, 'cluster_name')), out);
  unique('Secret', (set.secrets ?? []).map((s) => nameOf(s)), out);

  const clusterNames = set.clusters ? new Set(clusters.map((c) => nameOf(c))) : undefined;
  const routeNames = set.routes ? new Set(routes.map((r) => nameOf(r))) : undefined;
  const refCluster = (label: string, path: string, name: unknown): void => {
    if (requireReferences && clusterNames && typeof name === 'string' && !clusterNames.has(name)) out.push(`${label}: ${path}: cluster '${name}' is not in the set`);
  };

  const bound = new Map<string, string>();
  for (const l of listeners) {
    const label = `Listener '${nameOf(l)}'`;
    bindings(l, label, bound, out);
    filterChainOverlaps(l, label, out);
    for (const { cfg, path } of networkFilters(l)) {
      if (cfg['@type'] === HCM) {
        const rdsName = isObj(cfg['rds']) ? str(cfg['rds']['route_config_name']) : undefined;
        if (requireReferences && routeNames && rdsName !== undefined && !routeNames.has(rdsName)) {
          out.push(`${label}: ${path}.rds.route_config_name: route configuration '${rdsName}' is not in the set`);
        }
        if (isObj(cfg['route_config'])) routeTable(cfg['route_config'], label, `${path}.route_config.`, refCluster, out);
      } else if (cfg['@type'] === TCP_PROXY) {
        refCluster(label, `${path}.cluster`, cfg['cluster']);
        const wc = isObj(cfg['weighted_clusters']) ? objs(cfg['weighted_clusters']['clusters']) : [];
        wc.forEach((c, i) => refCluster(label, `${path}.weighted_clusters.clusters[${i}].name`, c['name']));
      }
    }
  }
  for (const r of routes) routeTable(r, `RouteConfiguration '${nameOf(r)}'`, '', refCluster, out);

  if (requireReferences && set.endpoints) {
    const cla = new Set(endpoints.map((e) => nameOf(e, 'cluster_name')));
    for (const c of clusters) {
      if (c['type'] !== 'EDS' && c['type'] !== 3) continue;
      const eds = isObj(c['eds_cluster_config']) ? str(c['eds_cluster_config']['service_name']) : undefined;
      const service = eds || nameOf(c);
      if (!cla.has(service)) out.push(`Cluster '${nameOf(c)}': eds_cluster_config.service_name: no ClusterLoadAssignment '${service}' in the set`);
    }
  }
}

function unique(kind: string, names: string[], out: string[]): void {
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) out.push(`${kind} '${n}': name: duplicate ${kind} name`);
    seen.add(n);
  }
}

/** Route table checks shared by RDS resources and inline HCM route_config. */
function routeTable(rc: Obj, label: string, prefix: string, refCluster: (label: string, path: string, name: unknown) => void, out: string[]): void {
  const vhostNames = new Map<string, number>();
  const domains = new Map<string, string>();
  objs(rc['virtual_hosts']).forEach((vh, i) => {
    const vp = `${prefix}virtual_hosts[${i}]`;
    const vname = nameOf(vh);
    if (vhostNames.has(vname)) out.push(`${label}: ${vp}.name: virtual host name '${vname}' repeats virtual_hosts[${vhostNames.get(vname)}]`);
    else vhostNames.set(vname, i);
    (Array.isArray(vh['domains']) ? vh['domains'] : []).forEach((d, j) => {
      if (typeof d !== 'string') return;
      const key = d.toLowerCase(); // Envoy compares domains lower-cased
      const owner = domains.get(key);
      if (owner !== undefined) out.push(`${label}: ${vp}.domains[${j}]: domain '${d}' is already listed in virtual host '${owner}'`);
      else domains.set(key, vname);
    });
    objs(vh['routes']).forEach((rt, j) => {
      const ra = rt['route'];
      if (!isObj(ra)) return;
      const rp = `${vp}.routes[${j}].route`;
      refCluster(label, `${rp}.cluster`, ra['cluster']);
      const wc = isObj(ra['weighted_clusters']) ? objs(ra['weighted_clusters']['clusters']) : [];
      wc.forEach((c, k) => refCluster(label, `${rp}.weighted_clusters.clusters[${k}].name`, c['name']));
      objs(ra['request_mirror_policies']).forEach((m, k) => refCluster(label, `${rp}.request_mirror_policies[${k}].cluster`, m['cluster']));
    });
  });
}

/** Addresses a listener binds: its address and additional_addresses, unless bind_to_port is false. */
function bindings(l: Obj, label: string, bound: Map<string, string>, out: string[]): void {
  const btp = l['bind_to_port'];
  if (isObj(btp) && btp['value'] === false) return;
  const addrs: Array<[unknown, string]> = [[l['address'], 'address']];
  objs(l['additional_addresses']).forEach((a, i) => addrs.push([a['address'], `additional_addresses[${i}].address`]));
  for (const [a, path] of addrs) {
    if (!isObj(a)) continue;
    const sa = a['socket_address'];
    const key = isObj(sa) ? `${String(sa['protocol'] ?? 'TCP')} ${String(sa['address'] ?? '')}:${String(sa['port_value'] ?? sa['named_port'] ?? 0)}`
      : isObj(a['pipe']) ? `pipe ${String(a['pipe']['path'])}` : undefined;
    if (key === undefined) continue;
    const other = bound.get(key);
    if (other !== undefined) out.push(`${label}: ${path}: ${key} is already bound by listener '${other}'`);
    else bound.set(key, nameOf(l));
  }
}

// ---- filter chain matches -----------------------------------------------------------------------

const MAX_LEAVES = 4096;
const SOURCE_TYPES: Readonly<Record<string, number>> = { ANY: 0, SAME_IP_OR_LOOPBACK: 1, EXTERNAL: 2 };

/**
 * Envoy builds a tree over (destination_port, destination IP, server name, transport protocol,
 * application protocol, direct source IP, source type, source IP, source port) and rejects a chain
 * that lands on a leaf another chain holds: identical matches ("same matching rules") and matches
 * sharing one value in every repeated field ("overlapping matching rules"). CIDRs are compared as
 * written (address/len); Envoy normalises them, so this can miss, but never invent, an overlap.
 */
function filterChainOverlaps(l: Obj, label: string, out: string[]): void {
  const owners = new Map<string, number>();
  const exact = new Map<string, number>();
  chainsOf(l).forEach(({ chain, path }, i) => {
    const dims = matchDimensions(isObj(chain) && isObj(chain['filter_chain_match']) ? chain['filter_chain_match'] : {});
    const norm = JSON.stringify(dims);
    const same = exact.get(norm);
    if (same !== undefined) { out.push(`${label}: ${path}.filter_chain_match: same matching rules as filter_chains[${same}]`); return; }
    exact.set(norm, i);
    const leaves = matchLeaves(dims);
    if (!leaves) return;
    for (const leaf of leaves) {
      const other = owners.get(leaf);
      if (other !== undefined) { out.push(`${label}: ${path}.filter_chain_match: overlaps filter_chains[${other}] (both match ${describeLeaf(leaf)})`); return; }
    }
    for (const leaf of leaves) owners.set(leaf, i);
  });
}

const DIMENSIONS = [
  'destination_port', 'prefix_ranges', 'server_names', 'transport_protocol', 'application_protocols',
  'direct_source_prefix_ranges', 'source_type', 'source_prefix_ranges', 'source_ports',
] as const;
const WILDCARD = '*';

function cidrs(v: unknown): string[] {
  return objs(v).map((c) => `${String(c['address_prefix'] ?? '')}/${String(isObj(c['prefix_len']) ? c['prefix_len']['value'] ?? 0 : 0)}`);
}

/**
 * The match as one value list per tree level, defaults folded into the wildcard, so an absent match,
 * `{}` and `{ transport_protocol: '' }` are equal.
 */
function matchDimensions(m: Obj): string[][] {
  const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
  const st = m['source_type'];
  const sourceType = typeof st === 'number' ? Object.keys(SOURCE_TYPES).find((k) => SOURCE_TYPES[k] === st) ?? String(st) : String(st ?? 'ANY');
  const port = isObj(m['destination_port']) ? String(m['destination_port']['value'] ?? 0) : '';
  const transport = str(m['transport_protocol']) ?? '';
  return [
    port ? [port] : [], cidrs(m['prefix_ranges']), list(m['server_names']), transport ? [transport] : [], list(m['application_protocols']),
    cidrs(m['direct_source_prefix_ranges']), sourceType === 'ANY' ? [] : [sourceType], cidrs(m['source_prefix_ranges']), list(m['source_ports']),
  ].map((d) => (d.length ? d : [WILDCARD]));
}

/** Every leaf the match occupies (one value per level, NUL-joined), or null when there are too many. */
function matchLeaves(dims: string[][]): string[] | null {
  let leaves: string[][] = [[]];
  for (const dim of dims) {
    if (leaves.length * dim.length > MAX_LEAVES) return null;
    leaves = leaves.flatMap((p) => dim.map((x) => [...p, x]));
  }
  return leaves.map((l) => l.join('\u0000'));
}

function describeLeaf(leaf: string): string {
  const parts = leaf.split('\u0000').flatMap((v, i) => (v === WILDCARD ? [] : [`${DIMENSIONS[i]}=${v}`]));
  return parts.length ? parts.join(' ') : 'everything';
}
