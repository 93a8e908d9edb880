/**
 * The global change (one istio-system ServiceEntry every proxy reads, renamed per edit) and the
 * fan-out floor pieces, without a server: scenario fields, the churn plan, the rendered object,
 * byte counting of the responses that carry a global marker, the floor's payload choice, and the
 * floor server against real gRPC clients (SotW and Delta) on loopback.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { validateScenario } from '../../../load-test/scenario/schema';
import { planChurn } from '../../../load-test/scenario/churn';
import { MarkerAllocator } from '../../../load-test/scenario/markers';
import { buildMesh } from '../../../load-test/scenario/mesh-model';
import { globalObjects, globalPath } from '../../../load-test/scenario/render';
import { MarkerByteCounter } from '../../../load-test/sim/marker-bytes';
import { floorPayload } from '../../../load-test/floor/floor-phase';
import { ADS_PATH, FLOOR_TYPE_URL, FloorServer } from '../../../load-test/floor/floor-server';
import { encodeDeltaRequest, encodeSotwRequest, parseResponse } from '../../../load-test/sim/xds-codec';
import { WorkerFinal } from '../../../load-test/protocol';

const BASE = { namespaces: 2, servicesPerNamespace: 2, endpointsPerService: 2, proxies: 4, durationSeconds: 30 };

test('scenario: globalEditsPerMinute and floor.rounds default to 0 and are validated', () => {
  const ok = validateScenario(BASE);
  assert.ok(ok.ok);
  assert.equal(ok.value.churn.globalEditsPerMinute, 0);
  assert.deepEqual(ok.value.floor, { rounds: 0 });
  const bad = validateScenario({ ...BASE, churn: { globalEditsPerMinute: 'often' }, floor: { rounds: -1 } });
  assert.deepEqual(bad.ok ? [] : [...bad.errors].sort(), [
    'churn.globalEditsPerMinute: expected a number >= 0 and <= 600, got "often"',
    'floor.rounds: expected an integer >= 0 and <= 20, got -1',
  ]);
  const notMapping = validateScenario({ ...BASE, floor: 3 });
  assert.deepEqual(notMapping.ok ? [] : notMapping.errors, ['floor: expected a mapping, got 3']);
});

test('global churn: planned at its rate; the mesh gets the ServiceEntry only when it is on', () => {
  const s = validateScenario({ ...BASE, churn: { globalEditsPerMinute: 6 } });
  assert.ok(s.ok);
  assert.deepEqual(planChurn(s.value).map((e) => [e.kind, e.atMs]), [['global', 5000], ['global', 15000], ['global', 25000]]);
  const mesh = buildMesh(s.value);
  assert.ok(mesh.global);
  const [se] = globalObjects(mesh.global);
  assert.equal(se!.kind, 'ServiceEntry');
  assert.deepEqual(se!.metadata, { name: 'load-test-global', namespace: 'istio-system' });
  assert.deepEqual((se!['spec'] as { exportTo: string[] }).exportTo, ['*'], 'exported to every namespace');
  assert.equal(globalPath(), 'istio-system/global.yaml');
  const off = validateScenario(BASE);
  assert.ok(off.ok);
  assert.equal(buildMesh(off.value).global, undefined);
});

test('global markers: their own fixed-width family, never a prefix of another', () => {
  const m = new MarkerAllocator();
  const a = m.globalToken(), b = m.globalToken(), t = m.token();
  assert.match(a, /^ltg0000000z$/);
  assert.match(b, /^ltg0000001z$/);
  assert.notEqual(a.slice(0, 3), t.slice(0, 3));
});

test('marker bytes: a response counts when it carries a newer counted marker for its proxy and type', () => {
  const c = new MarkerByteCounter(2);
  const watch = (marker: string, seq: number, bytes = true) => c.watch({ changeId: seq, marker, chain: 'g', seq, namespaces: null, bytes });
  watch('ltg0000000z', 3);
  watch('ltm0000000z', 4, false); // not counted: no effect
  const resp = (body: string) => Buffer.from(`....${body}....`, 'latin1');
  c.onAccepted(0, 0, resp('cluster ltg0000000z'));          // CDS carries it: counted, a push
  c.onAccepted(0, 1, resp('cla ltg0000000z'));              // EDS of the same push: counted, same push
  c.onAccepted(0, 0, resp('cds again ltg0000000z'));        // a later CDS that still lists it: not counted
  c.onAccepted(1, 0, resp('nothing here'));                 // no marker
  c.onAccepted(1, 0, resp('ltm0000000z'));                  // not a counted marker
  assert.deepEqual(c.totals, { responses: 2, bytes: resp('cluster ltg0000000z').length + resp('cla ltg0000000z').length, pushes: 1 });
  watch('ltg0000001z', 7);
  c.onAccepted(0, 0, resp('ltg0000000z ltg0000001z'));     // old and new in one response: counted once
  c.onAccepted(1, 0, resp('ltg0000001z'));                  // proxy 1 skipped the first push (merged): one push
  assert.equal(c.totals.responses, 4);
  assert.equal(c.totals.pushes, 3);
});

test('floor payload: bytes per proxy and global push, else the mean CDS response', () => {
  const final = (bytes: number, pushes: number, cds: [number, number]): WorkerFinal => ({
    markerBytes: { responses: pushes, bytes, pushes },
    stats: { byType: { cds: { bytes: cds[0], responses: cds[1] } } },
  }) as unknown as WorkerFinal;
  assert.deepEqual(floorPayload([final(3000, 2, [100, 1]), final(1000, 2, [100, 1])]), { bytes: 1000, source: 'global' });
  assert.deepEqual(floorPayload([final(0, 0, [9000, 3])]), { bytes: 3000, source: 'cds-mean' });
});

test('floor server: writes the payload to every stream (SotW and Delta) and times their ACKs', { timeout: 20_000 }, async () => {
  const server = await FloorServer.start({ streams: 4, bytesPerStream: 5000 });
  const client = new grpc.Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
  const sizes: number[] = [];
  const identity = (b: Buffer) => b;
  const calls = [false, true, false, true].map((delta) => {
    const call = client.makeBidiStreamRequest(ADS_PATH + (delta ? 'DeltaAggregatedResources' : 'StreamAggregatedResources'), identity, identity);
    call.on('data', (raw: Buffer) => {
      sizes.push(raw.length);
      const f = parseResponse(raw, delta);
      assert.equal(f.typeUrl, FLOOR_TYPE_URL);
      assert.equal(f.resourceRanges.length, 2, 'one resource');
      call.write(delta ? encodeDeltaRequest({ typeUrl: FLOOR_TYPE_URL, nonce: f.nonce }) : encodeSotwRequest({ typeUrl: FLOOR_TYPE_URL, versionInfo: f.versionInfo, names: [], nonce: f.nonce }));
    });
    call.on('error', () => {});
    call.write(delta ? encodeDeltaRequest({ typeUrl: FLOOR_TYPE_URL, nonce: '' }) : encodeSotwRequest({ typeUrl: FLOOR_TYPE_URL, versionInfo: '', names: [], nonce: '' }));
    return call;
  });
  try {
    await server.ready;
    assert.equal(server.openStreams, 4);
    assert.equal(server.sotwStreams, 2);
    for (const round of [1, 2]) {
      const r = await server.round(round, 10_000);
      assert.equal(r.acked, 4, `round ${round}: every stream ACKed`);
      assert.equal(r.latencies.length, 4);
      assert.ok(r.allAckedMs !== null && r.allAckedMs >= Math.max(...r.latencies) - 0.01);
    }
    assert.equal(sizes.length, 8);
    for (const n of sizes) assert.ok(Math.abs(n - 5000) <= 40, `a response of about the payload size (${n})`);
  } finally {
    for (const c of calls) c.cancel();
    client.close();
    server.close();
  }
});
