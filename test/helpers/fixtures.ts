/**
 * Fixture builders for the service model, config objects, generation contexts and published
 * snapshots (go-control-plane `fixtureGenerator` style). Every builder produces the frozen, plain
 * shapes of src/shared/model/service.ts, so the values are exactly what the registry hands the
 * snapshot writer:
 *
 *   svc('reviews', 'bookinfo').port('http', 9080).endpoints(ep('10.0.0.1').label('version', 'v1'))
 *   serviceEntry('httpbin.org', 'istio-system').port('http', 80).resolution('dns')
 *   virtualService('bookinfo', 'reviews', { hosts: ['reviews'], http: [...] })
 *   publishSnapshot(snapshotInput([...services], [...configs]))
 *
 * `build()`/`entry()` return a new object each call; keep the result when a test needs the same
 * reference twice (the writer reuses segments by reference).
 */
import { SnapshotArena } from '../../src/shared/snapshot/arena';
import { PublishedSnapshot, SnapshotWriter } from '../../src/shared/snapshot/snapshot-writer';
import { SnapshotReader, SnapshotView } from '../../src/shared/snapshot/snapshot-view';
import {
  ConfigModel, EndpointModel, Resolution, ServiceEntryInput, ServiceModel, ServicePort, ServiceSource, SnapshotInput, protocolFromPort,
} from '../../src/shared/model/service';
import { GenContext, InboundPort } from '../../src/shared/generation';

export const DOMAIN_SUFFIX = 'cluster.local';

/** `name.ns.svc.cluster.local` */
export function fqdn(name: string, namespace: string): string {
  return `${name}.${namespace}.svc.${DOMAIN_SUFFIX}`;
}

// ---- endpoints -------------------------------------------------------------------------------

export class EndpointBuilder {
  private readonly ports: Record<string, number> = {};
  private readonly labelMap: Record<string, string> = {};
  private loc = '';
  private w = 1;
  private net = '';
  private sa = '';
  private isHealthy = true;
  private tls = 'istio';

  constructor(private readonly address: string) {}

  /** service port name → endpoint port number */
  port(name: string, port: number): this { this.ports[name] = port; return this; }
  label(key: string, value: string): this { this.labelMap[key] = value; return this; }
  labels(labels: Record<string, string>): this { Object.assign(this.labelMap, labels); return this; }
  /** `region/zone/subzone` */
  locality(locality: string): this { this.loc = locality; return this; }
  weight(weight: number): this { this.w = weight; return this; }
  network(network: string): this { this.net = network; return this; }
  serviceAccount(sa: string): this { this.sa = sa; return this; }
  unhealthy(): this { this.isHealthy = false; return this; }
  tlsMode(mode: string): this { this.tls = mode; return this; }

  build(): EndpointModel {
    return Object.freeze({
      address: this.address, ports: Object.freeze({ ...this.ports }), labels: Object.freeze({ ...this.labelMap }),
      locality: this.loc, weight: this.w, network: this.net, serviceAccount: this.sa, healthy: this.isHealthy, tlsMode: this.tls,
    });
  }
}

export function ep(address: string): EndpointBuilder { return new EndpointBuilder(address); }

// ---- services --------------------------------------------------------------------------------

export class ServiceBuilder {
  private readonly ports: ServicePort[] = [];
  private readonly addrs: string[] = [];
  private exports: string[] = [];
  private res: Resolution = 'eds';
  private external = false;
  private readonly labelMap: Record<string, string> = {};
  private readonly eps: EndpointModel[] = [];

  constructor(private readonly hostname: string, private readonly namespace: string, private readonly name: string, private readonly source: ServiceSource) {}

  /** Add a port; the protocol is inferred from the name the way Istio does ("http-web" → HTTP) unless given. */
  port(name: string, port: number, opts: { protocol?: string; targetPort?: number } = {}): this {
    this.ports.push(Object.freeze({ name, port, protocol: opts.protocol ?? protocolFromPort(name, undefined, undefined), targetPort: opts.targetPort ?? port }));
    return this;
  }
  address(...addresses: string[]): this { this.addrs.push(...addresses); return this; }
  exportTo(...exportTo: string[]): this { this.exports = exportTo; return this; }
  resolution(resolution: Resolution): this { this.res = resolution; return this; }
  meshExternal(external = true): this { this.external = external; return this; }
  label(key: string, value: string): this { this.labelMap[key] = value; return this; }
  endpoints(...endpoints: Array<EndpointModel | EndpointBuilder>): this {
    for (const e of endpoints) this.eps.push(e instanceof EndpointBuilder ? e.build() : e);
    return this;
  }

  build(): ServiceModel {
    return Object.freeze({
      hostname: this.hostname, namespace: this.namespace, name: this.name, source: this.source,
      ports: Object.freeze([...this.ports]), addresses: Object.freeze([...this.addrs]), exportTo: Object.freeze([...this.exports]),
      resolution: this.res, meshExternal: this.external, labels: Object.freeze({ ...this.labelMap }),
    });
  }

  /** The service and its endpoint block, as one SnapshotInput entry. */
  entry(): ServiceEntryInput {
    return Object.freeze({ service: this.build(), endpoints: Object.freeze([...this.eps]) });
  }
}

/** A Kubernetes Service `name.ns.svc.cluster.local`. */
export function svc(name: string, namespace: string): ServiceBuilder {
  return new ServiceBuilder(fqdn(name, namespace), namespace, name, 'kubernetes');
}

/** A ServiceEntry host (mesh-external, DNS resolution by default; `.resolution('eds')` for STATIC). */
export function serviceEntry(host: string, namespace: string, name = host.replace(/[^a-z0-9-]/g, '-')): ServiceBuilder {
  return new ServiceBuilder(host, namespace, name, 'serviceentry').resolution('dns').meshExternal();
}

// ---- configs ---------------------------------------------------------------------------------

export function config(kind: string, namespace: string, name: string, spec: unknown, opts: { labels?: Record<string, string>; revision?: string } = {}): ConfigModel {
  return Object.freeze({
    group: kind === 'MeshConfig' ? '' : 'networking.istio.io', kind, namespace, name,
    revision: opts.revision ?? '1', labels: Object.freeze({ ...(opts.labels ?? {}) }), spec,
  });
}

export const virtualService = (namespace: string, name: string, spec: unknown): ConfigModel => config('VirtualService', namespace, name, spec);
export const destinationRule = (namespace: string, name: string, spec: unknown): ConfigModel => config('DestinationRule', namespace, name, spec);
export const sidecarResource = (namespace: string, name: string, spec: unknown): ConfigModel => config('Sidecar', namespace, name, spec);

// ---- snapshots -------------------------------------------------------------------------------

/** A SnapshotInput with services sorted by hostname then namespace, as the registry emits them. */
export function snapshotInput(
  services: ReadonlyArray<ServiceBuilder | ServiceEntryInput>,
  configs: readonly ConfigModel[] = [],
  mesh: Record<string, unknown> = {},
): SnapshotInput {
  const entries = services.map((s) => (s instanceof ServiceBuilder ? s.entry() : s));
  entries.sort((a, b) => a.service.hostname.localeCompare(b.service.hostname) || a.service.namespace.localeCompare(b.service.namespace));
  return { services: entries, configs, mesh };
}

export interface TestSnapshot {
  readonly arena: SnapshotArena;
  readonly writer: SnapshotWriter;
  readonly reader: SnapshotReader;
  readonly published: PublishedSnapshot;
  readonly view: SnapshotView;
}

/** Publish `input` into a fresh arena and open it with a fresh reader. */
export function publishSnapshot(input: SnapshotInput, arenaBytes = { initial: 64 * 1024, max: 64 * 1024 * 1024 }): TestSnapshot {
  const arena = SnapshotArena.allocate(arenaBytes.initial, arenaBytes.max);
  const writer = new SnapshotWriter(arena);
  const reader = new SnapshotReader(arena);
  const published = writer.publish(input);
  return { arena, writer, reader, published, view: reader.open(published.root) };
}

// ---- generation contexts ---------------------------------------------------------------------

/** A sidecar-generator context in `default`, REDIRECT, no Sidecar, no inbound ports; override anything. */
export function genContext(overrides: Partial<GenContext> = {}): GenContext {
  return Object.freeze({
    generator: 'sidecar', proxyType: 'sidecar', namespace: 'default', sidecar: '', inbound: Object.freeze([]), interceptionMode: 'REDIRECT', labels: Object.freeze({}), gateways: Object.freeze([]),
    ...overrides,
  }) as GenContext;
}

/** The InboundPort a workload of `service` gets for its port `portName`. */
export function inboundPort(service: ServiceModel, portName: string): InboundPort {
  const p = service.ports.find((x) => x.name === portName);
  if (!p) throw new Error(`fixture: ${service.hostname} has no port ${portName}`);
  return Object.freeze({ hostname: service.hostname, namespace: service.namespace, name: p.name, port: p.port, targetPort: p.targetPort, protocol: p.protocol });
}

// ---- a rich multi-namespace mesh -------------------------------------------------------------

/** Namespaces of `richMesh()` that proxies live in. */
export const RICH_MESH_NAMESPACES = ['bookinfo', 'shop', 'team-a', 'legacy'] as const;
/** Sidecar resources of `richMesh()` (`namespace/name`), plus '' (none) and one that does not exist. */
export const RICH_MESH_SIDECARS = ['', 'bookinfo/default', 'shop/narrow', 'istio-system/default', 'team-a/bind', 'shop/missing'] as const;

/**
 * A mesh that exercises visibility and every translated feature:
 * - services in four namespaces with exportTo '*', '.', '~', named namespaces and the default;
 *   ServiceEntries with DNS, DNS_ROUND_ROBIN, STATIC (eds) and NONE (passthrough) resolution, and
 *   one host (api.internal) defined in two namespaces;
 * - VirtualServices with header/uri/method/query matches, weights, retries, timeouts, a redirect
 *   and direct responses, two of them for the same host in different namespaces;
 * - DestinationRules with subsets, LEAST_REQUEST/RANDOM, consistent hash (ring hash), connection
 *   pools and port-level settings, one per namespace for the same host;
 * - Sidecars with egress by port (bind, captureMode NONE), catch-all egress, ingress, and a
 *   root-namespace default with REGISTRY_ONLY;
 * - config that depends on the proxy itself: a sourceLabels match and a workloadSelector
 *   DestinationRule (labels), a Gateway with a bound VirtualService (gateways), and locality load
 *   balancing (locality).
 */
export function richMesh(): SnapshotInput {
  const reviews = fqdn('reviews', 'bookinfo');
  return snapshotInput([
    svc('reviews', 'bookinfo').port('http', 9080).port('grpc-admin', 9090).address('10.96.0.10').endpoints(
      ep('10.1.0.1').port('http', 9080).port('grpc-admin', 9090).label('version', 'v1').locality('eu-west/eu-west-1a/r1'),
      ep('10.1.0.2').port('http', 9080).port('grpc-admin', 9090).label('version', 'v2').locality('eu-west/eu-west-1b/r2').weight(2),
      ep('10.1.0.3').port('http', 9080).label('version', 'v3').unhealthy(),
    ),
    svc('ratings', 'bookinfo').port('http', 9080).exportTo('.').endpoints(ep('10.1.1.1').port('http', 9080)),
    svc('productpage', 'bookinfo').port('http', 9080).exportTo('bookinfo', 'shop').endpoints(ep('10.1.2.1').port('http', 9080)),
    svc('cart', 'shop').port('grpc', 7070, { targetPort: 17070 }).port('tcp', 9000).address('10.96.1.1').exportTo('.', 'team-a')
      .endpoints(ep('10.2.0.1').port('grpc', 17070).port('tcp', 9000).locality('us-east/us-east-1a/')),
    svc('db', 'legacy').port('tcp-mysql', 3306).address('10.96.2.2').endpoints(ep('10.3.0.1').port('tcp-mysql', 3306)),
    svc('hidden', 'legacy').port('http', 8080).exportTo('~').endpoints(ep('10.3.0.2').port('http', 8080)),
    serviceEntry('httpbin.org', 'istio-system').port('http', 80).port('https', 443, { protocol: 'TLS' }).exportTo('*'),
    serviceEntry('api.internal', 'team-a').port('http', 8080).resolution('eds').meshExternal(false).exportTo('.')
      .endpoints(ep('192.168.1.5').port('http', 18080).locality('on-prem/dc1/')),
    serviceEntry('api.internal', 'shop').port('http', 8080).resolution('dns-round-robin').endpoints(ep('10.50.0.1')),
    serviceEntry('*.ext.example', 'legacy').port('tcp', 5000).resolution('passthrough').exportTo('*'),
  ], [
    virtualService('bookinfo', 'reviews', {
      hosts: ['reviews'], exportTo: ['.'],
      http: [
        {
          name: 'jason', match: [{ headers: { 'End-User': { exact: 'jason' } }, uri: { prefix: '/api' }, ignoreUriCase: true }],
          route: [{ destination: { host: 'reviews', subset: 'v2' } }], timeout: '2s', retries: { attempts: 3, perTryTimeout: '500ms', retryOn: '5xx,reset' },
        },
        { match: [{ uri: { exact: '/old' } }], redirect: { uri: '/new', authority: 'reviews.bookinfo' } },
        {
          match: [{ uri: { regex: '^/health.*' }, method: { exact: 'GET' }, queryParams: { debug: { exact: '1' }, trace: {} }, withoutHeaders: { 'x-skip': {} }, authority: { prefix: 'reviews' } }],
          directResponse: { status: 200, body: { string: 'ok' } },
        },
        { route: [{ destination: { host: 'reviews', subset: 'v1' }, weight: 75 }, { destination: { host: 'reviews', subset: 'v2' }, weight: 25 }] },
      ],
    }),
    virtualService('shop', 'reviews-for-shop', {
      hosts: [reviews], exportTo: ['.'],
      http: [{ route: [{ destination: { host: reviews, subset: 'v1' } }], timeout: '10s' }],
    }),
    virtualService('istio-system', 'httpbin', {
      hosts: ['httpbin.org'],
      http: [
        { match: [{ uri: { prefix: '/status' }, port: 80 }, { uri: { prefix: '/never' }, port: 443 }], route: [{ destination: { host: 'httpbin.org', port: { number: 80 } } }], timeout: '5s' },
        { directResponse: { status: 404 } },
      ],
    }),
    virtualService('shop', 'cart', {
      hosts: ['cart'], exportTo: ['.', 'team-a'],
      http: [
        { match: [{ headers: { 'x-canary': { prefix: 'yes' } } }, { headers: { 'x-debug': {} } }], route: [{ destination: { host: 'cart', port: { number: 7070 } } }], retries: { attempts: 2 } },
        { route: [{ destination: { host: 'cart' }, weight: 1 }, { destination: { host: 'cart.shop.svc.cluster.local', port: { number: 7070 } } }] },
      ],
    }),
    destinationRule('bookinfo', 'reviews', {
      host: 'reviews',
      trafficPolicy: {
        loadBalancer: { simple: 'LEAST_REQUEST', localityLbSetting: { enabled: true } },
        connectionPool: { tcp: { maxConnections: 100 }, http: { http1MaxPendingRequests: 10, http2MaxRequests: 1000, maxRetries: 3 } },
        outlierDetection: { consecutive5xxErrors: 5, interval: '10s' },
      },
      subsets: [
        { name: 'v1', labels: { version: 'v1' } },
        { name: 'v2', labels: { version: 'v2' }, trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 'x-user', ringHash: { minimumRingSize: 1024 } } } } },
      ],
    }),
    destinationRule('shop', 'cart', {
      host: 'cart', exportTo: ['.'],
      trafficPolicy: { loadBalancer: { consistentHash: { minimumRingSize: 64 } }, portLevelSettings: [{ port: { number: 9000 }, connectionPool: { tcp: { maxConnections: 5 } } }] },
    }),
    destinationRule('team-a', 'reviews-override', {
      host: reviews, exportTo: ['.'],
      trafficPolicy: { loadBalancer: { simple: 'RANDOM' } },
      subsets: [{ name: 'v1', labels: { version: 'v1' } }],
    }),
    // Selector-driven config: the proxy's labels (GenContext.labels), its Gateways and its locality matter.
    virtualService('bookinfo', 'ratings', {
      hosts: ['ratings'], exportTo: ['.'],
      http: [
        { match: [{ sourceLabels: { version: 'v2' } }], fault: { abort: { httpStatus: 503, percentage: { value: 100 } } }, route: [{ destination: { host: 'ratings' } }] },
        { route: [{ destination: { host: 'ratings' } }] },
      ],
    }),
    destinationRule('bookinfo', 'ratings-for-v2', {
      host: 'ratings', workloadSelector: { matchLabels: { version: 'v2' } },
      trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 'x-user' } } },
    }),
    virtualService('legacy', 'db', {
      hosts: ['db'],
      tcp: [
        { match: [{ sourceLabels: { version: 'v2' } }], route: [{ destination: { host: 'httpbin.org', port: { number: 80 } } }] },
        { route: [{ destination: { host: 'db', port: { number: 3306 } } }] },
      ],
    }),
    config('Gateway', 'istio-system', 'ingress', {
      selector: { istio: 'ingressgateway' },
      servers: [
        { port: { number: 8080, name: 'http', protocol: 'HTTP' }, hosts: ['*/*'] },
        { port: { number: 9000, name: 'tcp', protocol: 'TCP' }, hosts: ['*/*'] },
        // cart's port 7070 has targetPort 17070: a gateway running as cart listens on 17070
        { port: { number: 7070, name: 'http-cart', protocol: 'HTTP' }, hosts: ['*/*'] },
      ],
    }),
    virtualService('bookinfo', 'reviews-ingress', {
      hosts: ['reviews.example.com'], gateways: ['istio-system/ingress'], exportTo: ['.'],
      http: [
        { match: [{ sourceLabels: { version: 'v2' } }], directResponse: { status: 418 } },
        { route: [{ destination: { host: reviews, port: { number: 9080 } } }] },
      ],
      tcp: [{ match: [{ port: 9000 }], route: [{ destination: { host: reviews, port: { number: 9090 } } }] }],
    }),
    sidecarResource('bookinfo', 'default', { egress: [{ hosts: ['./*', 'istio-system/*'] }] }),
    sidecarResource('shop', 'narrow', {
      egress: [
        { port: { number: 9080, protocol: 'HTTP', name: 'http' }, hosts: ['bookinfo/*'] },
        { hosts: ['./*', 'team-a/*'] },
      ],
      ingress: [
        { port: { number: 8443, protocol: 'HTTP', name: 'http' }, defaultEndpoint: '127.0.0.1:8081' },
        { port: { number: 9999, protocol: 'TCP', name: 'tcp' }, bind: '0.0.0.0', defaultEndpoint: '127.0.0.1:19999' },
      ],
    }),
    sidecarResource('istio-system', 'default', { egress: [{ hosts: ['./*', 'istio-system/*'] }], outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' } }),
    sidecarResource('team-a', 'bind', {
      egress: [
        { port: { number: 7070, protocol: 'GRPC', name: 'grpc' }, bind: '127.0.0.1', captureMode: 'NONE', hosts: ['shop/cart.shop.svc.cluster.local'] },
        { port: { number: 3306, protocol: 'TCP', name: 'mysql' }, hosts: ['legacy/*'] },
        { hosts: ['*/*'] },
      ],
    }),
  ], { outboundTrafficPolicy: { mode: 'ALLOW_ANY' } });
}
