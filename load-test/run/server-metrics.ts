/**
 * What the load tester reads from the server: its Prometheus text on /metrics (Istio's metric
 * names) and, when it runs locally, its process in /proc (CPU seconds and RSS of the whole
 * process, config-pool threads included).
 */
import * as fs from 'node:fs';

export interface ServerReading {
  cpuSeconds?: number;
  rssBytes?: number;
  /** pilot_xds summed over labels: connected proxies as the server counts them */
  xdsConnections?: number;
  /** pilot_xds_pushes by type */
  pushes?: Record<string, number>;
  rejects?: number;
  eventLoopLagP99Ms?: number;
  /** pilot_proxy_convergence_time cumulative buckets (le → count), plus count and sum */
  convergence?: { buckets: Record<string, number>; count: number; sum: number };
}

/** Parse the subset of the Prometheus text format prom-client writes. */
export function parsePromText(text: string): Map<string, Array<{ labels: Record<string, string>; value: number }>> {
  const out = new Map<string, Array<{ labels: Record<string, string>; value: number }>>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[3]) for (const lm of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]!] = lm[2]!;
    const value = Number(m[4]);
    const list = out.get(m[1]!) ?? [];
    list.push({ labels, value });
    out.set(m[1]!, list);
  }
  return out;
}

export function readingFromMetrics(text: string): ServerReading {
  const m = parsePromText(text);
  const sum = (name: string) => m.get(name)?.reduce((a, s) => a + s.value, 0);
  const pushes: Record<string, number> = {};
  for (const s of m.get('pilot_xds_pushes') ?? []) pushes[s.labels['type'] ?? ''] = s.value;
  const buckets: Record<string, number> = {};
  for (const s of m.get('pilot_proxy_convergence_time_bucket') ?? []) buckets[s.labels['le'] ?? ''] = s.value;
  const lag = m.get('nodejs_eventloop_lag_p99_seconds')?.[0]?.value;
  return {
    cpuSeconds: sum('process_cpu_seconds_total'),
    rssBytes: sum('process_resident_memory_bytes'),
    xdsConnections: sum('pilot_xds'),
    pushes,
    rejects: sum('pilot_total_xds_rejects') ?? 0,
    eventLoopLagP99Ms: lag === undefined ? undefined : lag * 1000,
    convergence: { buckets, count: sum('pilot_proxy_convergence_time_count') ?? 0, sum: sum('pilot_proxy_convergence_time_sum') ?? 0 },
  };
}

export async function scrapeMetrics(addr: string): Promise<ServerReading | undefined> {
  try {
    const res = await fetch(`http://${addr}/metrics`, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return undefined;
    return readingFromMetrics(await res.text());
  } catch {
    return undefined;
  }
}

const CLK_TCK = 100; // Linux USER_HZ; /proc times are in these ticks on every mainstream kernel

/** CPU seconds (user + system, all threads) and RSS of a local process, from /proc. */
export function readProc(pid: number): { cpuSeconds: number; rssBytes: number } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may contain spaces: split after its closing parenthesis
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
    return { cpuSeconds: (utime + stime) / CLK_TCK, rssBytes: rssKb * 1024 };
  } catch {
    return undefined;
  }
}

/** Quantile from cumulative Prometheus buckets (upper bound of the bucket holding it). */
export function bucketQuantile(buckets: Record<string, number>, q: number): number | undefined {
  const entries = Object.entries(buckets).map(([le, c]) => [le === '+Inf' ? Infinity : Number(le), c] as const).sort((a, b) => a[0] - b[0]);
  const total = entries[entries.length - 1]?.[1] ?? 0;
  if (total === 0) return undefined;
  for (const [le, c] of entries) if (c >= q * total) return le;
  return Infinity;
}
