/** The main thread's response framing decodes as the real DiscoveryResponse message. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { messageType } from '../../../src/shared/envoy/proto';
import { bytesField, concatFields, stringField, stringFieldsThenBlock } from '../../../src/shared/wire';
import { deltaBlock, deltaResponse, sotwResponse } from '../../../src/main/xds/response';

const Res = messageType('envoy.service.discovery.v3.DiscoveryResponse');
const DeltaRes = messageType('envoy.service.discovery.v3.DeltaDiscoveryResponse');

test('sotwResponse: version, type URL and nonce (UTF-8, long values) and the shared resources block decode as one DiscoveryResponse', () => {
  const anyOf = (name: string) => Res.lookupType('google.protobuf.Any').encode({ type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster', value: Buffer.from(name) }).finish();
  const block = concatFields([bytesField(2, anyOf('a')), bytesField(2, anyOf('b'.repeat(300)))]);
  const version = `2026-11-27T00:00:00Z/${'9'.repeat(200)}`; // > 127 bytes: a two-byte length
  const nonce = 'nönce-✓';
  const m = Res.toObject(Res.decode(sotwResponse(version, 'type.googleapis.com/envoy.config.cluster.v3.Cluster', nonce, block))) as any;
  assert.equal(m.version_info, version);
  assert.equal(m.type_url, 'type.googleapis.com/envoy.config.cluster.v3.Cluster');
  assert.equal(m.nonce, nonce);
  assert.deepEqual(m.resources.map((r: any) => Buffer.from(r.value).toString()), ['a', 'b'.repeat(300)]);
});

test('stringFieldsThenBlock writes the same bytes as framing each field and concatenating', () => {
  const block = concatFields([bytesField(2, new Uint8Array([1, 2, 3]))]);
  const direct = stringFieldsThenBlock([[1, 'v1'], [4, 'x'.repeat(200)], [5, 'é']], block);
  const framed = concatFields([stringField(1, 'v1'), stringField(4, 'x'.repeat(200)), stringField(5, 'é'), bytesField(2, new Uint8Array([1, 2, 3]))]);
  assert.deepEqual([...direct], [...framed]);
});

test('deltaResponse: per-stream fields and a shared block of Resource wrappers and removed names decode as one DeltaDiscoveryResponse', () => {
  const any = Res.lookupType('google.protobuf.Any').encode({ type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster', value: Buffer.from('x') }).finish();
  const block = deltaBlock([{ name: 'outbound|80||a.ns.svc.cluster.local', hash: 'h1', any }], ['gone-1', 'gone-2']);
  const m = DeltaRes.toObject(DeltaRes.decode(deltaResponse('2026-11-27T00:00:00Z/7', 'type.googleapis.com/envoy.config.cluster.v3.Cluster', 'n-1', block))) as any;
  assert.equal(m.system_version_info, '2026-11-27T00:00:00Z/7');
  assert.equal(m.type_url, 'type.googleapis.com/envoy.config.cluster.v3.Cluster');
  assert.equal(m.nonce, 'n-1');
  assert.deepEqual(m.resources.map((r: any) => [r.name, r.version, Buffer.from(r.resource.value).toString()]), [['outbound|80||a.ns.svc.cluster.local', 'h1', 'x']]);
  assert.deepEqual(m.removed_resources, ['gone-1', 'gone-2']);
});
