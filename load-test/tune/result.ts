/**
 * The result of `istiod-ts tune` (JSON, schemaVersion 1): the trace, one row per grid
 * combination, and which rows are Pareto-optimal on (pushes, server CPU seconds, P99
 * convergence), all three lower-is-better.
 */
import { Percentiles } from '../run/percentiles';
import { LoadTestResult } from '../run/result';
import { Scenario } from '../scenario/schema';
import { Combination, Grid } from './grid';
import { Replay, Trace, TraceEvent, compareTrace } from './trace';

export interface TuneRow {
  /** the grid combination (added to the scenario's server.env) */
  knobs: Combination;
  /** the spawned server's whole knob environment */
  env: Record<string, string>;
  /** set when the run could not complete; the measurements are then absent */
  error?: string;
  /** server pushes during churn + drain (pilot_xds_pushes increase), all types */
  pushes: number | null;
  pushesByType: Record<string, number>;
  /** xDS responses the simulated proxies received over the whole run (warmup included) */
  simResponses: number | null;
  /** server CPU seconds during churn + drain */
  cpuSeconds: number | null;
  cpuCores: number | null;
  /** every (change, proxy) convergence, ms */
  convergence: Percentiles | null;
  convergedPairs: number | null;
  expectedPairs: number | null;
  nacks: number | null;
  replay: Replay | null;
  checks: LoadTestResult['checks'] | null;
  generatorWarnings: string[];
  wallSeconds: number;
  /** not dominated by any other eligible row (eligible: completed, every change converged) */
  pareto: boolean;
}

export interface TuneResult {
  schemaVersion: 1;
  kind: 'istiod-ts-tune';
  startedAt: string;
  /** the scenario every run used (durationSeconds after --duration), server.env without the grid */
  scenario: Scenario;
  grid: Grid;
  trace: { changes: number; byType: Record<string, number>; storms: number; events: readonly TraceEvent[] };
  rows: TuneRow[];
}

export function rowFromResult(knobs: Combination, env: Record<string, string>, r: LoadTestResult, trace: Trace, wallSeconds: number): TuneRow {
  const pushTypes = Object.entries(r.server.pushesChurn);
  const applied: TraceEvent[] = r.changes.map((c) => ({ type: c.type, file: c.file, marker: c.marker, plannedMs: c.atMs - c.lagMs }));
  return {
    knobs, env,
    pushes: pushTypes.length ? pushTypes.reduce((a, [, n]) => a + n, 0) : null,
    pushesByType: r.server.pushesChurn,
    simResponses: Object.values(r.xds.byType).reduce((a, t) => a + t.responses, 0),
    cpuSeconds: r.server.cpuSecondsChurn,
    cpuCores: r.server.cpuCoresChurn,
    convergence: r.convergence.all.convergence,
    convergedPairs: r.convergence.all.converged,
    expectedPairs: r.convergence.all.expected,
    nacks: r.xds.nacks,
    replay: compareTrace(trace, applied),
    checks: r.checks,
    generatorWarnings: r.generator.warnings,
    wallSeconds,
    pareto: false,
  };
}

export function failedRow(knobs: Combination, env: Record<string, string>, error: string, wallSeconds: number): TuneRow {
  return {
    knobs, env, error, pushes: null, pushesByType: {}, simResponses: null, cpuSeconds: null, cpuCores: null, convergence: null,
    convergedPairs: null, expectedPairs: null, nacks: null, replay: null, checks: null, generatorWarnings: [], wallSeconds, pareto: false,
  };
}

const objectives = (r: TuneRow): number[] | null => {
  if (r.error || !r.checks?.everyChangeConverged || r.pushes === null || r.cpuSeconds === null || r.convergence?.p99 == null) return null;
  return [r.pushes, r.cpuSeconds, r.convergence.p99];
};

/** Mark the Pareto-optimal rows in place: eligible and no other eligible row is ≤ on all three and < on one. */
export function markPareto(rows: TuneRow[]): void {
  const objs = rows.map(objectives);
  rows.forEach((row, i) => {
    const mine = objs[i];
    row.pareto = !!mine && !objs.some((o, j) => j !== i && !!o && o.every((v, k) => v <= mine[k]!) && o.some((v, k) => v < mine[k]!));
  });
}
