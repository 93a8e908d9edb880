/**
 * Scenario files: the mesh to generate, how the simulated fleet connects, and the churn
 * programme. `parseScenario` validates everything up front and returns either a complete,
 * frozen Scenario (defaults filled in) or every problem found, each naming its field.
 */
import * as fs from 'node:fs';
import * as YAML from 'yaml';
import { Result } from '../../src/shared/errors';

export type SidecarScoping = 'none' | 'namespace';

export interface ReconnectStorm {
  /** seconds after the churn phase starts */
  readonly atSeconds: number;
  /** share of connected proxies whose stream is dropped at once, 0..1 */
  readonly fraction: number;
}

export interface Churn {
  readonly endpointChangesPerSecond: number;
  readonly configEditsPerMinute: number;
  /**
   * edits of one object every proxy reads (a ServiceEntry in istio-system exported to every
   * namespace, its host renamed each time): the change that touches every proxy
   */
  readonly globalEditsPerMinute: number;
  /** scale-up events spread over the churn phase, each adding `endpoints` pods to one service */
  readonly scaleUps: { readonly count: number; readonly endpoints: number };
  readonly reconnectStorm: ReconnectStorm | null;
}

export interface Scenario {
  readonly name: string;
  readonly seed: number;
  readonly namespaces: number;
  readonly servicesPerNamespace: number;
  readonly endpointsPerService: number;
  /** total simulated proxies; proxy i is a pod of service i mod (namespaces x servicesPerNamespace) */
  readonly proxies: number;
  readonly sidecarScoping: SidecarScoping;
  /** share of proxies that use Delta ADS, 0..1 (the rest use SotW) */
  readonly deltaShare: number;
  /** share of services that get a VirtualService and a DestinationRule, 0..1 */
  readonly routingShare: number;
  /** length of the churn phase */
  readonly durationSeconds: number;
  /** longest wait for every proxy to connect and sync before churn starts */
  readonly warmupSeconds: number;
  /** after churn, longest wait for the last proxies to converge */
  readonly drainSeconds: number;
  /** new streams per second while the fleet ramps up (all workers together) */
  readonly connectsPerSecond: number;
  readonly streamsPerChannel: number;
  readonly reconnect: { readonly initialMs: number; readonly maxMs: number };
  readonly churn: Churn;
  /**
   * the fan-out floor phase after drain: a bare grpc-js server writes prebuilt bytes of the
   * global change's per-proxy size to as many streams as the fleet has, `rounds` times; 0 = off
   */
  readonly floor: { readonly rounds: number };
  /** environment for a server the load tester spawns itself (Istio knob names) */
  readonly server: { readonly env: Readonly<Record<string, string>> };
}

const TOP_FIELDS = ['name', 'seed', 'namespaces', 'servicesPerNamespace', 'endpointsPerService', 'proxies', 'proxiesPerService',
  'sidecarScoping', 'deltaShare', 'routingShare', 'durationSeconds', 'warmupSeconds', 'drainSeconds', 'connectsPerSecond',
  'streamsPerChannel', 'reconnect', 'churn', 'floor', 'server'];
const CHURN_FIELDS = ['endpointChangesPerSecond', 'configEditsPerMinute', 'globalEditsPerMinute', 'scaleUps', 'reconnectStorm'];

class Checker {
  readonly errors: string[] = [];

  obj(v: unknown, path: string, known: readonly string[]): Record<string, unknown> {
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v)) {
      this.errors.push(`${path || 'scenario'}: expected a mapping, got ${JSON.stringify(v)}`);
      return {};
    }
    for (const k of Object.keys(v)) {
      if (!known.includes(k)) this.errors.push(`${path ? path + '.' : ''}${k}: unknown field (known: ${known.join(', ')})`);
    }
    return v as Record<string, unknown>;
  }

  num(o: Record<string, unknown>, key: string, path: string, def: number | undefined, opts: { min?: number; max?: number; integer?: boolean; gt?: number } = {}): number {
    const full = path ? `${path}.${key}` : key;
    const v = o[key];
    if (v === undefined || v === null) {
      if (def === undefined) { this.errors.push(`${full}: required`); return NaN; }
      return def;
    }
    const bounds = [opts.gt !== undefined ? `> ${opts.gt}` : '', opts.min !== undefined ? `>= ${opts.min}` : '', opts.max !== undefined ? `<= ${opts.max}` : ''].filter(Boolean).join(' and ');
    const want = `${opts.integer ? 'an integer' : 'a number'}${bounds ? ' ' + bounds : ''}`;
    if (typeof v !== 'number' || !Number.isFinite(v) || (opts.integer && !Number.isInteger(v))
      || (opts.min !== undefined && v < opts.min) || (opts.max !== undefined && v > opts.max) || (opts.gt !== undefined && v <= opts.gt)) {
      this.errors.push(`${full}: expected ${want}, got ${JSON.stringify(v)}`);
      return def ?? NaN;
    }
    return v;
  }

  str<T extends string>(o: Record<string, unknown>, key: string, path: string, def: T, allowed?: readonly T[]): T {
    const full = path ? `${path}.${key}` : key;
    const v = o[key];
    if (v === undefined || v === null) return def;
    if (typeof v !== 'string' || (allowed && !allowed.includes(v as T))) {
      this.errors.push(`${full}: expected ${allowed ? 'one of ' + allowed.join(', ') : 'a string'}, got ${JSON.stringify(v)}`);
      return def;
    }
    return v as T;
  }
}

/** Validate a parsed scenario document. */
export function validateScenario(doc: unknown, defaultName = 'scenario'): Result<Scenario> {
  const c = new Checker();
  const o = c.obj(doc, '', TOP_FIELDS);
  const namespaces = c.num(o, 'namespaces', '', undefined, { integer: true, min: 1 });
  const servicesPerNamespace = c.num(o, 'servicesPerNamespace', '', undefined, { integer: true, min: 1 });
  const endpointsPerService = c.num(o, 'endpointsPerService', '', 1, { integer: true, min: 1 });
  const services = namespaces * servicesPerNamespace;
  let proxies = NaN;
  if (o['proxies'] !== undefined && o['proxiesPerService'] !== undefined) {
    c.errors.push('proxies, proxiesPerService: give one of them, not both');
  } else if (o['proxiesPerService'] !== undefined) {
    proxies = c.num(o, 'proxiesPerService', '', undefined, { integer: true, min: 0 }) * services;
  } else {
    proxies = c.num(o, 'proxies', '', undefined, { integer: true, min: 0 });
  }
  if (Number.isFinite(proxies) && Number.isFinite(services) && Number.isFinite(endpointsPerService) && services > 0) {
    const perService = Math.ceil(proxies / services);
    if (perService > endpointsPerService) {
      c.errors.push(`endpointsPerService: every simulated proxy is a pod of its service, so it must be >= ${perService} (proxies per service), got ${endpointsPerService}`);
    }
  }
  const reconnectObj = c.obj(o['reconnect'], 'reconnect', ['initialMs', 'maxMs']);
  const initialMs = c.num(reconnectObj, 'initialMs', 'reconnect', 500, { gt: 0 });
  const maxMs = c.num(reconnectObj, 'maxMs', 'reconnect', 30_000, { gt: 0 });
  if (maxMs < initialMs) c.errors.push(`reconnect.maxMs: expected a number >= reconnect.initialMs (${initialMs}), got ${maxMs}`);

  const churnObj = c.obj(o['churn'], 'churn', CHURN_FIELDS);
  let scaleUps = { count: 0, endpoints: 3 };
  const rawScale = churnObj['scaleUps'];
  if (typeof rawScale === 'number' || rawScale === undefined) {
    scaleUps = { count: c.num(churnObj, 'scaleUps', 'churn', 0, { integer: true, min: 0 }), endpoints: 3 };
  } else {
    const so = c.obj(rawScale, 'churn.scaleUps', ['count', 'endpoints']);
    scaleUps = { count: c.num(so, 'count', 'churn.scaleUps', 0, { integer: true, min: 0 }), endpoints: c.num(so, 'endpoints', 'churn.scaleUps', 3, { integer: true, min: 1 }) };
  }
  const durationSeconds = c.num(o, 'durationSeconds', '', undefined, { gt: 0 });
  let reconnectStorm: ReconnectStorm | null = null;
  if (churnObj['reconnectStorm'] !== undefined && churnObj['reconnectStorm'] !== null) {
    const so = c.obj(churnObj['reconnectStorm'], 'churn.reconnectStorm', ['atSeconds', 'fraction']);
    const atSeconds = c.num(so, 'atSeconds', 'churn.reconnectStorm', undefined, { min: 0 });
    if (Number.isFinite(durationSeconds) && atSeconds >= durationSeconds) c.errors.push(`churn.reconnectStorm.atSeconds: must fall inside the churn phase (< durationSeconds ${durationSeconds}), got ${atSeconds}`);
    reconnectStorm = { atSeconds, fraction: c.num(so, 'fraction', 'churn.reconnectStorm', undefined, { gt: 0, max: 1 }) };
  }

  const floorObj = c.obj(o['floor'], 'floor', ['rounds']);
  const floor = { rounds: c.num(floorObj, 'rounds', 'floor', 0, { integer: true, min: 0, max: 20 }) };

  const serverObj = c.obj(o['server'], 'server', ['env']);
  const env: Record<string, string> = {};
  const envObj = c.obj(serverObj['env'], 'server.env', Object.keys((serverObj['env'] as object | undefined) ?? {}));
  for (const [k, v] of Object.entries(envObj)) {
    if (!/^[A-Z_][A-Z0-9_]*$/.test(k)) c.errors.push(`server.env.${k}: expected an environment variable name (A-Z, 0-9, _)`);
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') c.errors.push(`server.env.${k}: expected a string, got ${JSON.stringify(v)}`);
    else env[k] = String(v);
  }

  const scenario: Scenario = {
    name: c.str(o, 'name', '', defaultName),
    seed: c.num(o, 'seed', '', 1, { integer: true, min: 0 }),
    namespaces, servicesPerNamespace, endpointsPerService, proxies,
    sidecarScoping: c.str<SidecarScoping>(o, 'sidecarScoping', '', 'none', ['none', 'namespace']),
    deltaShare: c.num(o, 'deltaShare', '', 0, { min: 0, max: 1 }),
    routingShare: c.num(o, 'routingShare', '', 0.2, { min: 0, max: 1 }),
    durationSeconds,
    warmupSeconds: c.num(o, 'warmupSeconds', '', 60, { gt: 0 }),
    drainSeconds: c.num(o, 'drainSeconds', '', 10, { min: 0 }),
    connectsPerSecond: c.num(o, 'connectsPerSecond', '', 200, { gt: 0 }),
    streamsPerChannel: c.num(o, 'streamsPerChannel', '', 50, { integer: true, min: 1 }),
    reconnect: { initialMs, maxMs },
    churn: {
      endpointChangesPerSecond: c.num(churnObj, 'endpointChangesPerSecond', 'churn', 0, { min: 0 }),
      configEditsPerMinute: c.num(churnObj, 'configEditsPerMinute', 'churn', 0, { min: 0 }),
      globalEditsPerMinute: c.num(churnObj, 'globalEditsPerMinute', 'churn', 0, { min: 0, max: 600 }),
      scaleUps,
      reconnectStorm,
    },
    floor,
    server: { env },
  };
  if (scenario.churn.configEditsPerMinute > 0 && scenario.routingShare === 0) {
    c.errors.push('churn.configEditsPerMinute: config edits change VirtualServices and DestinationRules, so routingShare must be > 0');
  }
  if (c.errors.length > 0) return { ok: false, errors: c.errors };
  return { ok: true, value: deepFreeze(scenario) };
}

/** Read and validate a scenario file; errors name the file. */
export function loadScenario(file: string): Result<Scenario> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return { ok: false, errors: [`${file}: cannot read (${(e as Error).message})`] };
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    return { ok: false, errors: [`${file}: not valid YAML: ${(e as Error).message}`] };
  }
  const base = file.replace(/^.*[\\/]/, '').replace(/\.ya?ml$/, '');
  const res = validateScenario(doc, base);
  return res.ok ? res : { ok: false, errors: res.errors.map((e) => `${file}: ${e}`) };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
