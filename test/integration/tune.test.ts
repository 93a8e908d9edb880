/**
 * `istiod-ts tune` end to end: a two-combination grid (PILOT_DEBOUNCE_AFTER 50ms and 500ms) over
 * 20 proxies and 8 s of churn. Both runs spawn a real server, replay the same recorded trace, and
 * come back as rows of the trade-off table with measured convergence and pushes.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as YAML from 'yaml';
import { TuneResult } from '../../load-test/tune/result';
import { combinations, parseGrid } from '../../load-test/tune/grid';
import { failedRow, markPareto } from '../../load-test/tune/result';
import { compareTrace } from '../../load-test/tune/trace';
import { runCli } from '../helpers/run-cli';



test('tune grid: every combination, cartesian order', () => {
  const g = parseGrid('PILOT_DEBOUNCE_AFTER=50ms,100ms;PILOT_PUSH_THROTTLE=10,100');
  assert.deepEqual(combinations(g), [
    { PILOT_DEBOUNCE_AFTER: '50ms', PILOT_PUSH_THROTTLE: '10' }, { PILOT_DEBOUNCE_AFTER: '50ms', PILOT_PUSH_THROTTLE: '100' },
    { PILOT_DEBOUNCE_AFTER: '100ms', PILOT_PUSH_THROTTLE: '10' }, { PILOT_DEBOUNCE_AFTER: '100ms', PILOT_PUSH_THROTTLE: '100' },
  ]);
  assert.throws(() => parseGrid('debounce=1'), /environment variable name/);
  assert.throws(() => parseGrid('A=1;A=2'), /twice/);
  assert.throws(() => parseGrid('A=1,,2'), /empty value/);
});

test('tune Pareto: a row is marked unless another is no worse on pushes, CPU and P99 and better on one', () => {
  const row = (pushes: number, cpu: number, p99: number, converged = true) => ({
    ...failedRow({}, {}, '', 0), error: undefined, pushes, cpuSeconds: cpu,
    convergence: { count: 1, p50: p99, p90: p99, p99, max: p99 },
    checks: { allConnected: true, everyChangeConverged: converged, zeroNacks: true },
  });
  const rows = [row(100, 1, 100), row(50, 1, 500), row(100, 2, 100), row(10, 0.1, 10, false), { ...failedRow({}, {}, 'boom', 0) }];
  markPareto(rows);
  assert.deepEqual(rows.map((r) => r.pareto), [true, true, false, false, false]);
});

test('tune trace comparison: identical, prefix, different', () => {
  const ev = (marker: string, plannedMs: number) => ({ type: 'endpoint' as const, file: 'a.yaml', marker, plannedMs });
  const trace = { changes: [ev('m1', 250), ev('m2', 750)], storms: [] };
  assert.equal(compareTrace(trace, [ev('m1', 250.4), ev('m2', 751)]).status, 'identical');
  assert.equal(compareTrace(trace, [ev('m1', 250)]).status, 'prefix');
  const d = compareTrace(trace, [ev('m1', 250), ev('m3', 750)]);
  assert.equal(d.status, 'different');
  assert.match(d.firstDifference!, /change 2/);
});

test('tune: two combinations replay the same trace, each row measured', { timeout: 90_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'istiod-ts-tune-it-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const scenario = {
    name: 'tune-ci', seed: 1, namespaces: 2, servicesPerNamespace: 5, endpointsPerService: 5, proxies: 20,
    deltaShare: 0.5, routingShare: 0.5, durationSeconds: 8, warmupSeconds: 20, drainSeconds: 10, connectsPerSecond: 40,
    churn: { endpointChangesPerSecond: 2, configEditsPerMinute: 24, scaleUps: { count: 1, endpoints: 2 } },
  };
  const file = path.join(dir, 'scenario.yaml');
  fs.writeFileSync(file, YAML.stringify(scenario));
  const out = path.join(dir, 'tune.json');

  const res = await runCli(['tune', '--scenario', file, '--grid', 'PILOT_DEBOUNCE_AFTER=50ms,500ms', '--out', out], 85_000);
  assert.equal(res.code, 0, `exit code 0 (both runs completed, checks passed, trace replayed)\n${res.stdout}\n${res.stderr}`);

  const r = JSON.parse(fs.readFileSync(out, 'utf8')) as TuneResult;
  assert.equal(r.kind, 'istiod-ts-tune');
  assert.equal(r.scenario.durationSeconds, 8);
  assert.ok(r.trace.changes >= 15, `a trace was recorded (${r.trace.changes} changes)`);
  assert.equal(r.trace.events.length, r.trace.changes);
  assert.equal(r.rows.length, 2, 'one row per combination');
  assert.deepEqual(r.rows.map((x) => x.knobs), [{ PILOT_DEBOUNCE_AFTER: '50ms' }, { PILOT_DEBOUNCE_AFTER: '500ms' }]);
  for (const row of r.rows) {
    const k = row.knobs['PILOT_DEBOUNCE_AFTER'];
    assert.equal(row.error, undefined, `run ${k} completed`);
    assert.equal(row.env['PILOT_DEBOUNCE_AFTER'], k, 'the knob reached the server env');
    assert.ok(row.convergence && row.convergence.count > 0 && row.convergence.p99 !== null && row.convergence.max !== null, `run ${k}: convergence measured`);
    assert.equal(row.convergedPairs, row.expectedPairs, `run ${k}: every change reached every proxy`);
    assert.ok(row.pushes !== null && row.pushes > 0, `run ${k}: server pushes counted (${row.pushes})`);
    assert.ok(row.simResponses !== null && row.simResponses > 0, `run ${k}: responses counted by the simulated proxies`);
    assert.ok(row.cpuSeconds !== null && row.cpuSeconds > 0, `run ${k}: server CPU seconds measured`);
    assert.equal(row.nacks, 0, `run ${k}: no NACK`);
    assert.equal(row.replay?.status, 'identical', `run ${k} replayed the recorded trace: ${row.replay?.firstDifference ?? ''}`);
  }
  assert.equal(r.rows[0]!.replay!.applied, r.rows[1]!.replay!.applied, 'both runs replayed the same number of changes');
  assert.equal(r.rows[0]!.replay!.applied, r.trace.changes);
  assert.ok(r.rows.some((x) => x.pareto), 'at least one row is Pareto-optimal');

  // the printed table: a row per combination, with the knob value and the convergence columns
  assert.match(res.stdout, /istiod-ts tune "tune-ci"/);
  assert.match(res.stdout, /DEBOUNCE_AFTER\s+pushes\s+sim resp\s+CPU s\s+P50\s+P99\s+max\s+NACK/);
  assert.match(res.stdout, /^\s+\*?\s+1\s+50ms\s+\d/m);
  assert.match(res.stdout, /^\s+\*?\s+2\s+500ms\s+\d/m);
});
