/**
 * `istiod-ts tune`: record the scenario's change trace once, then for each grid combination run
 * the load test against a freshly spawned server with those knobs in its environment, replaying
 * the same trace, and collect one trade-off row per run. Runs are sequential (one server at a
 * time, so they do not compete for CPU); a run that fails becomes a row with its error.
 */
import { CHANGE_TYPES } from '../scenario/churn';
import { Scenario, validateScenario } from '../scenario/schema';
import { runLoadTest } from '../run/coordinator';
import { LoadTestResult } from '../run/result';
import { Grid, combinations } from './grid';
import { TuneResult, failedRow, markPareto, rowFromResult } from './result';
import { recordTrace } from './trace';

export interface TuneOptions {
  scenario: Scenario;
  grid: Grid;
  workers: number;
  /** each run's full load-test result, as it completes */
  onResult?: (index: number, result: LoadTestResult) => void;
  info?: (line: string) => void;
  progress?: (line: string, final: boolean) => void;
}

/** The scenario with a different churn duration; a reconnect storm past the end moves to the middle. */
export function withDuration(s: Scenario, seconds: number): Scenario {
  const doc = JSON.parse(JSON.stringify(s)) as Record<string, unknown> & { churn: { reconnectStorm: { atSeconds: number } | null } };
  doc['durationSeconds'] = seconds;
  const storm = doc.churn.reconnectStorm;
  if (storm && storm.atSeconds >= seconds) storm.atSeconds = seconds / 2;
  const res = validateScenario(doc, s.name);
  if (!res.ok) throw new TypeError(res.errors.join('; '));
  return res.value;
}

function withEnv(s: Scenario, env: Record<string, string>): Scenario {
  const doc = JSON.parse(JSON.stringify(s)) as Record<string, unknown>;
  doc['server'] = { env };
  const res = validateScenario(doc, s.name);
  if (!res.ok) throw new TypeError(res.errors.join('; '));
  return res.value;
}

export async function runTune(opts: TuneOptions): Promise<TuneResult> {
  const s = opts.scenario;
  const startedAt = new Date().toISOString();
  const trace = await recordTrace(s);
  const byType = Object.fromEntries(CHANGE_TYPES.map((t) => [t, trace.changes.filter((c) => c.type === t).length]));
  opts.info?.(`trace: ${trace.changes.length} changes over ${s.durationSeconds} s (${CHANGE_TYPES.map((t) => `${byType[t]} ${t}`).join(', ')})${trace.storms.length ? `, ${trace.storms.length} reconnect storm` : ''}, seed ${s.seed}`);
  const combos = combinations(opts.grid);
  const result: TuneResult = {
    schemaVersion: 1, kind: 'istiod-ts-tune', startedAt, scenario: s, grid: opts.grid,
    trace: { changes: trace.changes.length, byType, storms: trace.storms.length, events: trace.changes },
    rows: [],
  };
  for (const [i, knobs] of combos.entries()) {
    const env = { ...s.server.env, ...knobs };
    const label = `run ${i + 1}/${combos.length} ${Object.entries(knobs).map(([k, v]) => `${k}=${v}`).join(' ')}`;
    opts.info?.(label);
    const t0 = Date.now();
    try {
      const r = await runLoadTest({
        // the floor measures grpc-js, not a knob: never once per grid row
        scenario: withEnv(s, env), workers: opts.workers, floor: false,
        info: (line) => opts.info?.(`  ${line}`),
        progress: opts.progress ? (line, final) => opts.progress!(`  [${i + 1}/${combos.length}] ${line}`, final) : undefined,
      });
      opts.onResult?.(i, r);
      result.rows.push(rowFromResult(knobs, env, r, trace, Math.round((Date.now() - t0) / 100) / 10));
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      opts.info?.(`  ${label} failed: ${msg}`);
      result.rows.push(failedRow(knobs, env, msg, Math.round((Date.now() - t0) / 100) / 10));
    }
  }
  markPareto(result.rows);
  return result;
}
