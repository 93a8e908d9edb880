/**
 * `istiod-ts load-test --compare a.json b.json`: the key numbers of two results side by side,
 * with B's difference relative to A. Lower is better for every row except the fleet counts.
 */
import * as fs from 'node:fs';
import { CHANGE_TYPES } from '../scenario/churn';
import { Percentiles } from '../run/percentiles';
import { LoadTestResult } from '../run/result';

export type Unit = 'ms' | 'bytes' | 'count' | 'cores' | 's' | 'ratio';

export interface CompareRow {
  section: string;
  metric: string;
  unit: Unit;
  a: number | null;
  b: number | null;
  /** (b - a) / a, null when either is missing or a is 0 (and b is not) */
  relative: number | null;
}

/** Read and minimally check a result file; throws an Error naming the file. */
export function readResult(file: string): LoadTestResult {
  let r: unknown;
  try {
    r = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: ${(e as Error).message}`);
  }
  const o = r as Partial<LoadTestResult>;
  if (!o || typeof o !== 'object' || o.schemaVersion !== 1 || !o.convergence || !o.xds || !o.server || !o.scenario || !o.admission) {
    throw new Error(`${file}: not a load-test result (schemaVersion 1 with convergence, xds, server, admission)`);
  }
  return o as LoadTestResult;
}

export function compareRows(a: LoadTestResult, b: LoadTestResult): CompareRow[] {
  const rows: CompareRow[] = [];
  const add = (section: string, metric: string, unit: Unit, va: number | null | undefined, vb: number | null | undefined) => {
    const x = va ?? null, y = vb ?? null;
    const relative = x === null || y === null ? null : x === 0 ? (y === 0 ? 0 : null) : (y - x) / Math.abs(x);
    rows.push({ section, metric, unit, a: x, b: y, relative });
  };
  const pcts = (section: string, label: string, pa: Percentiles | undefined, pb: Percentiles | undefined, which: Array<'p50' | 'p90' | 'p99' | 'max'> = ['p50', 'p90', 'p99', 'max']) => {
    for (const q of which) add(section, `${label} ${q === 'max' ? 'max' : q.toUpperCase()}`, 'ms', pa?.[q], pb?.[q]);
  };

  const conv = 'Convergence (change written → proxy ACK)';
  for (const t of CHANGE_TYPES) {
    // results from before a change type existed have no entry for it
    if ((a.convergence.byType[t]?.changes ?? 0) === 0 && (b.convergence.byType[t]?.changes ?? 0) === 0) continue;
    pcts(conv, t, a.convergence.byType[t]?.convergence, b.convergence.byType[t]?.convergence);
  }
  pcts(conv, 'all changes', a.convergence.all.convergence, b.convergence.all.convergence);
  add(conv, 'pairs converged', 'count', a.convergence.all.converged, b.convergence.all.converged);
  add(conv, 'pairs expected', 'count', a.convergence.all.expected, b.convergence.all.expected);
  if (a.storms.length || b.storms.length) pcts(conv, 'storm resync', a.storms[0]?.resync, b.storms[0]?.resync, ['p50', 'p99', 'max']);

  const adm = 'Admission';
  pcts(adm, 'stream open → first response', a.admission.firstStream, b.admission.firstStream);
  pcts(adm, 'reconnecting proxies', a.admission.reconnectStream, b.admission.reconnectStream, ['p50', 'p99']);
  pcts(adm, 'connect → all types ACKed', a.admission.initialSync, b.admission.initialSync, ['p50', 'p99']);

  const xds = 'xDS traffic';
  const types = ['cds', 'eds', 'lds', 'rds'] as const;
  for (const t of types) add(xds, `${t} bytes`, 'bytes', a.xds.byType[t].bytes, b.xds.byType[t].bytes);
  const total = (r: LoadTestResult, k: 'bytes' | 'responses') => types.reduce((x, t) => x + r.xds.byType[t][k], 0);
  add(xds, 'total bytes', 'bytes', total(a, 'bytes'), total(b, 'bytes'));
  add(xds, 'responses', 'count', total(a, 'responses'), total(b, 'responses'));
  const pushes = (r: LoadTestResult) => Object.values(r.server.pushesChurn).reduce((x, v) => x + v, 0);
  add(xds, 'server pushes (churn+drain)', 'count', pushes(a), pushes(b));
  add(xds, 'NACKs', 'count', a.xds.nacks, b.xds.nacks);
  add(xds, 'reconnects', 'count', a.xds.reconnects, b.xds.reconnects);
  add(xds, 'retries (refused streams)', 'count', a.xds.retries, b.xds.retries);

  if (a.floor || b.floor) {
    const fl = 'Fan-out floor';
    const median = (r: LoadTestResult) => {
      const v = (r.floor?.allAckedMs ?? []).filter((x): x is number => x !== null).sort((x, y) => x - y);
      return v.length ? v[Math.floor((v.length - 1) / 2)]! : null;
    };
    add(fl, 'bytes per stream', 'bytes', a.floor?.bytesPerStream, b.floor?.bytesPerStream);
    add(fl, 'floor per stream P50', 'ms', a.floor?.p50Ms, b.floor?.p50Ms);
    add(fl, 'floor per stream P99', 'ms', a.floor?.p99Ms, b.floor?.p99Ms);
    add(fl, 'floor all ACKed (median round)', 'ms', median(a), median(b));
    add(fl, 'global P99 / floor P99', 'ratio', a.floor?.ratio.p99, b.floor?.ratio.p99);
    add(fl, 'global max / floor all ACKed', 'ratio', a.floor?.ratio.max, b.floor?.ratio.max);
  }

  const srv = 'Server';
  add(srv, 'CPU during churn+drain', 'cores', a.server.cpuCoresChurn, b.server.cpuCoresChurn);
  add(srv, 'CPU seconds, churn+drain', 's', a.server.cpuSecondsChurn, b.server.cpuSecondsChurn);
  add(srv, 'CPU seconds, whole run', 's', a.server.cpuSecondsTotal, b.server.cpuSecondsTotal);
  add(srv, 'RSS peak', 'bytes', a.server.peakRssBytes, b.server.peakRssBytes);
  add(srv, 'RSS end', 'bytes', a.server.endRssBytes, b.server.endRssBytes);
  add(srv, 'event-loop lag p99 (worst second)', 'ms', a.server.eventLoopLagP99MaxMs, b.server.eventLoopLagP99MaxMs);

  const gen = 'Load generator';
  add(gen, 'CPU during churn+drain', 'cores', a.generator.cpuCoresChurn, b.generator.cpuCoresChurn);
  add(gen, 'worst worker event-loop delay p99', 'ms', Math.max(0, ...a.generator.workers.map((w) => w.eventLoopDelay.p99)), Math.max(0, ...b.generator.workers.map((w) => w.eventLoopDelay.p99)));
  add(gen, 'warnings', 'count', a.generator.warnings.length, b.generator.warnings.length);
  return rows;
}

export function formatValue(v: number | null, unit: Unit): string {
  if (v === null) return '-';
  switch (unit) {
    case 'ms': return v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v.toFixed(1)} ms`;
    case 'bytes': return v >= 2 ** 30 ? `${(v / 2 ** 30).toFixed(2)} GB` : v >= 2 ** 20 ? `${(v / 2 ** 20).toFixed(1)} MB` : `${(v / 1024).toFixed(1)} KB`;
    case 'cores': return `${v} cores`;
    case 's': return `${v} s`;
    case 'count': return v.toLocaleString('en-US');
    case 'ratio': return `${v.toFixed(2)}x`;
  }
}

export function formatRelative(row: CompareRow): string {
  if (row.a === null || row.b === null) return '-';
  if (row.relative === null) return 'new (A = 0)';
  if (row.relative === 0) return row.a === row.b ? '=' : '0.0%';
  const p = row.relative * 100;
  return `${p > 0 ? '+' : ''}${Math.abs(p) >= 100 ? p.toFixed(0) : p.toFixed(1)}%`;
}

function describe(r: LoadTestResult): string {
  const s = r.scenario;
  return `"${s.name}" ${r.proxies.total.toLocaleString('en-US')} proxies, ${(s.namespaces * s.servicesPerNamespace).toLocaleString('en-US')} services, ${r.changes.length} changes, churn ${Math.round(r.phases.churnMs / 1000)} s; ${r.kube ? `Kubernetes mode (${r.kube.server})` : 'file mode'}; ${r.environment.cpus} CPUs, Node ${r.environment.node}, ${r.environment.workers} worker(s); started ${r.startedAt}`;
}

/** The printed side-by-side table. */
export function compareTable(a: LoadTestResult, b: LoadTestResult, names: [string, string]): string {
  const rows = compareRows(a, b);
  const out: string[] = [];
  out.push('istiod-ts load-test --compare (B relative to A; lower is better except pairs converged)');
  out.push(`  A: ${names[0]}: ${describe(a)}`);
  out.push(`  B: ${names[1]}: ${describe(b)}`);
  const diffs: string[] = [];
  for (const k of ['name', 'proxies', 'namespaces', 'servicesPerNamespace', 'endpointsPerService', 'sidecarScoping', 'deltaShare', 'durationSeconds'] as const) {
    if (JSON.stringify(a.scenario[k]) !== JSON.stringify(b.scenario[k])) diffs.push(`${k} ${JSON.stringify(a.scenario[k])} vs ${JSON.stringify(b.scenario[k])}`);
  }
  if (JSON.stringify(a.scenario.churn) !== JSON.stringify(b.scenario.churn)) diffs.push('churn programme');
  if (JSON.stringify(a.scenario.server.env) !== JSON.stringify(b.scenario.server.env)) diffs.push(`server env ${JSON.stringify(a.scenario.server.env)} vs ${JSON.stringify(b.scenario.server.env)}`);
  out.push(diffs.length ? `  scenarios differ: ${diffs.join('; ')}` : '  same scenario');
  const cells = rows.map((r) => [r.metric, formatValue(r.a, r.unit), formatValue(r.b, r.unit), formatRelative(r)]);
  const header = ['', 'A', 'B', 'B vs A'];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const fmt = (c: string[]) => '    ' + c.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  let section = '';
  out.push('');
  out.push(fmt(header));
  rows.forEach((r, i) => {
    if (r.section !== section) { section = r.section; out.push(`  ${section}`); }
    out.push(fmt(cells[i]!));
  });
  return out.join('\n') + '\n';
}
