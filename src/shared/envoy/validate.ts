/**
 * What Envoy would NACK, checked before the bytes leave the control plane.
 *
 * Checked, per resource (`validateResource`), walking the plain object (proto field names, nested
 * `Any` as `{ '@type': url, ...fields }`) beside the protobufjs descriptor from proto.ts:
 * - shape: unknown field names (fromObject would drop them silently), wrong JS types, integers out
 *   of their proto range, unknown enum names, two members of one oneof, `Any` without a `@type` or
 *   with a `@type` that is not in the descriptor; recursion into every message, map value, wrapper
 *   (UInt32Value…) and `Any` payload (typed_config, typed_per_filter_config, …);
 * - protoc-gen-validate `(validate.rules)` field annotations and `(validate.required)` oneofs, as
 *   Envoy's generated `Validate()` applies them (proto3 scalars are validated at their default value
 *   when absent; wrapper rules apply to the wrapped value);
 * - Envoy checks outside PGV that NACK: negative or out-of-range `Duration`s anywhere
 *   (MessageUtil::validateDurationFields), a non-API listener without an address, filter chain
 *   matches using the unimplemented `address_suffix`/`suffix_len`.
 * Across a set (`validateResources`): RDS names, clusters named by routes / tcp_proxy and EDS
 * ClusterLoadAssignments exist (only for the kinds the set carries); unique names; unique bound
 * addresses; filter chain matches that are equal or overlap (Envoy's match tree rejects a second
 * chain reaching an occupied leaf); unique virtual host names and domains within a route table.
 *
 * Layout: this file walks messages by descriptor (plans cached per type); pgv-rules.ts applies the
 * rules of one value; cross-checks.ts does the set-level checks.
 *
 * Not checked: PGV rule families that never occur in our descriptor or that protobufjs flattens
 * lossily (see SKIPPED_RULES), deprecated-field rejection (runtime-dependent), extension semantics
 * beyond their proto (regex syntax of safe_regex, header names in matchers, cluster types' own
 * invariants such as "STATIC needs load_assignment"), and semantic overlap of CIDRs.
 */
import * as protobuf from 'protobufjs';
import { envoyRoot } from './proto';
import { chainsOf, crossCheck } from './cross-checks';
import {
  ProblemSink, Rules, durationRules, enumRules, mapRules, parseRules, repeatedRules, scalarRules, show,
} from './pgv-rules';

export { SKIPPED_RULES, pgvCoverage } from './pgv-rules';

// ---- public API --------------------------------------------------------------------------------

/** A set of resources meant for one proxy. Omitted kinds are not required as reference targets. */
export interface ResourceSet {
  clusters?: object[];
  listeners?: object[];
  routes?: object[];
  endpoints?: object[];
  secrets?: object[];
}

export interface ValidateOptions {
  /** Check that referenced routes / clusters / load assignments exist in the set (default true). */
  requireReferences?: boolean;
}

const TYPE_URL_PREFIX = 'type.googleapis.com/';
const CLUSTER = `${TYPE_URL_PREFIX}envoy.config.cluster.v3.Cluster`;
const LISTENER = `${TYPE_URL_PREFIX}envoy.config.listener.v3.Listener`;
const ROUTE = `${TYPE_URL_PREFIX}envoy.config.route.v3.RouteConfiguration`;
const ENDPOINT = `${TYPE_URL_PREFIX}envoy.config.endpoint.v3.ClusterLoadAssignment`;
const SECRET = `${TYPE_URL_PREFIX}envoy.extensions.transport_sockets.tls.v3.Secret`;

/**
 * Problems of one resource, each "Listener 'name': field.path: what is wrong". Empty = valid.
 * Pure: reads only its arguments and the (immutable) descriptor.
 */
export function validateResource(typeUrl: string, resource: object): string[] {
  const type = lookupMessage(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
  const out: string[] = [];
  if (!type) return [`${typeUrl}: not a message type in the Envoy descriptor`];
  const r = resource as Obj;
  const sink = new Sink(`${type.name} '${String(r['name'] ?? r['cluster_name'] ?? '')}'`, out);
  walkMessage(planOf(type), resource, '', sink, 0);
  if (type.fullName === '.envoy.config.listener.v3.Listener' && isObj(r)) listenerShape(r, sink);
  return out;
}

/** Problems in a set of resources (plain objects with proto field names, as generators return them). Empty = valid. */
export function validateResources(set: ResourceSet, opts: ValidateOptions = {}): string[] {
  const out: string[] = [];
  const kinds: Array<[string, object[] | undefined]> = [
    [CLUSTER, set.clusters], [ENDPOINT, set.endpoints], [LISTENER, set.listeners], [ROUTE, set.routes], [SECRET, set.secrets],
  ];
  for (const [url, list] of kinds) for (const r of list ?? []) out.push(...validateResource(url, r));
  crossCheck(set, opts.requireReferences ?? true, out);
  return out;
}

// ---- descriptor plans (built once per message type) --------------------------------------------

type Obj = Record<string, unknown>;
interface FieldPlan {
  readonly name: string;
  readonly repeated: boolean;
  readonly map: boolean;
  readonly keyType: string | undefined;
  readonly message: protobuf.Type | undefined;
  readonly enumType: protobuf.Enum | undefined;
  /** Proto scalar type for non-message, non-enum fields. */
  readonly scalar: string;
  readonly rules: Rules | undefined;
  readonly inOneof: boolean;
}

interface TypePlan {
  readonly type: protobuf.Type;
  readonly fullName: string;
  readonly fields: ReadonlyMap<string, FieldPlan>;
  readonly oneofs: ReadonlyArray<{ name: string; members: readonly string[]; required: boolean }>;
  /** Fields whose rules say something when the field is absent. */
  readonly absentChecks: readonly FieldPlan[];
}

const WRAPPER_SCALAR: Readonly<Record<string, string>> = {
  '.google.protobuf.DoubleValue': 'double', '.google.protobuf.FloatValue': 'float', '.google.protobuf.Int64Value': 'int64',
  '.google.protobuf.UInt64Value': 'uint64', '.google.protobuf.Int32Value': 'int32', '.google.protobuf.UInt32Value': 'uint32',
  '.google.protobuf.BoolValue': 'bool', '.google.protobuf.StringValue': 'string', '.google.protobuf.BytesValue': 'bytes',
};
const ANY = '.google.protobuf.Any';
const DURATION = '.google.protobuf.Duration';
/** google.protobuf.Duration limits (duration.proto), which Envoy enforces on every Duration. */
const MAX_DURATION_SECONDS = 315_576_000_000;

const plans = new Map<protobuf.Type, TypePlan>();
const messages = new Map<string, protobuf.Type | null>();

function lookupMessage(name: string): protobuf.Type | undefined {
  let t = messages.get(name);
  if (t === undefined) {
    const found = name ? envoyRoot().lookup(name) : null;
    t = found instanceof protobuf.Type ? found : null;
    messages.set(name, t);
  }
  return t ?? undefined;
}

function planOf(type: protobuf.Type): TypePlan {
  let plan = plans.get(type);
  if (plan) return plan;
  const fields = new Map<string, FieldPlan>();
  const absentChecks: FieldPlan[] = [];
  for (const f of type.fieldsArray) {
    f.resolve();
    const rt = f.resolvedType;
    const fp: FieldPlan = {
      name: f.name, repeated: f.repeated, map: f.map, keyType: f.map ? (f as unknown as protobuf.MapField).keyType : undefined,
      message: rt instanceof protobuf.Type ? rt : undefined, enumType: rt instanceof protobuf.Enum ? rt : undefined,
      scalar: rt ? '' : f.type, rules: parseRules(f.options as Obj | undefined), inOneof: f.partOf !== null,
    };
    fields.set(f.name, fp);
    if (fp.rules && !fp.inOneof && saysSomethingWhenAbsent(fp)) absentChecks.push(fp);
  }
  const oneofs = type.oneofsArray.map((o) => ({ name: o.name, members: o.oneof, required: (o.options as Obj | undefined)?.['(validate.required)'] === true }));
  plan = { type, fullName: type.fullName, fields, oneofs, absentChecks };
  plans.set(type, plan);
  return plan;
}

function saysSomethingWhenAbsent(fp: FieldPlan): boolean {
  const r = fp.rules!;
  if (fp.map) return (r['map']?.['min_pairs'] ?? 0) > 0;
  if (fp.repeated) return (r['repeated']?.['min_items'] ?? 0) > 0;
  if (fp.message) return r['message']?.['required'] === true || r['duration']?.['required'] === true || r['any']?.['required'] === true;
  return true; // proto3 scalar: PGV validates the default value
}

// ---- the walk ----------------------------------------------------------------------------------

class Sink implements ProblemSink {
  constructor(readonly label: string, private readonly out: string[]) {}
  add(path: string, problem: string): void { this.out.push(`${this.label}: ${path || '(root)'}: ${problem}`); }
}

const MAX_DEPTH = 64;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);
}
const present = (v: unknown): boolean => v !== undefined && v !== null;
const join = (path: string, key: string): string => (path ? `${path}.${key}` : key);
function walkMessage(plan: TypePlan, v: unknown, path: string, sink: Sink, depth: number): void {
  if (!isObj(v)) { sink.add(path, `expected a ${plan.fullName.slice(1)} object, got ${show(v)}`); return; }
  if (depth > MAX_DEPTH) { sink.add(path, 'nested too deep (cycle?)'); return; }
  if (plan.fullName === ANY) { walkAny(v, path, sink, depth); return; }
  for (const key of Object.keys(v)) {
    const value = v[key];
    if (!present(value)) continue;
    const fp = plan.fields.get(key);
    if (!fp) { sink.add(join(path, key), `${plan.fullName.slice(1)} has no field '${key}'`); continue; }
    walkField(fp, value, join(path, key), sink, depth);
  }
  for (const o of plan.oneofs) {
    let set: string[] | undefined;
    for (const m of o.members) if (present(v[m])) (set ??= []).push(m);
    if (set && set.length > 1) sink.add(path, `oneof ${o.name} has ${set.join(' and ')} set; only one is allowed`);
    else if (!set && o.required) sink.add(path, `oneof ${o.name} is required: set one of ${o.members.join(', ')}`);
  }
  for (const fp of plan.absentChecks) if (!present(v[fp.name])) absentRules(fp, join(path, fp.name), sink);
  if (plan.fullName === DURATION) durationRange(v, path, sink);
}

function walkAny(v: Obj, path: string, sink: Sink, depth: number): void {
  const url = v['@type'];
  if (url === undefined) {
    // The wire form { type_url, value: bytes } is accepted; its payload is not decoded.
    if (typeof v['type_url'] === 'string' && v['value'] instanceof Uint8Array) {
      if (!lookupMessage(v['type_url'].slice(v['type_url'].lastIndexOf('/') + 1))) sink.add(path, `type_url '${v['type_url']}' is not in the Envoy descriptor`);
      return;
    }
    sink.add(path, "Any without '@type'");
    return;
  }
  if (typeof url !== 'string' || !url.includes('/')) { sink.add(join(path, '@type'), `expected a type URL, got ${show(url)}`); return; }
  const inner = lookupMessage(url.slice(url.lastIndexOf('/') + 1));
  if (!inner) { sink.add(join(path, '@type'), `'${url}' is not a type in the Envoy descriptor`); return; }
  const { '@type': _drop, ...payload } = v;
  walkMessage(planOf(inner), payload, path, sink, depth + 1);
}

function walkField(fp: FieldPlan, value: unknown, path: string, sink: Sink, depth: number): void {
  const r = fp.rules;
  if (fp.map) {
    if (!isObj(value)) { sink.add(path, `map field given ${show(value)}`); return; }
    const keys = Object.keys(value);
    if (r?.['map']) mapRules(r['map'], keys.length, path, sink);
    for (const k of keys) {
      const kp = `${path}[${JSON.stringify(k)}]`;
      const keyProblem = mapKeyProblem(fp.keyType!, k);
      if (keyProblem) sink.add(kp, keyProblem);
      if (r?.['map']?.['keys']) scalarRules(r['map']['keys'], fp.keyType!, k, kp, sink);
      if (present(value[k])) walkValue(fp, value[k], r?.['map']?.['values'], kp, sink, depth);
    }
    return;
  }
  if (fp.repeated) {
    if (!Array.isArray(value)) { sink.add(path, `repeated field given ${show(value)}`); return; }
    const rep = r?.['repeated'];
    if (rep) repeatedRules(rep, value, path, sink);
    value.forEach((item, i) => walkValue(fp, item, rep?.['items'], `${path}[${i}]`, sink, depth));
    return;
  }
  walkValue(fp, value, r, path, sink, depth);
}

/** One value of a field (a singular field, a repeated item or a map value) with its rules. */
function walkValue(fp: FieldPlan, value: unknown, rules: Rules | undefined, path: string, sink: Sink, depth: number): void {
  if (fp.message) {
    if (!isObj(value)) { sink.add(path, `expected a ${fp.message.fullName.slice(1)} object, got ${show(value)}`); return; }
    if (rules?.['message']?.['skip'] !== true) walkMessage(planOf(fp.message), value, path, sink, depth + 1);
    if (rules) {
      const wrapped = WRAPPER_SCALAR[fp.message.fullName];
      if (wrapped && scalarProblem(wrapped, value['value'] ?? scalarDefault(wrapped)) === null) scalarRules(rules, wrapped, value['value'] ?? scalarDefault(wrapped), join(path, 'value'), sink);
      if (rules['duration'] && fp.message.fullName === DURATION) durationRules(rules['duration'], value, path, sink);
    }
    return;
  }
  if (fp.enumType) { enumValue(fp.enumType, value, rules?.['enum'], path, sink); return; }
  const problem = scalarProblem(fp.scalar, value);
  if (problem) { sink.add(path, problem); return; }
  if (rules) scalarRules(rules, fp.scalar, value, path, sink);
}

// ---- types -------------------------------------------------------------------------------------

const INT_RANGE: Readonly<Record<string, readonly [number, number]>> = {
  int32: [-(2 ** 31), 2 ** 31 - 1], sint32: [-(2 ** 31), 2 ** 31 - 1], sfixed32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1], fixed32: [0, 2 ** 32 - 1],
};
const INT64 = new Set(['int64', 'sint64', 'sfixed64', 'uint64', 'fixed64']);
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

function scalarDefault(scalar: string): unknown {
  return scalar === 'string' ? '' : scalar === 'bool' ? false : scalar === 'bytes' ? new Uint8Array(0) : 0;
}

/** Why protobufjs would mangle `v` for a field of proto type `scalar`, or null. */
function scalarProblem(scalar: string, v: unknown): string | null {
  switch (scalar) {
    case 'string': return typeof v === 'string' ? null : `expected a string, got ${show(v)}`;
    case 'bool': return typeof v === 'boolean' ? null : `expected a boolean, got ${show(v)}`;
    case 'double': case 'float': return typeof v === 'number' ? null : `expected a number, got ${show(v)}`;
    case 'bytes':
      if (v instanceof Uint8Array) return null;
      return typeof v === 'string' && BASE64.test(v) ? null : `expected bytes (Uint8Array or base64), got ${show(v)}`;
    default: break;
  }
  const range = INT_RANGE[scalar];
  if (range) {
    if (typeof v !== 'number' || !Number.isInteger(v)) return `expected an integer (${scalar}), got ${show(v)}`;
    return v < range[0] || v > range[1] ? `${v} is out of ${scalar} range` : null;
  }
  if (INT64.has(scalar)) {
    const unsigned = scalar.startsWith('u') || scalar === 'fixed64';
    const n = typeof v === 'number' && Number.isInteger(v) ? v
      : typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v)
        : isObj(v) && typeof v['low'] === 'number' && typeof v['high'] === 'number' ? 0 /* Long */ : undefined;
    if (n === undefined) return `expected an integer (${scalar}), got ${show(v)}`;
    return unsigned && n < 0 ? `${n} is negative for ${scalar}` : null;
  }
  return `unsupported scalar type ${scalar}`;
}

function mapKeyProblem(keyType: string, k: string): string | null {
  if (keyType === 'string') return null;
  if (keyType === 'bool') return k === 'true' || k === 'false' ? null : `map key '${k}' is not a bool`;
  return /^-?\d+$/.test(k) ? scalarProblem(keyType, INT64.has(keyType) ? k : Number(k)) : `map key '${k}' is not an integer`;
}

function enumValue(e: protobuf.Enum, v: unknown, rules: Rules | undefined, path: string, sink: Sink): void {
  let num: number | undefined;
  if (typeof v === 'string') {
    num = e.values[v];
    if (num === undefined) { sink.add(path, `'${v}' is not a ${e.name} value`); return; }
  } else if (typeof v === 'number' && Number.isInteger(v)) {
    num = v;
  } else {
    sink.add(path, `expected a ${e.name} name or number, got ${show(v)}`);
    return;
  }
  if (rules) enumRules(e, rules, num, path, sink);
}

/** A field's rules when the field is absent (see saysSomethingWhenAbsent). */
function absentRules(fp: FieldPlan, path: string, sink: Sink): void {
  const r = fp.rules!;
  if (fp.map) mapRules(r['map'], 0, path, sink);
  else if (fp.repeated) repeatedRules(r['repeated'], [], path, sink);
  else if (fp.message) sink.add(path, 'is required');
  else if (fp.enumType) enumRules(fp.enumType, r['enum'] ?? {}, 0, path, sink);
  else scalarRules(r, fp.scalar, scalarDefault(fp.scalar), path, sink);
}

/** Envoy's MessageUtil::validateDurationFields: "Invalid duration: Expected positive duration". */
function durationRange(d: Obj, path: string, sink: Sink): void {
  const seconds = Number(d['seconds'] ?? 0);
  const nanos = Number(d['nanos'] ?? 0);
  if (seconds < 0 || nanos < 0) sink.add(path, `negative duration (${seconds}s ${nanos}ns); Envoy expects a positive duration`);
  else if (nanos > 999_999_999 || seconds > MAX_DURATION_SECONDS) sink.add(path, `duration out of range (${seconds}s ${nanos}ns)`);
}

/** Envoy listener checks outside PGV. */
function listenerShape(l: Obj, sink: Sink): void {
  if (!present(l['address']) && !present(l['api_listener']) && !present(l['internal_listener'])) sink.add('address', 'is required (Envoy: "address is necessary")');
  chainsOf(l).forEach(({ chain, path }) => {
    const m = isObj(chain) ? chain['filter_chain_match'] : undefined;
    if (isObj(m) && (present(m['suffix_len']) || (typeof m['address_suffix'] === 'string' && m['address_suffix'] !== ''))) {
      sink.add(`${path}.filter_chain_match`, 'address_suffix / suffix_len are unimplemented in Envoy and rejected');
    }
  });
}

