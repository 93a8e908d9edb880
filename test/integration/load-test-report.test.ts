/**
 * The load tester's HTML report and --compare. One real small run (40 proxies, 10 s of churn,
 * as in load-test.test.ts) writes the JSON and the report; the report is checked as text
 * (self-contained, every chart present with data), then opened in headless Chromium (Debian's
 * /usr/bin/chromium through playwright-core; skipped when it is not installed), screenshotted
 * under os.tmpdir(), and every chart's data marks are counted in the rendered DOM. --compare runs
 * on the run's JSON and a copy with known differences.
 */
import { before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as YAML from 'yaml';
import { LoadTestResult } from '../../load-test/run/result';
import { CHART_IDS, renderReport } from '../../load-test/report/html';
import { rebin } from '../../load-test/report/histogram';
import { REPO_ROOT, runCli } from '../helpers/run-cli';

const ROOT = REPO_ROOT;
const CHROMIUM = '/usr/bin/chromium';


const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'istiod-ts-load-test-report-'));
const resultFile = path.join(dir, 'result.json');
const htmlFile = path.join(dir, 'report.html');
let runOutput = '';

before(async () => {
  const small = YAML.parse(fs.readFileSync(path.join(ROOT, 'load-test', 'scenarios', 'small.yaml'), 'utf8'));
  const scenario = {
    ...small, name: 'small-report', namespaces: 2, servicesPerNamespace: 5, endpointsPerService: 5, proxies: 40,
    durationSeconds: 10, warmupSeconds: 20, drainSeconds: 10, connectsPerSecond: 40,
    floor: { rounds: 1 },
    churn: { endpointChangesPerSecond: 2, configEditsPerMinute: 24, globalEditsPerMinute: 12, scaleUps: { count: 1, endpoints: 2 }, reconnectStorm: { atSeconds: 5, fraction: 0.25 } },
  };
  const file = path.join(dir, 'scenario.yaml');
  fs.writeFileSync(file, YAML.stringify(scenario));
  const res = await runCli(['load-test', '--scenario', file, '--out', resultFile, '--html', htmlFile], 80_000);
  runOutput = `${res.stdout}\n${res.stderr}`;
  assert.equal(res.code, 0, `load-test exit code 0\n${runOutput}`);
}, { timeout: 90_000 });

process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

test('load-test report: the run writes a self-contained HTML report with every chart holding data', () => {
  assert.match(runOutput, new RegExp(`report: ${htmlFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), 'the CLI names the report');
  const html = fs.readFileSync(htmlFile, 'utf8');
  const r = JSON.parse(fs.readFileSync(resultFile, 'utf8')) as LoadTestResult;
  assert.ok(r.convergence.histogram && r.convergence.histogram.endpoint.length > 0, 'the result records the convergence histogram');
  assert.ok(r.phases.churnStartT !== undefined && r.phases.churnStartT > 0, 'the result records when churn started');
  assert.doesNotMatch(html, /<script|<link|@import|url\(|https?:\/\/(?!www\.w3\.org\/2000\/svg)/i, 'no script, stylesheet link, import or external URL');
  assert.match(html, /istiod-ts load test: small-report/);
  assert.match(html, /CPUs<\/dt><dd>\d+<\/dd>/, 'machine facts');
  for (const id of CHART_IDS) {
    const m = new RegExp(`<svg id="${id}"[^>]*data-points="(\\d+)"`).exec(html);
    assert.ok(m, `${id} present`);
    assert.ok(Number(m[1]) > 0, `${id} has data points (${m[1]})`);
  }
  // the timeline has one mark per change, the histogram's bars hold every converged pair
  assert.equal(new RegExp('<svg id="chart-timeline"[^>]*data-points="(\\d+)"').exec(html)![1], String(r.changes.length));
  const counts = [...html.matchAll(/<rect class="bar"[^>]*data-count="(\d+)"/g)].reduce((a, m) => a + Number(m[1]), 0);
  assert.equal(counts, r.convergence.all.converged, 'histogram bars add up to the converged pairs');
  // the floor phase and the global change against it
  assert.match(html, /<h3>Fan-out floor \(bare grpc-js server, the same streams\)<\/h3><p>40 streams \(20 SotW, 20 Delta\)/);
  assert.match(html, /global change vs floor: P50 [^<]* = [\d.]+x, P99 [^<]* = [\d.]+x, max [^<]* = [\d.]+x/);
  assert.match(html, /data-check="floor fully ACKed" data-ok="true"/);
  // re-rendering the saved JSON gives the same report
  assert.equal(renderReport(r), html);
});

test('load-test report: renders in headless Chromium, screenshot taken, every chart has data marks, no console errors', { timeout: 60_000 }, async (t) => {
  if (!fs.existsSync(CHROMIUM)) { t.skip(`${CHROMIUM} is not installed (apt-get install chromium; .ci/run does)`); return; }
  const { chromium } = await import('playwright-core');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'istiod-ts-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, timeout: 30_000, viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = ctx.pages()[0] ?? await ctx.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('request', (req) => { if (!req.url().startsWith('file:')) requests.push(req.url()); });
    await page.goto(`file://${htmlFile}`, { waitUntil: 'load', timeout: 20_000 });
    const shot = path.join(os.tmpdir(), `istiod-ts-load-test-report-${process.pid}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    const png = fs.readFileSync(shot);
    assert.equal(png.subarray(1, 4).toString(), 'PNG');
    assert.ok(png.length > 20_000, `a real screenshot (${png.length} bytes)`);
    t.diagnostic(`screenshot: ${shot}`);

    const charts = await page.evaluate(`[...document.querySelectorAll('svg.chart')].map((s) => {
      const box = s.getBoundingClientRect();
      const marks = [...s.querySelectorAll('circle[data-y], rect[data-y], path[data-series], g[data-series]')];
      const visible = marks.filter((m) => { const b = m.getBoundingClientRect(); return b.width > 0 || b.height > 0; });
      return { id: s.id, points: Number(s.dataset.points), width: box.width, height: box.height,
        circles: s.querySelectorAll('circle[data-y]').length, bars: s.querySelectorAll('rect[data-y]').length,
        paths: s.querySelectorAll('path[data-series]').length, ranges: s.querySelectorAll('g[data-series]').length, visible: visible.length };
    })`) as Array<{ id: string; points: number; width: number; height: number; circles: number; bars: number; paths: number; ranges: number; visible: number }>;
    assert.deepEqual(charts.map((c) => c.id).sort(), [...CHART_IDS].sort(), 'every chart rendered');
    for (const c of charts) {
      assert.ok(c.width > 300 && c.height > 80, `${c.id} laid out (${c.width}x${c.height})`);
      assert.ok(c.points > 0 && c.visible > 0, `${c.id} has visible data marks: ${JSON.stringify(c)}`);
      if (c.id === 'chart-histogram') assert.equal(c.bars, c.points, 'one bar per data point');
      else if (c.id === 'chart-timeline') assert.ok(c.ranges === c.points && c.circles === 2 * c.points, `P50 dot and P99 ring per change: ${JSON.stringify(c)}`);
      else assert.ok(c.circles === c.points && c.paths > 0, `a line and a dot per sample: ${JSON.stringify(c)}`);
    }
    assert.deepEqual(errors, [], 'no console errors');
    assert.deepEqual(requests, [], 'nothing fetched');
  } finally {
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
});

test('load-test --compare: side-by-side key numbers with the relative difference', async () => {
  const a = JSON.parse(fs.readFileSync(resultFile, 'utf8')) as LoadTestResult;
  const b: any = structuredClone(a); // a copy with known differences
  b.convergence.byType.endpoint.convergence = { ...a.convergence.byType.endpoint.convergence, p99: 2 * a.convergence.byType.endpoint.convergence.p99! };
  b.xds.byType.eds.bytes = a.xds.byType.eds.bytes * 1.5;
  b.xds.nacks = 3;
  b.server.peakRssBytes = 2 * a.server.peakRssBytes!;
  b.admission.firstStream = { ...a.admission.firstStream, p50: a.admission.firstStream.p50! / 2 };
  b.scenario = { ...a.scenario, proxies: 80 };
  const bFile = path.join(dir, 'b.json');
  fs.writeFileSync(bFile, JSON.stringify(b));

  const res = await runCli(['load-test', '--compare', resultFile, bFile], 20_000);
  assert.equal(res.code, 0, res.stderr);
  const out = res.stdout;
  const line = (re: RegExp) => out.split('\n').find((l) => re.test(l)) ?? assert.fail(`no line ${re} in:\n${out}`);
  assert.match(out, new RegExp(`A: ${resultFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: "small-report" 40 proxies`));
  assert.match(out, /scenarios differ: proxies 40 vs 80/);
  for (const section of ['Convergence', 'Admission', 'xDS traffic', 'Server', 'Load generator']) assert.match(out, new RegExp(`^  ${section}`, 'm'));
  for (const t of ['endpoint', 'scaleUp', 'virtualService', 'destinationRule', 'global']) for (const q of ['P50', 'P90', 'P99', 'max']) line(new RegExp(`^    ${t} ${q} `));
  assert.match(line(/^ {4}endpoint P99 /), /\+100%$/);
  assert.match(line(/^ {4}endpoint P50 /), /=$/);
  assert.match(line(/^ {4}eds bytes /), /\+50\.0%$/);
  for (const t of ['cds', 'lds', 'rds']) assert.match(line(new RegExp(`^    ${t} bytes `)), /=$/);
  assert.match(line(/^ {4}NACKs /), /\s0\s+3\s+new \(A = 0\)$/);
  assert.match(line(/^ {4}RSS peak /), /\+100%$/);
  assert.match(line(/^ {4}stream open → first response P50 /), /-50\.0%$/);
  line(/^ {4}CPU during churn\+drain .* cores/);

  const bad = await runCli(['load-test', '--compare', resultFile], 20_000);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--compare needs a value|--compare/);
  fs.writeFileSync(path.join(dir, 'not.json'), '{"hello": 1}');
  const notResult = await runCli(['load-test', '--compare', resultFile, path.join(dir, 'not.json')], 20_000);
  assert.equal(notResult.code, 2);
  assert.match(notResult.stderr, /not\.json: not a load-test result/);
});

test('load-test report: --report re-renders a saved result; a result without server readings says so', async () => {
  const r = JSON.parse(fs.readFileSync(resultFile, 'utf8')) as LoadTestResult;
  // as from --target without --monitoring: no server readings at all
  const bare = { ...r, samples: r.samples.map((s) => ({ ...s, server: {} })) };
  const bareFile = path.join(dir, 'bare.json');
  fs.writeFileSync(bareFile, JSON.stringify(bare));
  const res = await runCli(['load-test', '--report', bareFile], 20_000);
  assert.equal(res.code, 0, res.stderr);
  const html = fs.readFileSync(path.join(dir, 'bare.html'), 'utf8');
  assert.match(html, /<svg id="chart-pushes"[^>]*data-points="0"[\s\S]*?no \/metrics readings/);
  assert.match(html, /<svg id="chart-fleet"[^>]*data-points="[1-9]/, 'the fleet comes from the simulator');

  // bins: linear for a narrow spread, log for a wide one; every count lands in one bin
  const narrow = rebin({ a: [[150, 3], [151, 1], [230, 2]], b: [[180, 4]] });
  assert.equal(narrow.scale, 'linear');
  assert.equal(narrow.counts['a']!.reduce((x, y) => x + y, 0), 6);
  assert.ok(narrow.edges[0]! < 150 && narrow.edges[narrow.edges.length - 1]! >= 230);
  const wide = rebin({ a: [[3, 1], [200, 5], [12_000, 1]] });
  assert.equal(wide.scale, 'log');
  assert.deepEqual(wide.counts['a']!.filter((c) => c > 0), [1, 5, 1]);
  const tailed = rebin({ a: [[150, 500], [190, 500]], b: [[640, 2]] });
  assert.ok(tailed.tail && tailed.edges[tailed.edges.length - 1] === 640 && tailed.edges[tailed.edges.length - 2]! < 640);
  assert.deepEqual([tailed.counts['a']!.at(-1), tailed.counts['b']!.at(-1)], [0, 2], 'the tail bin holds the outliers');
  assert.equal(tailed.scale, 'linear');
});
