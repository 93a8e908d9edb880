/**
 * DiscoveryResponse / DeltaDiscoveryResponse assembly from pre-encoded `Any` bytes. The main
 * thread frames fields; it never encodes a resource (ARCHITECTURE §1 rule 1).
 *
 * DiscoveryResponse:      1 version_info, 2 resources (Any), 4 type_url, 5 nonce
 * DeltaDiscoveryResponse: 1 system_version_info, 2 resources (Resource), 4 type_url,
 *                         5 nonce, 6 removed_resources
 * Resource:               1 version, 2 resource (Any), 3 name
 */
import { Field, bytesField, concatFields, stringField } from '../../shared/wire';
import { EncodedResource } from '../push/generation-service';

export function sotwResponse(versionInfo: string, typeUrl: string, nonce: string, resources: Iterable<EncodedResource>): Buffer {
  const fields: Field[] = [stringField(1, versionInfo)];
  for (const r of resources) fields.push(bytesField(2, r.any));
  fields.push(stringField(4, typeUrl), stringField(5, nonce));
  return toBuffer(concatFields(fields));
}

/** Delta `Resource` wrappers are framed per response; the Any inside is shared bytes. */
export function deltaResponse(systemVersion: string, typeUrl: string, nonce: string, resources: Iterable<EncodedResource>, removed: Iterable<string>): Buffer {
  const fields: Field[] = [stringField(1, systemVersion)];
  for (const r of resources) {
    fields.push(bytesField(2, concatFields([stringField(1, r.hash), bytesField(2, r.any), stringField(3, r.name)])));
  }
  fields.push(stringField(4, typeUrl), stringField(5, nonce));
  for (const name of removed) fields.push(stringField(6, name));
  return toBuffer(concatFields(fields));
}

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}
