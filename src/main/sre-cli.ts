/**
 * SRE commands against a running istiod-ts, through its debug endpoints (the way istioctl
 * reaches istiod's): `proxy-status` reads /debug/syncz, `proxy-config` reads
 * /debug/config_dump?proxyID=. Output follows istioctl's tables; `-o json` prints the decoded
 * resources. Exit codes: 0 ok, 1 the server said no (404 proxy not connected, 401 ...), 2 usage
 * or connection errors.
 */
import { ConfigDumpView, clusterRows, endpointRows, listenerRows, routeRows, table } from './sre-tables';

export interface CliIo { out(s: string): void; err(s: string): void }
const stdio: CliIo = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) };

const DEFAULT_ISTIOD = 'localhost:15014';

interface Parsed { positional: string[]; istiod: string; output: string; token: string }

function parse(argv: readonly string[]): Parsed {
  const p: Parsed = { positional: [], istiod: DEFAULT_ISTIOD, output: 'short', token: '' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const name = a.startsWith('-') ? (eq > 0 ? a.slice(0, eq) : a) : '';
    const value = () => {
      if (eq > 0) return a.slice(eq + 1);
      if (i + 1 >= argv.length) throw new UsageError(`${name} needs a value`);
      return argv[++i]!;
    };
    if (name === '--istiod' || name === '--istiodAddr') p.istiod = value();
    else if (name === '-o' || name === '--output') p.output = value();
    else if (name === '--token') p.token = value();
    else if (name) throw new UsageError(`unknown flag ${name}`);
    else p.positional.push(a);
  }
  if (!['short', 'json'].includes(p.output)) throw new UsageError(`-o: expected short or json, got '${p.output}'`);
  return p;
}

class UsageError extends Error {}

async function get(p: Parsed, path: string): Promise<{ status: number; body: string }> {
  const base = /^https?:\/\//.test(p.istiod) ? p.istiod : `http://${p.istiod}`;
  const headers: Record<string, string> = p.token ? { authorization: `Bearer ${p.token}` } : {};
  const res = await fetch(base.replace(/\/$/, '') + path, { headers, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.text() };
}

/** istioctl's xdsStatus (istioctl/pkg/writer/pilot/status.go). */
export function xdsStatus(sent: string | undefined, acked: string | undefined): string {
  if (!sent) return 'NOT SENT';
  if (sent === acked) return 'SYNCED';
  if (!acked) return 'STALE (Never Acknowledged)';
  return 'STALE';
}

export async function proxyStatusMain(argv: readonly string[], io: CliIo = stdio): Promise<number> {
  return run(io, async () => {
    const p = parse(argv);
    const [syncz, version] = await Promise.all([get(p, '/debug/syncz'), get(p, '/version').catch(() => ({ status: 0, body: '{}' }))]);
    if (syncz.status !== 200) { io.err(`istiod-ts proxy-status: ${p.istiod}/debug/syncz: HTTP ${syncz.status} ${syncz.body.trim()}\n`); return 1; }
    let istiod = p.istiod;
    try { istiod = (JSON.parse(version.body) as { hostname?: string }).hostname || istiod; } catch { /* keep the address */ }
    let rows = JSON.parse(syncz.body) as Array<Record<string, string | undefined>>;
    const only = p.positional[0];
    if (only) {
      rows = rows.filter((r) => r['proxy'] === only || r['node_id'] === only || r['proxy']?.startsWith(only + '.'));
      // istioctl's answer for an unknown proxy; with several replicas it may be connected to another one
      if (rows.length === 0) { io.err(`istiod-ts proxy-status: ${only} is not connected to ${istiod} (with several replicas, ask each: docs/troubleshooting.md#reaching-one-replica)\n`); return 1; }
    }
    if (p.output === 'json') { io.out(JSON.stringify(rows, null, 2) + '\n'); return 0; }
    rows.sort((a, b) => (a['proxy'] ?? '').localeCompare(b['proxy'] ?? ''));
    io.out(table(['NAME', 'CLUSTER', 'CDS', 'LDS', 'EDS', 'RDS', 'ISTIOD', 'VERSION'], rows.map((r) => [
      r['proxy'] ?? '', r['cluster_id'] ?? '',
      xdsStatus(r['cluster_sent'], r['cluster_acked']), xdsStatus(r['listener_sent'], r['listener_acked']),
      xdsStatus(r['endpoint_sent'], r['endpoint_acked']), xdsStatus(r['route_sent'], r['route_acked']),
      istiod, r['istio_version'] ?? '',
    ])));
    return 0;
  });
}

const KINDS = ['cluster', 'listener', 'route', 'endpoint', 'all'] as const;
type Kind = typeof KINDS[number];
const ALIASES: Record<string, Kind> = { cluster: 'cluster', clusters: 'cluster', c: 'cluster', listener: 'listener', listeners: 'listener', l: 'listener', route: 'route', routes: 'route', r: 'route', endpoint: 'endpoint', endpoints: 'endpoint', ep: 'endpoint', e: 'endpoint', all: 'all' };

export async function proxyConfigMain(argv: readonly string[], io: CliIo = stdio): Promise<number> {
  return run(io, async () => {
    const p = parse(argv);
    const [kindArg, proxy] = p.positional;
    const kind = kindArg ? ALIASES[kindArg] : undefined;
    if (!kind || !proxy) throw new UsageError(`usage: istiod-ts proxy-config ${KINDS.join('|')} PROXY [-o short|json] [--istiod HOST:PORT]`);
    const q = `/debug/config_dump?proxyID=${encodeURIComponent(proxy)}${kind === 'endpoint' || kind === 'all' ? '&include_eds=true' : ''}`;
    const r = await get(p, q);
    if (r.status !== 200) { io.err(`istiod-ts proxy-config: ${proxy}: HTTP ${r.status} ${r.body.trim()}\n`); return 1; }
    const dump = new ConfigDumpView(JSON.parse(r.body));
    if (kind === 'all') {
      if (p.output === 'json') { io.out(JSON.stringify(dump.raw, null, 2) + '\n'); return 0; }
      for (const [title, rows] of [['CLUSTERS', clusterRows(dump)], ['LISTENERS', listenerRows(dump)], ['ROUTES', routeRows(dump)], ['ENDPOINTS', endpointRows(dump)]] as const) {
        io.out(`${title}\n${table(rows.header, rows.rows)}\n`);
      }
      return 0;
    }
    const resources = { cluster: dump.clusters(), listener: dump.listeners(), route: dump.routes(), endpoint: dump.endpoints() }[kind];
    if (p.output === 'json') { io.out(JSON.stringify(resources, null, 2) + '\n'); return 0; }
    const t = { cluster: clusterRows, listener: listenerRows, route: routeRows, endpoint: endpointRows }[kind](dump);
    io.out(table(t.header, t.rows));
    return 0;
  });
}

async function run(io: CliIo, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof UsageError) { io.err(`istiod-ts: ${e.message}\n`); return 2; }
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    io.err(`istiod-ts: ${e instanceof Error ? e.message : String(e)}${cause ? ` (${cause.code ?? cause.message})` : ''}\n`);
    return 2;
  }
}
