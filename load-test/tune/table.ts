/** The printed trade-off table of `istiod-ts tune`: one row per combination, Pareto rows marked. */
import { TuneResult } from './result';

const ms = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);
const num = (v: number | null | undefined): string => (v === null || v === undefined ? '-' : v.toLocaleString('en-US'));

export function tradeOffTable(t: TuneResult): string {
  const knobs = t.grid.map((g) => g.knob);
  const short = (k: string) => k.replace(/^PILOT_/, '');
  const header = ['', '#', ...knobs.map(short), 'pushes', 'sim resp', 'CPU s', 'P50', 'P99', 'max', 'NACK', 'converged', 'replay'];
  const rows = t.rows.map((r, i) => [
    r.pareto ? '*' : ' ',
    String(i + 1),
    ...knobs.map((k) => r.knobs[k] ?? ''),
    num(r.pushes), num(r.simResponses), r.cpuSeconds === null ? '-' : r.cpuSeconds.toFixed(2),
    ms(r.convergence?.p50), ms(r.convergence?.p99), ms(r.convergence?.max),
    num(r.nacks),
    r.error ? 'FAILED' : `${num(r.convergedPairs)}/${num(r.expectedPairs)}`,
    r.replay ? `${r.replay.status} (${r.replay.applied})` : '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const left = 2 + knobs.length; // marker, #, knob values left-aligned
  const fmt = (r: string[]) => '  ' + r.map((c, i) => (i < left || i === r.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const s = t.scenario;
  const out: string[] = [];
  out.push(`istiod-ts tune "${s.name}": ${s.proxies} proxies, ${s.namespaces * s.servicesPerNamespace} services, churn ${s.durationSeconds} s replaying ${t.trace.changes} changes` +
    ` (${Object.entries(t.trace.byType).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k}`).join(', ')}${t.trace.storms ? `, ${t.trace.storms} reconnect storm` : ''}); ${t.rows.length} combinations`);
  if (Object.keys(s.server.env).length) out.push(`  base server env: ${Object.entries(s.server.env).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  out.push('');
  out.push(fmt(header));
  for (const r of rows) out.push(fmt(r));
  out.push('');
  out.push('  * Pareto-optimal: no other row has fewer or equal pushes, CPU seconds and P99 with one strictly lower.');
  out.push('  pushes: server pushes during churn + drain (pilot_xds_pushes); sim resp: xDS responses the simulated');
  out.push('  proxies received over the run; CPU s: server CPU during churn + drain; P50/P99/max: every (change, proxy)');
  out.push('  convergence; replay: whether the run applied exactly the recorded trace (and how many changes).');
  out.push('  A row where some change did not reach every expected proxy, or whose run failed, is never marked.');
  for (const [i, r] of t.rows.entries()) {
    if (r.error) out.push(`  row ${i + 1} failed: ${r.error.split('\n')[0]}`);
    if (r.replay?.firstDifference) out.push(`  row ${i + 1} diverged from the trace: ${r.replay.firstDifference}`);
    for (const w of r.generatorWarnings) out.push(`  row ${i + 1} WARNING: ${w}`);
  }
  return out.join('\n') + '\n';
}
