/**
 * Incremental ADS (DeltaAggregatedResources) against the real server over gRPC: wildcard and
 * named subscriptions, per-resource versions, removed_resources for missing and deleted
 * resources, ACK/NACK, reconnect with initial_resource_versions, and the spec rule that
 * subscription changes are honoured even on a stale nonce.
 */
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AdsClient, DeltaDiscoveryRequestInit, DeltaDiscoveryResponse, NodeInit, testNode } from '../helpers/ads-client';
import { TestServer, startTestServer, writeFiles } from '../helpers/server';
import { waitFor } from '../helpers/wait-for';
import { exampleMeshFiles, watchOf } from '../helpers/mesh-fixtures';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, XdsTypeUrl } from '../../src/shared/resources';

const MESH_FILES = exampleMeshFiles();

const PRODUCTPAGE = 'outbound|9080||productpage.bookinfo.svc.cluster.local';
const REVIEWS = 'outbound|9080||reviews.bookinfo.svc.cluster.local';
const RATINGS = 'outbound|9080||ratings.bookinfo.svc.cluster.local';
const QUIET_MS = 300;

const RATINGS_YAML = `
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: bookinfo}
spec:
  clusterIP: 10.96.10.30
  selector: {app: ratings}
  ports: [{name: http, port: 9080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ratings-1
  namespace: bookinfo
  labels: {kubernetes.io/service-name: ratings}
addressType: IPv4
ports: [{name: http, port: 9080, protocol: TCP}]
endpoints:
- addresses: ["10.244.3.30"]
  conditions: {ready: true}
`;

function productpageSlice(addresses: string[]): string {
  return `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: productpage-7xk2d
  namespace: bookinfo
  labels: {kubernetes.io/service-name: productpage}
addressType: IPv4
ports: [{name: http, port: 9080, protocol: TCP}]
endpoints:
${addresses.map((a) => `- addresses: ["${a}"]\n  conditions: {ready: true}`).join('\n')}
`;
}

let nodeCounter = 0;
function node(opts: { grpc?: boolean } = {}): NodeInit {
  return testNode({ pod: `delta${++nodeCounter}`, namespace: 'bookinfo', grpc: opts.grpc });
}

function names(res: DeltaDiscoveryResponse): string[] {
  return res.resources.map((r) => r.name).sort();
}

function versions(res: DeltaDiscoveryResponse): Record<string, string> {
  return Object.fromEntries(res.resources.map((r) => [r.name, r.version]));
}


function ack(res: DeltaDiscoveryResponse): DeltaDiscoveryRequestInit {
  return { type_url: res.type_url, response_nonce: res.nonce };
}

async function acked(srv: TestServer, n: NodeInit, type: XdsTypeUrl, res: DeltaDiscoveryResponse): Promise<void> {
  await waitFor(() => watchOf(srv, n.id, type)?.nonceAcked === res.nonce, 2000, `ACK of ${res.nonce}`);
}

describe('ADS Delta: subscriptions', () => {
  let srv: TestServer;
  before(async () => { srv = await startTestServer({ files: MESH_FILES }); });
  after(async () => { await srv.close(); });

  for (const [label, subscribe] of [['legacy empty list', [] as string[]], ["explicit '*'", ['*']]] as const) {
    test(`wildcard CDS (${label}) returns every visible cluster, each with name and version = hash`, async () => {
      const n = node();
      const s = AdsClient.delta(srv.grpcTarget);
      const res = await s.request({ node: n, type_url: CLUSTER_TYPE_URL, resource_names_subscribe: [...subscribe] });
      assert.equal(res.type_url, CLUSTER_TYPE_URL);
      assert.match(res.system_version_info, /\/\d+$/);
      assert.ok(res.nonce.length > 0);
      assert.deepEqual(res.removed_resources, []);
      for (const name of [PRODUCTPAGE, REVIEWS, 'outbound|9080|v1|reviews.bookinfo.svc.cluster.local', 'outbound|7070||inventory.shop.internal', 'PassthroughCluster']) {
        assert.ok(names(res).includes(name), `${name} missing`);
      }
      for (const r of res.resources) {
        assert.equal(r.resource?.typeUrl, CLUSTER_TYPE_URL);
        assert.equal(r.resource?.value['name'], r.name, 'Resource.name is the resource\'s own name');
        assert.ok(r.version.length > 0, `${r.name} has a version`);
      }
      assert.equal(new Set(res.resources.map((r) => r.version)).size, res.resources.length, 'versions are content hashes, distinct per resource');
      const w = await waitFor(() => watchOf(srv, n.id, CLUSTER_TYPE_URL), 2000, 'server watch');
      assert.equal(w.wildcard, true);
      assert.equal(w.sent.get(PRODUCTPAGE), versions(res)[PRODUCTPAGE]);
      s.send(ack(res));
      await s.expectNoResponse(QUIET_MS);
      s.close();
    });
  }

  test('EDS names are subscribed and unsubscribed incrementally', async () => {
    const n = node({ grpc: true });
    const s = AdsClient.delta(srv.grpcTarget);
    const first = await s.request({ node: n, type_url: ENDPOINT_TYPE_URL, resource_names_subscribe: [PRODUCTPAGE] });
    assert.deepEqual(names(first), [PRODUCTPAGE]);
    assert.equal(first.resources[0]!.resource?.value['cluster_name'], PRODUCTPAGE);
    s.send(ack(first));
    const second = await s.request({ type_url: ENDPOINT_TYPE_URL, response_nonce: first.nonce, resource_names_subscribe: [REVIEWS] });
    assert.deepEqual(names(second), [REVIEWS], 'only the newly subscribed resource is sent');
    s.send(ack(second));
    await acked(srv, n, ENDPOINT_TYPE_URL, second);
    s.send({ type_url: ENDPOINT_TYPE_URL, response_nonce: second.nonce, resource_names_unsubscribe: [PRODUCTPAGE] });
    await s.expectNoResponse(QUIET_MS);
    const w = watchOf(srv, n.id, ENDPOINT_TYPE_URL)!;
    assert.deepEqual([...w.names], [REVIEWS]);
    assert.equal(w.sent.has(PRODUCTPAGE), false, 'the client dropped it');
    // re-subscribing to a resource the client dropped sends it again
    const again = await s.request({ type_url: ENDPOINT_TYPE_URL, response_nonce: second.nonce, resource_names_subscribe: [PRODUCTPAGE] });
    assert.deepEqual(names(again), [PRODUCTPAGE]);
    s.close();
  });

  test('subscribing to a name that does not exist answers it in removed_resources', async () => {
    const n = node({ grpc: true });
    const s = AdsClient.delta(srv.grpcTarget);
    const missing = 'outbound|9080||nope.bookinfo.svc.cluster.local';
    const res = await s.request({ node: n, type_url: ENDPOINT_TYPE_URL, resource_names_subscribe: [PRODUCTPAGE, missing] });
    assert.deepEqual(names(res), [PRODUCTPAGE]);
    assert.deepEqual(res.removed_resources, [missing]);
    s.send(ack(res));
    await s.expectNoResponse(QUIET_MS);
    s.close();
  });

  test('a wildcard CDS stream subscribing to a name that does not exist gets it in removed_resources', async () => {
    const n = node();
    const s = AdsClient.delta(srv.grpcTarget);
    const first = await s.request({ node: n, type_url: CLUSTER_TYPE_URL, resource_names_subscribe: ['*'] });
    const missing = 'outbound|1234||nope.bookinfo.svc.cluster.local';
    const res = await s.request({ type_url: CLUSTER_TYPE_URL, response_nonce: first.nonce, resource_names_subscribe: [missing] });
    assert.deepEqual(res.resources, []);
    assert.deepEqual(res.removed_resources, [missing]);
    // an explicit subscription to a resource the wildcard already delivered is answered with it
    const known = await s.request({ type_url: CLUSTER_TYPE_URL, response_nonce: res.nonce, resource_names_subscribe: [PRODUCTPAGE] });
    assert.deepEqual(names(known), [PRODUCTPAGE]);
    assert.deepEqual(known.removed_resources, []);
    s.close();
  });

  test('ACK records the version; NACK records lastError; neither is answered', async () => {
    const n = node({ grpc: true });
    const s = AdsClient.delta(srv.grpcTarget);
    const res = await s.request({ node: n, type_url: ENDPOINT_TYPE_URL, resource_names_subscribe: [PRODUCTPAGE] });
    s.send(ack(res));
    await s.expectNoResponse(QUIET_MS);
    let w = watchOf(srv, n.id, ENDPOINT_TYPE_URL)!;
    assert.equal(w.nonceAcked, res.nonce);
    assert.equal(w.versionAcked, res.system_version_info);
    assert.equal(w.lastError, '');

    const more = await s.request({ type_url: ENDPOINT_TYPE_URL, response_nonce: res.nonce, resource_names_subscribe: [REVIEWS] });
    s.send({ ...ack(more), error_detail: { code: 3, message: 'rejected reviews endpoints' } });
    await s.expectNoResponse(QUIET_MS);
    w = watchOf(srv, n.id, ENDPOINT_TYPE_URL)!;
    assert.equal(w.lastError, 'rejected reviews endpoints');
    assert.equal(w.versionAcked, res.system_version_info, 'a NACK does not advance the acked version');
    s.close();
  });

  test('a stale nonce that carries a new subscription is still answered', async () => {
    const n = node({ grpc: true });
    const s = AdsClient.delta(srv.grpcTarget);
    const first = await s.request({ node: n, type_url: ENDPOINT_TYPE_URL, resource_names_subscribe: [PRODUCTPAGE] });
    const second = await s.request({ type_url: ENDPOINT_TYPE_URL, response_nonce: first.nonce, resource_names_subscribe: [REVIEWS] });
    // the client has not seen `second` yet: it still names the first nonce
    const third = await s.request({ type_url: ENDPOINT_TYPE_URL, response_nonce: first.nonce, resource_names_subscribe: ['outbound|9080|v1|reviews.bookinfo.svc.cluster.local'] });
    assert.deepEqual(names(third), ['outbound|9080|v1|reviews.bookinfo.svc.cluster.local']);
    assert.notEqual(third.nonce, second.nonce);
    // a stale nonce without a subscription change is only an expired ACK: nothing
    const ackedBefore = watchOf(srv, n.id, ENDPOINT_TYPE_URL)!.nonceAcked;
    s.send(ack(second));
    await s.expectNoResponse(QUIET_MS);
    const w = watchOf(srv, n.id, ENDPOINT_TYPE_URL)!;
    assert.equal(w.nonceAcked, ackedBefore, 'a stale nonce acks nothing');
    assert.deepEqual([...w.names].sort(), ['outbound|9080|v1|reviews.bookinfo.svc.cluster.local', PRODUCTPAGE, REVIEWS].sort());
    s.close();
  });
});

describe('ADS Delta: pushes and reconnects', () => {
  let srv: TestServer;
  before(async () => { srv = await startTestServer({ files: MESH_FILES }); });
  after(async () => { await srv.close(); });

  test('a service added then removed from config is pushed, then named in removed_resources', async () => {
    const n = node();
    const s = AdsClient.delta(srv.grpcTarget);
    const first = await s.request({ node: n, type_url: CLUSTER_TYPE_URL });
    s.send(ack(first));
    await acked(srv, n, CLUSTER_TYPE_URL, first);

    let pushed = srv.discovery.pushed();
    writeFiles(srv.configDir, { 'ratings.yaml': RATINGS_YAML });
    await pushed;
    const add = await s.next();
    assert.deepEqual(names(add), [RATINGS], 'only the new cluster is sent');
    assert.deepEqual(add.removed_resources, []);
    s.send(ack(add));
    await acked(srv, n, CLUSTER_TYPE_URL, add);

    pushed = srv.discovery.pushed();
    fs.rmSync(path.join(srv.configDir, 'ratings.yaml'));
    await pushed;
    const del = await s.next();
    assert.deepEqual(del.resources, []);
    assert.deepEqual(del.removed_resources, [RATINGS]);
    s.send(ack(del));
    await s.expectNoResponse(QUIET_MS);
    s.close();
  });

  test('an unrelated change pushes nothing to a delta stream', async () => {
    const n = node({ grpc: true });
    const s = AdsClient.delta(srv.grpcTarget);
    const first = await s.request({ node: n, type_url: ENDPOINT_TYPE_URL, resource_names_subscribe: [REVIEWS] });
    s.send(ack(first));
    await acked(srv, n, ENDPOINT_TYPE_URL, first);
    const pushed = srv.discovery.pushed();
    writeFiles(srv.configDir, { 'ratings.yaml': RATINGS_YAML });
    await pushed;
    await s.expectNoResponse(QUIET_MS);
    s.close();
    const cleaned = srv.discovery.pushed();
    fs.rmSync(path.join(srv.configDir, 'ratings.yaml'));
    await cleaned;
  });

  test('reconnecting with initial_resource_versions = what was received gets an empty first response (wildcard CDS)', async () => {
    const n = node();
    const s1 = AdsClient.delta(srv.grpcTarget);
    const first = await s1.request({ node: n, type_url: CLUSTER_TYPE_URL, resource_names_subscribe: ['*'] });
    s1.send(ack(first));
    await acked(srv, n, CLUSTER_TYPE_URL, first);
    s1.close();
    await waitFor(() => watchOf(srv, n.id, CLUSTER_TYPE_URL) === undefined, 2000, 'old stream closed');

    const s2 = AdsClient.delta(srv.grpcTarget);
    const res = await s2.request({ node: n, type_url: CLUSTER_TYPE_URL, resource_names_subscribe: ['*'], initial_resource_versions: versions(first) });
    assert.deepEqual(res.resources, [], 'nothing changed since');
    assert.deepEqual(res.removed_resources, []);
    s2.send(ack(res));
    await s2.expectNoResponse(QUIET_MS);
    s2.close();
  });

  test('reconnecting with initial_resource_versions = what was received gets an empty first response (named EDS)', async () => {
    const n = node({ grpc: true });
    const s1 = AdsClient.delta(srv.grpcTarget);
    const first = await s1.request({ node: n, type_url: ENDPOINT_TYPE_URL, resource_names_subscribe: [PRODUCTPAGE, REVIEWS] });
    assert.deepEqual(names(first), [PRODUCTPAGE, REVIEWS]);
    s1.send(ack(first));
    await acked(srv, n, ENDPOINT_TYPE_URL, first);
    s1.close();
    await waitFor(() => watchOf(srv, n.id, ENDPOINT_TYPE_URL) === undefined, 2000, 'old stream closed');

    const s2 = AdsClient.delta(srv.grpcTarget);
    const res = await s2.request({ node: n, type_url: ENDPOINT_TYPE_URL, resource_names_subscribe: [PRODUCTPAGE, REVIEWS], initial_resource_versions: versions(first) });
    assert.deepEqual(res.resources, [], 'the client already holds both at these versions');
    assert.deepEqual(res.removed_resources, []);
    s2.close();
  });

  test('a config edit made while disconnected is the only thing sent on reconnect', async () => {
    const n = node();
    const s1 = AdsClient.delta(srv.grpcTarget);
    const cds = await s1.request({ node: n, type_url: CLUSTER_TYPE_URL });
    s1.send(ack(cds));
    const eds = await s1.request({ type_url: ENDPOINT_TYPE_URL, resource_names_subscribe: [PRODUCTPAGE, REVIEWS] });
    s1.send(ack(eds));
    await acked(srv, n, ENDPOINT_TYPE_URL, eds);
    s1.close();
    await waitFor(() => watchOf(srv, n.id, CLUSTER_TYPE_URL) === undefined, 2000, 'old stream closed');

    // while disconnected: productpage gets a second endpoint (EDS change), ratings appears (CDS
    // change). Two files may land in two pushes, so a monitor stream tells when both are served.
    const monitor = AdsClient.delta(srv.grpcTarget);
    const mNode = node();
    monitor.send({ node: mNode, type_url: CLUSTER_TYPE_URL });
    monitor.send({ type_url: ENDPOINT_TYPE_URL, resource_names_subscribe: [PRODUCTPAGE] });
    await monitor.next();
    await monitor.next();
    writeFiles(srv.configDir, { 'productpage.yaml': MESH_FILES['productpage.yaml']!.replace(/apiVersion: discovery[\s\S]*$/, productpageSlice(['10.244.1.10', '10.244.1.99']).trimStart()), 'ratings.yaml': RATINGS_YAML });
    let sawRatings = false;
    let sawEndpoint = false;
    while (!sawRatings || !sawEndpoint) {
      const r = await monitor.next();
      sawRatings ||= r.resources.some((x) => x.name === RATINGS);
      sawEndpoint ||= r.resources.some((x) => x.name === PRODUCTPAGE && JSON.stringify(x.resource?.value).includes('10.244.1.99'));
    }
    monitor.close();

    const s2 = AdsClient.delta(srv.grpcTarget);
    const cds2 = await s2.request({ node: n, type_url: CLUSTER_TYPE_URL, initial_resource_versions: versions(cds) });
    assert.deepEqual(names(cds2), [RATINGS], 'only the cluster added while away');
    assert.deepEqual(cds2.removed_resources, []);
    s2.send(ack(cds2));
    const eds2 = await s2.request({ type_url: ENDPOINT_TYPE_URL, resource_names_subscribe: [PRODUCTPAGE, REVIEWS], initial_resource_versions: versions(eds) });
    assert.deepEqual(names(eds2), [PRODUCTPAGE], 'only the changed assignment');
    assert.notEqual(versions(eds2)[PRODUCTPAGE], versions(eds)[PRODUCTPAGE]);
    s2.send(ack(eds2));
    await s2.expectNoResponse(QUIET_MS);
    s2.close();
  });

  test('a reconnecting client naming a resource deleted while it was away gets it in removed_resources', async () => {
    const n = node();
    const s2 = AdsClient.delta(srv.grpcTarget);
    const res = await s2.request({ node: n, type_url: CLUSTER_TYPE_URL, resource_names_subscribe: ['*'], initial_resource_versions: { 'outbound|9080||gone.bookinfo.svc.cluster.local': 'stale-hash' } });
    assert.ok(res.removed_resources.includes('outbound|9080||gone.bookinfo.svc.cluster.local'));
    assert.ok(names(res).includes(PRODUCTPAGE), 'everything the client did not declare is sent');
    s2.close();
  });
});
