/**
 * The mesh model as the YAML a cluster would hold, in the shapes the server's file mode reads
 * (examples/mesh): one file per service (Service + EndpointSlice + its Pods), one routing file per
 * routed service (DestinationRule + VirtualService), one Sidecar per namespace when scoping is on.
 * Paths are relative to the config dir. The `*Objects` functions give the same objects as data:
 * Kubernetes mode (load-test/kube/kube-mesh.ts) writes exactly these through the API.
 */
import * as YAML from 'yaml';
import { GlobalModel, MeshModel, ServiceModel, SERVICE_PORT, TARGET_PORT, podLabels } from './mesh-model';

/** A Kubernetes object as the renderer builds it (plain JSON). */
export interface MeshObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

function docs(objects: readonly MeshObject[]): string {
  return objects.map((o) => YAML.stringify(o, { lineWidth: 0 })).join('---\n');
}

export function namespacesPath(): string { return 'namespaces.yaml'; }
export function servicePath(svc: ServiceModel): string { return `${svc.namespace}/${svc.name}.yaml`; }
export function routingPath(svc: ServiceModel): string { return `${svc.namespace}/${svc.name}-routing.yaml`; }
export function sidecarPath(namespace: string): string { return `${namespace}/sidecar.yaml`; }
export function globalPath(): string { return `${GLOBAL_NAMESPACE}/global.yaml`; }

/** where the global ServiceEntry lives: the namespace every Sidecar of the mesh imports */
export const GLOBAL_NAMESPACE = 'istio-system';
export const GLOBAL_NAME = 'load-test-global';
/** the global ServiceEntry's one endpoint: outside the pod (10.1–199), marker (10.200+) and cluster IP ranges */
const GLOBAL_ENDPOINT = '192.168.255.1';

/** The objects each file holds: file mode writes them as YAML, Kubernetes mode through the API. */
export function namespaceObjects(mesh: MeshModel): MeshObject[] {
  return [...mesh.namespaces, 'istio-system'].map((name): MeshObject => ({
    apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: name === 'istio-system' ? {} : { 'istio-injection': 'enabled' } },
  }));
}

/** Service, its EndpointSlice, and its Pods (in that order). */
export function serviceObjects(svc: ServiceModel): MeshObject[] {
  const ns = svc.namespace;
  return [
    {
      apiVersion: 'v1', kind: 'Service',
      metadata: { name: svc.name, namespace: ns, labels: { app: svc.name } },
      spec: { clusterIP: svc.clusterIP, selector: { app: svc.name }, ports: [{ name: 'http', port: SERVICE_PORT, targetPort: TARGET_PORT, protocol: 'TCP' }] },
    },
    {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: `${svc.name}-1`, namespace: ns, labels: { 'kubernetes.io/service-name': svc.name } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: TARGET_PORT, protocol: 'TCP' }],
      endpoints: svc.pods.map((p) => ({ addresses: [p.ip], conditions: { ready: true }, targetRef: { kind: 'Pod', name: p.name, namespace: ns } })),
    },
    ...svc.pods.map((p) => ({
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name: p.name, namespace: ns, labels: podLabels(svc.name) },
      spec: { serviceAccountName: svc.name, containers: [{ name: 'app', image: `${svc.name}:v1`, ports: [{ name: 'http', containerPort: TARGET_PORT }] }] },
      status: { podIP: p.ip },
    })),
  ];
}

/** DestinationRule (subsets v1 + the churned subset) and VirtualService (canary header match). */
export function routingObjects(svc: ServiceModel): MeshObject[] {
  const r = svc.routing!;
  return [
    {
      apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule',
      metadata: { name: svc.name, namespace: svc.namespace },
      spec: {
        host: svc.name,
        trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' } },
        subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: r.drSubset, labels: { app: svc.name } }],
      },
    },
    {
      apiVersion: 'networking.istio.io/v1', kind: 'VirtualService',
      metadata: { name: svc.name, namespace: svc.namespace },
      spec: {
        hosts: [svc.name],
        http: [
          { name: 'canary', match: [{ headers: { 'x-canary': { exact: r.vsToken } } }], route: [{ destination: { host: svc.name, subset: 'v1' } }] },
          { name: 'default', route: [{ destination: { host: svc.name } }], timeout: '10s' },
        ],
      },
    },
  ];
}

/** Namespace isolation: proxies import their own namespace and istio-system only. */
export function sidecarObjects(namespace: string): MeshObject[] {
  return [{
    apiVersion: 'networking.istio.io/v1', kind: 'Sidecar',
    metadata: { name: 'default', namespace },
    spec: { egress: [{ hosts: ['./*', 'istio-system/*'] }] },
  }];
}

/**
 * The object every proxy reads: a ServiceEntry in istio-system exported to every namespace (STATIC,
 * so its cluster is an EDS cluster with one endpoint). Its host carries the global marker: a rename
 * changes a cluster name in every proxy's CDS (and its EDS and RDS).
 */
export function globalObjects(g: GlobalModel): MeshObject[] {
  return [{
    apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry',
    metadata: { name: GLOBAL_NAME, namespace: GLOBAL_NAMESPACE },
    spec: {
      hosts: [g.host],
      exportTo: ['*'],
      location: 'MESH_INTERNAL',
      resolution: 'STATIC',
      ports: [{ number: SERVICE_PORT, name: 'http', protocol: 'HTTP' }],
      endpoints: [{ address: GLOBAL_ENDPOINT }],
    },
  }];
}

export function renderGlobal(g: GlobalModel): string { return docs(globalObjects(g)); }
export function renderNamespaces(mesh: MeshModel): string { return docs(namespaceObjects(mesh)); }
export function renderService(svc: ServiceModel): string { return docs(serviceObjects(svc)); }
export function renderRouting(svc: ServiceModel): string { return docs(routingObjects(svc)); }
export function renderSidecar(namespace: string): string { return docs(sidecarObjects(namespace)); }
