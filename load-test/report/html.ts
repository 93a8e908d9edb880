/**
 * The HTML report of a LoadTestResult: one self-contained file (inline CSS and SVG, no script,
 * nothing fetched) with the scenario and machine, the summary numbers and the charts:
 * convergence histogram and timeline, server CPU and RSS, pushes per second, the fleet, and
 * event-loop lag. Chart ids: chart-histogram, chart-timeline, chart-cpu, chart-rss,
 * chart-pushes, chart-fleet, chart-lag.
 */
import { CHANGE_TYPES, ChangeType } from '../scenario/churn';
import { Percentiles } from '../run/percentiles';
import { LoadTestResult } from '../run/result';
import { summaryTable } from '../run/summary-table';
import { rebin } from './histogram';
import { points, timeSeries } from './series';
import { BarSeries, LineSeries, RangePoint, emptyChart, esc, groupedBarChart, lineChart, rangeChart } from './svg';
import { REPORT_CSS } from './style';

export const CHART_IDS = ['chart-histogram', 'chart-timeline', 'chart-cpu', 'chart-rss', 'chart-pushes', 'chart-fleet', 'chart-lag'] as const;

export const TYPE_COLORS: Record<ChangeType, string> = { endpoint: '#1f77b4', scaleUp: '#ff7f0e', virtualService: '#2ca02c', destinationRule: '#d62728', global: '#9467bd' };
const XDS_COLORS: Record<string, string> = { cds: '#9467bd', eds: '#1f77b4', lds: '#8c564b', rds: '#e377c2' };
const EXTRA = ['#17becf', '#bcbd22', '#7f7f7f'];

const n = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : v.toLocaleString('en-US'));
export const fmtMs = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${Math.round(v * 10) / 10} ms`);
const mb = (b: number | null | undefined): string => (b === null || b === undefined ? '-' : `${Math.round(b / 2 ** 20)} MB`);
const bytes = (b: number): string => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(2)} GB` : b >= 2 ** 20 ? `${(b / 2 ** 20).toFixed(1)} MB` : `${(b / 1024).toFixed(1)} KB`);
const secs = (v: number): string => `${Math.round(v * 10) / 10}`;

function table(header: string[], rows: Array<Array<string | number>>, cls = ''): string {
  return `<table class="${cls}"><thead><tr>${header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>` +
    rows.map((r) => `<tr>${r.map((c) => `<td>${esc(String(c))}</td>`).join('')}</tr>`).join('') + '</tbody></table>';
}
const pct = (p: Percentiles) => [fmtMs(p.p50), fmtMs(p.p90), fmtMs(p.p99), fmtMs(p.max)];

function legend(items: Array<{ name: string; color: string; dashed?: boolean }>): string {
  return `<div class="legend">${items.map((i) => `<span><i class="sw${i.dashed ? ' dashed' : ''}" style="border-color:${i.color};background:${i.dashed ? 'transparent' : i.color}"></i>${esc(i.name)}</span>`).join('')}</div>`;
}

function figure(id: string, title: string, about: string, legendHtml: string, svg: string): string {
  return `<figure class="chart-box" id="fig-${id}"><figcaption><h3>${esc(title)}</h3><p>${esc(about)}</p></figcaption>${legendHtml}${svg}</figure>`;
}

function histogramFigure(r: LoadTestResult): string {
  const h = r.convergence.histogram;
  const types = CHANGE_TYPES.filter((t) => (h?.[t] ?? []).length > 0);
  let svg: string;
  let about = 'Every (change, proxy) pair; bar height is the share of that change type\'s pairs, the tooltip the count.';
  if (!h) svg = emptyChart('chart-histogram', 'this result has no convergence histogram (recorded by an older version)');
  else {
    const b = rebin(Object.fromEntries(types.map((t) => [t, h[t]])));
    const cats = b.edges.slice(1).map((e, i) => (b.tail && i === b.edges.length - 2 ? `>${fmtMs(b.edges[i]!)}` : `≤${fmtMs(e)}`).replace(' ', ''));
    const series: BarSeries[] = types.map((t) => {
      const counts = b.counts[t]!;
      const total = counts.reduce((a, c) => a + c, 0);
      return { name: t, color: TYPE_COLORS[t], counts, values: counts.map((c) => Math.round((c / total) * 1000) / 10) };
    });
    const k = b.edges.length;
    if (k) about += ` ${b.scale === 'log' ? 'Log' : 'Linear'} bins from ${fmtMs(b.edges[0]!)} to ${fmtMs(b.edges[b.tail ? k - 2 : k - 1]!)}${b.tail ? `; the last bar gathers the tail above the P99 of all pairs, up to ${fmtMs(b.edges[k - 1]!)}` : ''}.`;
    svg = groupedBarChart('chart-histogram', cats, series, { xLabel: 'convergence (change written → proxy ACK), bin upper bound', yLabel: '% of the type\'s pairs', yFmt: (v) => `${v}%`, empty: 'no change converged' });
  }
  return figure('chart-histogram', 'Convergence histogram', about,
    legend(types.map((t) => ({ name: `${t} (${n(r.convergence.byType[t].converged)} pairs)`, color: TYPE_COLORS[t] }))), svg);
}

function timelineFigure(r: LoadTestResult, markers: ReturnType<typeof timeSeries>['markers']): string {
  const items: RangePoint[] = r.changes.filter((c) => c.convergence.p50 !== null).map((c) => ({
    x: c.atMs / 1000, lo: c.convergence.p50!, mid: c.convergence.p50!, hi: c.convergence.max!, series: c.type, color: TYPE_COLORS[c.type],
    attrs: { 'change-id': c.id, type: c.type, p50: c.convergence.p50!, p99: c.convergence.p99!, max: c.convergence.max! },
    title: `#${c.id} ${c.type} (${c.marker}) at ${secs(c.atMs / 1000)} s: P50 ${fmtMs(c.convergence.p50)}, P99 ${fmtMs(c.convergence.p99)}, max ${fmtMs(c.convergence.max)}; ${c.converged}/${c.expected} proxies`,
  }));
  const svg = rangeChart('chart-timeline', items, (p) => Number(p.attrs['p99']), {
    xLabel: 'change applied, seconds into churn', yLabel: 'convergence (ms)', empty: 'no change converged', markers,
    xFmt: (v) => `${v}s`, yFmt: (v) => (v >= 1000 ? `${v / 1000}s` : `${v}`),
  });
  const types = CHANGE_TYPES.filter((t) => (r.convergence.byType[t]?.changes ?? 0) > 0);
  return figure('chart-timeline', 'Convergence timeline', 'One mark per change at the time it was written: dot = P50 over its proxies, ring = P99, line up to the max.',
    legend(types.map((t) => ({ name: t, color: TYPE_COLORS[t] }))), svg);
}

function timeFigure(id: string, title: string, about: string, series: LineSeries[], opts: { yLabel: string; empty: string; yFmt?: (v: number) => string }, ts: ReturnType<typeof timeSeries>): string {
  const svg = lineChart(id, series, { xLabel: 'seconds since churn start', yLabel: opts.yLabel, empty: opts.empty, bands: ts.bands, markers: ts.markers, xFmt: (v) => `${v}s`, yFmt: opts.yFmt });
  return figure(id, title, about, legend(series.filter((s) => s.points.some((p) => p.y !== null)).map((s) => ({ name: s.name, color: s.color, dashed: s.dashed }))), svg);
}

function charts(r: LoadTestResult): string {
  const ts = timeSeries(r);
  const p = (ys: ReadonlyArray<number | null>) => points(ts.x, ys);
  const pushTypes = Object.keys(ts.pushesPerSecond);
  return [
    histogramFigure(r),
    timelineFigure(r, ts.markers),
    timeFigure('chart-cpu', 'CPU over time', 'Cores used in each one-second interval: the server (from /proc for a spawned server, else process_cpu_seconds_total) and the load generator process.', [
      { name: 'server', color: '#d62728', points: p(ts.serverCpuCores) },
      { name: 'load generator', color: '#7f7f7f', points: p(ts.generatorCpuCores), dashed: true },
    ], { yLabel: 'cores', empty: 'no server CPU readings (give --monitoring with --target)' }, ts),
    timeFigure('chart-rss', 'Memory (RSS) over time', 'Resident set size of the server process and of the load generator.', [
      { name: 'server', color: '#1f77b4', points: p(ts.serverRssMb) },
      { name: 'load generator', color: '#7f7f7f', points: p(ts.generatorRssMb), dashed: true },
    ], { yLabel: 'MB', empty: 'no RSS readings' }, ts),
    timeFigure('chart-pushes', 'Pushes per second', 'Increase of the server\'s pilot_xds_pushes per second, by type.',
      pushTypes.map((t, i) => ({ name: t, color: XDS_COLORS[t] ?? EXTRA[i % EXTRA.length]!, points: p(ts.pushesPerSecond[t]!) })),
      { yLabel: 'pushes / s', empty: 'no /metrics readings (give --monitoring with --target)' }, ts),
    timeFigure('chart-fleet', 'Fleet', 'Simulated proxies whose current stream has delivered a response (connected) and ACKed every type (synced), and the server\'s pilot_xds.', [
      { name: 'connected', color: '#2ca02c', points: p(ts.connected) },
      { name: 'synced', color: '#1f77b4', points: p(ts.synced), dashed: true },
      { name: 'server pilot_xds', color: '#ff7f0e', points: p(ts.serverXds), dashed: true },
    ], { yLabel: 'proxies', empty: 'no fleet samples' }, ts),
    timeFigure('chart-lag', 'Event-loop lag', 'Server event-loop lag p99 (from /metrics) and the worst simulator worker\'s event-loop delay p99 in each second: if the generator\'s is high, ACK times include generator lag.', [
      { name: 'server p99', color: '#d62728', points: p(ts.serverLagP99Ms) },
      { name: 'generator worker p99', color: '#7f7f7f', points: p(ts.generatorDelayP99Ms), dashed: true },
    ], { yLabel: 'ms', empty: 'no event-loop readings' }, ts),
  ].join('\n');
}

function facts(r: LoadTestResult): string {
  const s = r.scenario, e = r.environment, c = s.churn;
  const env = Object.entries(s.server.env ?? {}).map(([k, v]) => `${k}=${v}`).join(' ') || '-';
  const storm = c.reconnectStorm ? `storm ${Math.round(c.reconnectStorm.fraction * 100)}% at ${c.reconnectStorm.atSeconds}s` : 'no storm';
  const dl = (rows: Array<[string, string]>) => `<dl>${rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>`;
  return `<section class="facts"><div><h2>Scenario</h2>${dl([
    ['proxies', `${n(r.proxies.total)} (${n(r.proxies.sotw)} SotW, ${n(r.proxies.delta)} Delta)`],
    ['mesh', `${s.namespaces} namespaces × ${s.servicesPerNamespace} services, ${s.endpointsPerService} endpoints each; routed share ${s.routingShare}`],
    ['sidecar scoping', s.sidecarScoping],
    ['churn', `${c.endpointChangesPerSecond} endpoint changes/s, ${c.configEditsPerMinute} config edits/min, ${c.globalEditsPerMinute ?? 0} global edits/min, ${c.scaleUps.count} scale-ups of ${c.scaleUps.endpoints}, ${storm}`],
    ['phases', `warmup ${secs(r.phases.warmupMs / 1000)} s${r.phases.warmupComplete ? '' : ' (INCOMPLETE)'}, churn ${secs(r.phases.churnMs / 1000)} s, drain ${secs(r.phases.drainMs / 1000)} s`],
    ['admission', `${s.connectsPerSecond} connects/s, ${s.streamsPerChannel} streams per channel`],
    ['server env', env],
    ['seed', String(s.seed)],
  ])}</div><div><h2>Machine</h2>${dl([
    ['CPUs', String(e.cpus)],
    ['platform', e.platform],
    ['Node', e.node],
    ['simulator workers', String(e.workers)],
    ['server', e.spawnedServer ? `spawned, pid ${e.serverPid}, ${e.target}` : `running at ${e.target}`],
    ['mesh source', r.kube ? `Kubernetes API ${r.kube.server} (${r.kube.objects.requests.toLocaleString('en-US')} API requests, setup ${(r.kube.setupMs / 1000).toFixed(1)} s, cleanup ${r.kube.cleanup})` : 'config dir (file mode)'],
    ['started', r.startedAt],
  ])}</div></section>`;
}

function summary(r: LoadTestResult): string {
  const conv = CHANGE_TYPES.filter((t) => (r.convergence.byType[t]?.changes ?? 0) > 0).map((t) => {
    const g = r.convergence.byType[t];
    return [t, n(g.changes), `${n(g.converged)}/${n(g.expected)}`, ...pct(g.convergence)];
  });
  const a = r.convergence.all;
  conv.push(['all changes', n(a.changes), `${n(a.converged)}/${n(a.expected)}`, ...pct(a.convergence)]);
  for (const st of r.storms) conv.push([`reconnect storm @${secs(st.atMs / 1000)}s (resync)`, '1', `${n(st.resynced)}/${n(st.dropped)}`, ...pct(st.resync)]);
  const types = ['cds', 'eds', 'lds', 'rds'] as const;
  const xds = types.map((t) => { const c = r.xds.byType[t]; return [t, n(c.responses), n(c.resources), bytes(c.bytes), n(c.acks), n(c.nacks), n(r.server.pushesChurn[t] ?? 0)]; });
  const sum = (k: 'responses' | 'resources' | 'bytes' | 'acks' | 'nacks') => types.reduce((x, t) => x + r.xds.byType[t][k], 0);
  xds.push(['total', n(sum('responses')), n(sum('resources')), bytes(sum('bytes')), n(sum('acks')), n(sum('nacks')), n(types.reduce((x, t) => x + (r.server.pushesChurn[t] ?? 0), 0))]);
  const sv = r.server;
  const kpi = (label: string, value: string, sub = '') => `<div class="kpi"><b>${esc(value)}</b><span>${esc(label)}</span>${sub ? `<small>${esc(sub)}</small>` : ''}</div>`;
  return `<section><h2>Summary</h2><div class="kpis">` +
    kpi('convergence P50', fmtMs(a.convergence.p50)) + kpi('convergence P99', fmtMs(a.convergence.p99)) + kpi('convergence max', fmtMs(a.convergence.max)) +
    kpi('NACKs', n(r.xds.nacks)) + kpi('server CPU (churn+drain)', sv.cpuCoresChurn === null ? '-' : `${sv.cpuCoresChurn} cores`, `${sv.cpuSecondsTotal ?? '-'} s in total`) +
    kpi('server RSS peak', mb(sv.peakRssBytes), `end ${mb(sv.endRssBytes)}`) + kpi('admission P99', fmtMs(r.admission.firstStream.p99), 'stream open → first response') +
    `</div><h3>Convergence (change written → proxy ACKs a response containing it)</h3>` +
    table(['change type', 'changes', 'proxies conv/expected', 'P50', 'P90', 'P99', 'max'], conv, 'num') +
    floorSection(r) +
    `<h3>Fleet and admission</h3><p>synced at churn start ${n(r.proxies.syncedAtChurnStart)}/${n(r.proxies.total)}, at end ${n(r.proxies.syncedAtEnd)}/${n(r.proxies.total)}; streams opened ${n(r.xds.streamsOpened)}: reconnects ${n(r.xds.reconnects)}, retries ${n(r.xds.retries)} after ${n(r.xds.refused)} streams ended before any response</p>` +
    table(['', 'n', 'P50', 'P90', 'P99', 'max'], [
      ['admission: stream open → first response', n(r.admission.firstStream.count), ...pct(r.admission.firstStream)],
      ['the same, reconnecting proxies', n(r.admission.reconnectStream.count), ...pct(r.admission.reconnectStream)],
      ['first connect attempt → all types ACKed', n(r.admission.initialSync.count), ...pct(r.admission.initialSync)],
    ], 'num') +
    `<h3>xDS traffic (counted by the simulated proxies)</h3>` +
    table(['type', 'responses', 'resources', 'bytes', 'ACK', 'NACK', 'server pushes (churn)'], xds, 'num') +
    r.xds.nackSamples.map((s) => `<p class="warn">NACK: ${esc(s)}</p>`).join('') +
    `<h3>Server</h3><p>CPU ${sv.cpuCoresChurn ?? '-'} cores on average during churn+drain (${sv.cpuSecondsChurn ?? '-'} s), ${sv.cpuSecondsTotal ?? '-'} s in total; RSS peak ${mb(sv.peakRssBytes)}, end ${mb(sv.endRssBytes)}; event-loop lag p99 (worst sample) ${sv.eventLoopLagP99MaxMs ?? '-'} ms; pilot_total_xds_rejects ${sv.rejects ?? '-'}; pilot_proxy_convergence_time during churn: n ${n(sv.serverConvergence.count)}, p50 ≤ ${sv.serverConvergence.p50 ?? '-'} s, p99 ≤ ${sv.serverConvergence.p99 ?? '-'} s</p>` +
    `<h3>Load generator</h3>` +
    table(['worker', 'proxies', 'delay P50', 'delay P99', 'delay max', 'busy'], r.generator.workers.map((w) => [w.workerId, n(w.proxies), `${w.eventLoopDelay.p50} ms`, `${w.eventLoopDelay.p99} ms`, `${w.eventLoopDelay.max} ms`, `${Math.round(w.utilization * 100)}%`]), 'num') +
    `<p>process CPU ${r.generator.cpuCoresChurn ?? '-'} cores during churn+drain, RSS peak ${mb(r.generator.peakRssBytes)}</p>` +
    (r.generator.warnings.length ? r.generator.warnings.map((w) => `<p class="warn">WARNING: ${esc(w)}</p>`).join('') : '<p class="ok">not saturated: the numbers above are the server\'s</p>') +
    '</section>';
}

/** The fan-out floor phase and the global change against it (absent when the phase did not run). */
function floorSection(r: LoadTestResult): string {
  const f = r.floor;
  if (!f) return '';
  const rows = f.acked.map((a, i) => [String(i + 1), `${n(a)}/${n(f.streams)}`, fmtMs(f.writeMs[i] ?? null), fmtMs(f.allAckedMs[i] ?? null)]);
  const g = r.convergence.byType.global?.convergence;
  const x = (v: number | null) => (v === null ? '-' : `${v.toFixed(2)}x`);
  const within = (v: number | null) => v !== null && v <= f.ratio.budget;
  const ratio = g && g.count > 0
    ? `<p class="${within(f.ratio.p99) && within(f.ratio.max) ? 'ok' : 'warn'}">global change vs floor: P50 ${fmtMs(g.p50)} = ${x(f.ratio.p50)}, P99 ${fmtMs(g.p99)} = ${x(f.ratio.p99)}, max ${fmtMs(g.max)} = ${x(f.ratio.max)} (of the median round); budget ${f.ratio.budget}x</p>`
    : '<p>no global change in this run (churn.globalEditsPerMinute is 0): nothing to compare with the floor</p>';
  return `<h3>Fan-out floor (bare grpc-js server, the same streams)</h3><p>${n(f.streams)} streams (${n(f.sotw)} SotW, ${n(f.delta)} Delta), ${f.streamsPerChannel} per channel; ${bytes(f.bytesPerStream)} per stream (${f.bytesSource === 'global' ? "istiod-ts's mean bytes per proxy and global push" : 'mean CDS response'}); per stream first write → ACK: P50 ${fmtMs(f.p50Ms)}, P99 ${fmtMs(f.p99Ms)}</p>` +
    (f.error ? `<p class="warn">FAILED: ${esc(f.error)}</p>` : '') +
    table(['round', 'ACKed', 'writes queued', 'first write → last ACK'], rows, 'num') + ratio;
}

/** The whole report as one HTML document. */
export function renderReport(r: LoadTestResult): string {
  const c = r.checks;
  const badge = (label: string, ok: boolean) => `<span class="badge ${ok ? 'pass' : 'fail'}" data-check="${esc(label)}" data-ok="${ok}">${esc(label)}: ${ok ? 'yes' : 'NO'}</span>`;
  const title = `istiod-ts load test: ${r.scenario.name}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><style>${REPORT_CSS}</style></head>
<body><header><h1>${esc(title)}</h1><p>${n(r.proxies.total)} proxies, ${n(r.scenario.namespaces * r.scenario.servicesPerNamespace)} services, ${n(r.changes.length)} changes; started ${esc(r.startedAt)}</p>
<div class="checks">${badge('every proxy synced', c.allConnected)}${badge('every change reached every expected proxy', c.everyChangeConverged)}${badge('zero NACKs', c.zeroNacks)}${r.floor ? badge('floor fully ACKed', r.floor.complete) : ''}</div></header>
<main>${facts(r)}${summary(r)}<section><h2>Charts</h2>${charts(r)}</section>
<details><summary>Text summary</summary><pre>${esc(summaryTable(r))}</pre></details></main>
<footer>schemaVersion ${r.schemaVersion}; written by istiod-ts load-test. Times: the convergence charts use the time each change was written; the others one sample per second.</footer>
</body></html>
`;
}
