/** Nearest-rank percentiles of a sample, in the sample's unit, rounded to 0.1. */
export interface Percentiles {
  readonly count: number;
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
  readonly max: number | null;
}

const round = (x: number) => Math.round(x * 10) / 10;

export function percentiles(values: readonly number[]): Percentiles {
  if (values.length === 0) return { count: 0, p50: null, p90: null, p99: null, max: null };
  const s = Float64Array.from(values).sort();
  const at = (q: number) => round(s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!);
  return { count: s.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: round(s[s.length - 1]!) };
}
