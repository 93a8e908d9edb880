/**
 * Sidecar CDS (Istio cluster_builder.go): `outbound|port|subset|host` per service of the scope
 * (EDS, STRICT_DNS / LOGICAL_DNS with load assignments, ORIGINAL_DST for resolution NONE),
 * PassthroughCluster, BlackHoleCluster; `inbound|targetPort||` and InboundPassthroughCluster for
 * the workload. Listener-side helpers and names come from sidecar.ts.
 */
import { SnapshotView } from '../../shared/snapshot/snapshot-view';
import { ConfigModel, EndpointModel, ServiceModel, ServicePort, serviceEntryPortProtocol } from '../../shared/model/service';
import { inboundClusterName, resolveHost } from './hosts';
import { outboundClustersFor, DEFAULT_CONNECT_TIMEOUT_MS } from './clusters';
import { egressListenersOf, serviceFor, sidecarConfig, visibleServices } from './scope';
import { destinationRuleFor, trafficPolicyFor } from './destination-rules';
import { duration, Generated, Generator } from './types';
import { endpointPort, ISTIO_TLS_MODE_METADATA, labelsMatch, mtlsChecker } from './endpoints';
import {
  address, BLACKHOLE_CLUSTER, DNS_REFRESH_MS, importedVirtualService, INBOUND_PASSTHROUGH_BIND, INBOUND_PASSTHROUGH_CLUSTER,
  ingressListeners, listenerClass, LOCALHOST, meshDurationMs, PASSTHROUGH_CLUSTER, WILDCARD,
} from './sidecar';

type Obj = Record<string, unknown>;

/**
 * load_assignment of a STRICT_DNS / LOGICAL_DNS cluster: the service's endpoints (of the subset),
 * grouped by locality, or the host itself when it has none. LOGICAL_DNS takes exactly one endpoint.
 */
function dnsLoadAssignment(snap: SnapshotView, namespace: string, svc: ServiceModel, port: ServicePort, subset: string, clusterName: string, logical: boolean, labels: Readonly<Record<string, string>>): Obj {
  let selector: Record<string, string> | undefined;
  const dr = destinationRuleFor(snap, namespace, svc, labels);
  if (subset) selector = ((dr?.spec?.subsets ?? []) as any[]).find((s) => s?.name === subset)?.labels ?? {};
  const mtls = mtlsChecker(snap, svc, trafficPolicyFor(dr, port.port, subset));
  const eps: EndpointModel[] = snap.endpoints(svc.hostname, svc.namespace).filter((e) => e.healthy && labelsMatch(selector, e.labels));
  const byLocality = new Map<string, Obj[]>();
  for (const e of eps) {
    const p = endpointPort(e, port.name, port.targetPort || port.port);
    if (p === undefined) continue;
    const list = byLocality.get(e.locality) ?? [];
    list.push({ endpoint: { address: address(e.address, p) }, ...(mtls(e, p) ? { metadata: ISTIO_TLS_MODE_METADATA } : {}), load_balancing_weight: { value: e.weight > 0 ? e.weight : 1 } });
    byLocality.set(e.locality, list);
  }
  if (byLocality.size === 0) byLocality.set('', [{ endpoint: { address: address(svc.hostname, port.port) }, load_balancing_weight: { value: 1 } }]);
  let localities = [...byLocality.keys()].sort().map((loc) => {
    const [region = '', zone = '', sub_zone = ''] = loc.split('/');
    const lb = byLocality.get(loc)!;
    return { locality: { region, zone, sub_zone }, lb_endpoints: lb, load_balancing_weight: { value: lb.reduce((a, x: any) => a + x.load_balancing_weight.value, 0) } };
  });
  if (logical) {
    const first = localities[0]!;
    localities = [{ ...first, lb_endpoints: [first.lb_endpoints[0]!], load_balancing_weight: { value: (first.lb_endpoints[0] as any).load_balancing_weight.value } }];
  }
  return { cluster_name: clusterName, endpoints: localities };
}

const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/**
 * Istio setUseDownstreamProtocol, for clusters of sniffed ports on sidecars: speak HTTP/1.1 or h2
 * upstream as the client did, keeping any other HttpProtocolOptions (and HTTP/1 options) already set.
 * An explicit h2 config (DestinationRule upgrade) is left alone.
 */
function useDownstreamProtocol(cluster: Obj): void {
  const all = (cluster['typed_extension_protocol_options'] ?? {}) as Record<string, any>;
  const o: Record<string, any> = { '@type': `type.googleapis.com/${HTTP_PROTOCOL_OPTIONS}`, ...(all[HTTP_PROTOCOL_OPTIONS] ?? {}) };
  if (o['explicit_http_config']?.http2_protocol_options || o['use_downstream_protocol_config']) return;
  const h1 = o['explicit_http_config']?.http_protocol_options ?? {};
  delete o['explicit_http_config'];
  o['use_downstream_protocol_config'] = { http_protocol_options: h1, http2_protocol_options: {} };
  cluster['typed_extension_protocol_options'] = { ...all, [HTTP_PROTOCOL_OPTIONS]: o };
}

function passthroughCluster(name: string, bindSource: boolean): Obj {
  return {
    name, type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: duration(DEFAULT_CONNECT_TIMEOUT_MS),
    // Istio passthroughHttpProtocolOptions: speak to the upstream as the client spoke
    typed_extension_protocol_options: { [HTTP_PROTOCOL_OPTIONS]: { '@type': `type.googleapis.com/${HTTP_PROTOCOL_OPTIONS}`, use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} } } },
    ...(bindSource ? { upstream_bind_config: { source_address: { address: INBOUND_PASSTHROUGH_BIND, port_value: 0 } } } : {}),
  };
}

/**
 * Services whose clusters the scope needs: the imported ones, plus (with a Sidecar) the
 * destinations of imported VirtualServices that the proxy can see (Istio infers them so routes
 * never point at a missing cluster).
 */
function scopeServices(snap: SnapshotView, namespace: string, sidecar: ConfigModel | undefined): ServiceModel[] {
  const list = visibleServices(snap, namespace, sidecar);
  if (!sidecar) return list;
  const have = new Set(list.map((s) => s.hostname));
  const extra: ServiceModel[] = [];
  const imports = egressListenersOf(sidecar).flatMap((e) => e.hosts ?? []);
  for (const svc of list) {
    const vs = importedVirtualService(snap, namespace, svc.hostname, imports);
    if (!vs) continue;
    const dests: any[] = [];
    for (const section of ['http', 'tcp', 'tls']) for (const r of (vs.spec?.[section] ?? []) as any[]) for (const d of (r?.route ?? []) as any[]) dests.push(d?.destination);
    for (const r of (vs.spec?.http ?? []) as any[]) { if (r?.mirror) dests.push(r.mirror); for (const m of (r?.mirrors ?? []) as any[]) dests.push(m?.destination); }
    for (const d of dests) {
      if (typeof d?.host !== 'string') continue;
      const host = resolveHost(d.host, vs.namespace);
      if (have.has(host)) continue;
      const target = serviceFor(snap, namespace, host);
      if (target) { have.add(host); extra.push(target); }
    }
  }
  return [...list, ...extra];
}

/** Outbound facet of CDS: shared by every proxy of a scope (namespace + Sidecar). */
export const sidecarOutboundClusters: Generator = (snap, ctx) => {
  const namespace = ctx.namespace ?? 'default';
  const sidecar = sidecarConfig(snap, ctx.sidecar);
  const out: Generated[] = [];
  const seen = new Set<string>();
  const add = (g: Generated) => { if (!seen.has(g.name)) { seen.add(g.name); out.push(g); } };
  const dnsRefresh = duration(meshDurationMs(snap, 'dnsRefreshRate', DNS_REFRESH_MS));
  for (const svc of scopeServices(snap, namespace, sidecar)) {
    for (const c of outboundClustersFor(snap, namespace, svc, { proxyless: false, labels: ctx.labels ?? {} })) {
      const [, portText, subset] = c.name.split('|');
      const port = svc.ports.find((p) => p.port === Number(portText))!;
      if (listenerClass(port.protocol) === 'AUTO') useDownstreamProtocol(c.resource);
      if (svc.resolution === 'dns' || svc.resolution === 'dns-round-robin') {
        c.resource['load_assignment'] = dnsLoadAssignment(snap, namespace, svc, port, subset ?? '', c.name, svc.resolution === 'dns-round-robin', ctx.labels ?? {});
        c.resource['dns_refresh_rate'] = dnsRefresh;
        c.resource['respect_dns_ttl'] = true;
      }
      add(c);
    }
  }
  add({ name: PASSTHROUGH_CLUSTER, resource: passthroughCluster(PASSTHROUGH_CLUSTER, false) });
  add({ name: BLACKHOLE_CLUSTER, resource: { name: BLACKHOLE_CLUSTER, type: 'STATIC', connect_timeout: duration(DEFAULT_CONNECT_TIMEOUT_MS) } });
  return out;
};

/**
 * Inbound facet of CDS: `inbound|targetPort||` per inbound chain and InboundPassthroughCluster.
 * Service ports go to the workload through ORIGINAL_DST from 127.0.0.6 (Istio: iptables lets that
 * source through to the app); a Sidecar ingress listener's defaultEndpoint (`127.0.0.1:PORT`,
 * `unix://path`) makes a STATIC cluster.
 */
export const sidecarInboundClusters: Generator = (snap, ctx) => {
  const sidecar = sidecarConfig(snap, ctx.sidecar);
  const out: Generated[] = [];
  const seen = new Set<string>();
  const add = (name: string, resource: Obj) => { if (!seen.has(name)) { seen.add(name); out.push({ name, resource }); } };
  const base = (name: string, protocol: string): Obj => {
    const c: Obj = {
      name, connect_timeout: duration(DEFAULT_CONNECT_TIMEOUT_MS),
      ...(['HTTP2', 'GRPC'].includes(protocol.toUpperCase()) ? { typed_extension_protocol_options: { [HTTP_PROTOCOL_OPTIONS]: { '@type': `type.googleapis.com/${HTTP_PROTOCOL_OPTIONS}`, explicit_http_config: { http2_protocol_options: {} } } } } : {}),
    };
    if (listenerClass(protocol) === 'AUTO') useDownstreamProtocol(c);
    return c;
  };
  const originalDst = (name: string, protocol: string) => add(name, { ...base(name, protocol), type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', upstream_bind_config: { source_address: { address: INBOUND_PASSTHROUGH_BIND, port_value: 0 } } });
  const ingress = ingressListeners(sidecar);
  if (ingress.length > 0) {
    for (const ing of ingress) {
      const port = Number(ing.port!.number);
      const name = inboundClusterName(port);
      const protocol = serviceEntryPortProtocol(ing.port!.protocol);
      const target = typeof ing.defaultEndpoint === 'string' ? ing.defaultEndpoint : '';
      if (target.startsWith('unix://')) {
        add(name, { ...base(name, protocol), type: 'STATIC', load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: address(target, 0) } }] }] } });
        continue;
      }
      const colon = target.lastIndexOf(':');
      const host = colon > 0 ? target.slice(0, colon).replace(/^\[|\]$/g, '') : '';
      const targetPort = colon > 0 ? Number(target.slice(colon + 1)) : NaN;
      if (!host || host === WILDCARD || host === '::' || !Number.isInteger(targetPort) || targetPort <= 0) { originalDst(name, protocol); continue; }
      add(name, {
        ...base(name, protocol), type: 'STATIC',
        load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: address(host, targetPort) } }] }] },
        ...(host === LOCALHOST || host === '::1' ? {} : { upstream_bind_config: { source_address: { address: INBOUND_PASSTHROUGH_BIND, port_value: 0 } } }),
      });
    }
  } else {
    for (const ip of ctx.inbound ?? []) if (listenerClass(ip.protocol)) originalDst(inboundClusterName(ip.targetPort), ip.protocol);
  }
  add(INBOUND_PASSTHROUGH_CLUSTER, passthroughCluster(INBOUND_PASSTHROUGH_CLUSTER, true));
  return out;
};

/** Whole-type CDS generator (both facets), for callers that do not split by facet. */
export const sidecarClusters: Generator = (snap, ctx, names) => [...sidecarOutboundClusters(snap, ctx, names), ...sidecarInboundClusters(snap, ctx, names)];
