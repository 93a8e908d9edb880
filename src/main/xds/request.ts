/**
 * Decoded xDS requests (protobufjs, proto field names) and the first-request checks shared by
 * SotW and Delta: a node must come first, and its ID must parse as an Istio node ID.
 */
import { messageType } from '../../shared/envoy/proto';
import { structToJson } from '../../shared/envoy/struct';
import { ProxyView, parseProxy } from '../../shared/model/proxy';
import { XdsProtocolError } from '../../shared/errors';

export interface NodeMsg { id: string; cluster?: string; metadata?: unknown; locality?: { region?: string; zone?: string; sub_zone?: string } }
export interface ErrorDetail { code?: number; message?: string }

export interface SotwRequest {
  version_info: string;
  node?: NodeMsg;
  resource_names: string[];
  type_url: string;
  response_nonce: string;
  error_detail?: ErrorDetail;
}

export interface DeltaRequest {
  node?: NodeMsg;
  type_url: string;
  resource_names_subscribe: string[];
  resource_names_unsubscribe: string[];
  initial_resource_versions: Record<string, string>;
  response_nonce: string;
  error_detail?: ErrorDetail;
}

const OPTS = { longs: Number, enums: String, defaults: true, arrays: true, objects: true } as const;

export function decodeSotwRequest(buf: Buffer): SotwRequest {
  const t = messageType('envoy.service.discovery.v3.DiscoveryRequest');
  return t.toObject(t.decode(buf), OPTS) as SotwRequest;
}

export function decodeDeltaRequest(buf: Buffer): DeltaRequest {
  const t = messageType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
  return t.toObject(t.decode(buf), OPTS) as DeltaRequest;
}

/** Proxy from the first request, or a protocol error with Istio's status and message. */
export function proxyFromFirstRequest(node: NodeMsg | undefined): ProxyView {
  if (!node || !node.id) throw new XdsProtocolError(3, 'missing node information');
  const parsed = parseProxy({ id: node.id, cluster: node.cluster, metadata: structToJson(node.metadata), locality: node.locality });
  if (!parsed.ok) throw new XdsProtocolError(3, parsed.errors.join('; '));
  return parsed.value;
}

/** error_detail is "present" when it carries a code or message (protobufjs fills defaults). */
export function isNack(d: ErrorDetail | undefined | null): d is ErrorDetail {
  return !!d && ((d.code ?? 0) !== 0 || (d.message ?? '') !== '');
}
