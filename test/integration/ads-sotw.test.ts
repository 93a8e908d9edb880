/**
 * State-of-the-world ADS against the real server over gRPC: the first-request checks, Istio's
 * ShouldRespond (initial / ACK / NACK / stale nonce / added names / unsubscribe), wildcard CDS,
 * and config-driven pushes (new version, hash-skip, make-before-break order).
 */
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { AdsClient, DiscoveryRequestInit, DiscoveryResponse, NodeInit, SotwStream, resourceName, testNode } from '../helpers/ads-client';
import { TestServer, startTestServer, writeFiles } from '../helpers/server';
import { waitFor } from '../helpers/wait-for';
import { exampleMeshFiles, watchOf } from '../helpers/mesh-fixtures';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL, XdsTypeUrl } from '../../src/shared/resources';

const MESH_FILES = exampleMeshFiles();

const PRODUCTPAGE = 'outbound|9080||productpage.bookinfo.svc.cluster.local';
const REVIEWS = 'outbound|9080||reviews.bookinfo.svc.cluster.local';
const QUIET_MS = 300;

const RATINGS_YAML = `
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: bookinfo}
spec:
  clusterIP: 10.96.10.30
  selector: {app: ratings}
  ports:
  - {name: http, port: 9080}
  - {name: http-admin, port: 9091}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ratings-1
  namespace: bookinfo
  labels: {kubernetes.io/service-name: ratings}
addressType: IPv4
ports: [{name: http, port: 9080, protocol: TCP}, {name: http-admin, port: 9091, protocol: TCP}]
endpoints:
- addresses: ["10.244.3.30"]
  conditions: {ready: true}
`;

function reviewsSlice(addresses: string[]): string {
  return `
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: reviews-extra
  namespace: bookinfo
  labels: {kubernetes.io/service-name: reviews}
addressType: IPv4
ports: [{name: grpc, port: 9080, protocol: TCP}]
endpoints:
${addresses.map((a) => `- addresses: ["${a}"]\n  conditions: {ready: true}`).join('\n')}
`;
}

let nodeCounter = 0;
/** A fresh node per stream, so server-side state can be found by proxy id. */
function node(opts: { grpc?: boolean } = {}): NodeInit {
  return testNode({ pod: `pod${++nodeCounter}`, namespace: 'bookinfo', grpc: opts.grpc });
}

function names(res: DiscoveryResponse): string[] {
  return res.resources.map(resourceName).sort();
}


function ack(res: DiscoveryResponse, resourceNames: string[] = []): DiscoveryRequestInit {
  return { type_url: res.type_url, version_info: res.version_info, response_nonce: res.nonce, resource_names: resourceNames };
}

/** Open a stream, subscribe, ACK the first response; returns both. */
async function subscribed(srv: TestServer, n: NodeInit, type: XdsTypeUrl, resourceNames: string[] = []): Promise<{ s: SotwStream; res: DiscoveryResponse }> {
  const s = AdsClient.sotw(srv.grpcTarget);
  const res = await s.request({ node: n, type_url: type, resource_names: resourceNames });
  s.send(ack(res, resourceNames));
  return { s, res };
}

describe('ADS SotW: stream setup', () => {
  let srv: TestServer;
  before(async () => { srv = await startTestServer({ files: MESH_FILES }); });
  after(async () => { await srv.close(); });

  test('a first request without node ends the stream with INVALID_ARGUMENT "missing node information"', async () => {
    const s = AdsClient.sotw(srv.grpcTarget);
    s.send({ type_url: CLUSTER_TYPE_URL });
    const status = await s.status;
    s.close();
    assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
    assert.match(status.details, /missing node information/);
    await assert.rejects(s.next(100), /INVALID_ARGUMENT/);
  });

  test('requests queued behind a refused first request do not reopen the stream', async () => {
    const s = AdsClient.sotw(srv.grpcTarget);
    for (let i = 0; i < 3; i++) s.send({ type_url: CLUSTER_TYPE_URL });
    const status = await s.status;
    s.close();
    assert.equal(status.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(srv.discovery.ads.connections.size, 0);
  });

  test('a node ID that is not <type>~<ip>~<pod>.<ns>~<domain> ends the stream with INVALID_ARGUMENT', async () => {
    for (const id of ['not-a-node-id', 'gateway~10.0.0.1~pod.ns~ns.svc.cluster.local', 'sidecar~not-an-ip~pod.ns~ns.svc.cluster.local']) {
      const s = AdsClient.sotw(srv.grpcTarget);
      s.send({ node: { id }, type_url: CLUSTER_TYPE_URL });
      const status = await s.status;
      s.close();
      assert.equal(status.code, grpc.status.INVALID_ARGUMENT, id);
      assert.ok(status.details.length > 0, id);
    }
    assert.equal(srv.discovery.ads.connections.size, 0);
  });

  test('the initial request is answered with version_info, nonce, type_url and resources', async () => {
    const n = node({ grpc: true });
    const s = AdsClient.sotw(srv.grpcTarget);
    const res = await s.request({ node: n, type_url: ENDPOINT_TYPE_URL, resource_names: [PRODUCTPAGE] });
    assert.equal(res.type_url, ENDPOINT_TYPE_URL);
    assert.match(res.version_info, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\/\d+$/);
    assert.ok(res.nonce.startsWith(res.version_info), 'nonce = version + uuid');
    assert.equal(res.resources.length, 1);
    assert.equal(res.resources[0]!.typeUrl, ENDPOINT_TYPE_URL);
    assert.equal(res.resources[0]!.value['cluster_name'], PRODUCTPAGE);
    const w = await waitFor(() => watchOf(srv, n.id, ENDPOINT_TYPE_URL), 2000, 'server watch');
    assert.equal(w.nonceSent, res.nonce);
    s.close();
  });

  test('requests after the first may omit node', async () => {
    const n = node({ grpc: true });
    const s = AdsClient.sotw(srv.grpcTarget);
    await s.request({ node: n, type_url: ENDPOINT_TYPE_URL, resource_names: [PRODUCTPAGE] });
    const cds = await s.request({ type_url: CLUSTER_TYPE_URL, resource_names: [PRODUCTPAGE] });
    assert.deepEqual(names(cds), [PRODUCTPAGE]);
    s.close();
  });
});

describe('ADS SotW: ShouldRespond', () => {
  let srv: TestServer;
  before(async () => { srv = await startTestServer({ files: MESH_FILES }); });
  after(async () => { await srv.close(); });

  test('an ACK (matching nonce, same names) gets no response and records the acked version', async () => {
    const n = node({ grpc: true });
    const { s, res } = await subscribed(srv, n, ENDPOINT_TYPE_URL, [PRODUCTPAGE]);
    await s.expectNoResponse(QUIET_MS);
    const w = watchOf(srv, n.id, ENDPOINT_TYPE_URL)!;
    assert.equal(w.versionAcked, res.version_info);
    assert.equal(w.lastError, '');
    s.close();
  });

  test('a NACK (error_detail) gets no response and is recorded as lastError on the watch', async () => {
    const n = node({ grpc: true });
    const s = AdsClient.sotw(srv.grpcTarget);
    const res = await s.request({ node: n, type_url: ENDPOINT_TYPE_URL, resource_names: [PRODUCTPAGE] });
    s.send({ ...ack(res, [PRODUCTPAGE]), version_info: '', error_detail: { code: 3, message: 'endpoint rejected: bad weight' } });
    await s.expectNoResponse(QUIET_MS);
    const w = watchOf(srv, n.id, ENDPOINT_TYPE_URL)!;
    assert.equal(w.lastError, 'endpoint rejected: bad weight');
    assert.equal(w.versionAcked, '', 'a NACK acks nothing');
    s.close();
  });

  test('a NACK of the very first response on a type without an earlier ACK keeps the watch subscribed', async () => {
    const n = node({ grpc: true });
    const s = AdsClient.sotw(srv.grpcTarget);
    const res = await s.request({ node: n, type_url: ENDPOINT_TYPE_URL, resource_names: [PRODUCTPAGE] });
    s.send({ ...ack(res, [PRODUCTPAGE]), version_info: '', error_detail: { message: 'nope' } });
    await s.expectNoResponse(QUIET_MS);
    // a later ACK-style request with an added name is still answered on the same nonce
    const more = await s.request(ack(res, [PRODUCTPAGE, REVIEWS]));
    assert.deepEqual(names(more), [PRODUCTPAGE, REVIEWS]);
    s.close();
  });

  test('a request with a stale nonce is ignored', async () => {
    const n = node({ grpc: true });
    const s = AdsClient.sotw(srv.grpcTarget);
    const first = await s.request({ node: n, type_url: ENDPOINT_TYPE_URL, resource_names: [PRODUCTPAGE] });
    const second = await s.request(ack(first, [PRODUCTPAGE, REVIEWS]));
    assert.notEqual(second.nonce, first.nonce);
    // names change again, but on the superseded nonce: Istio's "expired nonce", no response
    s.send({ ...ack(first, [REVIEWS]) });
    s.send({ ...ack(first, [PRODUCTPAGE, REVIEWS, 'outbound|9080|v1|reviews.bookinfo.svc.cluster.local']) });
    await s.expectNoResponse(QUIET_MS);
    const w = watchOf(srv, n.id, ENDPOINT_TYPE_URL)!;
    assert.equal(w.nonceSent, second.nonce);
    assert.deepEqual([...w.names].sort(), [PRODUCTPAGE, REVIEWS], 'a stale request does not change the subscription');
    s.close();
  });

  test('adding names to EDS is answered with the full requested set', async () => {
    const n = node({ grpc: true });
    const { s, res } = await subscribed(srv, n, ENDPOINT_TYPE_URL, [PRODUCTPAGE]);
    const more = await s.request(ack(res, [PRODUCTPAGE, REVIEWS]));
    assert.equal(more.type_url, ENDPOINT_TYPE_URL);
    assert.deepEqual(names(more), [PRODUCTPAGE, REVIEWS]);
    s.send(ack(more, [PRODUCTPAGE, REVIEWS]));
    await s.expectNoResponse(QUIET_MS);
    s.close();
  });

  test('removing a name from EDS (without adding any) is not answered, and the watch drops it', async () => {
    const n = node({ grpc: true });
    const { s, res } = await subscribed(srv, n, ENDPOINT_TYPE_URL, [PRODUCTPAGE, REVIEWS]);
    await s.expectNoResponse(100);
    s.send(ack(res, [REVIEWS]));
    await s.expectNoResponse(QUIET_MS);
    assert.deepEqual([...watchOf(srv, n.id, ENDPOINT_TYPE_URL)!.names], [REVIEWS]);
    s.close();
  });

  test('adding names to RDS and to a proxyless (named) LDS is answered', async () => {
    const n = node({ grpc: true });
    const s = AdsClient.sotw(srv.grpcTarget);
    const lds1 = await s.request({ node: n, type_url: LISTENER_TYPE_URL, resource_names: ['productpage.bookinfo.svc.cluster.local:9080'] });
    assert.deepEqual(names(lds1), ['productpage.bookinfo.svc.cluster.local:9080']);
    const lds2 = await s.request(ack(lds1, ['productpage.bookinfo.svc.cluster.local:9080', 'reviews.bookinfo.svc.cluster.local:9080']));
    assert.deepEqual(names(lds2), ['productpage.bookinfo.svc.cluster.local:9080', 'reviews.bookinfo.svc.cluster.local:9080']);
    s.send(ack(lds2, ['productpage.bookinfo.svc.cluster.local:9080', 'reviews.bookinfo.svc.cluster.local:9080']));
    const rds1 = await s.request({ type_url: ROUTE_TYPE_URL, resource_names: [PRODUCTPAGE] });
    assert.deepEqual(names(rds1), [PRODUCTPAGE]);
    const rds2 = await s.request(ack(rds1, [PRODUCTPAGE, REVIEWS]));
    assert.deepEqual(names(rds2), [PRODUCTPAGE, REVIEWS]);
    s.send(ack(rds2, [PRODUCTPAGE, REVIEWS]));
    await s.expectNoResponse(QUIET_MS);
    s.close();
  });

  test('empty resource_names on EDS unsubscribes: the watch is removed', async () => {
    const n = node({ grpc: true });
    const { s, res } = await subscribed(srv, n, ENDPOINT_TYPE_URL, [PRODUCTPAGE]);
    await waitFor(() => watchOf(srv, n.id, ENDPOINT_TYPE_URL)?.versionAcked, 2000, 'ACK recorded');
    s.send(ack(res, []));
    await s.expectNoResponse(QUIET_MS);
    assert.equal(watchOf(srv, n.id, ENDPOINT_TYPE_URL), undefined);
    s.close();
  });

  test('empty resource_names on EDS unsubscribes even when its nonce was made stale by a later response', async () => {
    const n = node({ grpc: true });
    const s = AdsClient.sotw(srv.grpcTarget);
    const first = await s.request({ node: n, type_url: ENDPOINT_TYPE_URL, resource_names: [PRODUCTPAGE] });
    const second = await s.request(ack(first, [PRODUCTPAGE, REVIEWS]));
    assert.notEqual(second.nonce, first.nonce);
    s.send(ack(first, []));
    await s.expectNoResponse(QUIET_MS);
    assert.equal(watchOf(srv, n.id, ENDPOINT_TYPE_URL), undefined);
    // subscribing again afterwards is a new watch: answered
    const again = await s.request(ack(second, [REVIEWS]));
    assert.deepEqual(names(again), [REVIEWS]);
    s.close();
  });

  test('an initial RDS request naming nothing is not answered and creates no watch', async () => {
    const n = node({ grpc: true });
    const s = AdsClient.sotw(srv.grpcTarget);
    s.send({ node: n, type_url: ROUTE_TYPE_URL, resource_names: [] });
    await s.expectNoResponse(QUIET_MS);
    await waitFor(() => [...srv.discovery.ads.connections.values()].some((c) => c.proxy.id === n.id), 2000, 'connection registered');
    assert.equal(watchOf(srv, n.id, ROUTE_TYPE_URL), undefined);
    s.close();
  });

  test('a proxyless client that drops every CDS name gets an empty CDS, not the wildcard set', async () => {
    const n = node({ grpc: true });
    const s = AdsClient.sotw(srv.grpcTarget);
    const first = await s.request({ node: n, type_url: CLUSTER_TYPE_URL, resource_names: [PRODUCTPAGE] });
    assert.deepEqual(names(first), [PRODUCTPAGE]);
    const none = await s.request(ack(first, []));
    assert.deepEqual(none.resources, []);
    assert.equal(watchOf(srv, n.id, CLUSTER_TYPE_URL)!.wildcard, false);
    s.send(ack(none, []));
    await s.expectNoResponse(QUIET_MS);
    s.close();
  });

  test('a request on an unknown type URL is ignored, and the stream stays usable', async () => {
    const n = node({ grpc: true });
    const s = AdsClient.sotw(srv.grpcTarget);
    s.send({ node: n, type_url: 'type.googleapis.com/istio.unknown.v1.Thing' });
    await s.expectNoResponse(QUIET_MS);
    const res = await s.request({ type_url: ENDPOINT_TYPE_URL, resource_names: [PRODUCTPAGE] });
    assert.equal(res.resources.length, 1);
    s.close();
  });

  test('wildcard CDS for a sidecar holds every visible cluster (and a repeated ACK gets nothing)', async () => {
    const n = node();
    const { s, res } = await subscribed(srv, n, CLUSTER_TYPE_URL);
    const got = names(res);
    const expected = [
      PRODUCTPAGE, REVIEWS,
      'outbound|9080|v1|reviews.bookinfo.svc.cluster.local',
      'outbound|9080|v2|reviews.bookinfo.svc.cluster.local',
      'outbound|7070||inventory.shop.internal',
      'outbound|443||api.payments.example.com',
      'PassthroughCluster', 'BlackHoleCluster',
    ];
    for (const name of expected) assert.ok(got.includes(name), `${name} missing from ${got.join(', ')}`);
    assert.equal(new Set(got).size, got.length, 'no duplicate names');
    assert.ok(res.resources.every((r) => r.typeUrl === CLUSTER_TYPE_URL));
    assert.equal(watchOf(srv, n.id, CLUSTER_TYPE_URL)!.wildcard, true);
    // explicit '*' is the same wildcard: ACK with it changes nothing
    s.send(ack(res, ['*']));
    await s.expectNoResponse(QUIET_MS);
    s.close();
  });
});

describe('ADS SotW: pushes on config change', () => {
  let srv: TestServer;
  before(async () => { srv = await startTestServer({ files: MESH_FILES }); });
  after(async () => { await srv.close(); });

  test('a config change pushes a response with a new version to a subscribed stream', async () => {
    const n = node();
    const { s, res } = await subscribed(srv, n, CLUSTER_TYPE_URL);
    await waitFor(() => watchOf(srv, n.id, CLUSTER_TYPE_URL)?.versionAcked, 2000, 'ACK recorded');
    const pushed = srv.discovery.pushed();
    writeFiles(srv.configDir, { 'ratings.yaml': RATINGS_YAML });
    await pushed;
    const push = await s.next();
    assert.equal(push.type_url, CLUSTER_TYPE_URL);
    assert.notEqual(push.version_info, res.version_info);
    assert.notEqual(push.nonce, res.nonce);
    assert.ok(names(push).includes('outbound|9080||ratings.bookinfo.svc.cluster.local'));
    assert.ok(names(push).includes(PRODUCTPAGE), 'SotW CDS carries the complete set');
    s.send(ack(push));
    await s.expectNoResponse(QUIET_MS);
    fs.rmSync(path.join(srv.configDir, 'ratings.yaml'));
    await srv.discovery.pushed();
    const removal = await s.next();
    assert.ok(!names(removal).includes('outbound|9080||ratings.bookinfo.svc.cluster.local'), 'absence means delete');
    s.send(ack(removal));
    s.close();
  });

  test('a change that leaves a proxy\'s resources as they are pushes nothing to it (hash-skip)', async () => {
    const n = node({ grpc: true });
    const { s } = await subscribed(srv, n, ENDPOINT_TYPE_URL, [PRODUCTPAGE]);
    await waitFor(() => watchOf(srv, n.id, ENDPOINT_TYPE_URL)?.versionAcked, 2000, 'ACK recorded');
    const other = await subscribed(srv, node({ grpc: true }), ENDPOINT_TYPE_URL, [REVIEWS]);
    const pushed = srv.discovery.pushed();
    writeFiles(srv.configDir, { 'reviews-extra.yaml': reviewsSlice(['10.244.9.1']) });
    await pushed;
    // the reviews watcher got the change; the productpage watcher did not
    const push = await other.s.next();
    assert.equal(push.resources[0]!.value['cluster_name'], REVIEWS);
    await s.expectNoResponse(QUIET_MS);
    s.close();
    other.s.close();
  });

  test('one change touching every type is pushed CDS, then EDS, then LDS, then RDS', async () => {
    const n = node();
    const ratings = 'outbound|9080||ratings.bookinfo.svc.cluster.local';
    const s = AdsClient.sotw(srv.grpcTarget);
    const cds = await s.request({ node: n, type_url: CLUSTER_TYPE_URL });
    s.send(ack(cds));
    const eds = await s.request({ type_url: ENDPOINT_TYPE_URL, resource_names: [PRODUCTPAGE, ratings] });
    s.send(ack(eds, [PRODUCTPAGE, ratings]));
    const lds = await s.request({ type_url: LISTENER_TYPE_URL });
    s.send(ack(lds));
    const rds = await s.request({ type_url: ROUTE_TYPE_URL, resource_names: ['9080'] });
    s.send(ack(rds, ['9080']));
    await s.expectNoResponse(QUIET_MS);

    const pushed = srv.discovery.pushed();
    writeFiles(srv.configDir, { 'ratings.yaml': RATINGS_YAML });
    await pushed;
    const order: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await s.next();
      order.push(r.type_url);
      if (r.type_url === ENDPOINT_TYPE_URL) assert.ok(r.resources.some((x) => x.value['cluster_name'] === ratings));
      if (r.type_url === LISTENER_TYPE_URL) assert.ok(names(r).includes('0.0.0.0_9091'));
      s.send(ack(r, r.type_url === ENDPOINT_TYPE_URL ? [PRODUCTPAGE, ratings] : r.type_url === ROUTE_TYPE_URL ? ['9080'] : []));
    }
    assert.deepEqual(order, [CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL]);
    await s.expectNoResponse(QUIET_MS);
    s.close();
    fs.rmSync(path.join(srv.configDir, 'ratings.yaml'));
    await srv.discovery.pushed();
  });
});
