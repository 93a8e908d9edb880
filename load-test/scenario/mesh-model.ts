/**
 * The scenario's mesh as data: namespaces, services with their pods, routing config, and the
 * simulated proxies (each one a pod of a service: its node IP is the pod IP, so the server
 * gives it the inbound config of its service, as a real sidecar gets). Deterministic for a
 * scenario seed. The churn driver mutates this model and re-renders the files it touched.
 */
import { Scenario } from './schema';
import { mulberry32 } from './random';
import { ProxySpec } from '../protocol';

export interface PodModel {
  readonly name: string;
  readonly ip: string;
  /** a simulated proxy runs as this pod: churn never replaces it */
  readonly proxied: boolean;
}

export interface RoutingModel {
  /** header value of the VirtualService's canary match (edited by config churn) */
  vsToken: string;
  /** name of the DestinationRule's extra subset (edited by config churn) */
  drSubset: string;
}

export interface ServiceModel {
  readonly namespace: string;
  readonly name: string;
  readonly clusterIP: string;
  pods: PodModel[];
  readonly routing: RoutingModel | undefined;
}

/**
 * The object every proxy reads (scenarios with churn.globalEditsPerMinute > 0): a ServiceEntry in
 * istio-system, exported to every namespace, whose host the global churn renames.
 */
export interface GlobalModel {
  host: string;
}

export interface MeshModel {
  readonly namespaces: readonly string[];
  readonly services: readonly ServiceModel[];
  readonly global: GlobalModel | undefined;
  readonly proxies: readonly ProxySpec[];
}

export const SERVICE_PORT = 80;
export const TARGET_PORT = 8080;

/** `ns-0`, `ns-1`, ... (zero-padded to the count); `prefix` goes in front (Kubernetes mode's --namespace-prefix). */
export function namespaceName(i: number, count: number, prefix = ''): string {
  return `${prefix}ns-${String(i).padStart(String(count - 1).length, '0')}`;
}

/** Pod IPs: 10.1.0.1 upwards, one per pod, never in the marker range (10.200+). */
export function podIp(n: number): string {
  const second = 1 + Math.floor(n / 65025);
  if (second >= 200) throw new RangeError('pod IP space exhausted');
  return `10.${second}.${Math.floor(n / 255) % 255}.${(n % 255) + 1}`;
}

function clusterIp(n: number): string {
  return `172.20.${Math.floor(n / 250)}.${(n % 250) + 1}`;
}

export function buildMesh(s: Scenario, namespacePrefix = ''): MeshModel {
  const rnd = mulberry32(s.seed);
  const namespaces = Array.from({ length: s.namespaces }, (_, i) => namespaceName(i, s.namespaces, namespacePrefix));
  const serviceCount = s.namespaces * s.servicesPerNamespace;
  const width = String(s.servicesPerNamespace - 1).length;
  const perService = (i: number) => Math.floor(s.proxies / serviceCount) + (i < s.proxies % serviceCount ? 1 : 0);
  const services: ServiceModel[] = [];
  let podSeq = 0;
  for (let i = 0; i < serviceCount; i++) {
    const namespace = namespaces[i % s.namespaces]!;
    const name = `svc-${String(Math.floor(i / s.namespaces)).padStart(width, '0')}`;
    const proxied = perService(i);
    const pods: PodModel[] = [];
    for (let k = 0; k < s.endpointsPerService; k++) {
      pods.push({ name: `${name}-v1-${k}`, ip: podIp(podSeq++), proxied: k < proxied });
    }
    const routing = rnd() < s.routingShare ? { vsToken: `init-${i}`, drSubset: `init-${i}` } : undefined;
    services.push({ namespace, name, clusterIP: clusterIp(i), pods, routing });
  }
  // proxy i is a pod of service i mod serviceCount: the fleet is spread evenly
  const proxies: ProxySpec[] = [];
  const next = new Array<number>(serviceCount).fill(0);
  for (let p = 0; p < s.proxies; p++) {
    const svc = services[p % serviceCount]!;
    const pod = svc.pods[next[p % serviceCount]!++]!;
    proxies.push({
      index: p,
      nodeId: `sidecar~${pod.ip}~${pod.name}.${svc.namespace}~${svc.namespace}.svc.cluster.local`,
      ip: pod.ip,
      namespace: svc.namespace,
      podName: pod.name,
      service: svc.name,
      labels: podLabels(svc.name),
      serviceAccount: svc.name,
      // exact share, interleaved: proxy p is Delta when the running count of Delta proxies steps up
      delta: Math.floor((p + 1) * s.deltaShare) > Math.floor(p * s.deltaShare),
    });
  }
  const global = s.churn.globalEditsPerMinute > 0 ? { host: 'global-init.load-test.internal' } : undefined;
  return { namespaces, services, global, proxies };
}

export function podLabels(service: string): Record<string, string> {
  return { app: service, version: 'v1', 'security.istio.io/tlsMode': 'istio' };
}
