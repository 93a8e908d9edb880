/**
 * The change trace `istiod-ts tune` replays. The churn driver is deterministic: its schedule
 * (planChurn) depends only on the scenario's rates and duration, and its choices (which service,
 * which pod) and markers come from a PRNG seeded with the scenario's seed. So every run of the
 * same scenario (the server env aside) applies the identical sequence of file edits at the same
 * planned times. `recordTrace` records that sequence up front without waiting out the schedule
 * (the driver's edits go to a scratch directory, with no server and no proxies), and
 * `compareTrace` checks afterwards that a run replayed exactly it.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ChangeType, ChurnDriver, planChurn } from '../scenario/churn';
import { buildMesh } from '../scenario/mesh-model';
import { FileMeshWriter } from '../scenario/mesh-files';
import { Scenario } from '../scenario/schema';

export interface TraceEvent {
  readonly type: ChangeType;
  /** config file edited, relative to the config dir */
  readonly file: string;
  readonly marker: string;
  /** ms after the churn phase starts */
  readonly plannedMs: number;
}

export interface Trace {
  readonly changes: readonly TraceEvent[];
  readonly storms: ReadonlyArray<{ readonly plannedMs: number; readonly fraction: number }>;
}

export interface Replay {
  /** changes the run applied */
  readonly applied: number;
  /** identical: every traced change, in order; prefix: the run stopped early; different: diverged */
  readonly status: 'identical' | 'prefix' | 'different';
  /** the first difference, when status is 'different' */
  readonly firstDifference?: string;
}

type Apply = (type: ChangeType, plannedMs: number) => Promise<void>;

/** Run the scenario's churn programme instantly into a scratch directory and record its edits. */
export async function recordTrace(s: Scenario): Promise<Trace> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'istiod-ts-tune-trace-'));
  try {
    const driver = new ChurnDriver(new FileMeshWriter(dir), s, buildMesh(s), { register: async () => undefined, storm: async () => undefined });
    // the driver's own edit step, minus run()'s real-time sleeps
    const apply = (driver as unknown as { apply?: Apply }).apply;
    if (typeof apply !== 'function') throw new Error('ChurnDriver has no apply step to record a trace with (load-test/scenario/churn.ts changed?)');
    const storms: Array<{ plannedMs: number; fraction: number }> = [];
    for (const ev of planChurn(s)) {
      if (ev.kind === 'storm') storms.push({ plannedMs: ev.atMs, fraction: s.churn.reconnectStorm!.fraction });
      else await apply.call(driver, ev.kind, ev.atMs);
    }
    return { changes: driver.changes.map((c) => ({ type: c.type, file: c.file, marker: c.marker, plannedMs: c.plannedMs })), storms };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** plannedMs within 1.5 ms: a result stores it as two rounded numbers (atMs − lagMs) */
const same = (a: TraceEvent, b: TraceEvent) => a.type === b.type && a.file === b.file && a.marker === b.marker && Math.abs(a.plannedMs - b.plannedMs) <= 1.5;

/** Did a run's changes replay the trace? */
export function compareTrace(trace: Trace, applied: readonly TraceEvent[]): Replay {
  for (let i = 0; i < applied.length; i++) {
    const want = trace.changes[i];
    const got = applied[i]!;
    if (!want || !same(want, got)) {
      return {
        applied: applied.length, status: 'different',
        firstDifference: `change ${i + 1}: traced ${want ? `${want.type} ${want.file} ${want.marker} @${want.plannedMs.toFixed(0)}ms` : 'nothing'}, applied ${got.type} ${got.file} ${got.marker} @${got.plannedMs.toFixed(0)}ms`,
      };
    }
  }
  return { applied: applied.length, status: applied.length === trace.changes.length ? 'identical' : 'prefix' };
}
