/**
 * Incremental pushes over real gRPC with 200 simulated proxies: an endpoint change sends EDS only,
 * and only to the proxies watching that cluster; a VirtualService change reaches only proxies
 * whose scope imports its host; unaffected proxies receive zero bytes.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startTestServer } from '../helpers/server';
import { AdsClient, SotwStream, testNode } from '../helpers/ads-client';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL, SHORT_NAME, XdsTypeUrl } from '../../src/shared/resources';
import { StreamInfo } from '../../src/main/xds/callbacks';

function service(ns: string, name: string, ip: string, epIp: string): string {
  return `
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${ns}}
spec: {clusterIP: ${ip}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${name}-1, namespace: ${ns}, labels: {kubernetes.io/service-name: ${name}}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: [${epIp}], conditions: {ready: true}}]
`;
}

function virtualService(ns: string, host: string, timeout: string): string {
  return `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${host}, namespace: ${ns}}
spec:
  hosts: [${host}]
  http: [{route: [{destination: {host: ${host}}}], timeout: ${timeout}}]
`;
}

const FILES: Record<string, string> = {
  'alpha-a1.yaml': service('alpha', 'a1', '10.96.1.1', '10.244.1.1'),
  'alpha-a2.yaml': service('alpha', 'a2', '10.96.1.2', '10.244.1.2'),
  'beta-b1.yaml': service('beta', 'b1', '10.96.2.1', '10.244.2.1'),
  'alpha-vs.yaml': virtualService('alpha', 'a1', '5s'),
  // beta's proxies import only their own namespace
  'beta-sidecar.yaml': `
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: beta}
spec:
  egress: [{hosts: ["./*"]}]
`,
};

const A1 = 'outbound|80||a1.alpha.svc.cluster.local';
const A2 = 'outbound|80||a2.alpha.svc.cluster.local';
const B1 = 'outbound|80||b1.beta.svc.cluster.local';

interface Proxy { stream: SotwStream; conId?: string; ns: string; eds: string }

/** Subscribe like Envoy: wildcard CDS, EDS for one cluster, wildcard LDS, RDS for port 80; ACK all. */
async function connect(target: string, ns: string, i: number, eds: string): Promise<Proxy> {
  const stream = AdsClient.sotw(target);
  const node = testNode({ namespace: ns, pod: `p${i}`, ip: `10.250.${Math.floor(i / 250)}.${(i % 250) + 1}` });
  const ack = async (type: XdsTypeUrl, names: string[], first: boolean) => {
    const res = await stream.request({ ...(first ? { node } : {}), type_url: type, resource_names: names });
    stream.send({ type_url: type, resource_names: names, version_info: res.version_info, response_nonce: res.nonce });
  };
  await ack(CLUSTER_TYPE_URL, [], true);
  await ack(ENDPOINT_TYPE_URL, [eds], false);
  await ack(LISTENER_TYPE_URL, [], false);
  await ack(ROUTE_TYPE_URL, ['80'], false);
  return { stream, ns, eds };
}

test('200 proxies: endpoint and VirtualService changes reach only the proxies they affect', async (t) => {
  const sent = new Map<string, { bytes: number; types: Set<string> }>();
  let recording = false;
  const server = await startTestServer({
    files: FILES,
    start: {
      callbacks: {
        onResponse: (s: StreamInfo, type, _n, bytes) => {
          if (!recording) return;
          const e = sent.get(s.conId) ?? { bytes: 0, types: new Set<string>() };
          e.bytes += bytes;
          e.types.add(SHORT_NAME[type]);
          sent.set(s.conId, e);
        },
      },
    },
  });
  const proxies: Proxy[] = [];
  t.after(async () => { for (const p of proxies) p.stream.close(); await server.close(); });
  for (let i = 0; i < 200; i++) {
    const ns = i < 100 ? 'alpha' : 'beta';
    const eds = ns === 'beta' ? B1 : i % 2 === 0 ? A1 : A2;
    proxies.push(await connect(server.grpcTarget, ns, i, eds));
  }
  // map streams to server-side connection ids by node id
  for (const c of server.discovery.ads.connections.values()) {
    const p = proxies.find((x) => c.proxy.podName === `p${proxies.indexOf(x)}`);
    if (p) p.conId = c.conId;
  }
  assert.equal(proxies.filter((p) => p.conId).length, 200, 'all 200 proxies connected');

  // 1. Endpoint change of a1: EDS only, only to the 50 proxies watching A1.
  recording = true;
  let pushed = server.discovery.pushed();
  fs.writeFileSync(path.join(server.configDir, 'alpha-a1.yaml'), service('alpha', 'a1', '10.96.1.1', '10.244.1.99'));
  await pushed;
  const a1Watchers = proxies.filter((p) => p.eds === A1);
  for (const p of proxies) {
    const got = sent.get(p.conId!);
    if (p.eds === A1) {
      assert.ok(got, `${p.conId} watches a1 and gets the new endpoints`);
      assert.deepEqual([...got.types], ['eds'], 'only EDS is sent for an endpoint change');
    } else {
      assert.equal(got, undefined, `${p.conId} (watching ${p.eds}) receives zero bytes`);
    }
  }
  assert.equal(a1Watchers.length, 50);
  for (const p of a1Watchers) {
    const res = await p.stream.next(2000);
    assert.equal(res.type_url, ENDPOINT_TYPE_URL);
    assert.match(JSON.stringify(res.resources[0]!.value), /10\.244\.1\.99/);
    p.stream.send({ type_url: ENDPOINT_TYPE_URL, resource_names: [A1], version_info: res.version_info, response_nonce: res.nonce });
  }

  // 2. VirtualService change for a1 (namespace alpha): beta's proxies do not import alpha.
  sent.clear();
  const jobsBefore = server.discovery.generation.stats.jobs;
  pushed = server.discovery.pushed();
  fs.writeFileSync(path.join(server.configDir, 'alpha-vs.yaml'), virtualService('alpha', 'a1', '7s'));
  await pushed;
  for (const p of proxies) {
    const got = sent.get(p.conId!);
    if (p.ns === 'alpha') {
      assert.ok(got, `${p.conId} in alpha imports a1 and gets new routes`);
      assert.deepEqual([...got.types], ['rds'], 'only RDS is sent for a route change');
    } else {
      assert.equal(got, undefined, `${p.conId} in beta receives zero bytes`);
    }
  }
  // alpha's 100 proxies share one route generation; beta's were never regenerated
  assert.equal(server.discovery.generation.stats.jobs - jobsBefore, 1, 'one RDS generation for all of alpha');
});

/** a1 with its endpoint backed by a Pod (file mode writes both together, as a pod's new IP does). */
function withPod(ip: string): string {
  return service('alpha', 'a1', '10.96.1.1', ip).replace(
    'endpoints: [{addresses: [' + ip + '], conditions: {ready: true}}]',
    `endpoints: [{addresses: [${ip}], conditions: {ready: true}, targetRef: {kind: Pod, name: a1-pod, namespace: alpha}}]`,
  ) + `---
apiVersion: v1
kind: Pod
metadata: {name: a1-pod, namespace: alpha, labels: {app: a1}}
spec: {serviceAccountName: a1}
status: {podIP: ${ip}}
`;
}

test('SotW EDS push carries only the changed assignments; a new pod IP is not a service change', async (t) => {
  const server = await startTestServer({ files: { ...FILES, 'alpha-a1.yaml': withPod('10.244.1.1') } });
  const p = await connect(server.grpcTarget, 'alpha', 1, A1);
  t.after(async () => { p.stream.close(); await server.close(); });
  const eds = await p.stream.request({ type_url: ENDPOINT_TYPE_URL, resource_names: [A1, A2] });
  assert.equal(eds.resources.length, 2, 'a request gets every name it asks for');
  p.stream.send({ type_url: ENDPOINT_TYPE_URL, resource_names: [A1, A2], version_info: eds.version_info, response_nonce: eds.nonce });
  await p.stream.expectNoResponse(200);

  const invalidatedBefore = server.discovery.generation.stats.invalidated;
  const pushed = server.discovery.pushed();
  fs.writeFileSync(path.join(server.configDir, 'alpha-a1.yaml'), withPod('10.244.1.77'));
  await pushed;
  const res = await p.stream.next(2000);
  assert.equal(res.type_url, ENDPOINT_TYPE_URL, 'no CDS/LDS/RDS push: the service itself did not change');
  assert.deepEqual(res.resources.map((r) => r.value['cluster_name']), [A1], 'only the changed assignment is sent');
  await p.stream.expectNoResponse(200);
  assert.ok(server.discovery.generation.stats.invalidated - invalidatedBefore <= 2, 'only a1 endpoint entries were invalidated');
});

test('a changed cluster gets its endpoints again in the same push (Envoy re-warms it)', async (t) => {
  const dr = (lb: string) => `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: a1, namespace: alpha}
spec:
  host: a1
  trafficPolicy: {loadBalancer: {simple: ${lb}}}
`;
  const server = await startTestServer({ files: { ...FILES, 'alpha-dr.yaml': dr('ROUND_ROBIN') } });
  const sotw = await connect(server.grpcTarget, 'alpha', 1, A1);
  const delta = AdsClient.delta(server.grpcTarget);
  t.after(async () => { sotw.stream.close(); delta.close(); await server.close(); });
  const node = testNode({ namespace: 'alpha', pod: 'd1', ip: '10.251.0.1' });
  const cds = await delta.request({ node, type_url: CLUSTER_TYPE_URL, resource_names_subscribe: ['*'] });
  delta.send({ type_url: CLUSTER_TYPE_URL, response_nonce: cds.nonce });
  const eds = await delta.request({ type_url: ENDPOINT_TYPE_URL, resource_names_subscribe: [A1] });
  delta.send({ type_url: ENDPOINT_TYPE_URL, response_nonce: eds.nonce });

  const pushed = server.discovery.pushed();
  fs.writeFileSync(path.join(server.configDir, 'alpha-dr.yaml'), dr('LEAST_REQUEST'));
  await pushed;
  const s1 = await sotw.stream.next(2000);
  const s2 = await sotw.stream.next(2000);
  assert.deepEqual([s1.type_url, s2.type_url], [CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL], 'SotW: CDS, then EDS for the changed cluster');
  assert.deepEqual(s2.resources.map((r) => r.value['cluster_name']), [A1]);
  const d1 = await delta.next(2000);
  const d2 = await delta.next(2000);
  assert.deepEqual([d1.type_url, d2.type_url], [CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL], 'Delta: CDS, then EDS for the changed cluster');
  assert.deepEqual(d2.resources.map((r) => r.name), [A1]);
});

test('PILOT_ENABLE_EDS_DEBOUNCE=false: a Pod + EndpointSlice change is pushed at once; a Service change still waits out the debounce', async (t) => {
  // a 30 s quiet period: anything debounced cannot arrive within the waits below
  const server = await startTestServer({
    files: { ...FILES, 'alpha-a1.yaml': withPod('10.244.1.1') },
    env: { PILOT_ENABLE_EDS_DEBOUNCE: 'false', PILOT_DEBOUNCE_AFTER: '30s', PILOT_DEBOUNCE_MAX: '60s' },
  });
  const p = await connect(server.grpcTarget, 'alpha', 1, A1);
  t.after(async () => { p.stream.close(); await server.close(); });

  fs.writeFileSync(path.join(server.configDir, 'alpha-a1.yaml'), withPod('10.244.1.78'));
  const eds = await p.stream.next(10_000);
  assert.equal(eds.type_url, ENDPOINT_TYPE_URL, 'the endpoint change skipped the 30 s debounce');
  assert.match(JSON.stringify(eds.resources[0]?.value), /10\.244\.1\.78/);
  p.stream.send({ type_url: ENDPOINT_TYPE_URL, resource_names: [A1], version_info: eds.version_info, response_nonce: eds.nonce });

  fs.writeFileSync(path.join(server.configDir, 'alpha-a2.yaml'), service('alpha', 'a2', '10.96.1.2', '10.244.1.2').replace('port: 80,', 'port: 81,'));
  await p.stream.expectNoResponse(3000);
});

test('a proxy follows its own inbound services across builds (its context is recomputed when a service at its IP changes)', async (t) => {
  const server = await startTestServer({ files: FILES });
  const p = await connect(server.grpcTarget, 'alpha', 1, A1); // the proxy's IP is 10.250.0.2
  t.after(async () => { p.stream.close(); await server.close(); });
  /** Next CDS response (ACKing everything on the way): its inbound cluster names. */
  const nextInbound = async (): Promise<string[]> => {
    for (;;) {
      const res = await p.stream.next(10_000);
      p.stream.send({ type_url: res.type_url, resource_names: res.type_url === ENDPOINT_TYPE_URL ? [A1] : res.type_url === ROUTE_TYPE_URL ? ['80'] : [], version_info: res.version_info, response_nonce: res.nonce });
      if (res.type_url === CLUSTER_TYPE_URL) return res.resources.map((r) => String(r.value['name'])).filter((n) => n.startsWith('inbound|')).sort();
    }
  };
  const self = (port: number) => service('alpha', 'self', '10.96.1.9', '10.250.0.2').replace('{name: http, port: 8080}', `{name: http, port: ${port}}`);
  fs.writeFileSync(path.join(server.configDir, 'alpha-self.yaml'), self(8080));
  assert.deepEqual(await nextInbound(), ['inbound|8080||'], 'a service with an endpoint at the proxy IP gives it an inbound cluster');
  // an unrelated build in between: the proxy is not pushed, its context must not go stale
  fs.writeFileSync(path.join(server.configDir, 'beta-b1.yaml'), service('beta', 'b1', '10.96.2.1', '10.244.2.9'));
  await server.discovery.pushed();
  fs.writeFileSync(path.join(server.configDir, 'alpha-self.yaml'), self(9090));
  assert.deepEqual(await nextInbound(), ['inbound|9090||'], 'the new target port replaces the old one');
  fs.rmSync(path.join(server.configDir, 'alpha-self.yaml'));
  assert.deepEqual(await nextInbound(), [], 'the inbound cluster goes with the service');
});

test('a fan-out lets the event loop turn: sockets, ACKs and timers are served while it runs', async (t) => {
  // pushYieldMs 0: the push workers step aside before every dequeue (the default is every 10 ms)
  let turns = 0;
  const at: number[] = [];
  const server = await startTestServer({
    files: FILES,
    start: { pushYieldMs: 0, callbacks: { onResponse: (_s, type, _n, _b, reason) => { if (reason === 'push' && type === ROUTE_TYPE_URL) at.push(turns); } } },
  });
  const proxies: Proxy[] = [];
  let spinning = true;
  t.after(async () => { spinning = false; for (const p of proxies) p.stream.close(); await server.close(); });
  for (let i = 0; i < 60; i++) proxies.push(await connect(server.grpcTarget, 'alpha', i, A1));
  const spin = () => { turns++; if (spinning) setImmediate(spin); };
  spin();
  // one RDS generation for all 60 (they share it), then 60 pushes answered from it
  const pushed = server.discovery.pushed();
  fs.writeFileSync(path.join(server.configDir, 'alpha-vs.yaml'), virtualService('alpha', 'a1', '9s'));
  await pushed;
  assert.equal(at.length, 60, 'every alpha proxy got the new routes');
  assert.ok(at[at.length - 1]! > at[0]!, `the event loop turned between the first and the last response of the push (turns ${at[0]} → ${at[at.length - 1]})`);
});
