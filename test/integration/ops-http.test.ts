/**
 * The HTTP operations surface against a running server with simulated proxies: every endpoint's
 * status and JSON shape (Istio's names and shapes, REFERENCE §3), /metrics as Prometheus text,
 * the log scope API, and the push trace after a config change.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { httpGet, parsePrometheus, request, SimProxies, startOpsServer, OpsServer } from '../helpers/ops';
import { teardown } from '../helpers/teardown';
import { waitFor } from '../helpers/wait-for';
import { CLUSTER_TYPE_URL, LISTENER_TYPE_URL } from '../../src/shared/resources';
import { logLevels } from '../../src/main/log';

/** Istio counters whose registered name ends in _total (pilot/pkg/xds/sds.go, pilot/pkg/model/jwks_resolver.go). */
const ISTIO_TOTAL_NAMES = new Set(['pilot_sds_certificate_errors_total', 'pilot_jwks_resolver_network_fetch_success_total', 'pilot_jwks_resolver_network_fetch_fail_total']);

async function allSynced(srv: OpsServer, names: string[]): Promise<boolean> {
  const rows = (await httpGet(`${srv.http}/debug/syncz`)).json<Array<Record<string, string>>>();
  return names.every((n) => {
    const r = rows.find((x) => x['proxy'] === n);
    return r && r['cluster_sent'] && r['cluster_sent'] === r['cluster_acked'] && r['listener_sent'] && r['listener_sent'] === r['listener_acked'] && r['route_sent'] === r['route_acked'] && r['endpoint_sent'] === r['endpoint_acked'];
  });
}

test('debug endpoints answer with Istio names and shapes', async (t) => {
  const onClose = teardown(t);
  const srv = await startOpsServer();
  onClose(() => srv.close());
  const sims = new SimProxies(srv.grpcTarget, 3, { delta: (i) => i === 2 }).start();
  onClose(() => sims.stop());
  await waitFor(() => allSynced(srv, sims.names), 10_000, 'three simulated proxies synced');

  await t.test('/ready and /healthz', async () => {
    const ready = await httpGet(`${srv.http}/ready`);
    assert.equal(ready.status, 200);
    assert.deepEqual(Object.keys(ready.json()).sort(), ['checks', 'degraded', 'ready', 'since', 'state']);
    assert.equal(ready.json().state, 'Running');
    assert.deepEqual(ready.json().checks, { sourcesSynced: true, poolsStarted: true, xdsListening: true });
    assert.equal((await httpGet(`${srv.monitoring}/healthz`)).status, 200);
    assert.equal((await httpGet(`${srv.monitoring}/version`)).json().name, 'istiod-ts');
  });

  await t.test('/debug/syncz: one SyncStatus per proxy', async () => {
    const rows = (await httpGet(`${srv.http}/debug/syncz`)).json<Array<Record<string, unknown>>>();
    assert.equal(rows.length, 3);
    for (const r of rows) {
      assert.equal(r['cluster_id'], 'Kubernetes');
      assert.equal(r['istio_version'], '1.30.0');
      for (const k of ['cluster_sent', 'cluster_acked', 'listener_sent', 'listener_acked', 'route_sent', 'route_acked', 'endpoint_sent', 'endpoint_acked']) assert.equal(typeof r[k], 'string', k);
      assert.equal(typeof (r['resources'] as Record<string, unknown>)[CLUSTER_TYPE_URL], 'object');
    }
    assert.deepEqual(rows.map((r) => r['proxy']).sort(), sims.names.sort());
  });

  await t.test('/debug/adsz and /debug/connections: AdsClients', async () => {
    const adsz = (await httpGet(`${srv.http}/debug/adsz`)).json();
    assert.equal(adsz.totalClients, 3);
    for (const c of adsz.clients) {
      for (const k of ['connectionId', 'connectedAt', 'address', 'labels', 'metadata', 'watches']) assert.ok(k in c, `adsz client has ${k}`);
      assert.ok(Array.isArray(c.watches[CLUSTER_TYPE_URL]), 'watches: type URL → names');
      assert.match(c.address, /127\.0\.0\.1/);
    }
    const one = (await httpGet(`${srv.http}/debug/adsz?proxyID=${sims.names[0]}`)).json();
    assert.equal(one.totalClients, 1);
    assert.equal((await httpGet(`${srv.http}/debug/adsz?proxyID=nobody.nowhere`)).status, 404);
    const conns = (await httpGet(`${srv.http}/debug/connections`)).json();
    assert.equal(conns.totalClients, 3);
    assert.deepEqual(Object.keys(conns.clients[0]).sort(), ['address', 'connectedAt', 'connectionId']);
  });

  await t.test('/debug/config_dump?proxyID=: an envoy.admin.v3.ConfigDump of what was sent', async () => {
    assert.equal((await httpGet(`${srv.http}/debug/config_dump`)).status, 400);
    assert.equal((await httpGet(`${srv.http}/debug/config_dump?proxyID=nobody.nowhere`)).status, 404);
    for (const name of sims.names) {
      const dump = (await httpGet(`${srv.http}/debug/config_dump?proxyID=${name}&include_eds=true`)).json();
      const types = dump.configs.map((c: { '@type': string }) => c['@type'].replace('type.googleapis.com/envoy.admin.v3.', ''));
      assert.deepEqual(types, ['BootstrapConfigDump', 'ClustersConfigDump', 'EndpointsConfigDump', 'ListenersConfigDump', 'ScopedRoutesConfigDump', 'RoutesConfigDump', 'SecretsConfigDump']);
      const conn = [...srv.discovery.ads.connections.values()].find((c) => c.proxy.podId === name)!;
      const clusters = dump.configs[1].dynamic_active_clusters.map((c: any) => c.cluster.name).sort();
      assert.deepEqual(clusters, [...conn.watches.get(CLUSTER_TYPE_URL)!.lastResolved!.resources.keys()].sort());
      assert.ok(clusters.length > 3);
      const listeners = dump.configs[3].dynamic_listeners;
      assert.deepEqual(listeners.map((l: any) => l.name).sort(), [...conn.watches.get(LISTENER_TYPE_URL)!.lastResolved!.resources.keys()].sort());
      assert.equal(listeners[0].active_state.listener['@type'], `type.googleapis.com/envoy.config.listener.v3.Listener`);
      assert.ok(dump.configs[5].dynamic_route_configs.length > 0, 'routes');
      assert.ok(dump.configs[2].dynamic_endpoint_configs.length > 0, 'endpoints with include_eds=true');
    }
    const noEds = (await httpGet(`${srv.http}/debug/config_dump?proxyID=${sims.names[0]}`)).json();
    assert.equal(noEds.configs.length, 6, 'EDS only with include_eds=true, as Istio');
  });

  await t.test('model views: configz, registryz, endpointShardz, push_status, mesh', async () => {
    const configz = (await httpGet(`${srv.http}/debug/configz`)).json<any[]>();
    assert.ok(configz.length > 0);
    for (const c of configz) { assert.match(c.apiVersion, /istio\.io\//); assert.ok(c.kind && c.metadata.name && c.spec); }
    const registryz = (await httpGet(`${srv.http}/debug/registryz`)).json<any[]>();
    assert.ok(registryz.some((s) => s.hostname === 'reviews.bookinfo.svc.cluster.local'));
    for (const s of registryz) { assert.ok(Array.isArray(s.ports)); assert.ok(s.Attributes.Name && s.Attributes.Namespace); assert.equal(typeof s.Resolution, 'number'); }
    const shards = (await httpGet(`${srv.http}/debug/endpointShardz`)).json();
    const reviews = shards['reviews.bookinfo.svc.cluster.local']['bookinfo'];
    const eps = Object.values(reviews.Shards)[0] as any[];
    assert.ok(eps.length >= 2);
    assert.ok(eps[0].Address && eps[0].ServicePortName && typeof eps[0].EndpointPort === 'number');
    assert.equal(typeof reviews.ServiceAccounts, 'object');
    const ps = (await httpGet(`${srv.http}/debug/push_status`)).json();
    assert.equal(typeof ps.ProxyStatus, 'object');
    assert.equal((await httpGet(`${srv.http}/debug/mesh`)).status, 200);
  });

  await t.test('/debug/cachez, /debug/workers, /debug/list', async () => {
    const cachez = (await httpGet(`${srv.http}/debug/cachez`)).json<Record<string, string[]>>();
    assert.ok(cachez[CLUSTER_TYPE_URL]!.length > 0);
    assert.match(cachez[CLUSTER_TYPE_URL]![0]!, /^.+\/[0-9a-f]{12}$/);
    const sizes = (await httpGet(`${srv.http}/debug/cachez?sizes=true`)).json();
    assert.match(sizes.total, /^[\d.]+k?B$/);
    const workers = (await httpGet(`${srv.http}/debug/workers`)).json();
    assert.equal(workers.config.threads, 2);
    assert.equal(workers.mainThreadEncodes, 0);
    const list = (await httpGet(`${srv.http}/debug/list`)).json<string[]>();
    for (const p of ['/debug/syncz', '/debug/adsz', '/debug/connections', '/debug/config_dump', '/debug/configz', '/debug/registryz', '/debug/endpointShardz', '/debug/push_status', '/debug/cachez', '/debug/list', '/debug/push_trace', '/debug/workers']) {
      assert.ok(list.includes(p), p);
      const path0 = p === '/debug/config_dump' ? `${p}?proxyID=${sims.names[0]}` : p;
      assert.equal((await httpGet(`${srv.monitoring}${path0}`)).status, 200, `${p} on the monitoring port`);
    }
  });

  await t.test('/debug/push_trace after a config change, and /debug/adsz?push=true', async () => {
    const before = (await httpGet(`${srv.http}/debug/push_trace`)).json<any[]>().length;
    const pushed = srv.discovery.pushed();
    fs.writeFileSync(path.join(srv.configDir, 'extra.yaml'), 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: ext, namespace: bookinfo}\n' +
      'spec: {hosts: [api.example.com], ports: [{number: 443, name: tls, protocol: TLS}], resolution: DNS, location: MESH_EXTERNAL}\n');
    await pushed;
    const traces = (await httpGet(`${srv.http}/debug/push_trace`)).json<any[]>();
    assert.ok(traces.length > before);
    const last = traces[0];
    assert.ok(last.trigger.config >= 1, JSON.stringify(last.trigger));
    assert.ok(last.done);
    assert.deepEqual(Object.keys(last.stages), ['debounce', 'snapshot', 'invalidate', 'push']);
    assert.ok(last.bytes > 0 && last.responses > 0, 'bytes sent in this push');
    assert.ok(last.proxies.length > 0 && last.proxies.every((p: string) => p.startsWith('sidecar~')));
    assert.ok(last.version > 1);

    const r = await httpGet(`${srv.http}/debug/adsz?push=true`);
    assert.equal(r.body, 'Pushed to 3 servers\n');
    await waitFor(async () => (await httpGet(`${srv.http}/debug/push_trace`)).json<any[]>()[0].trigger.debug === 1, 5000, 'a debug push trace');
    const forced = (await httpGet(`${srv.http}/debug/push_trace`)).json<any[]>()[0];
    assert.equal(forced.forced, true);
  });

  await t.test('/metrics is Prometheus text with the pilot_* names', async () => {
    const res = await httpGet(`${srv.monitoring}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.contentType, /text\/plain/);
    const fams = parsePrometheus(res.body);
    const want: Record<string, string> = {
      pilot_xds: 'gauge', pilot_services: 'gauge', pilot_xds_pushes: 'counter', pilot_proxy_convergence_time: 'histogram',
      pilot_debounce_time: 'histogram', pilot_pushcontext_init_seconds: 'histogram', pilot_push_triggers: 'counter', pilot_inbound_updates: 'counter',
      pilot_xds_config_size_bytes: 'histogram', pilot_xds_push_time: 'histogram', pilot_proxy_queue_time: 'histogram', pilot_xds_send_time: 'histogram',
      pilot_total_xds_rejects: 'counter', pilot_xds_expired_nonce: 'counter', pilot_total_xds_internal_errors: 'counter', pilot_xds_write_timeout: 'counter',
      istiod_ts_lifecycle_state: 'gauge',
    };
    for (const [name, type] of Object.entries(want)) assert.equal(fams.get(name)?.type, type, name);
    assert.equal(fams.get('pilot_xds')!.samples.find((s) => s.labels['version'] === '1.30.0')?.value, 3);
    assert.ok(fams.get('pilot_xds_pushes')!.samples.some((s) => s.labels['type'] === 'cds' && s.value > 0));
    assert.ok(fams.get('pilot_proxy_convergence_time')!.samples.some((s) => s.name.endsWith('_count') && s.value > 0));
    assert.ok(![...fams.keys()].some((n) => n.startsWith('pilot_') && n.endsWith('_total') && !ISTIO_TOTAL_NAMES.has(n)), 'counters have no _total suffix, as Istio (except the ones Istio itself names so)');
    assert.deepEqual(fams.get('istiod_ts_lifecycle_state')!.samples.filter((s) => s.value === 1).map((s) => s.labels['state']), ['Running']);
  });

  await t.test('log levels: GET/PUT /scopej', async () => {
    const scopes = (await httpGet(`${srv.http}/scopej`)).json<any[]>();
    assert.ok(scopes.some((s) => s.name === 'ads'));
    assert.deepEqual(Object.keys(scopes[0]).sort(), ['description', 'log_callers', 'name', 'output_level', 'stack_trace_level']);
    const put = await request('PUT', `${srv.http}/scopej/ads`, JSON.stringify({ output_level: 'debug' }));
    assert.equal(put.status, 200);
    assert.equal(put.json().output_level, 'debug');
    assert.equal(logLevels().find((s) => s.name === 'ads')!.level, 'debug');
    assert.equal((await request('PUT', `${srv.http}/scopej/ads`, JSON.stringify({ output_level: 'loud' }))).status, 400);
    assert.equal((await request('PUT', `${srv.http}/scopej/nosuchscope`, JSON.stringify({ output_level: 'info' }))).status, 404);
    assert.equal((await httpGet(`${srv.http}/debug/scopez`)).status, 200);
    await request('PUT', `${srv.http}/scopej/ads`, JSON.stringify({ output_level: 'error' }));
  });
});
