/**
 * Hand-drawn SVG charts for the HTML report: no library, no script, nothing fetched. Every data
 * mark carries data-* attributes (data-series, data-x, data-y, ...) and every chart's <svg> its
 * id, data-chart and data-points (the number of data marks), so a test or a script can check
 * what was drawn. Points with a null y break the line (a gap in the samples).
 */

export const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const W = 880;
const H = 260;
const M = { l: 64, r: 18, t: 14, b: 42 };
const PW = W - M.l - M.r;
const PH = H - M.t - M.b;

/** Round to a few significant digits for attributes (keeps the file small and readable). */
const num = (v: number): string => String(Math.round(v * 1000) / 1000);
const px = (v: number): string => v.toFixed(1);

export interface XY { x: number; y: number | null; title?: string }
export interface LineSeries { name: string; color: string; points: XY[]; dashed?: boolean }
/** A shaded x range (a phase of the run). */
export interface Band { from: number; to: number; label: string; cls: string }
/** A vertical line at x (an event, e.g. a reconnect storm). */
export interface VMarker { x: number; label: string }

export interface Axes {
  xLabel: string;
  yLabel: string;
  xFmt?: (v: number) => string;
  yFmt?: (v: number) => string;
  bands?: Band[];
  markers?: VMarker[];
}

/** 'Nice' tick values (1, 2, 5 x 10^k steps) covering [min, max]. */
export function niceTicks(min: number, max: number, count = 5): { ticks: number[]; lo: number; hi: number } {
  if (!Number.isFinite(min) || !Number.isFinite(max)) { min = 0; max = 1; }
  if (max <= min) max = min + (min === 0 ? 1 : Math.abs(min));
  const raw = (max - min) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  const lo = Math.floor(min / step + 1e-9) * step;
  const hi = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = lo; v <= hi + step * 1e-6; v += step) ticks.push(Math.round(v / step) * step);
  return { ticks, lo, hi };
}

interface Frame { sx: (x: number) => number; sy: (y: number) => number; body: string[] }

/** Axes, grid, bands and markers for numeric x and y domains; the caller appends marks to body. */
function frame(xs: { lo: number; hi: number; ticks: number[] }, ys: { lo: number; hi: number; ticks: number[] }, a: Axes): Frame {
  const sx = (x: number) => M.l + ((x - xs.lo) / (xs.hi - xs.lo || 1)) * PW;
  const sy = (y: number) => M.t + PH - ((y - ys.lo) / (ys.hi - ys.lo || 1)) * PH;
  const xf = a.xFmt ?? ((v: number) => String(v));
  const yf = a.yFmt ?? ((v: number) => String(v));
  const body: string[] = [];
  for (const b of a.bands ?? []) {
    const x0 = Math.max(M.l, sx(b.from)), x1 = Math.min(M.l + PW, sx(b.to));
    if (x1 <= x0) continue;
    body.push(`<rect class="band ${esc(b.cls)}" data-phase="${esc(b.label)}" x="${px(x0)}" y="${M.t}" width="${px(x1 - x0)}" height="${PH}"/>`);
    body.push(`<text class="band-label" x="${px(x0 + 4)}" y="${M.t + 11}">${esc(b.label)}</text>`);
  }
  for (const t of ys.ticks) {
    body.push(`<line class="grid" x1="${M.l}" x2="${M.l + PW}" y1="${px(sy(t))}" y2="${px(sy(t))}"/>`);
    body.push(`<text class="tick" x="${M.l - 6}" y="${px(sy(t) + 4)}" text-anchor="end">${esc(yf(t))}</text>`);
  }
  for (const t of xs.ticks) {
    body.push(`<line class="grid-x" x1="${px(sx(t))}" x2="${px(sx(t))}" y1="${M.t + PH}" y2="${M.t + PH + 4}"/>`);
    body.push(`<text class="tick" x="${px(sx(t))}" y="${M.t + PH + 16}" text-anchor="middle">${esc(xf(t))}</text>`);
  }
  for (const m of a.markers ?? []) {
    if (m.x < xs.lo || m.x > xs.hi) continue;
    body.push(`<line class="marker" data-marker="${esc(m.label)}" x1="${px(sx(m.x))}" x2="${px(sx(m.x))}" y1="${M.t}" y2="${M.t + PH}"/>`);
    body.push(`<text class="marker-label" x="${px(sx(m.x) + 3)}" y="${M.t + 24}">${esc(m.label)}</text>`);
  }
  body.push(`<rect class="plot" x="${M.l}" y="${M.t}" width="${PW}" height="${PH}"/>`);
  body.push(`<text class="axis-label" x="${M.l + PW / 2}" y="${H - 6}" text-anchor="middle">${esc(a.xLabel)}</text>`);
  body.push(`<text class="axis-label" transform="translate(14 ${M.t + PH / 2}) rotate(-90)" text-anchor="middle">${esc(a.yLabel)}</text>`);
  return { sx, sy, body };
}

function svg(id: string, points: number, body: string[], label: string): string {
  return `<svg id="${esc(id)}" class="chart" data-chart="${esc(id.replace(/^chart-/, ''))}" data-points="${points}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(label)}" xmlns="http://www.w3.org/2000/svg">\n${body.join('\n')}\n</svg>`;
}

/** A chart with nothing to draw: says why, and has data-points="0". */
export function emptyChart(id: string, why: string): string {
  return svg(id, 0, [`<rect class="plot" x="${M.l}" y="${M.t}" width="${PW}" height="${PH}"/>`, `<text class="empty" x="${M.l + PW / 2}" y="${M.t + PH / 2}" text-anchor="middle">${esc(why)}</text>`], why);
}

/** Lines with a dot per point. */
export function lineChart(id: string, series: LineSeries[], a: Axes & { empty: string; yMin?: number }): string {
  const pts = series.flatMap((s) => s.points.filter((p) => p.y !== null && Number.isFinite(p.y)));
  if (pts.length === 0) return emptyChart(id, a.empty);
  const xs = niceTicks(Math.min(...pts.map((p) => p.x)), Math.max(...pts.map((p) => p.x)), 8);
  const ys = niceTicks(Math.min(a.yMin ?? 0, ...pts.map((p) => p.y!)), Math.max(...pts.map((p) => p.y!)), 5);
  const f = frame(xs, ys, a);
  const yf = a.yFmt ?? String;
  const xf = a.xFmt ?? String;
  let marks = 0;
  for (const s of series) {
    let d = '';
    let pen = false;
    let count = 0;
    for (const p of s.points) {
      if (p.y === null || !Number.isFinite(p.y)) { pen = false; continue; }
      d += `${pen ? 'L' : 'M'}${px(f.sx(p.x))} ${px(f.sy(p.y))}`;
      pen = true;
      count++;
    }
    if (count === 0) continue;
    f.body.push(`<path class="line${s.dashed ? ' dashed' : ''}" data-series="${esc(s.name)}" data-count="${count}" d="${d}" stroke="${s.color}"/>`);
    for (const p of s.points) {
      if (p.y === null || !Number.isFinite(p.y)) continue;
      f.body.push(`<circle class="pt" data-series="${esc(s.name)}" data-x="${num(p.x)}" data-y="${num(p.y)}" cx="${px(f.sx(p.x))}" cy="${px(f.sy(p.y))}" r="2" fill="${s.color}"><title>${esc(p.title ?? `${s.name}: ${yf(p.y)} at ${xf(p.x)}`)}</title></circle>`);
      marks++;
    }
  }
  return svg(id, marks, f.body, a.yLabel);
}

export interface RangePoint { x: number; lo: number; mid: number; hi: number; series: string; color: string; attrs: Record<string, string | number>; title: string }

/**
 * One mark per item: a vertical segment lo..hi, a filled dot at mid and a ring at hi (for the
 * convergence timeline: P50 dot, P99 ring, segment P50..max).
 */
export function rangeChart(id: string, items: RangePoint[], ring: (p: RangePoint) => number, a: Axes & { empty: string }): string {
  if (items.length === 0) return emptyChart(id, a.empty);
  const xs = niceTicks(Math.min(0, ...items.map((p) => p.x)), Math.max(...items.map((p) => p.x)), 8);
  const ys = niceTicks(0, Math.max(...items.map((p) => p.hi)), 5);
  const f = frame(xs, ys, a);
  for (const p of items) {
    const attrs = Object.entries(p.attrs).map(([k, v]) => ` data-${k}="${esc(String(v))}"`).join('');
    const x = px(f.sx(p.x));
    f.body.push(`<g class="range" data-series="${esc(p.series)}" data-x="${num(p.x)}"${attrs}><title>${esc(p.title)}</title>` +
      `<line x1="${x}" x2="${x}" y1="${px(f.sy(p.lo))}" y2="${px(f.sy(p.hi))}" stroke="${p.color}"/>` +
      `<circle class="p50" data-series="${esc(p.series)}" data-x="${num(p.x)}" data-y="${num(p.mid)}" cx="${x}" cy="${px(f.sy(p.mid))}" r="3" fill="${p.color}"/>` +
      `<circle class="p99" data-series="${esc(p.series)}" data-x="${num(p.x)}" data-y="${num(ring(p))}" cx="${x}" cy="${px(f.sy(ring(p)))}" r="3.5" fill="none" stroke="${p.color}"/></g>`);
  }
  return svg(id, items.length, f.body, a.yLabel);
}

export interface BarSeries { name: string; color: string; values: number[]; counts: number[] }

/** Grouped bars over categories (histogram bins): one bar per series in each category. */
export function groupedBarChart(id: string, categories: string[], series: BarSeries[], a: { xLabel: string; yLabel: string; yFmt: (v: number) => string; empty: string }): string {
  const all = series.flatMap((s) => s.values);
  if (categories.length === 0 || series.length === 0 || !all.some((v) => v > 0)) return emptyChart(id, a.empty);
  const ys = niceTicks(0, Math.max(...all), 5);
  const f = frame({ lo: 0, hi: categories.length, ticks: [] }, ys, { xLabel: a.xLabel, yLabel: a.yLabel, yFmt: a.yFmt });
  const band = PW / categories.length;
  const barW = Math.max(1, (band * 0.8) / series.length);
  const every = Math.ceil(categories.length / 14);
  let marks = 0;
  categories.forEach((c, i) => {
    const x0 = f.sx(i) + band * 0.1;
    if (i % every === 0) f.body.push(`<text class="tick" x="${px(f.sx(i) + band / 2)}" y="${M.t + PH + 16}" text-anchor="middle">${esc(c)}</text>`);
    series.forEach((s, k) => {
      const v = s.values[i] ?? 0;
      if (v <= 0) return;
      const y = f.sy(v);
      f.body.push(`<rect class="bar" data-series="${esc(s.name)}" data-bin="${esc(c)}" data-count="${s.counts[i] ?? 0}" data-y="${num(v)}" x="${px(x0 + k * barW)}" y="${px(y)}" width="${px(barW)}" height="${px(M.t + PH - y)}" fill="${s.color}"><title>${esc(`${s.name} ${c}: ${s.counts[i] ?? 0} (${a.yFmt(v)})`)}</title></rect>`);
      marks++;
    });
  });
  return svg(id, marks, f.body, a.yLabel);
}
