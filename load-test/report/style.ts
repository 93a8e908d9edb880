/** The report's inline stylesheet (system fonts only: nothing is fetched). */
export const REPORT_CSS = `
:root { color-scheme: light; --fg: #1d2330; --muted: #5b6474; --line: #d9dee7; --bg: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans", sans-serif; color: var(--fg); background: var(--bg); }
header { background: #14213d; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0 0 10px; color: #c9d3e6; }
main { max-width: 1180px; margin: 0 auto; padding: 8px 24px 24px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 18px; margin: 16px 0; }
h2 { font-size: 17px; margin: 6px 0 10px; }
h3 { font-size: 14px; margin: 14px 0 6px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 10px; margin-right: 8px; font-size: 12px; font-weight: 600; }
.badge.pass { background: #d5f5de; color: #11612b; }
.badge.fail { background: #ffd9d6; color: #8f1a10; }
.facts { display: grid; grid-template-columns: 3fr 2fr; gap: 24px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 3px 14px; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; }
.kpis { display: flex; flex-wrap: wrap; gap: 10px; }
.kpi { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; min-width: 140px; display: flex; flex-direction: column; }
.kpi b { font-size: 20px; }
.kpi span, .kpi small { color: var(--muted); }
table { border-collapse: collapse; margin: 4px 0 8px; font-variant-numeric: tabular-nums; }
th, td { padding: 3px 10px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { color: var(--muted); font-weight: 600; }
.warn { color: #8f1a10; }
.ok { color: #11612b; }
.chart-box { margin: 18px 0 8px; }
.chart-box h3 { margin: 0; }
.chart-box p { margin: 2px 0 4px; color: var(--muted); }
.legend span { margin-right: 16px; font-size: 12px; }
.sw { display: inline-block; width: 14px; height: 0; border-top: 3px solid; margin-right: 5px; vertical-align: middle; }
.sw.dashed { border-top-style: dashed; }
svg.chart { width: 100%; height: auto; display: block; }
svg .plot { fill: none; stroke: #aab2c0; }
svg .grid { stroke: #eceff4; }
svg .grid-x { stroke: #aab2c0; }
svg .tick { font-size: 11px; fill: var(--muted); }
svg .axis-label { font-size: 12px; fill: var(--muted); }
svg .band.warmup { fill: #f3f0e6; }
svg .band.churn { fill: #eef5ff; }
svg .band.drain { fill: #f1f1f1; }
svg .band-label { font-size: 11px; fill: #8a93a3; }
svg .marker { stroke: #8f1a10; stroke-dasharray: 4 3; }
svg .marker-label { font-size: 11px; fill: #8f1a10; }
svg .line { fill: none; stroke-width: 1.8; }
svg .line.dashed { stroke-dasharray: 5 3; }
svg .range line { stroke-width: 1.2; opacity: 0.55; }
svg .empty { font-size: 13px; fill: var(--muted); }
details { margin: 16px 0; }
pre { background: #fff; border: 1px solid var(--line); padding: 10px; overflow-x: auto; font-size: 12px; }
footer { text-align: center; color: var(--muted); font-size: 12px; padding: 10px 0 24px; }
`;
