/**
 * Shared scene for the VirtualService golden tests: namespace `apps` with `reviews` (HTTP 9080,
 * pods v1 and v2, DestinationRule subsets v1/v2), `ratings` (HTTP 9080) and `details` (TCP 3306,
 * TLS 443), and a client sidecar whose Sidecar egress listener binds 127.0.0.1:9080 with
 * captureMode NONE (INTERCEPTION_MODE NONE: no iptables, no virtual listeners), the shape a real
 * Envoy accepts on a developer machine. Each test adds a VirtualService and asserts one virtual
 * host's routes (focused goldens), the structural validator, and a real Envoy's ACK.
 */
import * as assert from 'node:assert/strict';
import { GeneratedSet, assertStructurallyValid, generateFor, parseMesh } from '../../../helpers/golden';
import { serveToEnvoy } from '../../../helpers/envoy-ack';
import { publishSnapshot } from '../../../helpers/fixtures';
import { ModelStore } from '../../../../src/main/model/store';
import { Registry } from '../../../../src/main/model/registry';
import { DEFAULT_MESH } from '../../../../src/main/mesh-config';
import { SnapshotView } from '../../../../src/shared/snapshot/snapshot-view';
import { messageType } from '../../../../src/shared/envoy/proto';
import * as xds from '@grpc/grpc-js-xds';
import { freePort } from '../../../helpers/server';

export const NS = 'apps';
export const NODE_ID = `sidecar~10.1.0.9~client-1.${NS}~${NS}.svc.cluster.local`;
export const NODE_META = { INTERCEPTION_MODE: 'NONE', NAMESPACE: NS, LABELS: { app: 'client', version: 'v1' } };
export const REVIEWS = `reviews.${NS}.svc.cluster.local`;

function pod(app: string, version: string, ip: string, port: number, portName = 'http'): string {
  return `
---
apiVersion: v1
kind: Pod
metadata: {name: ${app}-${version}, namespace: ${NS}, labels: {app: ${app}, version: ${version}}}
spec: {serviceAccountName: ${app}, containers: [{name: ${app}, image: ${app}:${version}}]}
status: {podIP: ${ip}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${app}-${version}, namespace: ${NS}, labels: {kubernetes.io/service-name: ${app}}}
addressType: IPv4
ports: [{name: ${portName}, port: ${port}, protocol: TCP}]
endpoints:
- addresses: ["${ip}"]
  conditions: {ready: true}
  targetRef: {kind: Pod, name: ${app}-${version}, namespace: ${NS}}
`;
}

/** The base mesh; `egress` extra Sidecar egress listeners (YAML list items) for L4 tests. */
export function baseMesh(egress = ''): string {
  return `
apiVersion: v1
kind: Namespace
metadata: {name: ${NS}}
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: ${NS}}
spec:
  clusterIP: 10.96.0.20
  selector: {app: reviews}
  ports: [{name: http, port: 9080, targetPort: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: ${NS}}
spec:
  clusterIP: 10.96.0.21
  selector: {app: ratings}
  ports: [{name: http, port: 9080, targetPort: 9080}]
---
apiVersion: v1
kind: Service
metadata: {name: details, namespace: ${NS}}
spec:
  clusterIP: 10.96.0.22
  selector: {app: details}
  ports: [{name: tcp-db, port: 3306, targetPort: 3306}, {name: tls, port: 9443, targetPort: 9443}]
${pod('reviews', 'v1', '10.1.0.11', 9080)}${pod('reviews', 'v2', '10.1.0.12', 9080)}${pod('ratings', 'v1', '10.1.0.13', 9080)}${pod('details', 'v1', '10.1.0.14', 3306, 'tcp-db')}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: ${NS}}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: details, namespace: ${NS}}
spec:
  host: details
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: ${NS}}
spec:
  egress:
  - port: {number: 9080, protocol: HTTP, name: http}
    bind: 127.0.0.1
    captureMode: NONE
    hosts: ["${NS}/*"]
${egress}`;
}

/** Generate for the client sidecar over base mesh + `extra` YAML. */
export function generate(extra: string, egress = ''): GeneratedSet {
  return generateFor(`${baseMesh(egress)}\n---\n${extra}`, { id: NODE_ID, metadata: NODE_META });
}

/** The routes of one virtual host of one route configuration. */
export function vhostRoutes(set: GeneratedSet, routeConfig = '9080', vhost = `${REVIEWS}:9080`): Array<Record<string, any>> {
  const rc = set.routes.find((r) => r['name'] === routeConfig);
  assert.ok(rc, `route configuration ${routeConfig} generated (have ${set.routes.map((r) => r['name']).join(', ')})`);
  const vh = (rc['virtual_hosts'] ?? []).find((v: any) => v['name'] === vhost);
  assert.ok(vh, `virtual host ${vhost} in ${routeConfig}`);
  return vh['routes'];
}

/** The structural validator finds nothing Envoy would NACK. */
export function assertValid(set: GeneratedSet): void {
  assertStructurallyValid(set);
}


/** The snapshot of base mesh + `extra`, for calling route builders directly (the L4 target contract). */
export function snapshotOf(extra: string): SnapshotView {
  const store = new ModelStore();
  store.replaceOrigin('golden', parseMesh(`${baseMesh()}\n---\n${extra}`));
  const raw = Object.freeze({ ...DEFAULT_MESH }) as Record<string, unknown>;
  const registry = new Registry(store, { domainSuffix: 'cluster.local', rootNamespace: 'istio-system', trustDomain: 'cluster.local', raw });
  return publishSnapshot(registry.build()).view;
}

/** Ports of the scene that a listener may bind; the Envoy run moves each to a free port. */
const BOUND_PORTS = [9080, 3306, 9443];

/**
 * Serve the same scene to a real Envoy (each bindable port moved to a free port so the listeners
 * can bind) and require it to ACK every type. Returns the config dump's JSON text, which
 * callers check for what the scenario is about (an invalid fixture would otherwise be dropped by
 * the server and ACK trivially).
 */
export async function assertEnvoyAcks(extra: string, egress = ''): Promise<string> {
  generate(extra, egress); // the fixture passes the server's validation
  let yaml = `${baseMesh(egress)}\n---\n${extra}`;
  for (const p of BOUND_PORTS) yaml = yaml.replace(new RegExp(`\\b${p}\\b`, 'g'), String(await freePort()));
  const ok = await serveToEnvoy({ 'mesh.yaml': yaml }, { nodeId: NODE_ID, metadata: NODE_META });
  try {
    return JSON.stringify(ok.dump);
  } finally {
    await ok.close();
  }
}

/** A VirtualService for reviews with the given http routes (YAML, indented two spaces under `http:`). */
export function reviewsVs(http: string, name = 'reviews', extraSpec = ''): string {
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}, namespace: ${NS}}
spec:
  hosts: [reviews]
${extraSpec}  http:
${http}`;
}

/**
 * The real grpc-js-xds client's own resource validation (what it would NACK) over a proxyless
 * client's listeners and route configurations: the ground truth for proxyless goldens, as a real
 * Envoy is for sidecar ones.
 */
export function assertGrpcJsAccepts(set: GeneratedSet): void {
  xds.register(); // registers the router and fault HTTP filters the listener validation looks up
  /* eslint-disable @typescript-eslint/no-var-requires */
  const { ListenerResourceType } = require('@grpc/grpc-js-xds/build/src/xds-resource-type/listener-resource-type');
  const { RouteConfigurationResourceType } = require('@grpc/grpc-js-xds/build/src/xds-resource-type/route-config-resource-type');
  /* eslint-enable @typescript-eslint/no-var-requires */
  const context = { bootstrap: { certificateProviders: {} } };
  const check = (kind: any, fullName: string, resource: Record<string, unknown>) => {
    const type = messageType(fullName);
    const value = type.encode(type.fromObject(resource)).finish();
    const res = kind.get().decode(context, { type_url: `type.googleapis.com/${fullName}`, value: Buffer.from(value) });
    assert.equal(res.error, undefined, `grpc-js-xds rejects ${fullName} ${String(resource['name'])}: ${res.error}`);
  };
  for (const l of set.listeners) check(ListenerResourceType, 'envoy.config.listener.v3.Listener', l);
  for (const r of set.routes) check(RouteConfigurationResourceType, 'envoy.config.route.v3.RouteConfiguration', r);
}
