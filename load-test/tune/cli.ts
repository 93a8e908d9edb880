/**
 * `istiod-ts tune --scenario FILE [--grid 'K=v1,v2;K2=v3'] [--duration S] [--out tune.json]
 *  [--results-dir DIR] [--workers N]`
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadScenario } from '../scenario/schema';
import { DEFAULT_GRID, Grid, combinations, parseGrid } from './grid';
import { tradeOffTable } from './table';
import { runTune, withDuration } from './tune';

export const TUNE_HELP = `istiod-ts tune: replay one recorded change trace against a grid of server knobs and print the
trade-off table (pushes, server CPU seconds, convergence P50/P99/max, NACKs), Pareto rows marked.

Usage:
  istiod-ts tune --scenario FILE [flags]

Flags:
  --scenario FILE      scenario YAML (see docs/load-test.md); its fleet, churn rates and seed are
                       used for every run, its server.env is the base the grid is added to
  --grid SPEC          knobs and values, 'KNOB=v1,v2;KNOB2=v3,v4', every combination is run
                       (default '${DEFAULT_GRID}')
  --duration SECONDS   churn length of each run (default: the scenario's, at most 20)
  --out FILE           write the JSON result here (default tune.json)
  --results-dir DIR    also write each run's full load-test result there (run-1.json, ...)
  --workers N          simulator worker threads (default 1)
`;

interface Args { scenario?: string; grid: Grid; duration?: number; out: string; resultsDir?: string; workers: number }

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { grid: parseGrid(DEFAULT_GRID), out: 'tune.json', workers: 1 };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    const eq = raw.indexOf('=');
    const name = raw.startsWith('--') ? raw.slice(2, eq < 0 ? undefined : eq) : '';
    const take = (): string => {
      if (eq >= 0) return raw.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new TypeError(`--${name} needs a value`);
      return v;
    };
    switch (name) {
      case 'scenario': a.scenario = take(); break;
      case 'grid': a.grid = parseGrid(take()); break;
      case 'out': a.out = take(); break;
      case 'results-dir': a.resultsDir = take(); break;
      case 'duration': {
        const v = take();
        a.duration = Number(v.replace(/s$/, ''));
        if (!Number.isFinite(a.duration) || a.duration <= 0) throw new RangeError(`--duration: expected seconds > 0, got '${v}'`);
        break;
      }
      case 'workers': {
        const v = take();
        a.workers = Number(v);
        if (!Number.isInteger(a.workers) || a.workers < 1) throw new RangeError(`--workers: expected a positive integer, got '${v}'`);
        break;
      }
      default: throw new TypeError(`unexpected argument '${raw}' (see istiod-ts tune --help)`);
    }
  }
  if (!a.scenario) throw new TypeError('--scenario FILE is required');
  return a;
}

/** Exit code: 0 when every run completed and passed its checks, 1 when some did not, 2 on usage errors. */
export async function tuneMain(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(TUNE_HELP);
    return 0;
  }
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`istiod-ts tune: ${(e as Error).message}\n`);
    return 2;
  }
  const loaded = loadScenario(args.scenario!);
  if (!loaded.ok) {
    process.stderr.write(`istiod-ts tune: invalid scenario\n${loaded.errors.map((e) => `  ${e}`).join('\n')}\n`);
    return 2;
  }
  let scenario = loaded.value;
  const duration = args.duration ?? Math.min(scenario.durationSeconds, 20);
  try {
    if (duration !== scenario.durationSeconds) scenario = withDuration(scenario, duration);
  } catch (e) {
    process.stderr.write(`istiod-ts tune: --duration ${duration}: ${(e as Error).message}\n`);
    return 2;
  }
  if (args.resultsDir) fs.mkdirSync(args.resultsDir, { recursive: true });
  const tty = process.stderr.isTTY;
  let lastPrinted = 0;
  process.stderr.write(`istiod-ts tune: ${combinations(args.grid).length} combinations of ${args.grid.map((g) => g.knob).join(', ')}, ${duration} s of churn each\n`);
  try {
    const result = await runTune({
      scenario, grid: args.grid, workers: args.workers,
      onResult: args.resultsDir ? (i, r) => fs.writeFileSync(path.join(args.resultsDir!, `run-${i + 1}.json`), JSON.stringify(r, null, 2) + '\n') : undefined,
      info: (line) => process.stderr.write(`${tty ? '\r\x1b[2K' : ''}${line}\n`),
      progress: (line, final) => {
        if (tty) { process.stderr.write(`\r\x1b[2K${line}${final ? '\n' : ''}`); return; }
        if (final || Date.now() - lastPrinted >= 5000) { lastPrinted = Date.now(); process.stderr.write(line + '\n'); }
      },
    });
    fs.writeFileSync(args.out, JSON.stringify(result, null, 2) + '\n');
    process.stdout.write('\n' + tradeOffTable(result) + `\nresult: ${args.out}\n`);
    const bad = result.rows.some((r) => r.error || !r.checks || !r.checks.allConnected || !r.checks.everyChangeConverged || !r.checks.zeroNacks || r.replay?.status !== 'identical');
    return bad ? 1 : 0;
  } catch (e) {
    process.stderr.write(`\nistiod-ts tune: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  }
}
