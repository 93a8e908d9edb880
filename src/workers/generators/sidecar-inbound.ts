/**
 * Sidecar inbound LDS (Istio listener_inbound.go): `virtualInbound` 0.0.0.0:15006 with
 * original_dst and http_inspector, the blackhole and passthrough chains, one chain per target port
 * of the proxy's own services (or the Sidecar's ingress listeners, which replace them; captureMode
 * NONE makes a real listener).
 *
 * Security policy enters through one seam, `inboundPolicy(snap, ctx)` (security/inbound-policy.ts):
 * per target port, the HTTP filters before the router (jwt_authn, rbac) and the network filters
 * before tcp_proxy (rbac). mTLS (PeerAuthentication) shapes the chains themselves (issue 9).
 */
import { ConfigModel, serviceEntryPortProtocol } from '../../shared/model/service';
import { GenContext } from '../../shared/generation';
import { inboundClusterName } from './hosts';
import { sidecarConfig } from './scope';
import { duration, Generated, Generator } from './types';
import { hcm, tcpProxy } from './filters';
import {
  address, BLACKHOLE_CLUSTER, HTTP_INSPECTOR, INBOUND_PASSTHROUGH_CLUSTER, listenerClass, meshDurationMs, ORIGINAL_DST, ORIGINAL_SRC,
  PLAINTEXT_HTTP_ALPNS, RAW_BUFFER, WILDCARD,
} from './sidecar';
import { InboundPolicy, inboundPolicy } from './security/inbound-policy';

type Obj = Record<string, unknown>;

/** One inbound filter chain's configuration (Istio inboundChainConfig). */
interface InboundChain {
  /** service port (names the virtual host) and target port (matched, names the cluster) */
  port: number;
  targetPort: number;
  protocol: string;
  hostname: string;
  bind: string;
  bindToPort: boolean;
}

interface IngressListener {
  port?: { number?: number; protocol?: string; name?: string };
  bind?: string;
  captureMode?: string;
  defaultEndpoint?: string;
}

export function ingressListeners(sidecar: ConfigModel | undefined): IngressListener[] {
  return ((sidecar?.spec?.ingress ?? []) as IngressListener[]).filter((i) => Number.isInteger(Number(i?.port?.number)) && Number(i.port!.number) > 0);
}

/**
 * Istio buildInboundChainConfigs: the Sidecar's ingress listeners when it has any (they replace the
 * service ports), else one chain per target port of the workload's services (the first service of a
 * port wins) — none without iptables. Sorted by target port.
 */
function inboundChains(ctx: Partial<GenContext>, sidecar: ConfigModel | undefined): InboundChain[] {
  const byPort = new Map<number, InboundChain>();
  const ingress = ingressListeners(sidecar);
  if (ingress.length === 0) {
    if (ctx.interceptionMode === 'NONE') return [];
    for (const ip of ctx.inbound ?? []) {
      if (byPort.has(ip.targetPort) || !listenerClass(ip.protocol)) continue;
      byPort.set(ip.targetPort, { port: ip.port, targetPort: ip.targetPort, protocol: ip.protocol, hostname: ip.hostname, bind: WILDCARD, bindToPort: false });
    }
  } else {
    for (const ing of ingress) {
      const port = Number(ing.port!.number);
      if (byPort.has(port)) continue;
      const mode = ing.captureMode ?? 'DEFAULT';
      const bindToPort = mode === 'DEFAULT' ? ctx.interceptionMode === 'NONE' : mode === 'NONE';
      byPort.set(port, {
        port, targetPort: port, protocol: serviceEntryPortProtocol(ing.port!.protocol),
        hostname: `${sidecar!.name}.${sidecar!.namespace}`, bind: ing.bind || WILDCARD, bindToPort,
      });
    }
  }
  return [...byPort.values()].sort((a, b) => a.targetPort - b.targetPort);
}

/** Istio buildSidecarInboundHTTPRouteConfig: one virtual host, everything to the inbound cluster. */
function inboundRouteConfig(name: string, cluster: string, port: number, hostname: string | undefined): Obj {
  return {
    name,
    virtual_hosts: [{
      name: `inbound|http|${port}`, domains: ['*'],
      routes: [{
        name: 'default', match: { prefix: '/' },
        route: { cluster, timeout: duration(0), max_stream_duration: { max_stream_duration: duration(0), grpc_timeout_header_max: duration(0) } },
        ...(hostname ? { decorator: { operation: `${hostname}:${port}/*` } } : {}),
      }],
    }],
    validate_clusters: { value: false },
  };
}

/**
 * The plaintext filter chains of one inbound chain config (mTLS DISABLE match options): HTTP or TCP
 * on raw_buffer, or both for a sniffed port (HTTP by the http_inspector's ALPN, TCP otherwise).
 */
function inboundFilterChains(c: InboundChain, policy: InboundPolicy): Obj[] {
  const cluster = inboundClusterName(c.targetPort);
  const name = `${c.bind}_${c.targetPort}`;
  const http = () => hcm(`inbound_${name}`, { route_config: inboundRouteConfig(cluster, cluster, c.port, c.hostname) }, { before: policy.httpFilters(c.targetPort) });
  const tcp = () => [...policy.networkFilters(c.targetPort), tcpProxy(cluster, cluster)];
  const match = (alpn?: readonly string[]): Obj => ({ destination_port: { value: c.targetPort }, transport_protocol: RAW_BUFFER, ...(alpn ? { application_protocols: [...alpn] } : {}) });
  const cls = listenerClass(c.protocol);
  if (cls === 'AUTO') {
    return [
      { name, filter_chain_match: match(PLAINTEXT_HTTP_ALPNS), filters: [http()] },
      { name, filter_chain_match: match(), filters: tcp() },
    ];
  }
  return [{ name, filter_chain_match: match(), filters: cls === 'HTTP' ? [http()] : tcp() }];
}

/** Listener filter disabled on the given destination ports (Istio listenerPredicateExcludePorts). */
function disabledOnPorts(ports: number[]): Obj {
  const rules = ports.map((p) => ({ destination_port_range: { start: p, end: p + 1 } }));
  return rules.length === 1 ? rules[0]! : { or_match: { rules } };
}

/** Inbound facet of LDS: depends only on the proxy's own workload (and Sidecar ingress). */
export const sidecarInboundListeners: Generator = (snap, ctx) => {
  const sidecar = sidecarConfig(snap, ctx.sidecar);
  const out: Generated[] = [];
  const chains = inboundChains(ctx, sidecar);
  const policy = inboundPolicy(snap, ctx);
  const filtersTimeout = duration(meshDurationMs(snap, 'protocolDetectionTimeout', 0));

  // Chains that bind their own port (captureMode NONE, or no iptables): real listeners.
  for (const c of chains.filter((x) => x.bindToPort)) {
    const name = `${c.bind}_${c.targetPort}`;
    out.push({ name, resource: {
      name, address: address(c.bind, c.targetPort), traffic_direction: 'INBOUND', continue_on_listener_filters_timeout: true,
      filter_chains: inboundFilterChains(c, policy), listener_filters_timeout: filtersTimeout,
      ...(listenerClass(c.protocol) === 'AUTO' ? { listener_filters: [HTTP_INSPECTOR] } : {}),
    } });
  }
  if (ctx.interceptionMode === 'NONE') return out;

  const inboundPort = Number((snap.mesh() as any).proxyInboundListenPort ?? 15006) || 15006;
  const serviceChains = chains.filter((x) => !x.bindToPort);
  const passthroughHttp = {
    name: 'virtualInbound-catchall-http',
    filter_chain_match: { application_protocols: PLAINTEXT_HTTP_ALPNS, transport_protocol: RAW_BUFFER },
    filters: [hcm(INBOUND_PASSTHROUGH_CLUSTER, { route_config: inboundRouteConfig(INBOUND_PASSTHROUGH_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER, 0, undefined) })],
  };
  const passthroughTcp = {
    name: 'virtualInbound',
    filter_chain_match: { transport_protocol: RAW_BUFFER },
    filters: [tcpProxy(INBOUND_PASSTHROUGH_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER)],
  };
  const blackhole = {
    name: 'virtualInbound-blackhole', filter_chain_match: { destination_port: { value: inboundPort } },
    filters: [tcpProxy(BLACKHOLE_CLUSTER, BLACKHOLE_CLUSTER)],
  };
  // http_inspector is needed by the passthrough HTTP chain and sniffed ports only: off for the
  // blackhole port and for every declared-protocol port (their chains match on the port alone).
  const noHttp = [...new Set([inboundPort, ...serviceChains.filter((c) => listenerClass(c.protocol) !== 'AUTO').map((c) => c.targetPort)])].sort((a, b) => a - b);
  out.push({ name: 'virtualInbound', resource: {
    name: 'virtualInbound', address: address(WILDCARD, inboundPort), traffic_direction: 'INBOUND', continue_on_listener_filters_timeout: true,
    ...(ctx.interceptionMode === 'TPROXY' ? { transparent: { value: true } } : {}),
    listener_filters: [ORIGINAL_DST, ...(ctx.interceptionMode === 'TPROXY' ? [ORIGINAL_SRC] : []), { ...HTTP_INSPECTOR, filter_disabled: disabledOnPorts(noHttp) }],
    listener_filters_timeout: filtersTimeout,
    filter_chains: [blackhole, passthroughHttp, passthroughTcp, ...serviceChains.flatMap((c) => inboundFilterChains(c, policy))],
  } });
  return out;
};
