/**
 * Convergence histograms. The result stores, per change type, a sparse fine-grained histogram:
 * every (change, proxy) convergence rounded up to 1 ms below 1 s, 10 ms below 10 s, 100 ms below
 * 100 s and 1 s above (under 1% error past 100 ms), as [upper bound ms, count] pairs for the
 * non-empty values only. The report re-bins it for drawing: up to the P99 of all pairs, linear
 * bins when that body spans less than a factor of 20, log bins (10 per decade) otherwise; when
 * the max is well past the P99, one last bin gathers the tail so it does not squash the body.
 */
import { niceTicks } from './svg';

export type SparseHistogram = Array<[number, number]>;

export function quantizeMs(v: number): number {
  const x = Math.max(0, v);
  const step = x <= 1000 ? 1 : x <= 10_000 ? 10 : x <= 100_000 ? 100 : 1000;
  return Math.ceil(x / step) * step;
}

export function sparseHistogram(values: Iterable<number>): SparseHistogram {
  const m = new Map<number, number>();
  for (const v of values) {
    const q = quantizeMs(v);
    m.set(q, (m.get(q) ?? 0) + 1);
  }
  return [...m.entries()].sort((a, b) => a[0] - b[0]);
}

export interface Binned {
  scale: 'linear' | 'log';
  /** edges.length = bins + 1; bin i holds values in (edges[i], edges[i + 1]] */
  edges: number[];
  /** the last bin is the tail: (edges[n - 2], max], wider than the others */
  tail: boolean;
  counts: Record<string, number[]>;
}

const sig2 = (v: number): number => Number(v.toPrecision(2));

/** Common bins for several sparse histograms (one per series), about `target` bins. */
export function rebin(hists: Record<string, SparseHistogram>, target = 30): Binned {
  const all = Object.values(hists).flat();
  const counts: Record<string, number[]> = {};
  if (all.length === 0) return { scale: 'linear', edges: [], tail: false, counts };
  const min = Math.min(...all.map((e) => e[0]));
  const top = Math.max(...all.map((e) => e[0]));
  // the P99 of all pairs together
  const sorted = [...all].sort((a, b) => a[0] - b[0]);
  const total = sorted.reduce((a, e) => a + e[1], 0);
  let acc = 0, p99 = top;
  for (const [v, n] of sorted) { acc += n; if (acc >= 0.99 * total) { p99 = v; break; } }
  const tail = top > 1.5 * p99 && top - p99 > 10;
  const max = tail ? p99 : top;
  let edges: number[];
  let scale: Binned['scale'];
  if (min > 0 && max / min > 20) {
    scale = 'log';
    edges = [];
    for (let k = Math.floor(Math.log10(min) * 10) - 1; ; k++) {
      const e = sig2(10 ** (k / 10));
      if (edges.length === 0 || e > edges[edges.length - 1]!) edges.push(e);
      if (e >= max) break;
    }
  } else if (max === min) {
    scale = 'linear';
    edges = [Math.max(0, min - 1), min];
  } else {
    scale = 'linear';
    // no bin narrower than 1 ms, the values' resolution below 1 s
    const { ticks } = niceTicks(min, max, Math.max(1, Math.min(target, Math.ceil(max - min))));
    const step = ticks.length > 1 ? ticks[1]! - ticks[0]! : 1;
    // an edge below min, so min is inside the first bin (0 needs none: the first bin takes it)
    edges = ticks[0]! >= min && ticks[0]! - step >= 0 ? [ticks[0]! - step, ...ticks] : ticks;
    if (edges[edges.length - 1]! < max) edges.push(edges[edges.length - 1]! + step);
  }
  if (tail && top > edges[edges.length - 1]!) edges.push(top);
  const isTail = tail && edges[edges.length - 1] === top;
  for (const [name, h] of Object.entries(hists)) {
    const c = new Array<number>(edges.length - 1).fill(0);
    for (const [v, n] of h) {
      let i = 0;
      while (i < c.length - 1 && v > edges[i + 1]!) i++;
      c[i]! += n;
    }
    counts[name] = c;
  }
  return { scale, edges, tail: isTail, counts };
}
