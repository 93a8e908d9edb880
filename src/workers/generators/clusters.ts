/**
 * Outbound clusters for a service port and its DestinationRule subsets, with the traffic policy
 * applied as Istio does (pilot/pkg/networking/core cluster_builder.go, cluster_traffic_policy.go,
 * cluster_tls.go): connection pool → circuit breakers and HttpProtocolOptions, h2 upgrade,
 * outlier detection, load balancer (simple, consistent hash, warmup, locality), upstream TLS
 * (DestinationRule modes, and auto mTLS when the rule sets none), upstream PROXY protocol. Not emitted: Istio's telemetry metadata (filter_metadata.istio),
 * alt_stat_name, the istio.metadata_exchange cluster filter (Istio's own Envoy build), `tunnel`.
 * Shared by the sidecar, gateway and proxyless gRPC generators.
 *
 * Proxyless gRPC (flavour.proxyless) keeps the subset of Istio's grpcgen that grpc-js-xds accepts
 * (REFERENCE §9): EDS clusters, ROUND_ROBIN or RING_HASH, circuit breakers; no TLS, no outlier
 * detection, no protocol options.
 */
import { SnapshotView } from '../../shared/snapshot/snapshot-view';
import { ConfigModel, ServiceModel, ServicePort } from '../../shared/model/service';
import { parseGoDuration } from '../../shared/duration';
import { outboundClusterName } from './hosts';
import { destinationRuleFor, TrafficPolicy, trafficPolicyFor } from './destination-rules';
import { ADS_CONFIG_SOURCE, duration } from './types';
import { MtlsMode, namespaceMtlsMode } from './security/peer-authentication';
import { jsonToStruct } from '../../shared/envoy/struct';

type Obj = Record<string, any>;

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000; // Istio mesh default connectTimeout
const MAX_UINT32 = 4294967295;
const HTTP_PROTOCOL_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const HTTP_PROTOCOL_OPTIONS_TYPE = `type.googleapis.com/${HTTP_PROTOCOL_OPTIONS}`;
const UPSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const PROXY_PROTOCOL_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport';
const RAW_BUFFER_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer';
/** The agent's SDS cluster in the Envoy bootstrap (Istio pkg/model SDSClusterName). */
export const SDS_CLUSTER = 'sds-grpc';
/** grpc-js-xds rejects larger rings (REFERENCE §9). */
const GRPC_MAX_RING_SIZE = 8_388_608;

export interface ClusterFlavour {
  /** proxyless gRPC: only what grpc-js-xds accepts (ROUND_ROBIN / RING_HASH via lb_policy; TLS only for ISTIO_MUTUAL, added in grpc.ts) */
  proxyless: boolean;
  /** the proxy's selector-relevant labels (GenContext.labels): DestinationRule workloadSelector */
  labels?: Readonly<Record<string, string>>;
  /**
   * Router (gateway) proxy. Istio serves DestinationRule credentialName to gateways; a sidecar gets
   * it only from a DestinationRule with a workloadSelector (else the cluster has no TLS at all).
   */
  gateway?: boolean;
}

/** Inputs besides the rule: mesh config and, for ISTIO_MUTUAL, the service accounts behind the service. */
export interface ClusterExtras {
  mesh?: Readonly<Record<string, any>>;
  /** SPIFFE identities of the service's endpoints (ISTIO_MUTUAL subjectAltNames default) */
  serviceAccounts?: readonly string[];
  /**
   * Auto mTLS (MeshConfig enableAutoMtls, default on): Istio BestEffortInferServiceMTLSMode of the
   * service port, or undefined when auto mTLS does not apply (disabled, mesh-external service).
   */
  autoMtls?: (port: ServicePort, policy: TrafficPolicy | undefined) => MtlsMode | undefined;
}

/** Go duration string (Istio JSON) → ms, or undefined. */
function ms(v: unknown): number | undefined {
  if (typeof v === 'number') return v * 1000;
  return typeof v === 'string' ? parseGoDuration(v) : undefined;
}

function dur(v: unknown): Obj | undefined {
  const m = ms(v);
  return m === undefined ? undefined : duration(m);
}

/** The mesh (DR over mesh) locality LB setting, or undefined when disabled (loadbalancer.GetLocalityLbSetting). */
export function localityLbSetting(mesh: Readonly<Record<string, any>> | undefined, policy: TrafficPolicy | undefined): Obj | undefined {
  const dr = policy?.loadBalancer?.localityLbSetting;
  if (dr) return dr.enabled === false ? undefined : dr;
  // Istio's default MeshConfig has localityLbSetting {enabled: true}
  const m = mesh?.['localityLbSetting'] ?? { enabled: true };
  return m.enabled === false ? undefined : m;
}

// ---------------------------------------------------------------- protocol options

/** Istio's clusterWrapper.httpProtocolOptions, marshalled only when something set it. */
interface ProtocolOptions { opts?: Obj }

function protocolOptions(p: ProtocolOptions): Obj {
  if (!p.opts) p.opts = {};
  return p.opts;
}

function setH2(p: ProtocolOptions): void {
  const o = protocolOptions(p);
  if (!o['upstream_http_protocol_options']) { delete o['use_downstream_protocol_config']; o['explicit_http_config'] = { http2_protocol_options: {} }; }
}

/** clusterWrapper.build: marshal the options when set; the upstream protocol is required (HTTP/1.1 unless chosen). */
function finishProtocolOptions(cluster: Obj, p: ProtocolOptions): void {
  if (!p.opts) return;
  if (!p.opts['explicit_http_config'] && !p.opts['use_downstream_protocol_config']) p.opts['explicit_http_config'] = { http_protocol_options: {} };
  cluster['typed_extension_protocol_options'] = { [HTTP_PROTOCOL_OPTIONS]: { '@type': HTTP_PROTOCOL_OPTIONS_TYPE, ...p.opts } };
}

const isH2 = (p: ProtocolOptions): boolean => !!p.opts?.['explicit_http_config']?.['http2_protocol_options'];

/** shouldH2Upgrade: the DR's h2UpgradePolicy, else the mesh's for HTTP ports. */
function shouldH2Upgrade(port: ServicePort, mesh: Readonly<Record<string, any>> | undefined, pool: any): boolean {
  const override = pool?.http?.h2UpgradePolicy;
  if (override === 'UPGRADE') return true;
  if (override === 'DO_NOT_UPGRADE') return false;
  if (port.protocol !== 'HTTP') return false;
  return mesh?.['h2UpgradePolicy'] === 'UPGRADE';
}

// ---------------------------------------------------------------- connection pool

function applyConnectionPool(cluster: Obj, pool: any, mesh: Readonly<Record<string, any>> | undefined, p: ProtocolOptions, retryBudget?: any): void {
  const t: Obj = { max_connections: { value: MAX_UINT32 }, max_pending_requests: { value: MAX_UINT32 }, max_requests: { value: MAX_UINT32 }, max_retries: { value: MAX_UINT32 }, track_remaining: true };
  const http = pool?.http, tcp = pool?.tcp;
  if (http?.http2MaxRequests > 0) t['max_requests'] = { value: http.http2MaxRequests };
  if (http?.http1MaxPendingRequests > 0) t['max_pending_requests'] = { value: http.http1MaxPendingRequests };
  if (http?.maxRetries > 0) t['max_retries'] = { value: http.maxRetries };
  if (tcp?.maxConnections > 0) t['max_connections'] = { value: tcp.maxConnections };
  if (tcp?.connectTimeout !== undefined) cluster['connect_timeout'] = dur(tcp.connectTimeout) ?? cluster['connect_timeout'];
  if (retryBudget) {
    // applyRetryBudget, with Istio's defaults (Percent 0.2, minimum retry concurrency 3)
    t['retry_budget'] = {
      budget_percent: { value: typeof retryBudget.percent === 'number' ? retryBudget.percent : 0.2 },
      min_retry_concurrency: { value: retryBudget.minRetryConcurrency > 0 ? retryBudget.minRetryConcurrency : 3 },
    };
  }
  cluster['circuit_breakers'] = { thresholds: [t] };

  // TCP keepalive: the mesh's, then the DR's fields over it (seconds)
  for (const ka of [mesh?.['tcpKeepalive'], tcp?.tcpKeepalive]) {
    if (!ka) continue;
    const opts = (cluster['upstream_connection_options'] ??= { tcp_keepalive: {} }).tcp_keepalive as Obj;
    if (ka.probes > 0) opts['keepalive_probes'] = { value: ka.probes };
    const time = ms(ka.time), interval = ms(ka.interval);
    if (time !== undefined) opts['keepalive_time'] = { value: Math.floor(time / 1000) };
    if (interval !== undefined) opts['keepalive_interval'] = { value: Math.floor(interval / 1000) };
  }

  const idle = http?.idleTimeout ?? tcp?.idleTimeout;
  const perConn = http?.maxRequestsPerConnection > 0 ? http.maxRequestsPerConnection : 0;
  const streams = http?.maxConcurrentStreams > 0 ? http.maxConcurrentStreams : 0;
  const maxDuration = tcp?.maxConnectionDuration;
  if (idle !== undefined || perConn || streams || maxDuration !== undefined) {
    const common: Obj = {};
    if (idle !== undefined) common['idle_timeout'] = dur(idle);
    if (perConn) common['max_requests_per_connection'] = { value: perConn };
    if (maxDuration !== undefined) common['max_connection_duration'] = dur(maxDuration);
    protocolOptions(p)['common_http_protocol_options'] = common;
    if (isH2(p) && streams) p.opts!['explicit_http_config'].http2_protocol_options.max_concurrent_streams = { value: streams };
  }
  if (http?.useClientProtocol) {
    const o = protocolOptions(p);
    delete o['explicit_http_config'];
    o['use_downstream_protocol_config'] = { http_protocol_options: {}, http2_protocol_options: {} };
  }
}

// ---------------------------------------------------------------- outlier detection

function applyOutlierDetection(cluster: Obj, od: any): void {
  if (!od) return;
  const out: Obj = { enforcing_success_rate: { value: 0 } };
  if (od.consecutive5xxErrors !== undefined) {
    out['consecutive_5xx'] = { value: od.consecutive5xxErrors };
    out['enforcing_consecutive_5xx'] = { value: od.consecutive5xxErrors > 0 ? 100 : 0 };
  }
  if (od.consecutiveGatewayErrors !== undefined) {
    out['consecutive_gateway_failure'] = { value: od.consecutiveGatewayErrors };
    out['enforcing_consecutive_gateway_failure'] = { value: od.consecutiveGatewayErrors > 0 ? 100 : 0 };
  }
  if (od.interval !== undefined) out['interval'] = dur(od.interval);
  if (od.baseEjectionTime !== undefined) out['base_ejection_time'] = dur(od.baseEjectionTime);
  if (od.maxEjectionPercent > 0) out['max_ejection_percent'] = { value: od.maxEjectionPercent };
  if (od.splitExternalLocalOriginErrors) {
    out['split_external_local_origin_errors'] = true;
    if (od.consecutiveLocalOriginFailures > 0) {
      out['consecutive_local_origin_failure'] = { value: od.consecutiveLocalOriginFailures };
      out['enforcing_consecutive_local_origin_failure'] = { value: 100 };
    }
    out['enforcing_local_origin_success_rate'] = { value: 0 };
  }
  cluster['outlier_detection'] = out;
  // Istio disables the panic threshold unless minHealthPercent says otherwise (Envoy's default is 50).
  cluster['common_lb_config']['healthy_panic_threshold'] = { value: Number(od.minHealthPercent ?? 0) };
}

// ---------------------------------------------------------------- load balancer

function applyLoadBalancer(cluster: Obj, policy: TrafficPolicy | undefined, mesh: Readonly<Record<string, any>> | undefined): void {
  const lb = policy?.loadBalancer;
  const locality = localityLbSetting(mesh, policy);
  const failover = !!cluster['outlier_detection'] && (locality?.['failover']?.length > 0 || locality?.['failoverPriority']?.length > 0);
  if (failover || locality?.['distribute']?.length > 0) cluster['common_lb_config']['locality_weighted_lb_config'] = {};
  if (cluster['type'] === 'ORIGINAL_DST') { cluster['lb_policy'] = 'CLUSTER_PROVIDED'; return; }

  const slowStart = lb?.warmupDurationSecs !== undefined ? { slow_start_config: { slow_start_window: dur(lb.warmupDurationSecs) } } : undefined;
  switch (lb?.simple) {
    case 'RANDOM': cluster['lb_policy'] = 'RANDOM'; break;
    case 'ROUND_ROBIN':
      cluster['lb_policy'] = 'ROUND_ROBIN';
      if (slowStart) cluster['round_robin_lb_config'] = slowStart;
      break;
    case 'PASSTHROUGH':
      cluster['lb_policy'] = 'CLUSTER_PROVIDED';
      cluster['type'] = 'ORIGINAL_DST';
      delete cluster['load_assignment'];
      delete cluster['eds_cluster_config'];
      break;
    default: // UNSPECIFIED, LEAST_CONN, LEAST_REQUEST: Istio's default algorithm is LEAST_REQUEST
      cluster['lb_policy'] = 'LEAST_REQUEST';
      if (slowStart) cluster['least_request_lb_config'] = slowStart;
  }
  const ch = lb?.consistentHash;
  if (!ch) return;
  delete cluster['round_robin_lb_config'];
  delete cluster['least_request_lb_config'];
  if (ch.maglev) {
    cluster['lb_policy'] = 'MAGLEV';
    if (Number(ch.maglev.tableSize) > 0) cluster['maglev_lb_config'] = { table_size: { value: Number(ch.maglev.tableSize) } };
  } else if (ch.ringHash) {
    cluster['lb_policy'] = 'RING_HASH';
    if (Number(ch.ringHash.minimumRingSize) > 0) cluster['ring_hash_lb_config'] = { minimum_ring_size: { value: Number(ch.ringHash.minimumRingSize) } };
  } else {
    // the deprecated top-level minimumRingSize, else Envoy's default 1024, set explicitly as Istio does
    cluster['lb_policy'] = 'RING_HASH';
    cluster['ring_hash_lb_config'] = { minimum_ring_size: { value: Number(ch.minimumRingSize) > 0 ? Number(ch.minimumRingSize) : 1024 } };
  }
}

/** Today's proxyless policy: ROUND_ROBIN, or RING_HASH (xxHash, ring ≤ grpc's limit). */
function applyProxylessLoadBalancer(cluster: Obj, policy: TrafficPolicy | undefined): void {
  const ch = policy?.loadBalancer?.consistentHash;
  if (!ch) { cluster['lb_policy'] = 'ROUND_ROBIN'; return; }
  const ringSize = Number(ch.ringHash?.minimumRingSize ?? ch.minimumRingSize ?? 0);
  cluster['lb_policy'] = 'RING_HASH';
  cluster['ring_hash_lb_config'] = { hash_function: 'XX_HASH', ...(ringSize > 0 ? { minimum_ring_size: { value: Math.min(ringSize, GRPC_MAX_RING_SIZE) } } : {}) };
}

// ---------------------------------------------------------------- TLS

/** SdsSecretConfig served by the agent over `sds-grpc` (Istio pkg/model ConstructSdsSecretConfig). */
export function agentSdsSecret(name: string): Obj {
  const sds_config: Obj = {
    api_config_source: { api_type: 'GRPC', set_node_on_first_message_only: true, transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: SDS_CLUSTER } }] },
    resource_api_version: 'V3',
  };
  // the workload certificate and root always exist: no initial fetch timeout
  if (name === 'default' || name === 'ROOTCA') sds_config['initial_fetch_timeout'] = duration(0);
  return { name, sds_config };
}

/** SdsSecretConfig for a credentialName, served by istiod over ADS (Istio ConstructSdsSecretConfigForCredential). */
export function credentialSdsSecret(credentialName: string): Obj {
  const name = credentialName.includes('://') ? credentialName : `kubernetes://${credentialName}`;
  return { name, sds_config: { ads: {}, resource_api_version: 'V3' } };
}

const exactSans = (sans: readonly string[] | undefined): Obj[] => (sans ?? []).map((s) => ({ exact: s }));

function tlsParams(mesh?: Readonly<Record<string, any>>, userTls = false): Obj {
  const p: Obj = { tls_minimum_protocol_version: 'TLSv1_2', tls_maximum_protocol_version: 'TLSv1_3' };
  const defaults = userTls ? mesh?.['tlsDefaults'] : undefined;
  if (defaults?.ecdhCurves?.length) p['ecdh_curves'] = defaults.ecdhCurves;
  if (defaults?.cipherSuites?.length) p['cipher_suites'] = defaults.cipherSuites;
  return p;
}

/**
 * ISTIO_MUTUAL upstream TLS: the workload certificate `default` and the root `ROOTCA` from the
 * agent's SDS, in-mesh ALPN. Exported for auto-mTLS (security issue), which wraps this context in
 * transport_socket_matches for endpoints labelled tlsMode=istio.
 */
export function istioMutualTls(sni: string, sans: readonly string[] | undefined, http2: boolean): Obj {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': UPSTREAM_TLS_TYPE,
      common_tls_context: {
        tls_params: tlsParams(),
        alpn_protocols: http2 ? ['istio-peer-exchange', 'istio', 'h2'] : ['istio-peer-exchange', 'istio'],
        tls_certificate_sds_secret_configs: [agentSdsSecret('default')],
        combined_validation_context: { default_validation_context: { match_subject_alt_names: exactSans(sans) }, validation_context_sds_secret_config: agentSdsSecret('ROOTCA') },
      },
      sni,
    },
  };
}

/** `outbound_.port_.subset_.host`: Istio's default SNI for ISTIO_MUTUAL (model.BuildDNSSrvSubsetKey). */
export function istioMtlsSni(port: number, subset: string, host: string): string {
  return `outbound_.${port}_.${subset}_.${host}`;
}

/** SIMPLE / MUTUAL (constructUpstreamTLS); undefined when a sidecar may not use the credential. */
function userTls(tls: any, http2: boolean, mesh: Readonly<Record<string, any>> | undefined, p: ProtocolOptions, externalSans?: readonly string[]): Obj | undefined {
  const mutual = tls.mode === 'MUTUAL';
  const common: Obj = { tls_params: tlsParams(mesh, true) };
  const insecure = tls.insecureSkipVerify === true;
  // setAutoSniAndAutoSanValidation: SNI from the Host header when none is set, and then (unless
  // SANs are given or verification is off) the certificate checked against that host
  if (!tls.sni) {
    const up = (protocolOptions(p)['upstream_http_protocol_options'] ??= {}) as Obj;
    up['auto_sni'] = true;
    if (!tls.subjectAltNames?.length && !insecure) up['auto_san_validation'] = true;
  }
  // a ServiceEntry's identities stand in for subjectAltNames the rule leaves out (after auto SAN was decided)
  if (!tls.subjectAltNames?.length && externalSans?.length) tls = { ...tls, subjectAltNames: externalSans };
  if (tls.credentialName) {
    if (mutual) common['tls_certificate_sds_secret_configs'] = [credentialSdsSecret(tls.credentialName)];
    if (!insecure) {
      common['combined_validation_context'] = {
        default_validation_context: { match_subject_alt_names: exactSans(tls.subjectAltNames) },
        validation_context_sds_secret_config: credentialSdsSecret(`${tls.credentialName}-cacert`),
      };
    }
  } else {
    // files mounted in the pod, served by the agent over SDS so they rotate
    if (mutual) common['tls_certificate_sds_secret_configs'] = [agentSdsSecret(`file-cert:${tls.clientCertificate}~${tls.privateKey}`)];
    if (insecure) common['validation_context'] = {};
    else {
      const dvc: Obj = { match_subject_alt_names: exactSans(tls.subjectAltNames) };
      if (tls.caCrl) dvc['crl'] = { filename: tls.caCrl };
      common['combined_validation_context'] = { default_validation_context: dvc, validation_context_sds_secret_config: agentSdsSecret(`file-root:${tls.caCertificates || 'system'}`) };
    }
  }
  if (http2) common['alpn_protocols'] = ['h2'];
  return { name: 'envoy.transport_sockets.tls', typed_config: { '@type': UPSTREAM_TLS_TYPE, common_tls_context: common, ...(tls.sni ? { sni: tls.sni } : {}) } };
}

/** Istio's transport socket match for endpoints whose metadata says tlsMode=istio (a sidecar). */
const TLS_MODE_ISTIO_MATCH = 'tlsMode-istio';
/** Istio defaultTransportSocketMatch: every other endpoint, plaintext. */
const TLS_MODE_DISABLED_MATCH: Obj = {
  name: 'tlsMode-disabled', match: {},
  transport_socket: { name: 'envoy.transport_sockets.raw_buffer', typed_config: { '@type': RAW_BUFFER_TYPE } },
};

function applyTls(cluster: Obj, tls: any, sni: string, dr: ConfigModel | undefined, flavour: ClusterFlavour, extras: ClusterExtras, p: ProtocolOptions, external: boolean, auto: MtlsMode | undefined): void {
  if (!tls) {
    // Istio buildAutoMtlsSettings: no rule TLS, auto mTLS on, an in-mesh service whose namespace
    // does not disable mTLS → ISTIO_MUTUAL, as transport_socket_matches on the endpoints'
    // tlsMode metadata (plaintext to workloads without a sidecar). ORIGINAL_DST clusters get
    // the TLS socket itself (auto was only inferred when every endpoint has a sidecar).
    if (auto === undefined || auto === 'DISABLE') return;
    const socket = istioMutualTls(sni, extras.serviceAccounts, isH2(p));
    if (cluster['type'] === 'ORIGINAL_DST') { cluster['transport_socket'] = socket; return; }
    cluster['transport_socket_matches'] = [{ name: TLS_MODE_ISTIO_MATCH, match: jsonToStruct({ tlsMode: 'istio' }), transport_socket: socket }, TLS_MODE_DISABLED_MATCH];
    return;
  }
  switch (tls.mode) {
    case 'ISTIO_MUTUAL':
      cluster['transport_socket'] = istioMutualTls(tls.sni || sni, tls.subjectAltNames?.length ? tls.subjectAltNames : extras.serviceAccounts, isH2(p));
      return;
    case 'SIMPLE':
    case 'MUTUAL': {
      const privileged = typeof tls.credentialName === 'string' && tls.credentialName !== '' && !tls.credentialName.startsWith('configmap://');
      if (privileged && !flavour.gateway && !dr?.spec?.workloadSelector) return;
      const socket = userTls(tls, isH2(p), extras.mesh, p, external ? extras.serviceAccounts : undefined);
      if (socket) cluster['transport_socket'] = socket;
      return;
    }
    default: // DISABLE
  }
}

/** TrafficPolicy.proxyProtocol: wrap the transport socket (raw buffer when none) in the PROXY protocol (applyUpstreamProxyProtocol). */
function applyProxyProtocol(cluster: Obj, proxyProtocol: any): void {
  if (!proxyProtocol) return;
  const inner = cluster['transport_socket'] ?? { name: 'envoy.transport_sockets.raw_buffer', typed_config: { '@type': RAW_BUFFER_TYPE } };
  cluster['transport_socket'] = {
    name: 'envoy.transport_sockets.upstream_proxy_protocol',
    typed_config: { '@type': PROXY_PROTOCOL_TYPE, config: { version: proxyProtocol.version ?? 'V1' }, transport_socket: inner },
  };
}

// ---------------------------------------------------------------- cluster

export function buildOutboundCluster(svc: ServiceModel, port: ServicePort, subset: string, dr: ConfigModel | undefined, flavour: ClusterFlavour, endpointsForDns?: Obj, extras: ClusterExtras = {}): Obj {
  const name = outboundClusterName(port.port, subset, svc.hostname);
  const policy = trafficPolicyFor(dr, port.port, subset);
  const mesh = extras.mesh;
  const connectTimeout = ms(mesh?.['connectTimeout']) ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const cluster: Obj = { name, connect_timeout: duration(connectTimeout) };
  if (flavour.proxyless) {
    cluster['type'] = 'EDS';
    cluster['eds_cluster_config'] = { service_name: name, eds_config: ADS_CONFIG_SOURCE };
    applyProxylessLoadBalancer(cluster, policy);
    const pool = policy?.connectionPool;
    if (pool?.http?.http2MaxRequests || pool?.tcp?.maxConnections || pool?.http?.http1MaxPendingRequests) {
      const t: Obj = {};
      if (pool.tcp?.maxConnections) t['max_connections'] = { value: pool.tcp.maxConnections };
      if (pool.http?.http1MaxPendingRequests) t['max_pending_requests'] = { value: pool.http.http1MaxPendingRequests };
      if (pool.http?.http2MaxRequests) t['max_requests'] = { value: pool.http.http2MaxRequests };
      if (pool.http?.maxRetries) t['max_retries'] = { value: pool.http.maxRetries };
      cluster['circuit_breakers'] = { thresholds: [t] };
    }
    return cluster;
  }

  if (svc.resolution === 'eds') {
    cluster['type'] = 'EDS';
    cluster['eds_cluster_config'] = { service_name: name, eds_config: { ads: {}, initial_fetch_timeout: duration(0), resource_api_version: 'V3' } };
  } else if (svc.resolution === 'passthrough') {
    cluster['type'] = 'ORIGINAL_DST';
  } else {
    cluster['type'] = svc.resolution === 'dns' ? 'STRICT_DNS' : 'LOGICAL_DNS';
    cluster['dns_lookup_family'] = 'V4_ONLY';
    cluster['respect_dns_ttl'] = true;
    cluster['dns_refresh_rate'] = duration(ms(mesh?.['dnsRefreshRate']) ?? 60_000); // mesh default 60s
    if (endpointsForDns) cluster['load_assignment'] = endpointsForDns;
  }
  cluster['common_lb_config'] = {};

  const p: ProtocolOptions = {};
  if (port.protocol === 'HTTP2' || port.protocol === 'GRPC') setH2(p); // setUpstreamProtocol
  applyConnectionPool(cluster, policy?.connectionPool, mesh, p, policy?.retryBudget);
  if (shouldH2Upgrade(port, mesh, policy?.connectionPool)) setH2(p);
  applyOutlierDetection(cluster, policy?.outlierDetection);
  applyLoadBalancer(cluster, policy, mesh);
  const auto = policy?.tls ? undefined : extras.autoMtls?.(port, policy);
  applyTls(cluster, policy?.tls, istioMtlsSni(port.port, subset, svc.hostname), dr, flavour, extras, p, svc.source === 'serviceentry', auto);
  applyProxyProtocol(cluster, policy?.proxyProtocol);

  finishProtocolOptions(cluster, p);
  return cluster;
}

/**
 * Inbound clusters take only the connection pool of the service's DestinationRule (Istio
 * buildInboundCluster: the catch-all rule of the service, its port-level policy for the port):
 * circuit breakers (Istio's MaxUint32 defaults included), connect timeout, keepalive and HTTP
 * protocol options. Returns the fields to set on an `inbound|port||` cluster; for the sidecar
 * generator's inbound facet.
 */
export function inboundConnectionPool(snap: SnapshotView, svc: ServiceModel, port: ServicePort): Obj {
  const dr = destinationRuleFor(snap, svc.namespace, svc);
  const policy = trafficPolicyFor(dr, port.port, '');
  const mesh = snap.mesh();
  const out: Obj = { connect_timeout: duration(ms(mesh?.['connectTimeout']) ?? DEFAULT_CONNECT_TIMEOUT_MS) };
  const p: ProtocolOptions = {};
  if (port.protocol === 'HTTP2' || port.protocol === 'GRPC') setH2(p);
  applyConnectionPool(out, policy?.connectionPool, mesh, p);
  finishProtocolOptions(out, p);
  return out;
}

/** SPIFFE identities of the service's endpoints, sorted (Istio PushContext.ServiceAccounts). */
/** The SANs auto mTLS verifies: the service's identities, carried on the service (not read from its endpoints, so endpoint churn regenerates no cluster). */
function serviceAccountsOf(_snap: SnapshotView, svc: ServiceModel): string[] {
  return [...(svc.serviceAccounts ?? [])];
}

/** Does any policy of the rule use one of the TLS modes? (only then do clusters read the endpoints' identities) */
function usesTlsMode(dr: ConfigModel | undefined, modes: readonly string[]): boolean {
  if (!dr) return false;
  const text = JSON.stringify([dr.spec?.trafficPolicy, ((dr.spec?.subsets ?? []) as any[]).map((s) => s?.trafficPolicy)]);
  return modes.some((m) => text.includes(`"${m}"`));
}

/**
 * Istio BestEffortInferServiceMTLSMode for auto mTLS: a passthrough service (resolution NONE, or
 * the rule's PASSTHROUGH load balancer) only when every endpoint of the port has a sidecar (none:
 * DISABLE); then the namespace-wide (else mesh-wide) PeerAuthentication mode; PERMISSIVE without one.
 */
function inferServiceMtlsMode(snap: SnapshotView, svc: ServiceModel, port: ServicePort, policy: TrafficPolicy | undefined): MtlsMode {
  if (svc.resolution === 'passthrough' || policy?.loadBalancer?.simple === 'PASSTHROUGH') {
    const eps = snap.endpoints(svc.hostname, svc.namespace).filter((e) => e.ports[port.name] !== undefined || Object.keys(e.ports).length === 0);
    if (eps.length === 0 || eps.some((e) => e.tlsMode !== 'istio')) return 'DISABLE';
  }
  return namespaceMtlsMode(snap, svc.namespace) ?? 'PERMISSIVE';
}

/** Does the rule leave TLS unset anywhere (top level, a subset, or a port)? Then auto mTLS may apply. */
function leavesTlsUnset(dr: ConfigModel | undefined): boolean {
  if (!dr?.spec?.trafficPolicy?.tls) return true;
  const policies = [dr.spec.trafficPolicy, ...((dr.spec.subsets ?? []) as any[]).map((s) => s?.trafficPolicy)];
  return policies.some((tp) => ((tp?.portLevelSettings ?? []) as any[]).some((pl) => pl && !pl.tls));
}

/** Every outbound cluster (default + one per DR subset) for the service's ports. */
export function outboundClustersFor(snap: SnapshotView, namespace: string, svc: ServiceModel, flavour: ClusterFlavour, portFilter?: number): Array<{ name: string; resource: Obj }> {
  const dr = destinationRuleFor(snap, namespace, svc, flavour.labels);
  const mesh = snap.mesh() as Readonly<Record<string, any>>;
  const extras: ClusterExtras = flavour.proxyless ? {} : { mesh };
  // Auto mTLS (MeshConfig enableAutoMtls, default true) for in-mesh services; never proxyless.
  const autoMtls = !flavour.proxyless && mesh?.['enableAutoMtls'] !== false && !svc.meshExternal && leavesTlsUnset(dr);
  if (autoMtls) extras.autoMtls = (port, policy) => inferServiceMtlsMode(snap, svc, port, policy);
  // The SANs come from the service's identities (ServiceModel.serviceAccounts), not its endpoints: clusters stay independent of pod churn.
  // ISTIO_MUTUAL (and auto mTLS) SANs default to them; for a ServiceEntry, SIMPLE/MUTUAL ones too (Istio: the registry is External)
  if (!flavour.proxyless && (autoMtls || usesTlsMode(dr, svc.source === 'serviceentry' ? ['ISTIO_MUTUAL', 'SIMPLE', 'MUTUAL'] : ['ISTIO_MUTUAL']))) extras.serviceAccounts = serviceAccountsOf(snap, svc);
  const subsets: string[] = ['', ...((dr?.spec?.subsets ?? []) as any[]).map((s) => String(s.name))];
  const out: Array<{ name: string; resource: Obj }> = [];
  for (const port of svc.ports) {
    if (portFilter !== undefined && port.port !== portFilter) continue;
    for (const subset of subsets) {
      const r = buildOutboundCluster(svc, port, subset, dr, flavour, undefined, extras);
      out.push({ name: r['name'] as string, resource: r });
    }
  }
  return out;
}
