/**
 * Shared scene for the Gateway golden tests: an ingress gateway proxy (router node in
 * istio-system, LABELS istio=ingressgateway), namespace `apps` with `reviews` (HTTP 9080, pods v1
 * and v2, DestinationRule subsets v1/v2), `ratings` (HTTP 9080), `details` (TCP 3306) and an
 * external ServiceEntry `api.example.com` (HTTPS 443, DNS). Each test adds a Gateway and
 * VirtualServices, asserts the resource its feature is about (focused goldens), the structural
 * validator, and a real Envoy's ACK.
 *
 * Gateway ports are written as `${PORT0}`, `${PORT1}`…: goldens use 18080, 18443, 18444…; the ACK
 * run substitutes free ports so a real Envoy can bind them.
 */
import * as assert from 'node:assert/strict';
import { GeneratedSet, assertStructurallyValid, generateFor } from '../../../helpers/golden';
import { serveToEnvoy } from '../../../helpers/envoy-ack';
import { AdsApiType } from '../../../helpers/envoy';
import { freePort } from '../../../helpers/server';
export { freePort };

export const NS = 'apps';
export const GW_NS = 'istio-system';
export const NODE_ID = `router~10.1.0.50~istio-ingressgateway-1.${GW_NS}~${GW_NS}.svc.cluster.local`;
export const NODE_META = { NAMESPACE: GW_NS, LABELS: { istio: 'ingressgateway', app: 'istio-ingressgateway' } };
export const REVIEWS = `reviews.${NS}.svc.cluster.local`;
export const RATINGS = `ratings.${NS}.svc.cluster.local`;
export const GOLDEN_PORTS = [18080, 18443, 18444, 18445];

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

export function baseMesh(): string {
  return `
apiVersion: v1
kind: Namespace
metadata: {name: ${NS}}
---
apiVersion: v1
kind: Namespace
metadata: {name: ${GW_NS}}
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
  ports: [{name: tcp-db, port: 3306, targetPort: 3306}]
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
kind: ServiceEntry
metadata: {name: example-api, namespace: ${NS}}
spec:
  hosts: [api.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{number: 443, name: tls, protocol: TLS}]
`;
}

/** Replace `${PORTn}` placeholders. */
export function withPorts(yaml: string, ports: readonly number[]): string {
  return yaml.replace(/\$\{PORT(\d)\}/g, (_m, i: string) => String(ports[Number(i)]));
}

/** Generate for the gateway proxy over base mesh + `extra` (golden ports). */
export function generate(extra: string, mesh?: Record<string, unknown>): GeneratedSet {
  return generateFor(`${baseMesh()}\n---\n${withPorts(extra, GOLDEN_PORTS)}`, { id: NODE_ID, metadata: NODE_META }, mesh ? { mesh } : {});
}

export function listener(set: GeneratedSet, name: string): Record<string, any> {
  const l = set.listeners.find((x) => x['name'] === name);
  assert.ok(l, `listener ${name} generated (have ${set.listeners.map((x) => x['name']).join(', ')})`);
  return l;
}

export function routeConfig(set: GeneratedSet, name: string): Record<string, any> {
  const rc = set.routes.find((r) => r['name'] === name);
  assert.ok(rc, `route configuration ${name} generated (have ${set.routes.map((r) => r['name']).join(', ')})`);
  return rc;
}

/** The structural validator finds nothing Envoy would NACK. */
export function assertValid(set: GeneratedSet): void {
  assertStructurallyValid(set);
}

/** A TCP port nobody listens on right now on 0.0.0.0 (Envoy binds it a moment later). */

/**
 * Serve the same scene to a real Envoy as the gateway (free ports substituted) and require an ACK
 * of every type. Returns the config dump's JSON text.
 */
export async function assertEnvoyAcks(extra: string, env?: Record<string, string>, apiType?: AdsApiType): Promise<string> {
  const ports: number[] = [];
  for (let i = 0; i < GOLDEN_PORTS.length; i++) ports.push(await freePort());
  const ok = await serveToEnvoy({ 'mesh.yaml': `${baseMesh()}\n---\n${withPorts(extra, ports)}` }, { nodeId: NODE_ID, metadata: NODE_META, env, apiType });
  try {
    return JSON.stringify(ok.dump);
  } finally {
    await ok.close();
  }
}

/** A Gateway in istio-system selecting the ingress gateway. `servers`: YAML list items indented two spaces. */
export function gateway(servers: string, name = 'public-gw', ns = GW_NS): string {
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: ${name}, namespace: ${ns}}
spec:
  selector: {istio: ingressgateway}
  servers:
${servers}
`;
}

/** A listener without the HCM's http_filters (the shared filter chain belongs to filters.ts, not to the gateway goldens). */
export function focusListener(l: Record<string, any>): Record<string, any> {
  const strip = (v: any): any => {
    if (Array.isArray(v)) return v.map(strip);
    if (!v || typeof v !== 'object') return v;
    const out: Record<string, any> = {};
    for (const [k, x] of Object.entries(v)) if (k !== 'http_filters') out[k] = strip(x);
    return out;
  };
  return strip(l);
}

/**
 * A route configuration reduced to what the gateway decides: virtual hosts (name, domains,
 * require_tls) and per route its match and where it goes (cluster, weighted clusters, redirect,
 * direct response). The rest of each route action belongs to routes.ts and its own goldens.
 */
export function focusRoutes(rc: Record<string, any>): Record<string, any> {
  const target = (r: any): any => {
    if (r['redirect']) return { redirect: r['redirect'] };
    if (r['direct_response']) return { direct_response: r['direct_response'] };
    const a = r['route'] ?? {};
    if (a['weighted_clusters']) return { weighted_clusters: a['weighted_clusters']['clusters'].map((c: any) => ({ name: c['name'], weight: c['weight'] })) };
    return { cluster: a['cluster'] };
  };
  return {
    name: rc['name'],
    virtual_hosts: (rc['virtual_hosts'] ?? []).map((v: any) => ({
      name: v['name'], domains: v['domains'], ...(v['require_tls'] ? { require_tls: v['require_tls'] } : {}),
      routes: (v['routes'] ?? []).map((r: any) => ({ ...(r['name'] ? { name: r['name'] } : {}), match: r['match'], ...target(r) })),
    })),
    validate_clusters: rc['validate_clusters'],
    ignore_port_in_host_matching: rc['ignore_port_in_host_matching'],
    max_direct_response_body_size_bytes: rc['max_direct_response_body_size_bytes'],
  };
}
