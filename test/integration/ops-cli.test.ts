/**
 * `istiod-ts proxy-status` and `istiod-ts proxy-config` (the real CLI, a child process) against a
 * live server with simulated proxies and one raw client that never ACKs.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { httpGet, SimProxies, startOpsServer } from '../helpers/ops';
import { AdsClient, testNode } from '../helpers/ads-client';
import { runCli } from '../helpers/run-cli';
import { teardown } from '../helpers/teardown';
import { waitFor } from '../helpers/wait-for';
import { CLUSTER_TYPE_URL } from '../../src/shared/resources';
import { xdsStatus } from '../../src/main/sre-cli';

/** Rows of an istioctl-style table: split on runs of 3+ spaces. */
function rows(out: string): string[][] {
  return out.trim().split('\n').map((l) => l.split(/ {3,}/));
}

test('istioctl status words', () => {
  assert.equal(xdsStatus('', ''), 'NOT SENT');
  assert.equal(xdsStatus(undefined, undefined), 'NOT SENT');
  assert.equal(xdsStatus('n1', 'n1'), 'SYNCED');
  assert.equal(xdsStatus('n2', 'n1'), 'STALE');
  assert.equal(xdsStatus('n1', ''), 'STALE (Never Acknowledged)');
});

test('proxy-status and proxy-config against a live server', async (t) => {
  const onClose = teardown(t);
  const srv = await startOpsServer();
  onClose(() => srv.close());
  const sims = new SimProxies(srv.grpcTarget, 2, { delta: (i) => i === 1 }).start();
  onClose(() => sims.stop());
  // A client that asks for clusters and never ACKs: CDS is STALE (Never Acknowledged), the rest NOT SENT.
  const raw = AdsClient.sotw(srv.grpcTarget);
  onClose(() => raw.close());
  raw.send({ type_url: CLUSTER_TYPE_URL, node: testNode({ pod: 'lazy', namespace: 'bookinfo', ip: '10.98.0.1', metadata: { ISTIO_VERSION: '1.29.1', CLUSTER_ID: 'Kubernetes' } }), resource_names: [] });
  await raw.next();
  const istiod = `127.0.0.1:${srv.discovery.ports.monitoring}`;
  await waitFor(async () => {
    const s = (await httpGet(`${srv.http}/debug/syncz`)).json<Array<Record<string, string>>>();
    return s.length === 3 && s.filter((r) => r['route_sent'] && r['route_sent'] === r['route_acked']).length === 2;
  }, 10_000, 'proxies synced');

  await t.test('proxy-status: one row per proxy, istioctl columns', async () => {
    const r = await runCli(['proxy-status', '--istiod', istiod], 15_000);
    assert.equal(r.code, 0, r.stderr);
    const table = rows(r.stdout);
    assert.deepEqual(table[0], ['NAME', 'CLUSTER', 'CDS', 'LDS', 'EDS', 'RDS', 'ISTIOD', 'VERSION']);
    assert.equal(table.length, 4);
    const byName = new Map(table.slice(1).map((row) => [row[0], row]));
    for (const n of sims.names) assert.deepEqual(byName.get(n)!.slice(1, 6), ['Kubernetes', 'SYNCED', 'SYNCED', 'SYNCED', 'SYNCED'], n);
    assert.equal(byName.get(sims.names[0])![7], '1.30.0');
    assert.deepEqual(byName.get('lazy.bookinfo')!.slice(2, 6), ['STALE (Never Acknowledged)', 'NOT SENT', 'NOT SENT', 'NOT SENT']);
    assert.equal(byName.get('lazy.bookinfo')![7], '1.29.1');
    const json = await runCli(['proxy-status', '--istiod', `http://${istiod}`, '-o', 'json'], 15_000);
    assert.equal(JSON.parse(json.stdout).length, 3);
    const one = await runCli(['proxy-status', sims.names[1]!, '--istiod', istiod], 15_000);
    assert.equal(rows(one.stdout).length, 2);
    // a proxy this replica does not hold: an error and exit 1, not an empty table
    const missing = await runCli(['proxy-status', 'ghost.nowhere', '--istiod', istiod], 15_000);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /ghost\.nowhere is not connected to /);
  });

  await t.test('proxy-config cluster|listener|route|endpoint', async () => {
    const proxy = sims.names[0]!;
    const dump = (await httpGet(`${srv.http}/debug/config_dump?proxyID=${proxy}&include_eds=true`)).json();
    const clusterNames = dump.configs[1].dynamic_active_clusters.map((c: any) => c.cluster.name).sort();

    const c = await runCli(['proxy-config', 'cluster', proxy, '--istiod', istiod], 15_000);
    assert.equal(c.code, 0, c.stderr);
    const ct = rows(c.stdout);
    assert.deepEqual(ct[0], ['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE', 'DESTINATION RULE']);
    assert.equal(ct.length - 1, clusterNames.length);
    assert.ok(ct.some((r) => r[0] === 'reviews.bookinfo.svc.cluster.local' && r[1] === '9080' && r[3] === 'outbound' && r[4] === 'EDS'), c.stdout);
    const cj = await runCli(['proxy-config', 'clusters', proxy, '-o', 'json', '--istiod', istiod], 15_000);
    assert.deepEqual(JSON.parse(cj.stdout).map((x: any) => x.name).sort(), clusterNames);

    const l = await runCli(['proxy-config', 'listener', proxy, '--istiod', istiod], 15_000);
    assert.equal(l.code, 0, l.stderr);
    assert.deepEqual(rows(l.stdout)[0], ['NAME', 'ADDRESSES', 'PORT', 'MATCH', 'DESTINATION']);
    assert.ok(rows(l.stdout).some((r) => /^Route: /.test(r[4] ?? '')), l.stdout);
    const lj = JSON.parse((await runCli(['proxy-config', 'listener', proxy, '-o', 'json', '--istiod', istiod], 15_000)).stdout);
    assert.deepEqual(lj.map((x: any) => x.name).sort(), dump.configs[3].dynamic_listeners.map((x: any) => x.name).sort());

    const r = await runCli(['proxy-config', 'route', proxy, '--istiod', istiod], 15_000);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(rows(r.stdout)[0], ['NAME', 'VHOST NAME', 'DOMAINS', 'MATCH', 'VIRTUAL SERVICE']);
    assert.ok(rows(r.stdout).length > 1);

    const e = await runCli(['proxy-config', 'endpoint', proxy, '--istiod', istiod], 15_000);
    assert.equal(e.code, 0, e.stderr);
    const et = rows(e.stdout);
    assert.deepEqual(et[0], ['ENDPOINT', 'STATUS', 'OUTLIER CHECK', 'CLUSTER']);
    assert.ok(et.some((row) => row[0] === '10.244.2.12:9080' && row[1] === 'HEALTHY' && row[3] === 'outbound|9080||reviews.bookinfo.svc.cluster.local'), e.stdout);

    const all = await runCli(['proxy-config', 'all', proxy, '--istiod', istiod], 15_000);
    assert.match(all.stdout, /^CLUSTERS\n[\s\S]*\nLISTENERS\n[\s\S]*\nROUTES\n[\s\S]*\nENDPOINTS\n/);
  });

  await t.test('errors: unknown proxy (1), bad usage (2), unreachable istiod (2)', async () => {
    const nobody = await runCli(['proxy-config', 'cluster', 'nobody.nowhere', '--istiod', istiod], 15_000);
    assert.equal(nobody.code, 1);
    assert.match(nobody.stderr, /HTTP 404 Proxy not connected/);
    const bad = await runCli(['proxy-config', 'secrets', 'x', '--istiod', istiod], 15_000);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /usage: istiod-ts proxy-config/);
    const down = await runCli(['proxy-status', '--istiod', '127.0.0.1:1'], 15_000);
    assert.equal(down.code, 2);
    assert.match(down.stderr, /fetch failed/);
  });
});
