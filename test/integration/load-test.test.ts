/**
 * The load tester end to end: `istiod-ts load-test` spawns a real server as a child process,
 * connects simulated Envoys (SotW and Delta), applies endpoint, scale-up and config churn and a
 * reconnect storm, global edits (the istio-system ServiceEntry every proxy reads), then the
 * fan-out floor phase, and writes the JSON result. The small CI scenario, scaled down to 40
 * proxies and 10 s of churn so the file runs in well under a minute; a second run with namespace
 * Sidecars checks that a global edit still reaches every proxy.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as YAML from 'yaml';
import { validateScenario } from '../../load-test/scenario/schema';
import { LoadTestResult } from '../../load-test/run/result';
import { CHANGE_TYPES } from '../../load-test/scenario/churn';
import { REPO_ROOT, runCli } from '../helpers/run-cli';

const ROOT = REPO_ROOT;


test('load-test: every proxy connects, every change reaches every expected proxy, no NACK', { timeout: 90_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'istiod-ts-load-test-it-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const small = YAML.parse(fs.readFileSync(path.join(ROOT, 'load-test', 'scenarios', 'small.yaml'), 'utf8'));
  const scenario = {
    ...small,
    name: 'small-ci',
    namespaces: 2,
    servicesPerNamespace: 5,
    endpointsPerService: 5,
    proxies: 40,
    durationSeconds: 10,
    warmupSeconds: 20,
    drainSeconds: 10,
    connectsPerSecond: 40,
    floor: { rounds: 2 },
    churn: { endpointChangesPerSecond: 2, configEditsPerMinute: 24, globalEditsPerMinute: 12, scaleUps: { count: 1, endpoints: 2 }, reconnectStorm: { atSeconds: 5, fraction: 0.25 } },
  };
  const file = path.join(dir, 'scenario.yaml');
  fs.writeFileSync(file, YAML.stringify(scenario));
  const out = path.join(dir, 'result.json');

  const res = await runCli(['load-test', '--scenario', file, '--out', out], 80_000);
  assert.equal(res.code, 0, `exit code 0 (all checks passed)\n${res.stdout}\n${res.stderr}`);
  assert.match(res.stdout, /Convergence \(change written/, 'prints the summary table');

  const r = JSON.parse(fs.readFileSync(out, 'utf8')) as LoadTestResult;
  assert.equal(r.schemaVersion, 1);
  assert.equal(r.proxies.total, 40);
  assert.equal(r.proxies.sotw, 20);
  assert.equal(r.proxies.delta, 20);
  assert.equal(r.proxies.everSynced, 40, 'every proxy connected and synced');
  assert.equal(r.proxies.syncedAtEnd, 40, 'every proxy is synced at the end, storm victims included');
  assert.equal(r.admission.firstStream.count, 40, 'an admission latency for every proxy');

  for (const type of CHANGE_TYPES) assert.ok(r.convergence.byType[type].changes > 0, `at least one ${type} change`);
  assert.ok(r.changes.length >= 20, `the programme applied its changes (${r.changes.length})`);
  for (const c of r.changes) {
    assert.equal(c.expected, 40, `change ${c.id} (${c.type}) is expected at every proxy (no Sidecar scoping)`);
    assert.equal(c.converged, c.expected, `change ${c.id} (${c.type}, ${c.marker}) measured at every expected proxy`);
    assert.ok(c.convergence.p50 !== null && c.convergence.max! < 10_000, `change ${c.id} converged in under 10 s`);
  }
  assert.equal(r.storms.length, 1);
  assert.ok(r.storms[0]!.dropped > 0, 'the storm dropped streams');
  assert.equal(r.storms[0]!.resynced, r.storms[0]!.dropped, 'every dropped proxy resynced');
  assert.ok(r.xds.reconnects >= r.storms[0]!.dropped, 'storm victims count as reconnects');

  assert.equal(r.xds.nacks, 0, `no NACK: ${r.xds.nackSamples.join('; ')}`);
  for (const type of ['cds', 'eds', 'lds', 'rds'] as const) {
    const c = r.xds.byType[type];
    assert.ok(c.responses > 0 && c.bytes > 0, `${type} traffic counted`);
    assert.equal(c.acks, c.responses, `${type}: every response ACKed`);
  }
  assert.ok((r.server.pushesChurn['eds'] ?? 0) > 0, 'server pushes scraped from /metrics');
  assert.ok(r.server.peakRssBytes !== null && r.server.peakRssBytes > 0, 'server RSS sampled');
  assert.ok(r.server.cpuSecondsTotal !== null && r.server.cpuSecondsTotal > 0, 'server CPU sampled');
  assert.ok(r.samples.length >= 10, 'one sample per second');
  assert.equal(r.generator.workers.length, 1);
  assert.deepEqual(r.checks, { allConnected: true, everyChangeConverged: true, zeroNacks: true });

  // the global change: its own type, every proxy, its marker in a cluster name
  const globals = r.changes.filter((c) => c.type === 'global');
  assert.equal(globals.length, 2, 'two global edits in 10 s at 12/min');
  for (const c of globals) {
    assert.match(c.marker, /^ltg[0-9a-z]{7}z$/);
    assert.equal(c.file, 'istio-system/global.yaml');
    assert.equal(c.converged, 40, `global change ${c.id} reached every proxy`);
  }
  assert.equal(r.convergence.byType.global.converged, 80);
  assert.match(res.stdout, /^ {2}global +2 +80\/80 /m, 'the summary table has a global row');

  // the floor phase: the same streams, every round ACKed by every stream, the global change's size
  const f = r.floor!;
  assert.ok(f, 'the result has a floor');
  assert.deepEqual({ streams: f.streams, sotw: f.sotw, delta: f.delta, rounds: f.rounds, streamsPerChannel: f.streamsPerChannel, complete: f.complete, error: f.error },
    { streams: 40, sotw: 20, delta: 20, rounds: 2, streamsPerChannel: 50, complete: true, error: undefined });
  assert.deepEqual(f.acked, [40, 40], 'every stream ACKed every round');
  assert.equal(f.allAckedMs.length, 2);
  for (const ms of f.allAckedMs) assert.ok(ms !== null && ms >= 0, `round timed (${ms})`);
  assert.equal(f.bytesSource, 'global', 'payload sized from the global change');
  assert.ok(f.bytesPerStream > 0);
  assert.ok(f.p50Ms !== null && f.p99Ms !== null && f.p50Ms <= f.p99Ms);
  assert.ok(f.ratio.p50 !== null && f.ratio.p99 !== null && f.ratio.max !== null, 'the global change is compared with the floor');
  assert.equal(f.ratio.budget, 1.5);
  assert.match(res.stdout, /^Fan-out floor \(bare grpc-js server/m);
  assert.match(res.stdout, /global change vs floor: P50 .* = [\d.]+x, P99 .* = [\d.]+x, max .* = [\d.]+x/);
  // the server's own timing of those pushes, from its /debug/push_trace
  const sp = r.globalServerPush!;
  assert.ok(sp, 'the result has the server-side timing of the global pushes');
  assert.ok(sp.pushes >= 1 && sp.pushes <= 2, `one push per global edit, or fewer when merged (${sp.pushes})`);
  assert.equal(sp.queued, 40, 'every proxy was queued for the global push');
  assert.ok(sp.responses >= 40 && sp.bytes > 0 && sp.pushMs.p50 !== null && sp.pushMs.p50 > 0);
  assert.ok(f.serverRatio && f.serverRatio.p50 !== null);
  assert.match(res.stdout, /server push of the global change .*: P50 .* = [\d.]+x, max .* = [\d.]+x of the median round/);
});

test('load-test: with namespace Sidecars a global edit still reaches every proxy; --no-floor skips the floor', { timeout: 60_000 }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'istiod-ts-load-test-global-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const scenario = {
    name: 'global-ci', seed: 3, namespaces: 3, servicesPerNamespace: 2, endpointsPerService: 4, proxies: 18,
    sidecarScoping: 'namespace', deltaShare: 0.5, routingShare: 1, durationSeconds: 6, warmupSeconds: 20, drainSeconds: 10, connectsPerSecond: 40,
    floor: { rounds: 1 },
    churn: { configEditsPerMinute: 20, globalEditsPerMinute: 20 },
  };
  const file = path.join(dir, 'scenario.yaml');
  fs.writeFileSync(file, YAML.stringify(scenario));
  const out = path.join(dir, 'result.json');
  const res = await runCli(['load-test', '--scenario', file, '--out', out, '--no-floor'], 50_000);
  assert.equal(res.code, 0, `${res.stdout}\n${res.stderr}`);
  const r = JSON.parse(fs.readFileSync(out, 'utf8')) as LoadTestResult;
  const globals = r.changes.filter((c) => c.type === 'global');
  assert.equal(globals.length, 2);
  for (const c of globals) assert.deepEqual([c.expected, c.converged], [18, 18], `global change ${c.id} expected and measured at every proxy`);
  for (const c of r.changes.filter((x) => x.type !== 'global')) assert.equal(c.expected, 6, `a ${c.type} edit is expected in its namespace only`);
  assert.equal(r.floor, undefined, '--no-floor: no floor phase');
  assert.doesNotMatch(res.stdout, /Fan-out floor/);
  assert.deepEqual(r.checks, { allConnected: true, everyChangeConverged: true, zeroNacks: true });
});

test('load-test: scenario errors name the field and the CLI exits 2', async () => {
  const bad = validateScenario({
    namespaces: 2, servicesPerNamespace: 0, proxies: 10, proxiesPerService: 1, durationSeconds: 5,
    deltaShare: 1.5, sidecarScoping: 'cluster', churn: { reconnectStorm: { atSeconds: 9, fraction: 0 }, bogus: 1, globalEditsPerMinute: -1 },
    floor: { rounds: 1.5, every: 2 },
  });
  assert.equal(bad.ok, false);
  const errors = bad.ok ? [] : bad.errors;
  for (const want of [/^servicesPerNamespace: expected an integer >= 1, got 0$/, /^proxies, proxiesPerService: give one of them/, /^deltaShare: expected a number >= 0 and <= 1, got 1.5$/,
    /^sidecarScoping: expected one of none, namespace, got "cluster"$/, /^churn.bogus: unknown field/, /^churn.reconnectStorm.atSeconds: must fall inside the churn phase/, /^churn.reconnectStorm.fraction: expected a number > 0/,
    /^churn.globalEditsPerMinute: expected a number >= 0 and <= 600, got -1$/, /^floor.rounds: expected an integer >= 0 and <= 20, got 1.5$/, /^floor.every: unknown field \(known: rounds\)$/]) {
    assert.ok(errors.some((e) => want.test(e)), `${want} in:\n${errors.join('\n')}`);
  }
  const tooFew = validateScenario({ namespaces: 1, servicesPerNamespace: 2, endpointsPerService: 1, proxies: 5, durationSeconds: 5 });
  assert.deepEqual(tooFew.ok ? [] : tooFew.errors, ['endpointsPerService: every simulated proxy is a pod of its service, so it must be >= 3 (proxies per service), got 1']);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'istiod-ts-load-test-bad-'));
  try {
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(file, 'namespaces: 1\nservicesPerNamespace: 1\nproxies: 1\n');
    const res = await runCli(['load-test', '--scenario', file], 20_000);
    assert.equal(res.code, 2);
    assert.match(res.stderr, /bad\.yaml: durationSeconds: required/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
