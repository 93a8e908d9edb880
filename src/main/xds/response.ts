/**
 * DiscoveryResponse / DeltaDiscoveryResponse assembly from pre-encoded `Any` bytes. The main
 * thread frames fields; it never encodes a resource (ARCHITECTURE §1 rule 1).
 *
 * DiscoveryResponse:      1 version_info, 2 resources (Any), 4 type_url, 5 nonce
 * DeltaDiscoveryResponse: 1 system_version_info, 2 resources (Resource), 4 type_url,
 *                         5 nonce, 6 removed_resources
 * Resource:               1 version, 2 resource (Any), 3 name
 */
import { Field, bytesField, concatFields, stringField, stringFieldsThenBlock } from '../../shared/wire';
import { EncodedResource, Resolved } from '../push/generation-service';

/** The framed `resources` fields of a DiscoveryResponse: built once per answer, shared by streams. */
export function sotwResourcesBlock(resources: Iterable<EncodedResource>): Uint8Array {
  const fields: Field[] = [];
  for (const r of resources) fields.push(bytesField(2, r.any));
  return concatFields(fields);
}

/**
 * A DiscoveryResponse: the per-stream header fields, then the shared resources block. Field order
 * on the wire does not matter to protobuf parsers, so the block needs no re-framing.
 */
export function sotwResponse(versionInfo: string, typeUrl: string, nonce: string, resourcesBlock: Uint8Array): Buffer {
  return stringFieldsThenBlock([[1, versionInfo], [4, typeUrl], [5, nonce]], resourcesBlock);
}

/** A value derived from an answer, computed once and kept with it (Resolved.memo). */
export function memo<T>(res: Pick<Resolved, 'memo'>, key: string, compute: () => T): T {
  let v = res.memo.get(key) as T | undefined;
  if (v === undefined) { v = compute(); res.memo.set(key, v); }
  return v;
}

/**
 * The framed `resources` and `removed_resources` of a DeltaDiscoveryResponse. Streams that make the
 * same move between two answers share one block (see delta.ts answerDiff).
 */
export function deltaBlock(resources: Iterable<EncodedResource>, removed: Iterable<string>): Uint8Array {
  const fields: Field[] = [];
  for (const r of resources) fields.push(bytesField(2, deltaResource(r)));
  for (const name of removed) fields.push(stringField(6, name));
  return concatFields(fields);
}

/** A DeltaDiscoveryResponse: the per-stream fields (version, type URL, nonce), then the block. */
export function deltaResponse(systemVersion: string, typeUrl: string, nonce: string, block: Uint8Array): Buffer {
  return stringFieldsThenBlock([[1, systemVersion], [4, typeUrl], [5, nonce]], block);
}

/** The `Resource` wrapper of an encoded resource, framed once and shared by every Delta stream. */
const deltaWrappers = new WeakMap<EncodedResource, Uint8Array>();
function deltaResource(r: EncodedResource): Uint8Array {
  let w = deltaWrappers.get(r);
  if (!w) {
    w = concatFields([stringField(1, r.hash), bytesField(2, r.any), stringField(3, r.name)]);
    deltaWrappers.set(r, w);
  }
  return w;
}
