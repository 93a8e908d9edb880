/**
 * The one module that reads process.env. Every knob has a name, default, parser and one-line
 * description (Istio's `env.Register(name, default, desc)` shape); flags use Istio's names.
 * `loadConfig` validates everything up front and returns a frozen Config that is passed down.
 * A bad value stops startup with the knob's name and the value it got.
 */
import * as os from 'node:os';
import { CpuLimit, cpuLimit } from './cpu-limit';
import { parseGoDuration } from '../shared/duration';
import { ConfigError } from '../shared/errors';

export interface Knob<T> {
  name: string;
  default: string;
  description: string;
  parse: (raw: string, name: string) => T;
}

function durationKnob(name: string, def: string, description: string): Knob<number> {
  return {
    name, default: def, description,
    parse: (raw) => {
      const ms = parseGoDuration(raw);
      if (ms === undefined || ms < 0) throw new ConfigError(`${name}: expected a duration such as 100ms, got '${raw}'`);
      return ms;
    },
  };
}

function boolKnob(name: string, def: string, description: string): Knob<boolean> {
  return {
    name, default: def, description,
    parse: (raw) => {
      const v = raw.trim().toLowerCase();
      if (v === 'true' || v === '1') return true;
      if (v === 'false' || v === '0') return false;
      throw new ConfigError(`${name}: expected true or false, got '${raw}'`);
    },
  };
}

function numberKnob(name: string, def: string, description: string, min: number): Knob<number> {
  return {
    name, default: def, description,
    parse: (raw) => {
      const n = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(n) || n < min) throw new ConfigError(`${name}: expected a number >= ${min}, got '${raw}'`);
      return n;
    },
  };
}

export const KNOBS = {
  debounceAfter: durationKnob('PILOT_DEBOUNCE_AFTER', '100ms', 'quiet period after a config or registry event before a push starts'),
  debounceMax: durationKnob('PILOT_DEBOUNCE_MAX', '10s', 'longest a push waits while events keep arriving'),
  enableEdsDebounce: boolKnob('PILOT_ENABLE_EDS_DEBOUNCE', 'true', 'debounce endpoint-only changes too; false pushes them at once'),
  pushThrottle: numberKnob('PILOT_PUSH_THROTTLE', '0', 'concurrent pushes; 0 = auto, min(15 + 5 x cores, 100)', 0),
  maxRequestsPerSecond: numberKnob('PILOT_MAX_REQUESTS_PER_SECOND', '0', 'new xDS streams admitted per second; 0 = auto, min(15 + 5 x cores, 100)', 0),
  pushBurst: numberKnob('PILOT_PUSH_BURST', '1', '(istiod-ts) token-bucket burst for new xDS streams; Istio hard-codes 1', 1),
  xdsCacheSize: numberKnob('PILOT_XDS_CACHE_SIZE', '60000', 'max cached generated resources (entries no proxy holds are evicted first)', 1),
  configWorkers: numberKnob('ISTIOD_CONFIG_WORKERS', '0', '(istiod-ts) config-generation worker threads; 0 = number of cores', 0),
  drainTimeout: durationKnob('ISTIOD_XDS_DRAIN_TIMEOUT', '30s', '(istiod-ts) disconnect an xDS client whose stream does not drain for this long; 0 = never'),
  generationTimeout: durationKnob('ISTIOD_GENERATION_TIMEOUT', '30s', '(istiod-ts) longest one generation job may run before it is retried'),
  snapshotArenaMaxMB: numberKnob('ISTIOD_SNAPSHOT_ARENA_MAX_MB', '1024', '(istiod-ts) ceiling of the shared snapshot arena, MiB', 16),
  enableDebugEndpointAuth: boolKnob('ENABLE_DEBUG_ENDPOINT_AUTH', 'true', 'callers of /debug/* other than localhost must present a bearer token the CA accepts (docs/operations.md)'),
  shutdownTimeout: durationKnob('ISTIOD_SHUTDOWN_TIMEOUT', '10s', '(istiod-ts) bound on a graceful shutdown (SIGTERM/SIGINT); the process exits 1 if it takes longer'),
  filterGatewayClusterConfig: boolKnob('PILOT_FILTER_GATEWAY_CLUSTER_CONFIG', 'false', 'gateways get clusters only for the services their VirtualServices route to'),
} as const;

// ---- certificate authority (issue 6): knobs, flags and the CaConfig slice ------------------------
function stringKnob(name: string, def: string, description: string): Knob<string> {
  return { name, default: def, description, parse: (raw) => raw.trim() };
}

function listKnob(name: string, def: string, description: string): Knob<string[]> {
  return { name, default: def, description, parse: (raw) => raw.split(',').map((s) => s.trim()).filter(Boolean) };
}

export const CA_KNOBS = {
  enableCaServer: boolKnob('ENABLE_CA_SERVER', 'true', 'run the Istio CA (IstioCertificateService) in istiod'),
  defaultCertTtl: durationKnob('DEFAULT_WORKLOAD_CERT_TTL', '24h', 'workload certificate lifetime when the CSR asks for none (validity_duration <= 0)'),
  maxCertTtl: durationKnob('MAX_WORKLOAD_CERT_TTL', '2160h', 'longest workload certificate lifetime a CSR may ask for (90 days)'),
  selfSignedCaCertTtl: durationKnob('CITADEL_SELF_SIGNED_CA_CERT_TTL', '87600h', 'lifetime of the self-signed root (10 years)'),
  rootCheckInterval: durationKnob('CITADEL_SELF_SIGNED_ROOT_CERT_CHECK_INTERVAL', '1h', 'how often the self-signed root is checked for rotation; 0 disables the check'),
  rootGracePercentile: numberKnob('CITADEL_SELF_SIGNED_ROOT_CERT_GRACE_PERIOD_PERCENTILE', '20', 'rotate the self-signed root when less than this percentage of its lifetime is left', 0),
  rsaKeySize: {
    name: 'CITADEL_SELF_SIGNED_CA_RSA_KEY_SIZE', default: '2048', description: 'RSA key size of the self-signed root (2048, 3072 or 4096)',
    parse: (raw: string) => {
      const n = Number(raw);
      if (![2048, 3072, 4096].includes(n)) throw new ConfigError(`CITADEL_SELF_SIGNED_CA_RSA_KEY_SIZE: expected 2048, 3072 or 4096, got '${raw}'`);
      return n;
    },
  } as Knob<number>,
  rootCaDir: stringKnob('ROOT_CA_DIR', './etc/cacerts', 'plug-in CA folder (ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem, or tls.crt/tls.key/ca.crt)'),
  xdsAuth: boolKnob('XDS_AUTH', 'true', 'authenticate xDS clients on the secure port (bearer JWT or mTLS client certificate)'),
  xdsIdentityCheck: boolKnob('PILOT_ENABLE_XDS_IDENTITY_CHECK', 'true', "require the xDS caller's SPIFFE namespace and service account to match the proxy's"),
  tokenAudiences: listKnob('TOKEN_AUDIENCES', 'istio-ca', 'accepted JWT audiences for CSRs and xDS (comma-separated)'),
  customHost: listKnob('ISTIOD_CUSTOM_HOST', '', 'extra DNS names for the istiod serving certificate (comma-separated)'),
  podNamespace: stringKnob('POD_NAMESPACE', 'istio-system', 'namespace istiod runs in (serving certificate name istiod.<ns>.svc)'),
  caWorkers: numberKnob('ISTIOD_CA_WORKERS', '0', '(istiod-ts) CSR-signing worker threads; 0 = half the cores, at least 1', 0),
  plaintextCa: boolKnob('ISTIOD_ENABLE_PLAINTEXT_CA', 'false', '(istiod-ts) with --secureGRPCAddr empty, serve the CA on --grpcAddr (Istio\'s fallback; bearer tokens then cross plaintext)'),
} as const;

/** The CA's slice of the config; signing workers get the parts they need through workerData. */
export interface CaConfig {
  readonly enabled: boolean;
  readonly defaultCertTtlMs: number;
  readonly maxCertTtlMs: number;
  readonly selfSignedCaCertTtlMs: number;
  readonly rootCheckIntervalMs: number;
  readonly rootGracePercentile: number;
  readonly rsaKeySize: number;
  readonly rootCaDir: string;
  readonly xdsAuth: boolean;
  readonly xdsIdentityCheck: boolean;
  readonly tokenAudiences: readonly string[];
  readonly customHosts: readonly string[];
  readonly podNamespace: string;
  /** --jwksFile: trusted JWT signing keys (file mode); empty = no JWT authenticator */
  readonly jwksFile: string;
  /** --jwtIssuer: required `iss` of accepted JWTs; empty = not checked */
  readonly jwtIssuer: string;
  readonly workers: number;
  /** serve the CA on the plaintext port when there is no secure port */
  readonly plaintextCa: boolean;
}

export const CA_FLAGS: readonly FlagSpec[] = [
  { name: 'jwksFile', default: '', description: 'JWKS file of trusted service-account token signing keys (file mode CA and xDS authentication)' },
  { name: 'jwtIssuer', default: '', description: "expected 'iss' of service-account tokens (file mode); empty = not checked" },
];

function loadCaConfig(flag: (name: string) => string, knob: <T>(k: Knob<T>) => T, cores: number): CaConfig {
  const workers = knob(CA_KNOBS.caWorkers);
  const percentile = knob(CA_KNOBS.rootGracePercentile);
  if (percentile > 100) throw new ConfigError(`CITADEL_SELF_SIGNED_ROOT_CERT_GRACE_PERIOD_PERCENTILE: expected 0..100, got '${percentile}'`);
  return Object.freeze({
    enabled: knob(CA_KNOBS.enableCaServer),
    defaultCertTtlMs: knob(CA_KNOBS.defaultCertTtl),
    maxCertTtlMs: knob(CA_KNOBS.maxCertTtl),
    selfSignedCaCertTtlMs: knob(CA_KNOBS.selfSignedCaCertTtl),
    rootCheckIntervalMs: knob(CA_KNOBS.rootCheckInterval),
    rootGracePercentile: percentile,
    rsaKeySize: knob(CA_KNOBS.rsaKeySize),
    rootCaDir: knob(CA_KNOBS.rootCaDir),
    xdsAuth: knob(CA_KNOBS.xdsAuth),
    xdsIdentityCheck: knob(CA_KNOBS.xdsIdentityCheck),
    tokenAudiences: Object.freeze(knob(CA_KNOBS.tokenAudiences)),
    customHosts: Object.freeze(knob(CA_KNOBS.customHost)),
    podNamespace: knob(CA_KNOBS.podNamespace) || 'istio-system',
    jwksFile: flag('jwksFile'),
    jwtIssuer: flag('jwtIssuer'),
    workers: workers === 0 ? Math.max(1, Math.floor(cores / 2)) : Math.floor(workers),
    plaintextCa: knob(CA_KNOBS.plaintextCa),
  });
}
// ---- end certificate authority ------------------------------------------------------------------

// ---- Kubernetes mode (issue 8): knobs, flags and the KubeConfig slice -----------------------------
export const KUBE_KNOBS = {
  enableLeaderElection: boolKnob('PILOT_ENABLE_LEADER_ELECTION', 'true', 'elect one replica (coordination.k8s.io Lease) for the singleton duties: CA root Secret, istio-ca-root-cert ConfigMaps, webhook caBundle; false = this replica does them unconditionally'),
  leaseName: stringKnob('ISTIOD_LEADER_ELECTION_NAME', 'istio-namespace-controller-election', '(istiod-ts) name of the leader-election Lease'),
  leaseNamespace: stringKnob('ISTIOD_LEADER_ELECTION_NAMESPACE', '', '(istiod-ts) namespace of the leader-election Lease; empty = POD_NAMESPACE'),
  leaseDuration: durationKnob('ISTIOD_LEADER_ELECTION_LEASE_DURATION', '30s', '(istiod-ts) Lease duration (Istio: 30s); renew deadline is half of it, retry period a quarter, as Istio'),
  caCertConfigMap: stringKnob('PILOT_CA_CERT_CONFIGMAP', 'istio-ca-root-cert', 'name of the ConfigMap (key root-cert.pem) kept in every namespace with the mesh trust bundle'),
  meshConfigMap: stringKnob('ISTIOD_MESH_CONFIGMAP', 'istio', '(istiod-ts) ConfigMap in POD_NAMESPACE whose key `mesh` holds mesh config, watched live (Istio: istio or istio-<rev>)'),
  webhookConfigName: stringKnob('VALIDATION_WEBHOOK_CONFIG_NAME', '', 'ValidatingWebhookConfiguration the leader patches (caBundle, failurePolicy Fail); empty = istio-validator-<POD_NAMESPACE>'),
  clusterId: stringKnob('CLUSTER_ID', 'Kubernetes', 'this cluster\'s ID (proxies\' metadata CLUSTER_ID)'),
  podName: stringKnob('POD_NAME', '', 'this pod\'s name: the leader-election identity (empty = hostname)'),
} as const;

export const KUBE_FLAGS: readonly FlagSpec[] = [
  { name: 'kubeconfig', default: '', description: "Kubernetes mode: kubeconfig file, or 'in-cluster' for the pod's service account; empty = in-cluster when KUBERNETES_SERVICE_HOST is set and --configDir is empty, else file mode only" },
];

/** Kubernetes mode's slice of the config; `enabled` false = file mode only. */
export interface KubeConfig {
  readonly enabled: boolean;
  /** kubeconfig path, or '' for in-cluster credentials */
  readonly kubeconfig: string;
  readonly leaderElection: boolean;
  readonly leaseName: string;
  readonly leaseNamespace: string;
  readonly leaseDurationMs: number;
  readonly caCertConfigMap: string;
  readonly meshConfigMap: string;
  readonly webhookConfigName: string;
  readonly clusterId: string;
  readonly identity: string;
  readonly podNamespace: string;
}

function loadKubeConfig(flag: (name: string) => string, knob: <T>(k: Knob<T>) => T, env: NodeJS.ProcessEnv, configDir: string): KubeConfig {
  const raw = flag('kubeconfig');
  const inCluster = raw === 'in-cluster' || (raw === '' && configDir === '' && Boolean(env['KUBERNETES_SERVICE_HOST']));
  const podNamespace = knob(CA_KNOBS.podNamespace) || 'istio-system';
  const leaseMs = knob(KUBE_KNOBS.leaseDuration);
  if (leaseMs < 1000) throw new ConfigError(`ISTIOD_LEADER_ELECTION_LEASE_DURATION: expected at least 1s, got '${env['ISTIOD_LEADER_ELECTION_LEASE_DURATION']}'`);
  return Object.freeze({
    enabled: inCluster || raw !== '',
    kubeconfig: inCluster ? '' : raw,
    leaderElection: knob(KUBE_KNOBS.enableLeaderElection),
    leaseName: knob(KUBE_KNOBS.leaseName) || 'istio-namespace-controller-election',
    leaseNamespace: knob(KUBE_KNOBS.leaseNamespace) || podNamespace,
    leaseDurationMs: leaseMs,
    caCertConfigMap: knob(KUBE_KNOBS.caCertConfigMap) || 'istio-ca-root-cert',
    meshConfigMap: knob(KUBE_KNOBS.meshConfigMap),
    webhookConfigName: knob(KUBE_KNOBS.webhookConfigName) || `istio-validator-${podNamespace}`,
    clusterId: knob(KUBE_KNOBS.clusterId) || 'Kubernetes',
    identity: knob(KUBE_KNOBS.podName) || os.hostname(),
    podNamespace,
  });
}
// ---- end Kubernetes mode ---------------------------------------------------------------------------

export interface ListenAddr { host: string; port: number }

export interface Config {
  /** CPUs the auto knobs were sized by (the container's CPU limit, when lower than the affinity mask) */
  readonly cpus: CpuLimit;
  readonly configDir: string;
  readonly grpcAddr: ListenAddr | null;
  readonly secureGrpcAddr: ListenAddr | null;
  readonly monitoringAddr: ListenAddr | null;
  readonly httpAddr: ListenAddr | null;
  readonly httpsAddr: ListenAddr | null;
  readonly meshConfigFile: string;
  readonly stateDir: string;
  readonly logOutputLevel: string;
  /** gRPC keepalive of the xDS servers; maxConnectionAgeMs undefined = connections never aged out */
  readonly keepalive: Readonly<{ intervalMs: number; timeoutMs: number; maxConnectionAgeMs?: number }>;
  readonly debounceAfterMs: number;
  readonly debounceMaxMs: number;
  readonly enableEdsDebounce: boolean;
  readonly pushThrottle: number;
  readonly maxRequestsPerSecond: number;
  readonly pushBurst: number;
  readonly xdsCacheSize: number;
  readonly configWorkers: number;
  readonly generationTimeoutMs: number;
  readonly drainTimeoutMs: number;
  readonly snapshotArenaMaxBytes: number;
  readonly enableDebugEndpointAuth: boolean;
  readonly shutdownTimeoutMs: number;
  /** Feature flags generators read; they reach the workers in the snapshot's mesh object (`features`), never through env. */
  readonly features: Readonly<{ filterGatewayClusterConfig: boolean }>;
  /** certificate authority and secure xDS (issue 6) */
  readonly ca: CaConfig;
  /** Kubernetes mode (issue 8) */
  readonly kube: KubeConfig;
}

export interface FlagSpec { name: string; default: string; description: string }

export const FLAGS: readonly FlagSpec[] = [
  { name: 'configDir', default: '', description: 'folder of YAML/JSON config (Istio kinds + Namespace, Service, EndpointSlice, Pod), watched' },
  { name: 'grpcAddr', default: ':15010', description: 'plaintext xDS (ADS) address; empty disables' },
  { name: 'secureGRPCAddr', default: ':15012', description: 'TLS xDS + CA address (serving certificate from our CA); empty disables' },
  { name: 'monitoringAddr', default: ':15014', description: '/metrics, /version, /debug/*, /dashboard address; empty disables' },
  { name: 'httpAddr', default: ':8080', description: '/ready, /healthz and debug address; empty disables' },
  { name: 'httpsAddr', default: ':15017', description: 'HTTPS webhooks (/validate, /convert; certificate from our CA); empty disables' },
  { name: 'meshConfig', default: '', description: 'mesh config file (YAML, Istio MeshConfig fields); empty = defaults' },
  { name: 'stateDir', default: './.state', description: 'local state (CA root key and cert in file mode)' },
  { name: 'log_output_level', default: 'default:info', description: 'log levels per scope, e.g. ads:debug,push:info' },
  { name: 'keepaliveInterval', default: '30s', description: 'gRPC keepalive ping interval of the xDS servers' },
  { name: 'keepaliveTimeout', default: '10s', description: 'gRPC keepalive: close the connection if a ping is not answered within this' },
  { name: 'keepaliveMaxServerConnectionAge', default: '', description: "close xDS connections (GOAWAY, then 10s grace) after this age, ±10% jitter, so proxies rebalance across replicas (Istio's chart: 30m); empty = never" },
  ...CA_FLAGS,
  ...KUBE_FLAGS,
];

/** `:15010` → all interfaces; `127.0.0.1:15010` → that host; `[::1]:15010`; empty → disabled. */
export function parseAddr(flag: string, raw: string): ListenAddr | null {
  if (raw === '') return null;
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(raw);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--${flag}: expected [host]:port such as :15010 or 127.0.0.1:15010, got '${raw}'`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export function parseFlags(argv: readonly string[]): Record<string, string> {
  const known = new Set(FLAGS.map((f) => f.name));
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument '${arg}' (flags look like --configDir DIR)`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (!known.has(name)) throw new ConfigError(`unknown flag --${name} (see --help)`);
    let value: string;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new ConfigError(`--${name} needs a value`);
      value = argv[++i]!;
    }
    out[name] = value;
  }
  return out;
}

/** A Go duration flag (> 0); `optional` allows '' (undefined). */
function durationFlag(name: string, raw: string, optional: boolean): number | undefined {
  if (optional && raw.trim() === '') return undefined;
  const ms = parseGoDuration(raw);
  if (ms === undefined || ms <= 0) throw new ConfigError(`--${name}: expected a duration such as 30m, got '${raw}'`);
  return ms;
}

/** Istio's auto value for the throttle and the admission rate: min(15 + 5 x cores, 100). */
export function autoConcurrency(cores: number): number {
  return Math.min(15 + 5 * cores, 100);
}

export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, cpus: CpuLimit = cpuLimit()): Config {
  const flags = parseFlags(argv);
  const flag = (name: string): string => flags[name] ?? FLAGS.find((f) => f.name === name)!.default;
  const knob = <T>(k: Knob<T>): T => k.parse(env[k.name] ?? k.default, k.name);
  const cores = cpus.cores;
  const throttle = knob(KNOBS.pushThrottle);
  const rps = knob(KNOBS.maxRequestsPerSecond);
  const workers = knob(KNOBS.configWorkers);
  return Object.freeze({
    cpus,
    configDir: flag('configDir'),
    grpcAddr: parseAddr('grpcAddr', flag('grpcAddr')),
    secureGrpcAddr: parseAddr('secureGRPCAddr', flag('secureGRPCAddr')),
    monitoringAddr: parseAddr('monitoringAddr', flag('monitoringAddr')),
    httpAddr: parseAddr('httpAddr', flag('httpAddr')),
    httpsAddr: parseAddr('httpsAddr', flag('httpsAddr')),
    meshConfigFile: flag('meshConfig'),
    stateDir: flag('stateDir'),
    logOutputLevel: flag('log_output_level'),
    keepalive: Object.freeze({
      intervalMs: durationFlag('keepaliveInterval', flag('keepaliveInterval'), false)!,
      timeoutMs: durationFlag('keepaliveTimeout', flag('keepaliveTimeout'), false)!,
      maxConnectionAgeMs: durationFlag('keepaliveMaxServerConnectionAge', flag('keepaliveMaxServerConnectionAge'), true),
    }),
    debounceAfterMs: knob(KNOBS.debounceAfter),
    debounceMaxMs: knob(KNOBS.debounceMax),
    enableEdsDebounce: knob(KNOBS.enableEdsDebounce),
    pushThrottle: throttle === 0 ? autoConcurrency(cores) : Math.floor(throttle),
    maxRequestsPerSecond: rps === 0 ? autoConcurrency(cores) : rps,
    pushBurst: Math.floor(knob(KNOBS.pushBurst)),
    xdsCacheSize: Math.floor(knob(KNOBS.xdsCacheSize)),
    configWorkers: workers === 0 ? cores : Math.floor(workers),
    generationTimeoutMs: knob(KNOBS.generationTimeout),
    drainTimeoutMs: knob(KNOBS.drainTimeout),
    snapshotArenaMaxBytes: knob(KNOBS.snapshotArenaMaxMB) * 1024 * 1024,
    enableDebugEndpointAuth: knob(KNOBS.enableDebugEndpointAuth),
    shutdownTimeoutMs: knob(KNOBS.shutdownTimeout),
    features: Object.freeze({ filterGatewayClusterConfig: knob(KNOBS.filterGatewayClusterConfig) }),
    ca: loadCaConfig(flag, knob, cores),
    kube: loadKubeConfig(flag, knob, env, flag('configDir')),
  });
}

export function helpText(): string {
  const lines = [
    'istiod-ts: an Istio-compatible control plane (xDS ADS SotW + Delta, worker-pool push engine).',
    '',
    'Usage:',
    '  istiod-ts discovery [flags]     run the control plane',
    '  istiod-ts validate -f FILE|DIR|- [-f ...]',
    '                                  check config files offline, as istioctl validate does',
    '  istiod-ts load-test --scenario FILE [--target host:port --config-dir DIR | --kubeconfig FILE] [--out result.json]',
    '                                  simulated Envoys against a server (docs/load-test.md)',
    '  istiod-ts tune --scenario FILE [--grid K=v1,v2;K2=...]',
    '                                  replay one change trace over a grid of knobs; trade-off table',
    '  istiod-ts proxy-status [PROXY] [-o json] [--istiod HOST:PORT] [--token JWT]',
    '                                  sync status of every connected proxy (CDS/LDS/EDS/RDS: SYNCED, STALE, NOT SENT)',
    '  istiod-ts proxy-config cluster|listener|route|endpoint|all PROXY [-o short|json] [--istiod HOST:PORT] [--token JWT]',
    '                                  what this control plane last sent a proxy; --istiod defaults to localhost:15014 (docs/operations.md)',
    '  istiod-ts --help                this text',
    '',
    'Flags (Istio pilot-discovery names; --flag VALUE or --flag=VALUE):',
    ...FLAGS.map((f) => `  --${f.name.padEnd(18)} ${f.description} (default '${f.default}')`),
    '',
    'Environment knobs (Istio names and defaults; "(istiod-ts)" marks our additions):',
    ...[...Object.values(KNOBS), ...Object.values(CA_KNOBS), ...Object.values(KUBE_KNOBS)].map((k) => `  ${k.name.padEnd(32)} ${k.description} (default ${k.default})`),
    '',
  ];
  return lines.join('\n');
}
