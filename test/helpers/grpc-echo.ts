/**
 * The proxyless-gRPC test service shared by the e2e files: raw-bytes unary methods under
 * `/test.Echo/`, one-call clients that resolve to the reply or the status code, and the mesh
 * (Namespace, Service `greeter`, its Pod and EndpointSlice at 127.0.0.1) serving it.
 */
import * as grpc from '@grpc/grpc-js';

const identity = (b: Buffer): Buffer => b;

/** A unary method definition of the echo service, bytes in and out. */
export function echoMethod(name: string): grpc.MethodDefinition<Buffer, Buffer> {
  return { path: `/test.Echo/${name}`, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity };
}

/** One unary call of `/test.Echo/<name>` on `client`, which is closed after; resolves to the reply text or the gRPC status code. */
export async function callEcho(client: grpc.Client, name: string): Promise<string | number> {
  try {
    return await new Promise((resolve) => {
      client.makeUnaryRequest(`/test.Echo/${name}`, identity, identity, Buffer.alloc(0), new grpc.Metadata(), { deadline: Date.now() + 5000 },
        (err, res) => resolve(err ? (err.code ?? -1) : res!.toString()));
    });
  } finally {
    client.close();
  }
}

/** Namespace `ns`, Service greeter (7070 → `port`), Pod greeter-0 (service account greeter) and its EndpointSlice, all at 127.0.0.1. */
export function greeterMeshYaml(ns: string, port: number): string {
  return `
apiVersion: v1
kind: Namespace
metadata: {name: ${ns}}
---
apiVersion: v1
kind: Service
metadata: {name: greeter, namespace: ${ns}}
spec:
  clusterIP: 10.96.0.70
  selector: {app: greeter}
  ports: [{name: grpc, port: 7070, targetPort: ${port}}]
---
apiVersion: v1
kind: Pod
metadata: {name: greeter-0, namespace: ${ns}, labels: {app: greeter}}
spec: {serviceAccountName: greeter, containers: [{name: greeter, image: greeter}]}
status: {podIP: 127.0.0.1}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: greeter-0, namespace: ${ns}, labels: {kubernetes.io/service-name: greeter}}
addressType: IPv4
ports: [{name: grpc, port: ${port}}]
endpoints:
- addresses: [127.0.0.1]
  targetRef: {kind: Pod, name: greeter-0, namespace: ${ns}}
`;
}
