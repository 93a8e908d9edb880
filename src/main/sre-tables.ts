/**
 * istioctl-style tables for `istiod-ts proxy-config`, built from a decoded envoy.admin.v3
 * ConfigDump (ours from /debug/config_dump, or Envoy's own /config_dump: same shape).
 */
type Obj = Record<string, any>;

export const ADMIN = 'type.googleapis.com/envoy.admin.v3.';

export class ConfigDumpView {
  constructor(readonly raw: { configs?: Obj[] }) {}
  section(kind: string): Obj {
    return (this.raw.configs ?? []).find((c) => c['@type'] === ADMIN + kind) ?? {};
  }
  clusters(): Obj[] { return ((this.section('ClustersConfigDump')['dynamic_active_clusters'] ?? []) as Obj[]).map((c) => c['cluster']); }
  listeners(): Obj[] { return ((this.section('ListenersConfigDump')['dynamic_listeners'] ?? []) as Obj[]).filter((l) => l['active_state']).map((l) => l['active_state']['listener']); }
  routes(): Obj[] { return ((this.section('RoutesConfigDump')['dynamic_route_configs'] ?? []) as Obj[]).map((r) => r['route_config']); }
  endpoints(): Obj[] { return ((this.section('EndpointsConfigDump')['dynamic_endpoint_configs'] ?? []) as Obj[]).map((e) => e['endpoint_config']); }
}

export interface Rows { header: string[]; rows: string[][] }

/** Left-aligned columns separated by at least three spaces (istioctl's tabwriter look). */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** `/apis/networking.istio.io/v1/namespaces/NS/destination-rule/NAME` → `NAME.NS` */
function istioConfigRef(meta: Obj | undefined): string {
  const path = meta?.['filter_metadata']?.['istio']?.['config'];
  if (typeof path !== 'string') return '-';
  const m = /namespaces\/([^/]+)\/[^/]+\/([^/]+)$/.exec(path);
  return m ? `${m[2]}.${m[1]}` : path;
}

export function clusterRows(d: ConfigDumpView): Rows {
  const rows = d.clusters().map((c) => {
    const name = String(c['name'] ?? '');
    const parts = name.split('|');
    const type = String(c['type'] ?? (c['cluster_type'] ? c['cluster_type']['name'] : 'STATIC'));
    if (parts.length === 4) {
      const [direction, port, subset, fqdn] = parts as [string, string, string, string];
      return [fqdn || '-', port, subset || '-', direction, type, istioConfigRef(c['metadata'])];
    }
    return [name, '-', '-', '-', type, istioConfigRef(c['metadata'])];
  });
  rows.sort((a, b) => a[0]!.localeCompare(b[0]!) || Number(a[1]) - Number(b[1]) || a[2]!.localeCompare(b[2]!));
  return { header: ['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE', 'DESTINATION RULE'], rows };
}

function chainMatch(m: Obj | undefined): string {
  if (!m) return 'ALL';
  const parts: string[] = [];
  const port = m['destination_port']; // a UInt32Value: {value: N} in JSON
  if (port !== undefined) parts.push(`port ${typeof port === 'object' ? port['value'] ?? 0 : port}`);
  if (m['server_names']?.length) parts.push(`SNI: ${m['server_names'].join(',')}`);
  if (m['transport_protocol']) parts.push(`Trans: ${m['transport_protocol']}`);
  if (m['application_protocols']?.length) parts.push(`App: ${m['application_protocols'].join(',')}`);
  if (m['prefix_ranges']?.length) parts.push(`Addr: ${m['prefix_ranges'].map((r: Obj) => `${r['address_prefix']}/${r['prefix_len'] ?? 0}`).join(',')}`);
  return parts.length > 0 ? parts.join('; ') : 'ALL';
}

function chainDestination(chain: Obj): string {
  for (const f of (chain['filters'] ?? []) as Obj[]) {
    const tc = f['typed_config'] ?? {};
    if (tc['rds']?.['route_config_name']) return `Route: ${tc['rds']['route_config_name']}`;
    if (tc['route_config']) return `Inline Route: ${tc['route_config']['name'] ?? ''}`.trim();
    if (typeof tc['cluster'] === 'string') return `Cluster: ${tc['cluster']}`;
    if (tc['weighted_clusters']) return `Clusters: ${(tc['weighted_clusters']['clusters'] ?? []).map((c: Obj) => c['name']).join(',')}`;
  }
  return 'Non-HTTP/Non-TCP';
}

export function listenerRows(d: ConfigDumpView): Rows {
  const rows: string[][] = [];
  for (const l of d.listeners()) {
    const sa = l['address']?.['socket_address'] ?? {};
    const addr = String(sa['address'] ?? '');
    const port = String(sa['port_value'] ?? '0');
    const chains = [...((l['filter_chains'] ?? []) as Obj[]), ...(l['default_filter_chain'] ? [l['default_filter_chain']] : [])];
    if (chains.length === 0) rows.push([String(l['name']), addr, port, 'ALL', '-']);
    for (const c of chains) rows.push([String(l['name']), addr, port, chainMatch(c['filter_chain_match']), chainDestination(c)]);
  }
  return { header: ['NAME', 'ADDRESSES', 'PORT', 'MATCH', 'DESTINATION'], rows };
}

function routeMatch(m: Obj | undefined): string {
  if (!m) return '/*';
  if (m['prefix'] !== undefined) return `${m['prefix']}*`;
  if (m['path'] !== undefined) return String(m['path']);
  if (m['safe_regex']) return String(m['safe_regex']['regex']);
  if (m['path_separated_prefix'] !== undefined) return `${m['path_separated_prefix']}*`;
  return '/*';
}

export function routeRows(d: ConfigDumpView): Rows {
  const rows: string[][] = [];
  for (const rc of d.routes()) {
    const vhosts = (rc['virtual_hosts'] ?? []) as Obj[];
    if (vhosts.length === 0) rows.push([String(rc['name'] ?? ''), '-', '-', '-', '-']);
    for (const vh of vhosts) {
      const domains = (vh['domains'] ?? []) as string[];
      const dom = domains.length <= 1 ? (domains[0] ?? '-') : `${domains[0]} + ${domains.length - 1} more...`;
      const routes = (vh['routes'] ?? []) as Obj[];
      if (routes.length === 0) rows.push([String(rc['name'] ?? ''), String(vh['name']), dom, '-', '-']);
      for (const r of routes) rows.push([String(rc['name'] ?? ''), String(vh['name']), dom, routeMatch(r['match']), istioConfigRef(r['metadata'])]);
    }
  }
  return { header: ['NAME', 'VHOST NAME', 'DOMAINS', 'MATCH', 'VIRTUAL SERVICE'], rows };
}

export function endpointRows(d: ConfigDumpView): Rows {
  const rows: string[][] = [];
  for (const cla of d.endpoints()) {
    for (const le of (cla['endpoints'] ?? []) as Obj[]) {
      for (const e of (le['lb_endpoints'] ?? []) as Obj[]) {
        const sa = e['endpoint']?.['address']?.['socket_address'] ?? {};
        const status = String(e['health_status'] ?? 'HEALTHY').replace('UNKNOWN', 'HEALTHY');
        rows.push([`${sa['address'] ?? ''}:${sa['port_value'] ?? 0}`, status, 'OK', String(cla['cluster_name'] ?? '')]);
      }
    }
  }
  rows.sort((a, b) => a[3]!.localeCompare(b[3]!) || a[0]!.localeCompare(b[0]!));
  return { header: ['ENDPOINT', 'STATUS', 'OUTLIER CHECK', 'CLUSTER'], rows };
}
