/**
 * The Istio CA service (proto/istio-ca.proto) as a grpc-js service definition, with protobufjs
 * codecs. Field names keep proto case (`validity_duration`, `cert_chain`). Clients (tests, the
 * bench, the load tester) use the same definition.
 */
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protobuf from 'protobufjs';

export const CA_METHOD_PATH = '/istio.v1.auth.IstioCertificateService/CreateCertificate';

export interface IstioCertificateRequest {
  csr: string;
  /** seconds */
  validity_duration?: number;
  /** google.protobuf.Struct as plain JSON-ish object (protobufjs `fields` form) */
  metadata?: { fields?: Record<string, { stringValue?: string }> } | null;
}

export interface IstioCertificateResponse {
  cert_chain: string[];
  root_cert?: { ca_cert: string[] } | null;
}

let types: { req: protobuf.Type; res: protobuf.Type } | undefined;

function load(): { req: protobuf.Type; res: protobuf.Type } {
  if (!types) {
    // dist/src/main/ca/ca-proto.js → <repo>/proto/istio-ca.proto (the .proto ships beside dist/)
    const file = path.join(__dirname, '..', '..', '..', '..', 'proto', 'istio-ca.proto');
    const root = new protobuf.Root().loadSync(file, { keepCase: true });
    types = { req: root.lookupType('istio.v1.auth.IstioCertificateRequest'), res: root.lookupType('istio.v1.auth.IstioCertificateResponse') };
  }
  return types;
}

const DECODE = { longs: Number, defaults: true, arrays: true } as const;

export function encodeRequest(m: IstioCertificateRequest): Buffer {
  const { req } = load();
  return Buffer.from(req.encode(req.fromObject(m)).finish());
}
export function decodeRequest(b: Buffer): IstioCertificateRequest {
  const { req } = load();
  return req.toObject(req.decode(b), DECODE) as IstioCertificateRequest;
}
export function encodeResponse(m: IstioCertificateResponse): Buffer {
  const { res } = load();
  return Buffer.from(res.encode(res.fromObject(m)).finish());
}
export function decodeResponse(b: Buffer): IstioCertificateResponse {
  const { res } = load();
  return res.toObject(res.decode(b), DECODE) as IstioCertificateResponse;
}

export const CA_SERVICE: grpc.ServiceDefinition = {
  CreateCertificate: {
    path: CA_METHOD_PATH,
    requestStream: false,
    responseStream: false,
    requestSerialize: encodeRequest,
    requestDeserialize: decodeRequest,
    responseSerialize: encodeResponse,
    responseDeserialize: decodeResponse,
  },
};

/** A string value of the request's metadata Struct, if set. */
export function metadataString(req: IstioCertificateRequest, key: string): string | undefined {
  return req.metadata?.fields?.[key]?.stringValue || undefined;
}
