/**
 * The live dashboard in headless Chromium (Debian's /usr/bin/chromium through playwright-core):
 * connected proxies, pool utilisation and the push timeline appear over the WebSocket, update
 * after a config change, and a screenshot is taken and checked to be a real, non-blank picture.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SimProxies, startOpsServer } from '../helpers/ops';
import { teardown } from '../helpers/teardown';
import { waitFor } from '../helpers/wait-for';

const CHROMIUM = '/usr/bin/chromium';

test('dashboard: live data over the WebSocket, updates after a config change, screenshot', { timeout: 90_000 }, async (t) => {
  if (!fs.existsSync(CHROMIUM)) { t.skip(`${CHROMIUM} is not installed (apt-get install chromium; .ci/run does)`); return; }
  const onClose = teardown(t);
  const srv = await startOpsServer();
  onClose(() => srv.close());
  const sims = new SimProxies(srv.grpcTarget, 3).start();
  onClose(() => sims.stop());
  await waitFor(() => srv.discovery.ads.connections.size === 3, 10_000, 'three proxies connected');

  const { chromium } = await import('playwright-core');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'istiod-ts-chromium-'));
  onClose(() => fs.rmSync(profile, { recursive: true, force: true }));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, timeout: 30_000, viewport: { width: 1280, height: 1000 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  onClose(() => ctx.close());
  const page = ctx.pages()[0] ?? await ctx.newPage();
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${srv.monitoring}/dashboard`, { waitUntil: 'load', timeout: 20_000 });

  // Data appears: three proxies, all synced, the config pool with its threads.
  await page.waitForFunction(`document.getElementById('proxy-count')?.textContent === '3'`, undefined, { timeout: 15_000 });
  await page.waitForFunction(`document.querySelectorAll('#proxies td.SYNCED').length === 12`, undefined, { timeout: 15_000 });
  assert.equal(await page.textContent('#state'), 'Running');
  assert.match((await page.textContent('#pools')) ?? '', /config: 2 threads/);
  const snapshot0 = Number(await page.textContent('#snapshot'));
  const pushes0 = await page.locator('#pushes tr').count();

  // A config change: a new push row, a newer snapshot, convergence observations, without reloading.
  fs.writeFileSync(path.join(srv.configDir, 'dash.yaml'), 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: dash, namespace: bookinfo}\n' +
    'spec: {hosts: [dash.example.com], ports: [{number: 443, name: tls, protocol: TLS}], resolution: DNS, location: MESH_EXTERNAL}\n');
  await page.waitForFunction(`document.querySelectorAll('#pushes tr').length > ${pushes0}`, undefined, { timeout: 15_000 });
  await page.waitForFunction(`Number(document.getElementById('snapshot')?.textContent) > ${snapshot0}`, undefined, { timeout: 15_000 });
  const state = await page.evaluate('window.__dashboardState') as any;
  assert.ok(state.pushes[0].trigger.config >= 1, JSON.stringify(state.pushes[0]));
  assert.ok(state.pushes[0].proxies === 3 && state.pushes[0].bytes > 0, JSON.stringify(state.pushes[0]));
  await page.waitForFunction('window.__dashboardState.convergence.count >= 3', undefined, { timeout: 15_000 });

  // The charts drew something: non-white pixels on both canvases.
  const inked = await page.evaluate(`['timeline', 'convergence'].map((id) => {
    const c = document.getElementById(id);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200) n++;
    return n;
  })`) as number[];
  assert.ok(inked.every((n) => n > 200), `charts have ink: ${inked}`);

  // Screenshot: a real PNG, not blank (decoded by the browser: many distinct colours).
  const shot = path.join(os.tmpdir(), `istiod-ts-dashboard-${process.pid}.png`);
  const png = await page.screenshot({ path: shot, fullPage: true });
  assert.equal(png.subarray(1, 4).toString(), 'PNG');
  assert.ok(png.length > 20_000, `a real screenshot (${png.length} bytes)`);
  const colours = await page.evaluate(`(async () => {
    const img = new Image();
    img.src = 'data:image/png;base64,${png.toString('base64')}';
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width; c.height = img.height;
    const ctx2 = c.getContext('2d');
    ctx2.drawImage(img, 0, 0);
    const d = ctx2.getImageData(0, 0, c.width, c.height).data;
    const seen = new Set();
    for (let i = 0; i < d.length; i += 16) seen.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
    return { colours: seen.size, width: img.width, height: img.height };
  })()`) as { colours: number; width: number; height: number };
  assert.ok(colours.colours > 20 && colours.width >= 1280, `screenshot is not blank: ${JSON.stringify(colours)}`);
  t.diagnostic(`screenshot: ${shot}`);
  assert.deepEqual(errors, [], 'no console errors');
});
