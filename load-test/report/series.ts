/**
 * Time series for the report, derived from a result's per-second samples: rates from the
 * cumulative counters (CPU seconds, pushes), gauges as they are. Time is seconds relative to the
 * start of churn (warmup is negative), the axis every time chart shares with the change times.
 */
import { LoadTestResult, Sample } from '../run/result';
import { Band, VMarker, XY } from './svg';

/** When churn started, in the samples' time base (ms since the run started). */
export function churnStartT(r: LoadTestResult): number {
  if (r.phases.churnStartT !== undefined) return r.phases.churnStartT;
  // older results: the last warmup sample is taken just before churn starts
  const warm = r.samples.filter((s) => s.phase === 'warmup');
  return warm.length ? warm[warm.length - 1]!.t : (r.samples[0]?.t ?? 0);
}

export interface TimeSeries {
  /** seconds since churn start, one per sample */
  x: number[];
  serverCpuCores: Array<number | null>;
  generatorCpuCores: Array<number | null>;
  serverRssMb: Array<number | null>;
  generatorRssMb: Array<number | null>;
  /** pushes per second by xDS type, from pilot_xds_pushes */
  pushesPerSecond: Record<string, Array<number | null>>;
  connected: Array<number | null>;
  synced: Array<number | null>;
  serverXds: Array<number | null>;
  serverLagP99Ms: Array<number | null>;
  generatorDelayP99Ms: Array<number | null>;
  bands: Band[];
  markers: VMarker[];
}

const round = (v: number, d = 100) => Math.round(v * d) / d;

/**
 * Rate per second of a cumulative counter, over the interval back to the latest sample at least
 * 0.8 s earlier (the sample taken at a phase change can follow the previous one closely, and
 * /proc's 10 ms CPU ticks make a rate over a few hundred ms noisy); null where unknown.
 */
function rate(samples: readonly Sample[], get: (s: Sample) => number | undefined): Array<number | null> {
  return samples.map((s, i) => {
    let j = i - 1;
    while (j >= 0 && s.t - samples[j]!.t < 800) j--;
    if (j < 0) return null;
    const a = get(samples[j]!), b = get(s);
    const dt = (s.t - samples[j]!.t) / 1000;
    if (a === undefined || b === undefined || dt <= 0) return null;
    return round(Math.max(0, b - a) / dt);
  });
}

export function timeSeries(r: LoadTestResult): TimeSeries {
  const t0 = churnStartT(r);
  const S = r.samples;
  const x = S.map((s) => round((s.t - t0) / 1000));
  const types = new Set<string>();
  for (const s of S) for (const k of Object.keys(s.server.pushes ?? {})) types.add(k);
  const pushesPerSecond: Record<string, Array<number | null>> = {};
  for (const t of [...types].sort()) pushesPerSecond[t] = rate(S, (s) => (s.server.pushes ? (s.server.pushes[t] ?? 0) : undefined));
  const mb = (v: number | undefined) => (v === undefined ? null : round(v / 2 ** 20, 10));
  const gauge = (v: number | undefined) => (v === undefined ? null : round(v));

  const churnEnd = r.phases.churnMs / 1000;
  const drainEnd = churnEnd + r.phases.drainMs / 1000;
  const first = x[0] ?? -r.phases.warmupMs / 1000;
  const bands: Band[] = [
    { from: Math.min(first, -r.phases.warmupMs / 1000), to: 0, label: 'warmup', cls: 'warmup' },
    { from: 0, to: churnEnd, label: 'churn', cls: 'churn' },
    { from: churnEnd, to: drainEnd, label: 'drain', cls: 'drain' },
  ];
  const markers: VMarker[] = r.storms.map((s) => ({ x: s.atMs / 1000, label: `storm ${Math.round(s.fraction * 100)}%` }));
  return {
    x,
    serverCpuCores: rate(S, (s) => s.server.cpuSeconds),
    generatorCpuCores: rate(S, (s) => s.generator.cpuSeconds),
    serverRssMb: S.map((s) => mb(s.server.rssBytes)),
    generatorRssMb: S.map((s) => mb(s.generator.rssBytes)),
    pushesPerSecond,
    connected: S.map((s) => gauge(s.generator.connected)),
    synced: S.map((s) => gauge(s.generator.synced)),
    serverXds: S.map((s) => gauge(s.server.xdsConnections)),
    serverLagP99Ms: S.map((s) => gauge(s.server.eventLoopLagP99Ms)),
    generatorDelayP99Ms: S.map((s) => gauge(s.generator.eventLoopDelayP99Ms)),
    bands,
    markers,
  };
}

/** Zip a series with the shared x axis into chart points. */
export function points(x: readonly number[], ys: ReadonlyArray<number | null>): XY[] {
  return x.map((xv, i) => ({ x: xv, y: ys[i] ?? null }));
}
