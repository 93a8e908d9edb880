/**
 * The printed summary of a LoadTestResult: plain text, fixed-width columns, one section per
 * concern (fleet, convergence, xDS traffic, server, generator, checks).
 */
import { CHANGE_TYPES } from '../scenario/churn';
import { Percentiles } from './percentiles';
import { LoadTestResult } from './result';

const ms = (v: number | null): string => (v === null ? '-' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);
const mb = (b: number | null | undefined): string => (b === null || b === undefined ? '-' : `${Math.round(b / 2 ** 20)} MB`);
const bytes = (b: number): string => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(2)} GB` : b >= 2 ** 20 ? `${(b / 2 ** 20).toFixed(1)} MB` : `${(b / 1024).toFixed(1)} KB`);
const n = (v: number): string => v.toLocaleString('en-US');

function table(header: string[], rows: string[][], alignLeft = 1): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => '  ' + r.map((c, i) => (i < alignLeft ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [fmt(header), ...rows.map(fmt)];
}

function pct(p: Percentiles): string[] {
  return [ms(p.p50), ms(p.p90), ms(p.p99), ms(p.max)];
}

/** The floor section: rounds, per-stream latency, and the global change against it. */
export function floorLines(r: LoadTestResult): string[] {
  const f = r.floor!;
  const out: string[] = [];
  const source = f.bytesSource === 'global' ? "istiod-ts's mean bytes per proxy and global push" : 'the mean CDS response (no global change measured)';
  out.push(`Fan-out floor (bare grpc-js server in its own process, the same ${n(f.streams)} streams: ${n(f.sotw)} SotW, ${n(f.delta)} Delta, ${f.streamsPerChannel} per channel; ${bytes(f.bytesPerStream)} per stream = ${source})`);
  if (f.error) out.push(`  FAILED: ${f.error}`);
  out.push(...table(['round', 'ACKed', 'writes queued', 'first write → last ACK'], f.acked.map((a, i) => [String(i + 1), `${n(a)}/${n(f.streams)}`, ms(f.writeMs[i]!), ms(f.allAckedMs[i] ?? null)])));
  out.push(`  per stream, first write → its ACK at the server, all rounds: p50 ${ms(f.p50Ms)}, p99 ${ms(f.p99Ms)}`);
  const g = r.convergence.byType.global?.convergence;
  const x = (v: number | null) => (v === null ? '-' : `${v.toFixed(2)}x`);
  if (g && g.count > 0) {
    out.push(`  global change vs floor: P50 ${ms(g.p50)} = ${x(f.ratio.p50)}, P99 ${ms(g.p99)} = ${x(f.ratio.p99)}, max ${ms(g.max)} = ${x(f.ratio.max)} (of the median round); budget ${f.ratio.budget}x`);
  } else {
    out.push('  global change vs floor: - (no global change in this run: churn.globalEditsPerMinute is 0)');
  }
  const sp = r.globalServerPush;
  if (sp && f.serverRatio) {
    out.push(`  server push of the global change (debounce end → last response handed to gRPC; /debug/push_trace, ${sp.pushes} pushes, ` +
      `${n(sp.queued)} proxies, ${n(sp.responses)} responses, ${bytes(sp.bytes)} each): P50 ${ms(sp.pushMs.p50)} = ${x(f.serverRatio.p50)}, max ${ms(sp.pushMs.max)} = ${x(f.serverRatio.max)} of the median round`);
  }
  return out;
}

export function summaryTable(r: LoadTestResult): string {
  const s = r.scenario;
  const services = s.namespaces * s.servicesPerNamespace;
  const out: string[] = [];
  out.push(`istiod-ts load test "${s.name}": ${n(r.proxies.total)} proxies (${n(r.proxies.sotw)} SotW, ${n(r.proxies.delta)} Delta), ${n(services)} services in ${s.namespaces} namespaces, sidecar scoping ${s.sidecarScoping}`);
  out.push(`  churn ${(r.phases.churnMs / 1000).toFixed(0)} s after a ${(r.phases.warmupMs / 1000).toFixed(1)} s warmup${r.phases.warmupComplete ? '' : ' (INCOMPLETE)'}, drain ${(r.phases.drainMs / 1000).toFixed(1)} s; ${r.environment.workers} simulator worker(s); server ${r.environment.spawnedServer ? `spawned (pid ${r.environment.serverPid})` : r.environment.target}; ${r.environment.cpus} CPUs, Node ${r.environment.node}`);
  if (r.kube) {
    const k = r.kube;
    const o = k.objects;
    out.push(`  Kubernetes mode: ${k.server}, namespaces ${k.namespaces.length <= 4 ? k.namespaces.join(', ') : `${k.namespaces[0]} … ${k.namespaces[k.namespaces.length - 1]}`}; setup ${k.namespaces.length} namespaces and ${n(Object.values(k.meshObjects).reduce((a, x) => a + x, 0))} objects in ${(k.setupMs / 1000).toFixed(1)} s; ${n(o.requests)} API requests (${n(o.created)} created, ${n(o.replaced)} replaced, ${n(o.updated)} updated, ${n(o.deleted)} deleted, ${n(o.retries)} retried); cleanup ${k.cleanup}`);
  }
  out.push('');
  out.push('Fleet');
  out.push(`  synced at churn start ${n(r.proxies.syncedAtChurnStart)}/${n(r.proxies.total)}, at end ${n(r.proxies.syncedAtEnd)}/${n(r.proxies.total)}; streams opened ${n(r.xds.streamsOpened)}: reconnects ${n(r.xds.reconnects)}, retries ${n(r.xds.retries)} after ${n(r.xds.refused)} streams ended before any response (e.g. admission refused)`);
  out.push(...table(['', 'n', 'p50', 'p90', 'p99', 'max'], [
    ['admission: stream open → first response', n(r.admission.firstStream.count), ...pct(r.admission.firstStream)],
    ['  the same, reconnecting proxies', n(r.admission.reconnectStream.count), ...pct(r.admission.reconnectStream)],
    ['first connect attempt → all types ACKed', n(r.admission.initialSync.count), ...pct(r.admission.initialSync)],
  ]));
  out.push('');
  out.push('Convergence (change written → proxy ACKs a response containing it)');
  const rows = CHANGE_TYPES.filter((t) => (r.convergence.byType[t]?.changes ?? 0) > 0).map((t) => {
    const g = r.convergence.byType[t];
    return [t, n(g.changes), `${n(g.converged)}/${n(g.expected)}`, ...pct(g.convergence)];
  });
  const a = r.convergence.all;
  rows.push(['all changes', n(a.changes), `${n(a.converged)}/${n(a.expected)}`, ...pct(a.convergence)]);
  for (const st of r.storms) rows.push([`reconnect storm @${(st.atMs / 1000).toFixed(0)}s (resync)`, '1', `${n(st.resynced)}/${n(st.dropped)}`, ...pct(st.resync)]);
  out.push(...table(['change type', 'changes', 'proxies conv/expected', 'p50', 'p90', 'p99', 'max'], rows));
  if (r.floor) out.push('', ...floorLines(r));
  out.push('');
  out.push('xDS traffic (counted by the simulated proxies)');
  const types = ['cds', 'eds', 'lds', 'rds'] as const;
  const tot = { responses: 0, resources: 0, bytes: 0, acks: 0, nacks: 0 };
  const xrows = types.map((t) => {
    const c = r.xds.byType[t];
    for (const k of Object.keys(tot) as Array<keyof typeof tot>) tot[k] += c[k];
    return [t, n(c.responses), n(c.resources), bytes(c.bytes), n(c.acks), n(c.nacks), n(r.server.pushesChurn[t] ?? 0)];
  });
  xrows.push(['total', n(tot.responses), n(tot.resources), bytes(tot.bytes), n(tot.acks), n(tot.nacks), n(types.reduce((x, t) => x + (r.server.pushesChurn[t] ?? 0), 0))]);
  out.push(...table(['type', 'responses', 'resources', 'bytes', 'ACK', 'NACK', 'server pushes (churn)'], xrows));
  for (const ns of r.xds.nackSamples) out.push(`  NACK: ${ns}`);
  out.push('');
  out.push('Server');
  out.push(`  CPU ${r.server.cpuCoresChurn ?? '-'} cores on average during churn+drain (${r.server.cpuSecondsChurn ?? '-'} s), ${r.server.cpuSecondsTotal ?? '-'} s in total; RSS peak ${mb(r.server.peakRssBytes)}, end ${mb(r.server.endRssBytes)}`);
  out.push(`  event-loop lag p99 (worst sample) ${r.server.eventLoopLagP99MaxMs ?? '-'} ms; pilot_total_xds_rejects ${r.server.rejects ?? '-'}; pilot_proxy_convergence_time during churn: n ${n(r.server.serverConvergence.count)}, p50 ≤ ${r.server.serverConvergence.p50 ?? '-'} s, p99 ≤ ${r.server.serverConvergence.p99 ?? '-'} s`);
  out.push('');
  out.push('Load generator');
  for (const w of r.generator.workers) out.push(`  worker ${w.workerId}: ${n(w.proxies)} proxies, event-loop delay p50 ${w.eventLoopDelay.p50} ms p99 ${w.eventLoopDelay.p99} ms max ${w.eventLoopDelay.max} ms, busy ${(w.utilization * 100).toFixed(0)}%`);
  out.push(`  process CPU ${r.generator.cpuCoresChurn ?? '-'} cores during churn+drain, RSS peak ${mb(r.generator.peakRssBytes)}; resources decoded ${n(r.xds.decodes)}, from cache ${n(r.xds.decodeCacheHits)}; responses from cache ${n(r.xds.responseCacheHits)}`);
  out.push(r.generator.warnings.length ? r.generator.warnings.map((w) => `  WARNING: ${w}`).join('\n') : '  not saturated: numbers above are the server\'s');
  out.push('');
  const mark = (b: boolean) => (b ? 'yes' : 'NO');
  out.push(`Checks: every proxy synced ${mark(r.checks.allConnected)}; every change reached every expected proxy ${mark(r.checks.everyChangeConverged)}; zero NACKs ${mark(r.checks.zeroNacks)}${r.floor ? `; floor fully ACKed ${mark(r.floor.complete)}` : ''}`);
  return out.join('\n') + '\n';
}
