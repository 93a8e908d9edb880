/** Config fixtures shared by integration and end-to-end tests. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GrpcBackend } from './grpc-backend';
import { TestServer } from './server';
import { WatchState } from '../../src/main/xds/subscription';
import { XdsTypeUrl } from '../../src/shared/resources';

/** examples/mesh as files (name → YAML), for tests that start from the embedded default mesh. */
export function exampleMeshFiles(): Record<string, string> {
  const dir = path.join(__dirname, '..', '..', '..', 'examples', 'mesh');
  return Object.fromEntries(fs.readdirSync(dir).filter((f) => f.endsWith('.yaml')).map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]));
}

/** The server-side watch of the stream whose node id is `nodeId`. */
export function watchOf(srv: TestServer, nodeId: string, type: XdsTypeUrl): WatchState | undefined {
  const conn = [...srv.discovery.ads.connections.values()].find((c) => c.proxy.id === nodeId);
  return conn?.watches.get(type);
}

/** `echo.apps.internal:7070`: a STATIC ServiceEntry over two real backends, subsets v1/v2. */
export function echoServiceEntryYaml(v1: GrpcBackend, v2: GrpcBackend): string {
  return `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo, namespace: apps}
spec:
  hosts: [echo.apps.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 7070, name: grpc, protocol: GRPC}]
  endpoints:
  - {address: 127.0.0.1, ports: {grpc: ${v1.port}}, labels: {version: v1}}
  - {address: 127.0.0.1, ports: {grpc: ${v2.port}}, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: apps}
spec:
  host: echo.apps.internal
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
`;
}

/** A VirtualService splitting echo between subsets v1 and v2. */
export function echoSplitYaml(w1: number, w2: number): string {
  return `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: apps}
spec:
  hosts: [echo.apps.internal]
  http:
  - route:
    - {destination: {host: echo.apps.internal, subset: v1}, weight: ${w1}}
    - {destination: {host: echo.apps.internal, subset: v2}, weight: ${w2}}
`;
}
