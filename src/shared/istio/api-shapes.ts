/**
 * The JSON shapes of the Istio networking API messages we validate (istio/api networking
 * v1alpha3/v1, camelCase JSON names as in the CRDs of manifests/charts/base/files/crd-all.gen.yaml).
 * Used by validate-shape.ts to reject unknown fields at any depth, as the CRD schema and
 * istioctl's strict decoding do. Deprecated fields Istio still accepts are listed (and warned
 * about by the per-kind validators where Istio warns). Data only, no logic.
 */
import type { Shape } from './validate-shape';

const fields = (f: Record<string, Shape>): Shape => ({ fields: f });
const list = (s: Shape): Shape => ({ list: s });
const map = (s: Shape): Shape => ({ map: s });
const oneOf = (...values: string[]): Shape => ({ enum: values });

const STRINGS = list('string');
const STRING_MAP = map('string');

// ---- shared messages ------------------------------------------------------------------------

const PORT_SELECTOR = fields({ number: 'uint32' });
const DESTINATION = fields({ host: 'string', subset: 'string', port: PORT_SELECTOR });
const PERCENT = fields({ value: 'number' });
const STRING_MATCH = fields({ exact: 'string', prefix: 'string', regex: 'string' });
const HEADER_OPERATIONS = fields({ set: STRING_MAP, add: STRING_MAP, remove: STRINGS });
const HEADERS = fields({ request: HEADER_OPERATIONS, response: HEADER_OPERATIONS });
/** networking Port (Gateway servers) and SidecarPort: same JSON fields. */
const PORT = fields({ number: 'uint32', protocol: 'string', name: 'string', targetPort: 'uint32' });
const TLS_VERSIONS = oneOf('TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3');

/** ServerTLSSettings (Gateway servers, Sidecar ingress). */
export const SERVER_TLS_SHAPE = fields({
  httpsRedirect: 'bool',
  mode: oneOf('PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL'),
  serverCertificate: 'string', privateKey: 'string', caCertificates: 'string', caCrl: 'string',
  credentialName: 'string', credentialNames: STRINGS,
  tlsCertificates: list(fields({ serverCertificate: 'string', privateKey: 'string', caCertificates: 'string' })),
  subjectAltNames: STRINGS, verifyCertificateSpki: STRINGS, verifyCertificateHash: STRINGS,
  minProtocolVersion: TLS_VERSIONS, maxProtocolVersion: TLS_VERSIONS, cipherSuites: STRINGS,
});

// ---- DestinationRule -----------------------------------------------------------------------

const CLIENT_TLS = fields({
  mode: oneOf('DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL'),
  clientCertificate: 'string', privateKey: 'string', caCertificates: 'string', credentialName: 'string',
  subjectAltNames: STRINGS, sni: 'string', insecureSkipVerify: 'bool', caCrl: 'string',
});

const LOCALITY_LB = fields({
  distribute: list(fields({ from: 'string', to: map('uint32') })),
  failover: list(fields({ from: 'string', to: 'string' })),
  failoverPriority: STRINGS,
  enabled: 'bool',
});

const LOAD_BALANCER = fields({
  simple: oneOf('UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST'),
  consistentHash: fields({
    httpHeaderName: 'string',
    httpCookie: fields({ name: 'string', path: 'string', ttl: 'duration', attributes: list(fields({ name: 'string', value: 'string' })) }),
    useSourceIp: 'bool',
    httpQueryParameterName: 'string',
    ringHash: fields({ minimumRingSize: 'int64' }),
    maglev: fields({ tableSize: 'int64' }),
    minimumRingSize: 'int64',
  }),
  localityLbSetting: LOCALITY_LB,
  warmupDurationSecs: 'duration',
  warmup: fields({ duration: 'duration', minimumPercent: 'number', aggression: 'number' }),
});

export const CONNECTION_POOL_SHAPE = fields({
  tcp: fields({
    maxConnections: 'int32', connectTimeout: 'duration', maxConnectionDuration: 'duration', idleTimeout: 'duration',
    tcpKeepalive: fields({ probes: 'uint32', time: 'duration', interval: 'duration' }),
  }),
  http: fields({
    http1MaxPendingRequests: 'int32', http2MaxRequests: 'int32', maxRequestsPerConnection: 'int32', maxRetries: 'int32',
    idleTimeout: 'duration', h2UpgradePolicy: oneOf('DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE'), useClientProtocol: 'bool',
    maxConcurrentStreams: 'int32',
  }),
});

const OUTLIER_DETECTION = fields({
  consecutiveErrors: 'int32', splitExternalLocalOriginErrors: 'bool', consecutiveLocalOriginFailures: 'uint32',
  consecutiveGatewayErrors: 'uint32', consecutive5xxErrors: 'uint32', interval: 'duration', baseEjectionTime: 'duration',
  maxEjectionPercent: 'int32', minHealthPercent: 'int32',
});

const PORT_TRAFFIC_POLICY = fields({
  port: PORT_SELECTOR, loadBalancer: LOAD_BALANCER, connectionPool: CONNECTION_POOL_SHAPE,
  outlierDetection: OUTLIER_DETECTION, tls: CLIENT_TLS,
});

const TRAFFIC_POLICY = fields({
  loadBalancer: LOAD_BALANCER, connectionPool: CONNECTION_POOL_SHAPE, outlierDetection: OUTLIER_DETECTION, tls: CLIENT_TLS,
  portLevelSettings: list(PORT_TRAFFIC_POLICY),
  tunnel: fields({ protocol: 'string', targetHost: 'string', targetPort: 'uint32' }),
  proxyProtocol: fields({ version: oneOf('V1', 'V2') }),
  retryBudget: fields({ percent: 'number', minRetryConcurrency: 'uint32' }),
});

export const DESTINATION_RULE_SHAPE = fields({
  host: 'string',
  trafficPolicy: TRAFFIC_POLICY,
  subsets: list(fields({ name: 'string', labels: STRING_MAP, trafficPolicy: TRAFFIC_POLICY })),
  exportTo: STRINGS,
  workloadSelector: fields({ matchLabels: STRING_MAP }),
});

// ---- VirtualService ------------------------------------------------------------------------

const HTTP_MATCH = fields({
  name: 'string', uri: STRING_MATCH, scheme: STRING_MATCH, method: STRING_MATCH, authority: STRING_MATCH,
  headers: map(STRING_MATCH), port: 'uint32', sourceLabels: STRING_MAP, gateways: STRINGS,
  queryParams: map(STRING_MATCH), ignoreUriCase: 'bool', withoutHeaders: map(STRING_MATCH),
  sourceNamespace: 'string', statPrefix: 'string',
});

const HTTP_ROUTE = fields({
  name: 'string',
  match: list(HTTP_MATCH),
  route: list(fields({ destination: DESTINATION, weight: 'int32', headers: HEADERS })),
  redirect: fields({
    uri: 'string', authority: 'string', port: 'uint32', derivePort: oneOf('FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT'),
    scheme: 'string', redirectCode: 'uint32',
  }),
  directResponse: fields({ status: 'uint32', body: fields({ string: 'string', bytes: 'string' }) }),
  delegate: fields({ name: 'string', namespace: 'string' }),
  rewrite: fields({ uri: 'string', authority: 'string', uriRegexRewrite: fields({ match: 'string', rewrite: 'string' }) }),
  timeout: 'duration',
  retries: fields({
    attempts: 'int32', perTryTimeout: 'duration', retryOn: 'string', retryRemoteLocalities: 'bool',
    retryIgnorePreviousHosts: 'bool', backoff: 'duration',
  }),
  fault: fields({
    delay: fields({ fixedDelay: 'duration', exponentialDelay: 'duration', percent: 'int32', percentage: PERCENT }),
    abort: fields({ httpStatus: 'int32', grpcStatus: 'string', http2Error: 'string', percentage: PERCENT }),
  }),
  mirror: DESTINATION,
  mirrors: list(fields({ destination: DESTINATION, percentage: PERCENT })),
  mirrorPercent: 'uint32',
  mirrorPercentage: PERCENT,
  corsPolicy: fields({
    allowOrigin: STRINGS, allowOrigins: list(STRING_MATCH), allowMethods: STRINGS, allowHeaders: STRINGS,
    exposeHeaders: STRINGS, maxAge: 'duration', allowCredentials: 'bool',
    unmatchedPreflights: oneOf('UNSPECIFIED', 'FORWARD', 'IGNORE'),
  }),
  headers: HEADERS,
});

const ROUTE_DESTINATIONS = list(fields({ destination: DESTINATION, weight: 'int32' }));
const L4_MATCH_FIELDS = {
  destinationSubnets: STRINGS, port: 'uint32', sourceLabels: STRING_MAP, gateways: STRINGS, sourceNamespace: 'string',
} as const;

export const VIRTUAL_SERVICE_SHAPE = fields({
  hosts: STRINGS,
  gateways: STRINGS,
  http: list(HTTP_ROUTE),
  tls: list(fields({ match: list(fields({ sniHosts: STRINGS, ...L4_MATCH_FIELDS })), route: ROUTE_DESTINATIONS })),
  tcp: list(fields({ match: list(fields(L4_MATCH_FIELDS)), route: ROUTE_DESTINATIONS })),
  exportTo: STRINGS,
});

// ---- Gateway, Sidecar ----------------------------------------------------------------------

export const GATEWAY_SHAPE = fields({
  servers: list(fields({ port: PORT, bind: 'string', hosts: STRINGS, tls: SERVER_TLS_SHAPE, name: 'string', defaultEndpoint: 'string' })),
  selector: STRING_MAP,
});

const CAPTURE_MODE = oneOf('DEFAULT', 'IPTABLES', 'NONE');

export const SIDECAR_SHAPE = fields({
  workloadSelector: fields({ labels: STRING_MAP }),
  ingress: list(fields({
    port: PORT, bind: 'string', captureMode: CAPTURE_MODE, defaultEndpoint: 'string', tls: SERVER_TLS_SHAPE,
    connectionPool: CONNECTION_POOL_SHAPE,
  })),
  egress: list(fields({ port: PORT, bind: 'string', captureMode: CAPTURE_MODE, hosts: STRINGS })),
  inboundConnectionPool: CONNECTION_POOL_SHAPE,
  outboundTrafficPolicy: fields({ mode: oneOf('REGISTRY_ONLY', 'ALLOW_ANY'), egressProxy: DESTINATION }),
});

// ---- ServiceEntry, WorkloadEntry -----------------------------------------------------------

const WORKLOAD_ENTRY_FIELDS = {
  address: 'string', ports: map('uint32'), labels: STRING_MAP, network: 'string', locality: 'string',
  weight: 'uint32', serviceAccount: 'string',
} as const;

export const WORKLOAD_ENTRY_SHAPE = fields(WORKLOAD_ENTRY_FIELDS);

export const SERVICE_ENTRY_SHAPE = fields({
  hosts: STRINGS,
  addresses: STRINGS,
  ports: list(PORT),
  location: oneOf('MESH_EXTERNAL', 'MESH_INTERNAL'),
  resolution: oneOf('NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'DYNAMIC_DNS'),
  endpoints: list(WORKLOAD_ENTRY_SHAPE),
  workloadSelector: fields({ labels: STRING_MAP }),
  exportTo: STRINGS,
  subjectAltNames: STRINGS,
});
