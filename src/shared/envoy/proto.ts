/**
 * The Envoy API as a protobufjs Root, loaded from the descriptor generated at build time
 * (scripts/gen-proto.js → dist/generated/envoy-descriptor.json, from @grpc/grpc-js-xds deps/).
 * protobufjs generates a specialised encoder/decoder per type on first use.
 *
 * Field names keep proto case (snake_case), so generator output reads like Envoy's YAML/JSON.
 */
import * as protobuf from 'protobufjs';
import * as path from 'node:path';

let root: protobuf.Root | undefined;

export function envoyRoot(): protobuf.Root {
  if (!root) {
    // dist/src/shared/envoy/proto.js → dist/generated/envoy-descriptor.json
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const json = require(path.join(__dirname, '..', '..', '..', 'generated', 'envoy-descriptor.json'));
    root = protobuf.Root.fromJSON(json);
  }
  return root;
}

const types = new Map<string, protobuf.Type>();
export function messageType(fullName: string): protobuf.Type {
  let t = types.get(fullName);
  if (!t) {
    t = envoyRoot().lookupType(fullName);
    types.set(fullName, t);
  }
  return t;
}

/**
 * Count of resource encodes done in this thread. The architecture forbids encoding resources on
 * the main thread; tests read this counter there and expect 0.
 */
let encodeCount = 0;
export function resourceEncodeCount(): number { return encodeCount; }

/**
 * Encode a resource as a complete `google.protobuf.Any` message (type_url = 1, value = 2), ready to
 * be framed as a repeated `resources` field of a DiscoveryResponse. `resource` uses proto field
 * names; nested Any values are written as `{ '@type': url, ...fields }`. fromObject ignores
 * unknown field names, so tests round-trip every generator's output (encode → decode → compare)
 * to catch misspelt fields.
 */
export function encodeAny(typeUrl: string, resource: Record<string, unknown>): Uint8Array {
  encodeCount++;
  const name = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  const type = messageType(name);
  const value = type.encode(type.fromObject(resource)).finish();
  const any = messageType('google.protobuf.Any');
  return any.encode(any.create({ type_url: typeUrl, value })).finish();
}

/** Decode an `Any` to a plain object with proto field names (debug views, tests). */
export function decodeAny(bytes: Uint8Array): { typeUrl: string; value: Record<string, unknown> } {
  const any = messageType('google.protobuf.Any').decode(bytes) as unknown as { type_url: string; value: Uint8Array };
  const name = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
  const type = messageType(name);
  return { typeUrl: any.type_url, value: type.toObject(type.decode(any.value), { longs: Number, enums: String, defaults: false, json: true }) };
}
