/**
 * Real gRPC backends on loopback: a raw-bytes unary method `/test.Echo/Who` that answers with the
 * backend's id and counts hits. No proto needed: request and response are opaque bytes.
 */
import * as grpc from '@grpc/grpc-js';

export const WHO_METHOD = '/test.Echo/Who';
const identity = (b: Buffer): Buffer => b;

export interface GrpcBackend { id: string; port: number; hits: number; close(): Promise<void> }

export async function startGrpcBackend(id: string, host = '127.0.0.1'): Promise<GrpcBackend> {
  const server = new grpc.Server();
  const backend: GrpcBackend = { id, port: 0, hits: 0, close: () => new Promise((r) => server.tryShutdown(() => r())) };
  server.addService(
    { Who: { path: WHO_METHOD, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity } },
    { Who: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => { backend.hits++; cb(null, Buffer.from(id)); } },
  );
  backend.port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:0`, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));
  return backend;
}

/** One unary call; resolves to the backend id that answered. */
export function callWho(client: grpc.Client, timeoutMs = 10_000, metadata?: Record<string, string>): Promise<string> {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata ?? {})) md.set(k, v);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(WHO_METHOD, identity, identity, Buffer.alloc(0), md, { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res!.toString())));
  });
}
