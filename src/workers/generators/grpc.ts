/**
 * Proxyless gRPC generator (node metadata GENERATOR=grpc), after Istio's grpcgen:
 * - LDS: one api_listener per requested `host:port`, HttpConnectionManager → RDS
 *   `outbound|port||host` over ADS, with the fault and router filters (grpcgen's pair; C-core
 *   NACKs a listener without HTTP filters).
 * - RDS: one virtual host for that service port, routes from its VirtualService restricted to what
 *   gRPC implements (routes.ts, `proxyless`): header/path matching, weighted clusters, timeouts,
 *   retries, fault injection per route; match sourceLabels read the client's labels.
 * - CDS: EDS clusters, DestinationRule subsets, ROUND_ROBIN or RING_HASH. A DestinationRule
 *   `tls.mode: ISTIO_MUTUAL` (merged per subset and port as for Envoy) gives the cluster an
 *   UpstreamTlsContext on the certificate provider instance `default` (grpcgen applyTLS); no
 *   rule, DISABLE, SIMPLE and MUTUAL stay plaintext — grpcgen has no auto mTLS for gRPC clients.
 * - Server LDS (grpc-js-xds `XdsServer`, A36): `xds.istio.io/grpc/lds/inbound/<ip>:<port>` for a
 *   port the workload serves (grpcgen buildInboundListeners): one filter chain whose HCM holds an
 *   inline route configuration (all domains, prefix `/`, non_forwarding_action) and the RBAC
 *   filters of the workload's AuthorizationPolicies (DENY then ALLOW; security/authorization.ts)
 *   before the router. PeerAuthentication STRICT makes it an mTLS chain (certificate provider
 *   instance `default`, certificates `default`/`ROOTCA`); PERMISSIVE is plaintext (gRPC cannot
 *   match on the transport) unless the workload has the `security.istio.io/tlsMode: istio` label.
 * gRPC clients request every type by name, wildcard included only for debugging tools.
 */
import { SnapshotView } from '../../shared/snapshot/snapshot-view';
import { GenContext } from '../../shared/generation';
import { ServiceModel } from '../../shared/model/service';
import { outboundClusterName, parseClusterName, resolveHost } from './hosts';
import { buildRoutes } from './routes';
import { outboundClustersFor } from './clusters';
import { serviceFor, sidecarConfig, visibleServices } from './scope';
import { destinationRuleFor, trafficPolicyFor } from './destination-rules';
import { virtualServiceFor } from './virtual-services';
import { Generated, Generator } from './types';
import { hcmConfig, rdsRouting, routerFilter, HCM_TYPE } from './filters';
import { grpcAuthorizationFilters } from './security/authorization';
import { composePeerAuthentication, mtlsModeForPort, TLS_MODE_LABEL } from './security/peer-authentication';

interface Target { svc: ServiceModel; port: number; name: string }

/** Resolve a listener name `host:port` (FQDN or short name relative to the proxy namespace). */
function resolveTarget(snap: SnapshotView, ctx: Partial<GenContext>, name: string): Target | undefined {
  const colon = name.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const port = Number(name.slice(colon + 1));
  if (!Number.isInteger(port)) return undefined;
  const namespace = ctx.namespace ?? 'default';
  const raw = name.slice(0, colon);
  const candidates = [resolveHost(raw, namespace)];
  if (!raw.includes('.svc.')) {
    const parts = raw.split('.');
    if (parts.length === 2) candidates.push(`${raw}.svc.cluster.local`);
    if (raw.endsWith('.svc')) candidates.push(`${raw}.cluster.local`);
  }
  const visible = new Set(visibleServices(snap, namespace, sidecarConfig(snap, ctx.sidecar)).map((s) => `${s.namespace}/${s.hostname}`));
  for (const host of candidates) {
    const svc = serviceFor(snap, namespace, host);
    if (svc && visible.has(`${svc.namespace}/${svc.hostname}`) && svc.ports.some((p) => p.port === port)) return { svc, port, name };
  }
  return undefined;
}

function allTargets(snap: SnapshotView, ctx: Partial<GenContext>): Target[] {
  const namespace = ctx.namespace ?? 'default';
  const out: Target[] = [];
  for (const svc of visibleServices(snap, namespace, sidecarConfig(snap, ctx.sidecar))) {
    for (const p of svc.ports) out.push({ svc, port: p.port, name: `${svc.hostname}:${p.port}` });
  }
  return out;
}

/** Istio grpcxds.ServerListenerNamePrefix: the bootstrap's server_listener_resource_name_template. */
export const GRPC_SERVER_LISTENER_PREFIX = 'xds.istio.io/grpc/lds/inbound/';
const DOWNSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';

type Obj = Record<string, unknown>;

/** The workload serving `ip:port`: its config namespace and labels. */
interface ServerWorkload { namespace: string; labels: Readonly<Record<string, string>> }

/**
 * Whether the proxy serves `ip:port` (Istio: a ServiceInstance whose endpoint port is `port`), and
 * the labels its policies are selected with. The context's `inbound`/`labels` are used when the
 * generation key carries them; otherwise the endpoints of the snapshot at that address stand in
 * (the listener name holds the server's own address, and the endpoint carries the workload's labels).
 */
function serverWorkload(snap: SnapshotView, ctx: Partial<GenContext>, ip: string, port: number): ServerWorkload | undefined {
  const namespace = ctx.namespace ?? 'default';
  if (ctx.inbound !== undefined) {
    return ctx.inbound.some((p) => p.targetPort === port) ? { namespace, labels: ctx.labels ?? {} } : undefined;
  }
  for (const svc of snap.services()) {
    for (const ep of snap.endpoints(svc.hostname, svc.namespace)) {
      if (ep.address !== ip) continue;
      const serves = svc.ports.some((p) => (ep.ports[p.name] ?? (Object.keys(ep.ports).length === 0 ? p.targetPort || p.port : undefined)) === port);
      if (serves) return { namespace, labels: ctx.labels ?? ep.labels };
    }
  }
  return undefined;
}

/**
 * Istio grpcgen buildCommonTLSContext(nil) + RequireClientCertificate, on a server chain: the
 * workload certificate and the root from the bootstrap's certificate provider instance `default`
 * (file_watcher over the agent's OUTPUT_CERTS).
 */
function serverTlsSocket(): Obj {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': DOWNSTREAM_TLS_TYPE,
      common_tls_context: {
        tls_certificate_provider_instance: { instance_name: 'default', certificate_name: 'default' },
        // grpcgen nests this in combined_validation_context, whose schema also requires an SDS
        // config gRPC does not use; a plain validation_context means the same to gRPC (A29)
        validation_context: { ca_certificate_provider_instance: { instance_name: 'default', certificate_name: 'ROOTCA' } },
      },
      require_client_certificate: { value: true },
    },
  };
}

/** grpcgen buildInboundListeners for one `xds.istio.io/grpc/lds/inbound/<ip>:<port>` name. */
function serverListener(snap: SnapshotView, ctx: Partial<GenContext>, name: string): Generated | undefined {
  const address = name.slice(GRPC_SERVER_LISTENER_PREFIX.length);
  const colon = address.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = Number(address.slice(colon + 1));
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  const w = serverWorkload(snap, ctx, host, port);
  if (!w) return undefined;
  let mode = mtlsModeForPort(composePeerAuthentication(snap, w.namespace, w.labels), port);
  // auto mTLS clients of a workload labelled tlsMode=istio use mTLS; gRPC has no permissive chain
  if (mode === 'PERMISSIVE') mode = w.labels[TLS_MODE_LABEL] === 'istio' ? 'STRICT' : 'DISABLE';
  const suffix = mode === 'STRICT' ? 'mtls' : 'plaintext';
  const hcm = {
    '@type': HCM_TYPE,
    // grpcgen sets no stat prefix; Envoy's schema requires one, gRPC ignores it
    stat_prefix: `inbound_${port}`,
    route_config: {
      name: 'inbound',
      virtual_hosts: [{ name: 'inbound', domains: ['*'], routes: [{ match: { prefix: '/' }, non_forwarding_action: {} }] }],
    },
    http_filters: [...grpcAuthorizationFilters(snap, w), routerFilter()],
  };
  const chain: Obj = { name: `inbound-${suffix}`, filters: [{ name: `inbound-hcm${suffix}`, typed_config: hcm }] };
  if (mode === 'STRICT') chain['transport_socket'] = serverTlsSocket();
  return { name, resource: { name, address: { socket_address: { address: host, port_value: port } }, filter_chains: [chain] } };
}

export const grpcListeners: Generator = (snap, ctx, names) => {
  const servers = (names ?? []).filter((n) => n.startsWith(GRPC_SERVER_LISTENER_PREFIX)).map((n) => serverListener(snap, ctx, n)).filter((g): g is Generated => !!g);
  const clientNames = names?.filter((n) => !n.startsWith(GRPC_SERVER_LISTENER_PREFIX)) ?? null;
  const targets = clientNames === null ? allTargets(snap, ctx) : clientNames.map((n) => resolveTarget(snap, ctx, n)).filter((t): t is Target => !!t);
  return [...servers, ...targets.map((t): Generated => ({
    name: t.name,
    resource: {
      name: t.name,
      api_listener: {
        api_listener: hcmConfig(t.name, rdsRouting(outboundClusterName(t.port, '', t.svc.hostname)), { proxyless: true }),
      },
    },
  }))];
};

export const grpcRoutes: Generator = (snap, ctx, names) => {
  const namespace = ctx.namespace ?? 'default';
  const wanted = names ?? allTargets(snap, ctx).map((t) => outboundClusterName(t.port, '', t.svc.hostname));
  const out: Generated[] = [];
  for (const name of wanted) {
    const parsed = parseClusterName(name);
    if (!parsed) continue;
    const svc = serviceFor(snap, namespace, parsed.host);
    if (!svc || !svc.ports.some((p) => p.port === parsed.port)) continue;
    const vs = virtualServiceFor(snap, namespace, svc.hostname);
    out.push({
      name,
      resource: {
        name,
        virtual_hosts: [{
          name: `${svc.hostname}:${parsed.port}`,
          // One vhost per route configuration; the client reaches it through the listener of the
          // same name, whatever form of the host it dialled.
          domains: ['*'],
          routes: buildRoutes(snap, namespace, vs, svc, parsed.port, { labels: ctx.labels ?? {}, proxyless: true }),
        }],
      },
    });
  }
  return out;
};

const UPSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

/**
 * grpcgen buildUpstreamTLSContext: the workload certificate and root of the bootstrap's certificate
 * provider instance `default`, the peer's SPIFFE identity pinned by exact SAN match when known.
 * grpcgen sets no SNI. It nests the root in combined_validation_context, whose Envoy schema also
 * requires an SDS config gRPC does not use; validation_context carries the same for gRPC (A29).
 */
function upstreamTlsSocket(sans: readonly string[]): Obj {
  const validation: Obj = {};
  if (sans.length > 0) validation['match_subject_alt_names'] = sans.map((exact) => ({ exact }));
  validation['ca_certificate_provider_instance'] = { instance_name: 'default', certificate_name: 'ROOTCA' };
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': UPSTREAM_TLS_TYPE,
      common_tls_context: {
        tls_certificate_provider_instance: { instance_name: 'default', certificate_name: 'default' },
        validation_context: validation,
      },
    },
  };
}

/**
 * grpcgen applyTLS on the service's clusters: ISTIO_MUTUAL (the rule's policy merged with the
 * subset's and the port's, as for Envoy) → mTLS with the identities of the service's endpoints
 * (PushContext.ServiceAccounts); every other mode, or no rule, leaves the cluster plaintext.
 */
function withClientTls(snap: SnapshotView, namespace: string, labels: Readonly<Record<string, string>>, svc: ServiceModel, clusters: Generated[]): Generated[] {
  const dr = destinationRuleFor(snap, namespace, svc, labels);
  if (!dr) return clusters;
  let sans: string[] | undefined;
  return clusters.map((c) => {
    const parsed = parseClusterName(c.name);
    if (!parsed || trafficPolicyFor(dr, parsed.port, parsed.subset)?.tls?.mode !== 'ISTIO_MUTUAL') return c;
    // read only for mTLS clusters, so plaintext ones stay independent of endpoint churn
    sans ??= [...(svc.serviceAccounts ?? [])];
    return { name: c.name, resource: { ...(c.resource as Obj), transport_socket: upstreamTlsSocket(sans) } };
  });
}

export const grpcClusters: Generator = (snap, ctx, names) => {
  const namespace = ctx.namespace ?? 'default';
  const labels = ctx.labels ?? {};
  const flavour = { proxyless: true, labels };
  if (names === null) {
    return allTargets(snap, ctx).flatMap((t) => withClientTls(snap, namespace, labels, t.svc, outboundClustersFor(snap, namespace, t.svc, flavour, t.port)));
  }
  const out: Generated[] = [];
  const byService = new Map<string, Map<string, Generated>>();
  for (const name of names) {
    const parsed = parseClusterName(name);
    if (!parsed || parsed.direction !== 'outbound') continue;
    const svc = serviceFor(snap, namespace, parsed.host);
    if (!svc) continue;
    const key = `${svc.namespace}/${svc.hostname}/${parsed.port}`;
    let all = byService.get(key);
    if (!all) {
      all = new Map(withClientTls(snap, namespace, labels, svc, outboundClustersFor(snap, namespace, svc, flavour, parsed.port)).map((c) => [c.name, c]));
      byService.set(key, all);
    }
    const c = all.get(name);
    if (c) out.push(c);
  }
  return out;
};
