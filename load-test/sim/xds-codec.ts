/**
 * Envoy's side of the ADS wire: requests encoded by hand (they are small and sent often), and
 * responses split into their framing fields with the resources left as byte ranges, so the
 * simulator can scan raw bytes for markers and validate each resource once per distinct content.
 *
 * DiscoveryRequest:       1 version_info, 2 node, 3 resource_names, 4 type_url, 5 response_nonce, 6 error_detail
 * DeltaDiscoveryRequest:  1 node, 2 type_url, 3 subscribe, 4 unsubscribe, 5 initial_resource_versions (map),
 *                         6 response_nonce, 7 error_detail
 * DiscoveryResponse:      1 version_info, 2 resources (Any), 4 type_url, 5 nonce
 * DeltaDiscoveryResponse: 1 system_version_info, 2 resources (Resource), 4 type_url, 5 nonce, 6 removed_resources
 * Resource:               1 version, 2 resource (Any), 3 name
 * google.rpc.Status:      1 code, 2 message
 */
import { messageType } from '../../src/shared/envoy/proto';
import { jsonToStruct } from '../../src/shared/envoy/struct';
import { WireReader, WireWriter, WireFormatError } from './wire';


export interface NodeSpec {
  id: string;
  cluster: string;
  metadata: Record<string, unknown>;
  locality?: { region?: string; zone?: string };
}

/** Node bytes are encoded once per proxy and reused on every reconnect. */
export function encodeNode(node: NodeSpec): Buffer {
  const t = messageType('envoy.config.core.v3.Node');
  const obj = {
    id: node.id,
    cluster: node.cluster,
    metadata: jsonToStruct(node.metadata),
    locality: node.locality,
    user_agent_name: 'envoy',
    user_agent_version: '1.40.0/istiod-ts-load-test',
    client_features: ['envoy.lb.does_not_support_overprovisioning', 'envoy.lrs.supports_send_all_clusters'],
  };
  return Buffer.from(t.encode(t.fromObject(obj)).finish());
}

export interface ErrorDetail { code: number; message: string }

function status(e: ErrorDetail): Buffer {
  return new WireWriter().varint(1, e.code).string(2, e.message).finish();
}

export interface SotwRequestInit {
  typeUrl: string;
  node?: Buffer;
  versionInfo: string;
  names: readonly string[];
  nonce: string;
  error?: ErrorDetail;
}

/**
 * SotW requests repeat the whole subscription (hundreds of EDS names) in every ACK. Name lists
 * are immutable and interned (internNames), so their framed bytes are built once per list.
 */
const namesBlocks = new WeakMap<readonly string[], Buffer>();

function namesBlock(field: number, names: readonly string[]): Buffer {
  let b = namesBlocks.get(names);
  if (!b) {
    b = new WireWriter().repeatedString(field, names).finish();
    namesBlocks.set(names, b);
  }
  return b;
}

const interned = new Map<string, readonly string[]>();
const MAX_INTERNED = 10_000;

/** The canonical frozen instance of a name list (equal lists from many proxies share one). */
export function internNames(names: string[]): readonly string[] {
  const key = names.join('\n');
  const hit = interned.get(key);
  if (hit) return hit;
  if (interned.size >= MAX_INTERNED) interned.clear();
  const list = Object.freeze(names);
  interned.set(key, list);
  return list;
}

export function encodeSotwRequest(r: SotwRequestInit): Buffer {
  const w = new WireWriter().string(1, r.versionInfo);
  if (r.node) w.bytes(2, r.node);
  w.raw(namesBlock(3, r.names)).string(4, r.typeUrl).string(5, r.nonce);
  if (r.error) w.bytes(6, status(r.error));
  return w.finish();
}

export interface DeltaRequestInit {
  typeUrl: string;
  node?: Buffer;
  subscribe?: readonly string[];
  unsubscribe?: readonly string[];
  initialVersions?: ReadonlyMap<string, string>;
  nonce: string;
  error?: ErrorDetail;
}

export function encodeDeltaRequest(r: DeltaRequestInit): Buffer {
  const w = new WireWriter();
  if (r.node) w.bytes(1, r.node);
  w.string(2, r.typeUrl).repeatedString(3, r.subscribe ?? []).repeatedString(4, r.unsubscribe ?? []);
  for (const [name, version] of r.initialVersions ?? []) w.bytes(5, new WireWriter().string(1, name).string(2, version).finish());
  w.string(6, r.nonce);
  if (r.error) w.bytes(7, status(r.error));
  return w.finish();
}

/**
 * A response with its framing decoded. The resources stay in `raw`: `resourceRanges` holds
 * [start, end) offset pairs of each `resources` field payload (SotW: an Any; Delta: a Resource
 * wrapper), so a response whose resources were seen before costs no allocation per resource.
 */
export interface ResponseFrame {
  readonly delta: boolean;
  /** SotW version_info, or Delta system_version_info */
  versionInfo: string;
  typeUrl: string;
  nonce: string;
  readonly resourceRanges: number[];
  /** Delta only */
  readonly removed: string[];
}

/**
 * Both response messages put version in 1, resources in 2, type_url in 4 and nonce in 5; Delta
 * adds removed_resources in 6. Throws WireFormatError when the framing is malformed.
 */
export function parseResponse(raw: Buffer, delta: boolean): ResponseFrame {
  const r = new WireReader(raw);
  const out: ResponseFrame = { delta, versionInfo: '', typeUrl: '', nonce: '', resourceRanges: [], removed: [] };
  while (r.next()) {
    if (r.wireType !== 2) continue;
    switch (r.field) {
      case 1: out.versionInfo = r.string(); break;
      case 2: out.resourceRanges.push(r.valueStart, r.valueEnd); break;
      case 4: out.typeUrl = r.string(); break;
      case 5: out.nonce = r.string(); break;
      case 6: if (delta) out.removed.push(r.string()); break;
      default: break;
    }
  }
  return out;
}

/** One Delta `Resource` wrapper. `any` is absent for a resource sent without a body. */
export interface DeltaEntry { name: string; version: string; any?: Buffer }

export function parseDeltaEntry(buf: Buffer): DeltaEntry {
  const r = new WireReader(buf);
  const e: DeltaEntry = { name: '', version: '' };
  while (r.next()) {
    if (r.wireType !== 2) continue;
    if (r.field === 1) e.version = r.string();
    else if (r.field === 2) e.any = r.bytes();
    else if (r.field === 3) e.name = r.string();
  }
  return e;
}

/** The two fields of a google.protobuf.Any. */
export function parseAny(buf: Buffer): { typeUrl: string; value: Buffer } {
  const r = new WireReader(buf);
  let typeUrl = '';
  let value: Buffer = Buffer.alloc(0);
  while (r.next()) {
    if (r.wireType !== 2) throw new WireFormatError(`Any field ${r.field}: unexpected wire type ${r.wireType}`);
    if (r.field === 1) typeUrl = r.string();
    else if (r.field === 2) value = r.bytes();
  }
  return { typeUrl, value };
}
