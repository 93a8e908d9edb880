/**
 * A deterministic synthetic mesh for the benchmarks, in the shapes the registry builds
 * (src/main/model/registry.ts): Kubernetes services `name.ns.svc.cluster.local` spread over 20
 * namespaces, 1–3 ports each (HTTP on 80/8080/9080, gRPC on 9090, TCP on 5432/6379), ~10.5
 * endpoints per service on average (4–17, some unhealthy, versions v1/v2 for subsets, three
 * zones), a few services exported only to their own namespace, two DestinationRules and two
 * VirtualServices per namespace, and a default Sidecar in every other namespace that scopes egress
 * to its own namespace, istio-system and the next namespace (plus one workload-selected Sidecar).
 *
 * `scope(i)` gives the generation context of a proxy in "scope" i: scopes differ by namespace,
 * Sidecar, the proxy's own service (inbound ports) and generator (every fifth is proxyless gRPC).
 */
import { ConfigModel, EndpointModel, ServiceEntryInput, ServiceModel, ServicePort, SnapshotInput } from '../src/shared/model/service';
import { GenContext, InboundPort } from '../src/shared/generation';

export const NAMESPACES = [
  'frontend', 'checkout', 'payments', 'catalog', 'search', 'inventory', 'shipping', 'accounts', 'auth', 'notifications',
  'reviews', 'ratings', 'recommendations', 'ads', 'analytics', 'billing', 'orders', 'media', 'messaging', 'platform',
];
const WORDS = ['api', 'web', 'worker', 'gateway', 'store', 'cache', 'auth', 'search', 'ledger', 'events'];
const DOMAIN = 'cluster.local';

export interface MeshOptions {
  services: number;
  /** endpoints of service i (default 4 + (5i mod 14): 4..17, 10.5 on average) */
  endpointsOf?: (i: number) => number;
}

export interface SyntheticMesh {
  readonly input: SnapshotInput;
  readonly counts: { services: number; ports: number; endpoints: number; virtualServices: number; destinationRules: number; sidecars: number };
  /** generation context of a proxy in scope `i` (any i ≥ 0; scopes are distinct for i < 3 × 20) */
  scope(i: number): GenContext;
  /** the next input after one service's endpoints changed (every other object is reused) */
  withEndpointsChanged(prev: SnapshotInput, serviceIndex: number, round: number): SnapshotInput;
  /** the next input after one VirtualService changed */
  withVirtualServiceChanged(prev: SnapshotInput, round: number): SnapshotInput;
  /** service i's model (for picking targets) */
  service(nsIndex: number, k: number): ServiceModel | undefined;
}

function servicePorts(i: number): ServicePort[] {
  const ports: ServicePort[] = [];
  const m = i % 10;
  if (m < 7) ports.push({ name: 'http', port: 80, protocol: 'HTTP', targetPort: 8080 });
  else if (m < 9) ports.push({ name: 'http-alt', port: 8080, protocol: 'HTTP', targetPort: 8080 });
  else ports.push({ name: 'http-api', port: 9080, protocol: 'HTTP', targetPort: 9080 });
  const n = 1 + (i % 3);
  if (n >= 2) ports.push({ name: 'grpc', port: 9090, protocol: 'GRPC', targetPort: 9090 });
  if (n >= 3) ports.push(i % 2 ? { name: 'tcp-redis', port: 6379, protocol: 'TCP', targetPort: 6379 } : { name: 'tcp-postgres', port: 5432, protocol: 'TCP', targetPort: 5432 });
  return ports;
}

function makeEndpoints(svc: ServiceModel, nsIndex: number, firstHost: number, count: number, round: number): EndpointModel[] {
  const out: EndpointModel[] = [];
  for (let j = 0; j < count; j++) {
    const h = firstHost + j + round * 7; // a changed round moves the addresses
    const ports: Record<string, number> = {};
    for (const p of svc.ports) ports[p.name] = p.targetPort;
    out.push({
      address: `10.${128 + nsIndex}.${(h >> 8) & 255}.${h & 255}`,
      ports,
      labels: { app: svc.name, version: j % 3 === 2 ? 'v2' : 'v1', 'security.istio.io/tlsMode': 'istio' },
      locality: `us-east1/us-east1-${'abc'[j % 3]}`,
      weight: 1,
      network: '',
      serviceAccount: `spiffe://${DOMAIN}/ns/${svc.namespace}/sa/${svc.name}`,
      healthy: j % 20 !== 19,
      tlsMode: 'istio',
    });
  }
  out.sort((a, b) => a.address.localeCompare(b.address));
  return out;
}

function cfg(kind: string, namespace: string, name: string, spec: unknown): ConfigModel {
  return { group: 'networking.istio.io', kind, namespace, name, revision: '1', labels: {}, spec };
}

export function buildMesh(opts: MeshOptions): SyntheticMesh {
  const nns = NAMESPACES.length;
  const endpointsOf = opts.endpointsOf ?? ((i: number) => 4 + ((i * 5) % 14));
  const byNsK = new Map<string, ServiceModel>();
  const firstHostOf = new Map<ServiceModel, { nsIndex: number; firstHost: number; count: number }>();
  const nextHost = new Array<number>(nns).fill(1);
  const entries: ServiceEntryInput[] = [];
  let ports = 0, endpoints = 0;
  for (let i = 0; i < opts.services; i++) {
    const nsIndex = i % nns, k = Math.floor(i / nns);
    const ns = NAMESPACES[nsIndex]!;
    const name = `${WORDS[k % WORDS.length]}-${Math.floor(k / WORDS.length)}`;
    const svc: ServiceModel = {
      hostname: `${name}.${ns}.svc.${DOMAIN}`, namespace: ns, name, source: 'kubernetes',
      ports: servicePorts(i), addresses: [`10.96.${(i >> 8) & 255}.${i & 255}`],
      exportTo: k % 25 === 24 ? ['.'] : [], resolution: 'eds', meshExternal: false, labels: { app: name },
    };
    const count = endpointsOf(i);
    const firstHost = nextHost[nsIndex]!;
    nextHost[nsIndex] = firstHost + count + 64;
    firstHostOf.set(svc, { nsIndex, firstHost, count });
    byNsK.set(`${nsIndex}/${k}`, svc);
    entries.push({ service: svc, endpoints: makeEndpoints(svc, nsIndex, firstHost, count, 0) });
    ports += svc.ports.length;
    endpoints += count;
  }
  entries.sort((a, b) => a.service.hostname.localeCompare(b.service.hostname));

  const configs: ConfigModel[] = [];
  let vsCount = 0, drCount = 0, scCount = 0;
  for (let n = 0; n < nns; n++) {
    const ns = NAMESPACES[n]!;
    const s0 = byNsK.get(`${n}/0`), s1 = byNsK.get(`${n}/1`);
    if (s0) {
      configs.push(cfg('DestinationRule', ns, `${s0.name}`, {
        host: s0.hostname,
        trafficPolicy: { loadBalancer: { simple: 'LEAST_REQUEST' }, connectionPool: { tcp: { maxConnections: 100 }, http: { http2MaxRequests: 1000, http1MaxPendingRequests: 64, maxRetries: 3 } } },
        subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }],
      }));
      configs.push(cfg('VirtualService', ns, `${s0.name}`, {
        hosts: [s0.name],
        http: [
          { name: 'canary-user', match: [{ headers: { 'end-user': { exact: 'jason' } } }], route: [{ destination: { host: s0.name, subset: 'v2' } }] },
          { name: 'default', route: [{ destination: { host: s0.name, subset: 'v1' }, weight: 90 }, { destination: { host: s0.name, subset: 'v2' }, weight: 10 }], timeout: '5s', retries: { attempts: 3, perTryTimeout: '2s' } },
        ],
      }));
      drCount++; vsCount++;
    }
    if (s1) {
      configs.push(cfg('DestinationRule', ns, `${s1.name}`, {
        host: s1.name,
        trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 'x-user', minimumRingSize: 1024 } } },
        subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' }, trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' } } }],
      }));
      configs.push(cfg('VirtualService', ns, `${s1.name}`, {
        hosts: [s1.name],
        http: [
          { match: [{ uri: { prefix: '/v2/' } }], route: [{ destination: { host: s1.name, subset: 'v2' } }] },
          { match: [{ uri: { exact: '/healthz' } }], directResponse: { status: 200 } },
          { route: [{ destination: { host: s1.name, subset: 'v1' } }], timeout: '10s' },
        ],
      }));
      drCount++; vsCount++;
    }
    if (n % 2 === 1) {
      configs.push(cfg('Sidecar', ns, 'default', { egress: [{ hosts: ['./*', 'istio-system/*', `${NAMESPACES[(n + 1) % nns]}/*`] }] }));
      scCount++;
    }
    if (n === 1 && s0) {
      configs.push(cfg('Sidecar', ns, 'narrow', { workloadSelector: { labels: { app: s0.name } }, egress: [{ hosts: ['./*'] }] }));
      scCount++;
    }
  }
  configs.sort((a, b) => a.kind.localeCompare(b.kind) || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  const input: SnapshotInput = { services: entries, configs, mesh: {} };

  const scope = (i: number): GenContext => {
    const nsIndex = i % nns, k = Math.floor(i / nns) % 3;
    const ns = NAMESPACES[nsIndex]!;
    const own = byNsK.get(`${nsIndex}/${k}`);
    const inbound: InboundPort[] = (own?.ports ?? []).map((p) => ({ hostname: own!.hostname, namespace: ns, name: p.name, port: p.port, targetPort: p.targetPort, protocol: p.protocol }));
    const sidecar = nsIndex === 1 && k === 0 ? `${ns}/narrow` : nsIndex % 2 === 1 ? `${ns}/default` : '';
    return { generator: i % 5 === 4 ? 'grpc' : 'sidecar', proxyType: 'sidecar', namespace: ns, sidecar, inbound, interceptionMode: 'REDIRECT', labels: {}, gateways: [] };
  };

  const withEndpointsChanged = (prev: SnapshotInput, serviceIndex: number, round: number): SnapshotInput => {
    const services = prev.services.map((e, idx) => {
      if (idx !== serviceIndex % prev.services.length) return e;
      const h = firstHostOf.get(e.service)!;
      return { service: e.service, endpoints: makeEndpoints(e.service, h.nsIndex, h.firstHost, h.count, round) };
    });
    return { services, configs: prev.configs, mesh: prev.mesh };
  };

  const withVirtualServiceChanged = (prev: SnapshotInput, round: number): SnapshotInput => {
    const idx = prev.configs.findIndex((c) => c.kind === 'VirtualService');
    const configs = prev.configs.map((c, i) => (i === idx ? { ...c, revision: String(round + 1), spec: { ...c.spec, http: [...c.spec.http].reverse() } } : c));
    return { services: prev.services, configs, mesh: prev.mesh };
  };

  return {
    input,
    counts: { services: opts.services, ports, endpoints, virtualServices: vsCount, destinationRules: drCount, sidecars: scCount },
    scope,
    withEndpointsChanged,
    withVirtualServiceChanged,
    service: (nsIndex, k) => byNsK.get(`${nsIndex}/${k}`),
  };
}

/** Every value found under `key` anywhere in a plain object tree. */
export function collect(obj: unknown, key: string, out: unknown[] = []): unknown[] {
  if (Array.isArray(obj)) { for (const x of obj) collect(x, key, out); return out; }
  if (obj && typeof obj === 'object') {
    for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
      if (k === key) out.push(v);
      collect(v, key, out);
    }
  }
  return out;
}
