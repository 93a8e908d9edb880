import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SnapshotArena } from '../../../../src/shared/snapshot/arena';
import { SnapshotWriter, encodeEndpoints } from '../../../../src/shared/snapshot/snapshot-writer';
import { SnapshotReader } from '../../../../src/shared/snapshot/snapshot-view';
import { SEGMENT_ALIGN } from '../../../../src/shared/snapshot/layout';
import { EndpointModel, SnapshotInput } from '../../../../src/shared/model/service';
import {
  destinationRule, ep, fqdn, publishSnapshot, serviceEntry, sidecarResource, snapshotInput, svc, virtualService,
} from '../../../helpers/fixtures';

// ---- fixtures ------------------------------------------------------------------------------------

const aligned = (n: number): number => Math.ceil(Math.max(n, 1) / SEGMENT_ALIGN) * SEGMENT_ALIGN;

function bookinfo(): SnapshotInput {
  return snapshotInput([
    svc('reviews', 'bookinfo').port('http', 9080).port('grpc-admin', 9090, { targetPort: 19090 }).address('10.96.0.10')
      .label('app', 'reviews').label('tier', 'backend')
      .endpoints(
        ep('10.1.0.1').port('http', 9080).port('grpc-admin', 19090).label('version', 'v1').locality('eu/eu-1a/r1').serviceAccount('spiffe://cluster.local/ns/bookinfo/sa/reviews'),
        ep('10.1.0.2').port('http', 9080).label('version', 'v2').weight(3).network('net-2').tlsMode('disabled').unhealthy(),
      ),
    svc('ratings', 'bookinfo').port('http', 9080).exportTo('.').endpoints(ep('10.1.0.3').port('http', 9080)),
    svc('db', 'shop').port('tcp-postgres', 5432, { protocol: 'TCP' }).address('10.96.0.20', 'fd00::20').exportTo('shop', 'bookinfo'),
    serviceEntry('httpbin.org', 'istio-system').port('http', 80).port('https', 443, { protocol: 'TLS' }).resolution('dns-round-robin').exportTo('*'),
    serviceEntry('api.internal', 'team-a').port('http', 8080).resolution('eds').meshExternal(false).endpoints(ep('192.168.1.5').port('http', 18080)),
    serviceEntry('api.internal', 'team-b').port('http', 8080).resolution('passthrough').endpoints(ep('192.168.2.5')),
  ], [
    virtualService('bookinfo', 'reviews', { hosts: ['reviews'], http: [{ match: [{ headers: { end_user: { exact: 'jason' } } }], route: [{ destination: { host: 'reviews', subset: 'v2' } }] }] }),
    destinationRule('bookinfo', 'reviews', { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }], trafficPolicy: { loadBalancer: { simple: 'LEAST_REQUEST' } } }),
    sidecarResource('bookinfo', 'default', { egress: [{ hosts: ['./*', 'istio-system/*'] }] }),
  ], { outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' }, defaultConfig: { concurrency: 2 }, enableAutoMtls: true });
}

/** Copy of `input` where the endpoint block of the service `host`/`ns` is a new list. */
function withEndpoints(input: SnapshotInput, host: string, ns: string, endpoints: readonly EndpointModel[]): SnapshotInput {
  return {
    ...input,
    services: input.services.map((e) => (e.service.hostname === host && e.service.namespace === ns ? { service: e.service, endpoints } : e)),
  };
}

function segmentCount(input: SnapshotInput): number {
  return input.services.length * 2 + input.configs.length + 1; // service + endpoints each, configs, mesh
}

// ---- round trip --------------------------------------------------------------------------------

describe('snapshot round trip', () => {
  it('reads back every service field: ports, addresses, exportTo, resolution, source, labels', () => {
    const input = bookinfo();
    const { view } = publishSnapshot(input);
    assert.deepEqual(view.services(), input.services.map((e) => e.service));
  });

  it('reads back every endpoint field, per service and namespace', () => {
    const input = bookinfo();
    const { view } = publishSnapshot(input);
    for (const e of input.services) assert.deepEqual(view.endpoints(e.service.hostname, e.service.namespace), e.endpoints, e.service.hostname);
    const reviews = view.endpoints(fqdn('reviews', 'bookinfo'), 'bookinfo');
    assert.equal(reviews[1]!.healthy, false, 'a false default-true flag survives');
    assert.equal(reviews[1]!.weight, 3);
  });

  it('keeps services that share a hostname in different namespaces apart', () => {
    const { view } = publishSnapshot(bookinfo());
    assert.deepEqual(view.servicesByHost('api.internal').map((s) => [s.namespace, s.resolution]), [['team-a', 'eds'], ['team-b', 'passthrough']]);
    assert.deepEqual(view.endpoints('api.internal', 'team-a').map((e) => e.address), ['192.168.1.5']);
    assert.deepEqual(view.endpoints('api.internal', 'team-b').map((e) => e.address), ['192.168.2.5']);
    assert.deepEqual(view.endpoints('api.internal', 'team-c'), []);
    assert.deepEqual(view.servicesByHost('nope.example'), []);
  });

  it('reads back configs with their spec JSON, by kind, and the mesh config', () => {
    const input = bookinfo();
    const { view } = publishSnapshot(input);
    for (const kind of ['VirtualService', 'DestinationRule', 'Sidecar']) {
      assert.deepEqual(view.configs(kind), input.configs.filter((c) => c.kind === kind), kind);
    }
    assert.deepEqual(view.configs('Gateway'), []);
    assert.deepEqual(view.mesh(), input.mesh);
  });

  it('returns immutable decoded services and endpoints', () => {
    const { view } = publishSnapshot(bookinfo());
    assert.ok(Object.isFrozen(view.services()[0]));
    assert.ok(Object.isFrozen(view.endpoints(fqdn('reviews', 'bookinfo'), 'bookinfo')[0]));
  });

  it('numbers versions from 1 and publishes the latest root in the arena header', () => {
    const arena = SnapshotArena.allocate(64 * 1024, 1024 * 1024);
    const writer = new SnapshotWriter(arena);
    const input = bookinfo();
    assert.equal(writer.publish(input).version, 1);
    const v2 = writer.publish(input);
    assert.equal(v2.version, 2);
    assert.equal(writer.latestVersion, 2);
    assert.equal(arena.publishedVersion(), 2);
    assert.equal(new SnapshotReader(arena).open(v2.root).version, 2);
  });
});

// ---- segment reuse -----------------------------------------------------------------------------

describe('snapshot segment reuse', () => {
  it('encodes every segment of the first version', () => {
    const input = bookinfo();
    const { published } = publishSnapshot(input);
    assert.deepEqual([published.encodedSegments, published.reusedSegments], [segmentCount(input), 0]);
  });

  it('encodes nothing new when the same service, endpoint, config and mesh objects are published again', () => {
    const input = bookinfo();
    const { writer } = publishSnapshot(input);
    const again = writer.publish({ services: [...input.services], configs: [...input.configs], mesh: input.mesh });
    assert.deepEqual([again.encodedSegments, again.reusedSegments], [0, segmentCount(input)]);
  });

  it('re-encodes only the endpoint block that changed', () => {
    const input = bookinfo();
    const { writer, arena, reader } = publishSnapshot(input);
    const next = withEndpoints(input, fqdn('ratings', 'bookinfo'), 'bookinfo', [ep('10.1.0.9').port('http', 9080).build()]);
    const pub = writer.publish(next);
    assert.deepEqual([pub.encodedSegments, pub.reusedSegments], [1, segmentCount(input) - 1]);
    const view = reader.open(pub.root);
    assert.deepEqual(view.endpoints(fqdn('ratings', 'bookinfo'), 'bookinfo').map((e) => e.address), ['10.1.0.9']);
    assert.deepEqual(view.services(), input.services.map((e) => e.service));
    assert.ok(arena.stats().liveBytes > 0);
  });

  it('re-encodes an equal but newly built object (reuse is by reference)', () => {
    const input = bookinfo();
    const { writer } = publishSnapshot(input);
    const rebuilt = bookinfo(); // same values, new objects
    const pub = writer.publish({ ...rebuilt, mesh: input.mesh });
    assert.equal(pub.encodedSegments, segmentCount(input) - 1);
  });

  it('encodes an object shared by two entries once', () => {
    const shared = Object.freeze([ep('10.9.9.9').port('http', 80).build()]);
    const a = svc('a', 'ns').port('http', 80).build();
    const b = svc('b', 'ns').port('http', 80).build();
    const { published, view } = publishSnapshot({ services: [{ service: a, endpoints: shared }, { service: b, endpoints: shared }], configs: [], mesh: {} });
    assert.deepEqual([published.encodedSegments, published.reusedSegments], [4, 1]);
    assert.equal(view.endpoints(a.hostname, 'ns'), view.endpoints(b.hostname, 'ns'));
  });
});

// ---- lifetime ----------------------------------------------------------------------------------

describe('snapshot version lifetime', () => {
  it('releases an unpinned old version: live bytes stay flat when the same input is republished', () => {
    const input = bookinfo();
    const { writer, arena } = publishSnapshot(input);
    const level = arena.stats().liveBytes;
    const used = arena.stats().usedBytes;
    for (let i = 0; i < 20; i++) writer.publish(input);
    assert.deepEqual(writer.liveVersions(), [21]);
    assert.equal(arena.stats().liveBytes, level);
    assert.ok(arena.stats().usedBytes <= used + 256, `arena crept from ${used} to ${arena.stats().usedBytes}`);
  });

  it('frees exactly the replaced endpoint block when a version dies', () => {
    const input = bookinfo();
    const { writer, arena } = publishSnapshot(input);
    const level = arena.stats().liveBytes;
    const host = fqdn('reviews', 'bookinfo');
    const oldBlock = input.services.find((e) => e.service.hostname === host)!.endpoints;
    const newBlock = [ep('10.1.0.7').port('http', 9080).label('version', 'v3').build()];
    writer.publish(withEndpoints(input, host, 'bookinfo', newBlock));
    // the root is rewritten per version with the same shape, so only the endpoint block differs
    assert.equal(arena.stats().liveBytes, level - aligned(encodeEndpoints(oldBlock).length) + aligned(encodeEndpoints(newBlock).length));
  });

  it('keeps a pinned version readable while later versions reuse the freed memory, and frees it on unpin', () => {
    const input = bookinfo();
    const { writer, arena } = publishSnapshot(input);
    const host = fqdn('reviews', 'bookinfo');
    const v1Root = writer.pin(1)!;
    assert.ok(v1Root);
    let current = input;
    for (let i = 0; i < 5; i++) {
      current = withEndpoints(current, host, 'bookinfo', [ep(`10.2.0.${i}`).port('http', 9080).build()]);
      writer.publish(current);
    }
    assert.deepEqual(writer.liveVersions().sort((a, b) => a - b), [1, 6]);
    const v1 = new SnapshotReader(arena).open(v1Root); // a fresh reader: nothing cached
    assert.equal(v1.version, 1);
    assert.deepEqual(v1.endpoints(host, 'bookinfo'), input.services.find((e) => e.service.hostname === host)!.endpoints);
    assert.deepEqual(v1.configs('VirtualService'), input.configs.filter((c) => c.kind === 'VirtualService'));
    const pinnedLevel = arena.stats().liveBytes;
    writer.unpin(1);
    assert.deepEqual(writer.liveVersions(), [6]);
    assert.ok(arena.stats().liveBytes < pinnedLevel);
    assert.equal(writer.pin(1), undefined, 'a released version cannot be pinned again');
  });

  it('keeps a version alive until its last pin is dropped', () => {
    const input = bookinfo();
    const { writer } = publishSnapshot(input);
    writer.pin(1);
    writer.pin(1);
    writer.publish(withEndpoints(input, fqdn('ratings', 'bookinfo'), 'bookinfo', []));
    writer.unpin(1);
    assert.deepEqual(writer.liveVersions().sort(), [1, 2]);
    writer.unpin(1);
    assert.deepEqual(writer.liveVersions(), [2]);
  });

  it('never releases the latest version, pinned or not', () => {
    const { writer, arena } = publishSnapshot(bookinfo());
    const level = arena.stats().liveBytes;
    writer.pin(1);
    writer.unpin(1);
    assert.deepEqual(writer.liveVersions(), [1]);
    assert.equal(arena.stats().liveBytes, level);
  });
});

// ---- reader cache ------------------------------------------------------------------------------

describe('SnapshotReader decode cache', () => {
  function readAll(view: ReturnType<SnapshotReader['open']>): void {
    for (const s of view.services()) view.endpoints(s.hostname, s.namespace);
    for (const kind of ['VirtualService', 'DestinationRule', 'Sidecar']) view.configs(kind);
    view.mesh();
  }

  it('decodes a segment reused across versions once and returns the same object', () => {
    const input = bookinfo();
    const { writer, reader, view: v1 } = publishSnapshot(input);
    readAll(v1);
    assert.equal(reader.cachedSegments(), segmentCount(input));
    const host = fqdn('ratings', 'bookinfo');
    const pub2 = writer.publish(withEndpoints(input, host, 'bookinfo', [ep('10.1.0.8').port('http', 9080).build()]));
    const v2 = reader.open(pub2.root);
    readAll(v2);
    assert.equal(reader.cachedSegments(), segmentCount(input) + 1, 'only the new endpoint block was decoded');
    v2.services().forEach((s, i) => assert.equal(s, v1.services()[i], `service ${s.hostname} is the cached object`));
    assert.equal(v2.endpoints(fqdn('reviews', 'bookinfo'), 'bookinfo'), v1.endpoints(fqdn('reviews', 'bookinfo'), 'bookinfo'));
    assert.equal(v2.configs('VirtualService')[0], v1.configs('VirtualService')[0]);
    assert.equal(v2.mesh(), v1.mesh());
    assert.notEqual(v2.endpoints(host, 'bookinfo'), v1.endpoints(host, 'bookinfo'));
    assert.deepEqual(v2.endpoints(host, 'bookinfo').map((e) => e.address), ['10.1.0.8']);
  });

  it('drops decodes that neither the opened nor the previously opened version uses', () => {
    const input = bookinfo();
    const { writer, reader, view: v1 } = publishSnapshot(input);
    readAll(v1);
    const host = fqdn('ratings', 'bookinfo');
    const v2input = withEndpoints(input, host, 'bookinfo', [ep('10.1.0.8').port('http', 9080).build()]);
    readAll(reader.open(writer.publish(v2input).root));
    readAll(reader.open(writer.publish(v2input).root)); // v3 = v2: v1's old ratings block is unused twice over
    assert.equal(reader.cachedSegments(), segmentCount(input));
  });
});
