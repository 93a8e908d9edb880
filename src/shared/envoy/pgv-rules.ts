/**
 * protoc-gen-validate rules as protobufjs keeps them: flattened field options such as
 * `"(validate.rules).string.min_len": 1`, un-flattened here into PGV's FieldRules shape and applied
 * to one value at a time. validate.ts walks the message and calls in; this file knows no message
 * layout. Coverage against the rule keys the descriptor actually carries: pgvCoverage().
 */
import * as protobuf from 'protobufjs';
import { envoyRoot } from './proto';

type Obj = Record<string, unknown>;
/** Where problems go: `add(field path, what is wrong)`. */
export interface ProblemSink { add(path: string, problem: string): void }

/** PGV FieldRules un-flattened: `(validate.rules).duration.gte.nanos: 1` → `{ duration: { gte: { nanos: 1 } } }`. */
export type Rules = { [k: string]: any };

const RULES_PREFIX = '(validate.rules).';

/** PGV rules of a field (or undefined), from its protobufjs options. */
export function parseRules(options: Obj | undefined): Rules | undefined {
  if (!options) return undefined;
  let rules: Rules | undefined;
  for (const [key, value] of Object.entries(options)) {
    if (!key.startsWith(RULES_PREFIX)) continue;
    rules ??= {};
    const parts = key.slice(RULES_PREFIX.length).split('.');
    let node = rules;
    for (const p of parts.slice(0, -1)) node = (node[p] ??= {});
    node[parts[parts.length - 1]!] = value;
  }
  return rules;
}

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** A value for a problem message, shortened. */
export function show(v: unknown): string {
  const s = v instanceof Uint8Array ? `<${v.length} bytes>` : JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/**
 * Rules skipped on purpose, because protobufjs's flattened options cannot represent them:
 * - `in` (string, numeric, enum, duration, any): a repeated option flattens to its last element
 *   only (ResponseFlagFilter.flags keeps "DR" of ~30 flags), so checking would reject allowed
 *   values. `not_in` also keeps one element, which is still a forbidden value: checked, sound but
 *   possibly incomplete.
 * Lost before we see them, so not checkable at all: rules whose value is an empty message, e.g.
 * Cluster.connect_timeout `duration = {gt {}}` ("> 0s") flattens to no option; the Envoy-wide
 * Duration sign check in validate.ts covers the negative half of that one.
 * Not implemented because no field in our descriptor uses them (pgvCoverage() lists them as
 * unhandled the day an entry proto brings one): string formats (email, hostname, ip, uri,
 * address, uuid, header well-known regexes other than HTTP_HEADER_NAME/VALUE), timestamp rules
 * (clock-dependent), map `no_sparse`, `repeated.items.message`-level rules.
 */
export const SKIPPED_RULES: readonly string[] = ['in'];

const NUMERIC = new Set(['double', 'float', 'int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'fixed32', 'fixed64', 'sfixed32', 'sfixed64']);
// PGV well-known regexes (templates/goshared + cc): strict per RFC 7230, loose rejects only \0 \r \n.
const HEADER_NAME = /^:?[0-9a-zA-Z!#$%&'*+-.^_|~`]+$/;
const HEADER_VALUE = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
const HEADER_LOOSE = /^[^\u0000\u000A\u000D]*$/;
const patterns = new Map<string, RegExp | null>();

/** Rules of one scalar value: the family matching its type (wrappers pass the wrapped type). */
export function scalarRules(rules: Rules, scalar: string, v: unknown, path: string, sink: ProblemSink): void {
  if (NUMERIC.has(scalar)) {
    const r = rules[scalar];
    if (r && !(r['ignore_empty'] && Number(v) === 0)) numericRules(r, Number(typeof v === 'object' ? 0 : v), path, sink);
  } else if (scalar === 'string' && rules['string']) stringRules(rules['string'], v as string, path, sink);
  else if (scalar === 'bytes' && rules['bytes']) bytesRules(rules['bytes'], v, path, sink);
  else if (scalar === 'bool' && rules['bool'] && rules['bool']['const'] !== undefined && v !== rules['bool']['const']) {
    sink.add(path, `must be ${rules['bool']['const']}`);
  }
}

/** PGV ranges: gt/gte and lt/lte; when the upper bound is below the lower one the range is exclusive. */
function rangeProblem(r: Rules, v: number | bigint, fmt: (x: any) => string): string | null {
  const lo = r['gt'] !== undefined ? { x: r['gt'], ok: v > r['gt'], s: `> ${fmt(r['gt'])}` }
    : r['gte'] !== undefined ? { x: r['gte'], ok: v >= r['gte'], s: `>= ${fmt(r['gte'])}` } : undefined;
  const hi = r['lt'] !== undefined ? { x: r['lt'], ok: v < r['lt'], s: `< ${fmt(r['lt'])}` }
    : r['lte'] !== undefined ? { x: r['lte'], ok: v <= r['lte'], s: `<= ${fmt(r['lte'])}` } : undefined;
  if (r['const'] !== undefined && v !== r['const']) return `must be ${fmt(r['const'])}, got ${fmt(v)}`;
  if (Array.isArray(r['not_in']) ? r['not_in'].includes(v) : r['not_in'] === v) return `must not be ${fmt(v)}`;
  if (lo && hi) {
    if (hi.x < lo.x) return lo.ok || hi.ok ? null : `must be ${lo.s} or ${hi.s}, got ${fmt(v)}`;
    return lo.ok && hi.ok ? null : `must be ${lo.s} and ${hi.s}, got ${fmt(v)}`;
  }
  const one = lo ?? hi;
  return one && !one.ok ? `must be ${one.s}, got ${fmt(v)}` : null;
}

function numericRules(r: Rules, v: number, path: string, sink: ProblemSink): void {
  const p = rangeProblem(r, v, String);
  if (p) sink.add(path, p);
}

function stringRules(r: Rules, s: string, path: string, sink: ProblemSink): void {
  if (r['ignore_empty'] && s === '') return;
  const chars = r['min_len'] !== undefined || r['max_len'] !== undefined || r['len'] !== undefined ? [...s].length : 0;
  const bytes = r['min_bytes'] !== undefined || r['max_bytes'] !== undefined || r['len_bytes'] !== undefined ? Buffer.byteLength(s) : 0;
  const q = show(s);
  if (r['const'] !== undefined && s !== r['const']) sink.add(path, `must be '${r['const']}', got ${q}`);
  if (r['len'] !== undefined && chars !== r['len']) sink.add(path, `must be ${r['len']} characters long, got ${q}`);
  if (r['min_len'] !== undefined && chars < r['min_len']) sink.add(path, `must be at least ${r['min_len']} characters long, got ${q}`);
  if (r['max_len'] !== undefined && chars > r['max_len']) sink.add(path, `must be at most ${r['max_len']} characters long`);
  if (r['len_bytes'] !== undefined && bytes !== r['len_bytes']) sink.add(path, `must be ${r['len_bytes']} bytes long`);
  if (r['min_bytes'] !== undefined && bytes < r['min_bytes']) sink.add(path, `must be at least ${r['min_bytes']} bytes long`);
  if (r['max_bytes'] !== undefined && bytes > r['max_bytes']) sink.add(path, `must be at most ${r['max_bytes']} bytes long, got ${bytes}`);
  if (r['prefix'] !== undefined && !s.startsWith(r['prefix'])) sink.add(path, `must start with '${r['prefix']}'`);
  if (r['suffix'] !== undefined && !s.endsWith(r['suffix'])) sink.add(path, `must end with '${r['suffix']}'`);
  if (r['contains'] !== undefined && !s.includes(r['contains'])) sink.add(path, `must contain '${r['contains']}'`);
  if (r['not_contains'] !== undefined && s.includes(r['not_contains'])) sink.add(path, `must not contain '${r['not_contains']}'`);
  if (r['not_in'] !== undefined && ([] as unknown[]).concat(r['not_in']).includes(s)) sink.add(path, `must not be ${q}`);
  if (r['pattern'] !== undefined) {
    const re = compiled(r['pattern']);
    if (re && !re.test(s)) sink.add(path, `must match /${r['pattern']}/, got ${q}`);
  }
  const wk = r['well_known_regex'];
  if (wk === 'HTTP_HEADER_NAME' || wk === 'HTTP_HEADER_VALUE' || wk === 1 || wk === 2) {
    const name = wk === 'HTTP_HEADER_NAME' || wk === 1;
    const re = r['strict'] === false ? HEADER_LOOSE : name ? HEADER_NAME : HEADER_VALUE;
    if (!re.test(s)) sink.add(path, `must be a valid HTTP header ${name ? 'name' : 'value'}${r['strict'] === false ? ' (no NUL, CR or LF)' : ''}, got ${q}`);
  }
}

function compiled(source: string): RegExp | null {
  let re = patterns.get(source);
  if (re === undefined) {
    // RE2 syntax; the patterns in Envoy's protos are also valid JS regexes. One that is not is skipped.
    try { re = new RegExp(source, 'u'); } catch { try { re = new RegExp(source); } catch { re = null; } }
    patterns.set(source, re);
  }
  return re;
}

function bytesRules(r: Rules, v: unknown, path: string, sink: ProblemSink): void {
  const n = v instanceof Uint8Array ? v.length : typeof v === 'string' ? Math.floor((v.replace(/=+$/, '').length * 3) / 4) : 0;
  if (r['ignore_empty'] && n === 0) return;
  if (r['len'] !== undefined && n !== r['len']) sink.add(path, `must be ${r['len']} bytes long, got ${n}`);
  if (r['min_len'] !== undefined && n < r['min_len']) sink.add(path, `must be at least ${r['min_len']} bytes long, got ${n}`);
  if (r['max_len'] !== undefined && n > r['max_len']) sink.add(path, `must be at most ${r['max_len']} bytes long, got ${n}`);
}

export function enumRules(e: protobuf.Enum, r: Rules, num: number, path: string, sink: ProblemSink): void {
  if (r['defined_only'] && e.valuesById[num] === undefined) sink.add(path, `${num} is not a defined ${e.name} value`);
  if (r['const'] !== undefined && num !== r['const']) sink.add(path, `must be ${e.valuesById[r['const']] ?? r['const']}`);
  if (r['not_in'] !== undefined && ([] as unknown[]).concat(r['not_in']).includes(num)) sink.add(path, `must not be ${e.valuesById[num] ?? num}`);
}

export function repeatedRules(r: Rules, items: unknown[], path: string, sink: ProblemSink): void {
  if (r['ignore_empty'] && items.length === 0) return;
  if (r['min_items'] !== undefined && items.length < r['min_items']) sink.add(path, `needs at least ${r['min_items']} item(s), got ${items.length}`);
  if (r['max_items'] !== undefined && items.length > r['max_items']) sink.add(path, `allows at most ${r['max_items']} items, got ${items.length}`);
  if (r['unique']) {
    const seen = new Set<string>();
    for (const it of items) {
      const k = typeof it === 'object' ? JSON.stringify(it) : String(it);
      if (seen.has(k)) { sink.add(path, `items must be unique; ${show(it)} repeats`); break; }
      seen.add(k);
    }
  }
}

export function mapRules(r: Rules, pairs: number, path: string, sink: ProblemSink): void {
  if (r['ignore_empty'] && pairs === 0) return;
  if (r['min_pairs'] !== undefined && pairs < r['min_pairs']) sink.add(path, `needs at least ${r['min_pairs']} entr(ies), got ${pairs}`);
  if (r['max_pairs'] !== undefined && pairs > r['max_pairs']) sink.add(path, `allows at most ${r['max_pairs']} entries, got ${pairs}`);
}

function nanosOf(d: Obj): bigint {
  const s = d['seconds'];
  const seconds = typeof s === 'number' || typeof s === 'string' ? BigInt(s) : 0n;
  return seconds * 1_000_000_000n + BigInt(typeof d['nanos'] === 'number' ? d['nanos'] : 0);
}
function fmtNanos(n: bigint): string {
  const ms = Number(n) / 1e6;
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

export function durationRules(r: Rules, d: Obj, path: string, sink: ProblemSink): void {
  if (!Number.isInteger(Number(d['seconds'] ?? 0)) || !Number.isInteger(d['nanos'] ?? 0)) return; // reported by the walk
  const bound = (k: string): bigint | undefined => (isObj(r[k]) ? nanosOf(r[k]) : undefined);
  const rr: Rules = { gt: bound('gt'), gte: bound('gte'), lt: bound('lt'), lte: bound('lte'), const: bound('const') };
  const p = rangeProblem(rr, nanosOf(d), fmtNanos);
  if (p) sink.add(path, p);
}

/** Rules this file applies, as `family.rule` (`repeated.items.` / `map.keys.` / `map.values.` prefixes and duration bound fields stripped). */
const CHECKED_RULES = new Set([
  '(validate.required)', 'message.required', 'message.skip', 'any.required', 'bool.const',
  ...['const', 'lt', 'lte', 'gt', 'gte', 'not_in', 'ignore_empty'].flatMap((r) => [...NUMERIC].map((f) => `${f}.${r}`)),
  'duration.const', 'duration.lt', 'duration.lte', 'duration.gt', 'duration.gte', 'duration.required', 'enum.defined_only', 'enum.const', 'enum.not_in',
  ...['const', 'len', 'min_len', 'max_len', 'len_bytes', 'min_bytes', 'max_bytes', 'prefix', 'suffix', 'contains', 'not_contains', 'not_in',
    'pattern', 'well_known_regex', 'strict', 'ignore_empty'].map((r) => `string.${r}`),
  'bytes.len', 'bytes.min_len', 'bytes.max_len', 'bytes.ignore_empty',
  'repeated.min_items', 'repeated.max_items', 'repeated.unique', 'repeated.ignore_empty', 'map.min_pairs', 'map.max_pairs', 'map.ignore_empty',
]);

/**
 * Every PGV rule key the descriptor carries, split into those this validator checks, those it
 * skips on purpose (SKIPPED_RULES) and any nobody handles yet (a test expects none).
 */
export function pgvCoverage(): { checked: string[]; skipped: string[]; unhandled: string[] } {
  const keys = new Set<string>();
  const visit = (ns: protobuf.NamespaceBase): void => {
    for (const n of ns.nestedArray) {
      if (n instanceof protobuf.Type) {
        for (const f of n.fieldsArray) for (const k of Object.keys(f.options ?? {})) if (k.startsWith(RULES_PREFIX)) keys.add(k.slice(RULES_PREFIX.length));
        for (const o of n.oneofsArray) for (const k of Object.keys(o.options ?? {})) if (k.startsWith('(validate.')) keys.add(k);
      }
      if (n instanceof protobuf.Namespace) visit(n);
    }
  };
  visit(envoyRoot());
  const out = { checked: [] as string[], skipped: [] as string[], unhandled: [] as string[] };
  for (const k of [...keys].sort()) {
    const rule = k.replace(/^(repeated\.items\.|map\.(keys|values)\.)/, '').replace(/^(duration\.\w+)\.(seconds|nanos)$/, '$1');
    if (CHECKED_RULES.has(rule)) out.checked.push(k);
    else if (rule.split('.').some((p) => SKIPPED_RULES.includes(p))) out.skipped.push(k);
    else out.unhandled.push(k);
  }
  return out;
}

