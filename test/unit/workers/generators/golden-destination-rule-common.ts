/**
 * Shared scene for the DestinationRule golden tests: namespace `shop` with services whose pods sit
 * in three localities, and a client sidecar (INTERCEPTION_MODE NONE) whose Sidecar egress listener
 * binds 127.0.0.1:8080 with captureMode NONE, so a real Envoy accepts the scene on a developer
 * machine. Each test adds DestinationRules and asserts the clusters (and load assignments) they
 * are about, the structural validator, and a real Envoy's ACK.
 */
import * as assert from 'node:assert/strict';
import { GeneratedSet, assertStructurallyValid, generateFor } from '../../../helpers/golden';
import { serveToEnvoy } from '../../../helpers/envoy-ack';
import { freePort } from '../../../helpers/server';

export const NS = 'shop';
export const NODE_ID = `sidecar~10.2.0.9~client-1.${NS}~${NS}.svc.cluster.local`;
export const NODE_META = { INTERCEPTION_MODE: 'NONE', NAMESPACE: NS, LABELS: { app: 'client', version: 'v1' } };
/** The client's locality (node.locality): region us-east, zone us-east-1a, subzone rack1. */
export const NODE_LOCALITY = { region: 'us-east', zone: 'us-east-1a', sub_zone: 'rack1' };
export const fqdn = (name: string, ns = NS): string => `${name}.${ns}.svc.cluster.local`;

/**
 * A service `name` on HTTP 8080 (plus `extraPorts`, YAML list items) backed by a ServiceEntry-style
 * set of WorkloadEntries: v1 in us-east/us-east-1a/rack1, v2 in us-east/us-east-1b, v3 in
 * eu-west/eu-west-1a. WorkloadEntries carry a locality, which Kubernetes EndpointSlices cannot.
 */
export function service(name: string, extraPorts = '', ipBase = 10): string {
  const we = (version: string, ip: string, locality: string) => `
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: ${name}-${version}, namespace: ${NS}}
spec:
  address: ${ip}
  labels: {app: ${name}, version: ${version}}
  locality: ${locality}
  serviceAccount: ${name}`;
  return `
---
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${NS}}
spec:
  clusterIP: 10.96.1.${ipBase}
  selector: {app: ${name}}
  ports:
  - {name: http, port: 8080, targetPort: 8080}
${extraPorts}${we('v1', `10.2.${ipBase}.1`, 'us-east/us-east-1a/rack1')}${we('v2', `10.2.${ipBase}.2`, 'us-east/us-east-1b')}${we('v3', `10.2.${ipBase}.3`, 'eu-west/eu-west-1a')}`;
}

export function baseMesh(services: string): string {
  return `
apiVersion: v1
kind: Namespace
metadata: {name: ${NS}}
${services}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: ${NS}}
spec:
  egress:
  - port: {number: 8080, protocol: HTTP, name: http}
    bind: 127.0.0.1
    captureMode: NONE
    hosts: ["./*"]
`;
}

export function generate(services: string, rules: string, mesh?: Record<string, unknown>): GeneratedSet {
  return generateFor(`${baseMesh(services)}\n---\n${rules}`, { id: NODE_ID, metadata: NODE_META, locality: NODE_LOCALITY }, { mesh });
}

/** The named clusters, in the order asked (fails when one is missing). */
export function clusters(set: GeneratedSet, names: string[]): Array<Record<string, any>> {
  return names.map((n) => {
    const c = set.clusters.find((x) => x['name'] === n);
    assert.ok(c, `cluster ${n} generated (have ${set.clusters.map((x) => x['name']).join(', ')})`);
    return c;
  });
}

/** The named load assignments. */
export function assignments(set: GeneratedSet, names: string[]): Array<Record<string, any>> {
  return names.map((n) => {
    const c = set.endpoints.find((x) => x['cluster_name'] === n);
    assert.ok(c, `load assignment ${n} generated (have ${set.endpoints.map((x) => x['cluster_name']).join(', ')})`);
    return c;
  });
}

export function assertValid(set: GeneratedSet): void {
  assertStructurallyValid(set);
}


/**
 * Serve the scene to a real Envoy (egress port 8080 moved to a free port) and require an ACK of
 * every type; returns Envoy's active clusters by name from its config dump.
 */
export async function assertEnvoyAcks(services: string, rules: string): Promise<Map<string, Record<string, any>>> {
  generate(services, rules); // the fixture passes the server's validation
  const port = await freePort();
  const yaml = `${baseMesh(services)}\n---\n${rules}`.replace(/\b8080\b/g, String(port));
  // Keep the event loop alive until Envoy and the server are closed: some awaits in the ACK
  // harness (admin fetch of a ~130 kB config dump, shutdown) can leave no ref'd handle, and
  // node:test then cancels the test as "still pending".
  const keepAlive = setInterval(() => undefined, 1000);
  try {
    const ok = await serveToEnvoy({ 'mesh.yaml': yaml }, { nodeId: NODE_ID, metadata: NODE_META });
    try {
      const section = ok.dump.configs.find((c) => String(c['@type']).endsWith('ClustersConfigDump')) ?? {};
      const out = new Map<string, Record<string, any>>();
      for (const c of section['dynamic_active_clusters'] ?? []) out.set(c.cluster.name.replace(String(port), '8080'), c.cluster);
      return out;
    } finally {
      await ok.close();
    }
  } finally {
    clearInterval(keepAlive);
  }
}
