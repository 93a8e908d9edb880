/**
 * The one module that reads process.env. Every knob has a name, default, parser and one-line
 * description (Istio's `env.Register(name, default, desc)` shape); flags use Istio's names.
 * `loadConfig` validates everything up front and returns a frozen Config that is passed down.
 * A bad value stops startup with the knob's name and the value it got.
 */
import * as os from 'node:os';
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
} as const;

export interface ListenAddr { host: string; port: number }

export interface Config {
  readonly configDir: string;
  readonly grpcAddr: ListenAddr | null;
  readonly secureGrpcAddr: ListenAddr | null;
  readonly monitoringAddr: ListenAddr | null;
  readonly httpAddr: ListenAddr | null;
  readonly httpsAddr: ListenAddr | null;
  readonly meshConfigFile: string;
  readonly stateDir: string;
  readonly logOutputLevel: string;
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
}

export interface FlagSpec { name: string; default: string; description: string }

export const FLAGS: readonly FlagSpec[] = [
  { name: 'configDir', default: '', description: 'folder of YAML/JSON config (Istio kinds + Namespace, Service, EndpointSlice, Pod), watched' },
  { name: 'grpcAddr', default: ':15010', description: 'plaintext xDS (ADS) address; empty disables' },
  { name: 'secureGRPCAddr', default: ':15012', description: 'TLS xDS + CA address; empty disables (not served yet: arrives with the CA)' },
  { name: 'monitoringAddr', default: ':15014', description: '/metrics, /version, /debug/* address; empty disables' },
  { name: 'httpAddr', default: ':8080', description: '/ready and debug address; empty disables' },
  { name: 'httpsAddr', default: ':15017', description: 'webhook address; empty disables (not served yet: arrives with Kubernetes mode)' },
  { name: 'meshConfig', default: '', description: 'mesh config file (YAML, Istio MeshConfig fields); empty = defaults' },
  { name: 'stateDir', default: './.state', description: 'local state (CA root key and cert in file mode)' },
  { name: 'log_output_level', default: 'default:info', description: 'log levels per scope, e.g. ads:debug,push:info' },
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

/** Istio's auto value for the throttle and the admission rate: min(15 + 5 x cores, 100). */
export function autoConcurrency(cores: number): number {
  return Math.min(15 + 5 * cores, 100);
}

export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Config {
  const flags = parseFlags(argv);
  const flag = (name: string): string => flags[name] ?? FLAGS.find((f) => f.name === name)!.default;
  const knob = <T>(k: Knob<T>): T => k.parse(env[k.name] ?? k.default, k.name);
  const cores = os.availableParallelism();
  const throttle = knob(KNOBS.pushThrottle);
  const rps = knob(KNOBS.maxRequestsPerSecond);
  const workers = knob(KNOBS.configWorkers);
  return Object.freeze({
    configDir: flag('configDir'),
    grpcAddr: parseAddr('grpcAddr', flag('grpcAddr')),
    secureGrpcAddr: parseAddr('secureGRPCAddr', flag('secureGRPCAddr')),
    monitoringAddr: parseAddr('monitoringAddr', flag('monitoringAddr')),
    httpAddr: parseAddr('httpAddr', flag('httpAddr')),
    httpsAddr: parseAddr('httpsAddr', flag('httpsAddr')),
    meshConfigFile: flag('meshConfig'),
    stateDir: flag('stateDir'),
    logOutputLevel: flag('log_output_level'),
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
  });
}

export function helpText(): string {
  const lines = [
    'istiod-ts: an Istio-compatible control plane (xDS ADS SotW + Delta, worker-pool push engine).',
    '',
    'Usage:',
    '  istiod-ts discovery [flags]     run the control plane',
    '  istiod-ts --help                this text',
    '',
    'Flags (Istio pilot-discovery names; --flag VALUE or --flag=VALUE):',
    ...FLAGS.map((f) => `  --${f.name.padEnd(18)} ${f.description} (default '${f.default}')`),
    '',
    'Environment knobs (Istio names and defaults; "(istiod-ts)" marks our additions):',
    ...Object.values(KNOBS).map((k) => `  ${k.name.padEnd(32)} ${k.description} (default ${k.default})`),
    '',
  ];
  return lines.join('\n');
}
