/**
 * Building blocks of the per-kind validators: an issue collector that records where each problem
 * is (a path into the object), typed field readers that report a wrong type once and then read
 * as `undefined` (so one mistake yields one message, not a cascade), and the field checks Istio's
 * pkg/config/validation applies to ports, protocols, durations and selectors. Pure, no I/O.
 */
import { parseGoDuration } from '../duration';
import { isDns1123Label, isQualifiedName, isDns1123Subdomain, isLabelValue } from './validate-names';

export type PathSegment = string | number;
export type Path = readonly PathSegment[];

/** One problem. `path` points into the object, e.g. ['spec','http',0,'route',1,'weight']. */
export interface ValidationIssue {
  path: PathSegment[];
  message: string;
}

/**
 * Collects the errors and warnings of one object. Paths are copied, callers may reuse arrays. The
 * same message at the same path is recorded once (two checks may look at one field).
 */
export class Issues {
  readonly errors: ValidationIssue[] = [];
  readonly warnings: ValidationIssue[] = [];
  private readonly seen = new Set<string>();
  error(path: Path, message: string): void { this.add(this.errors, 'E', path, message); }
  warn(path: Path, message: string): void { this.add(this.warnings, 'W', path, message); }
  /** True when some error sits exactly at `path`. */
  hasErrorAt(path: Path): boolean { return this.errorPaths.has(pathKey(path)); }

  private readonly errorPaths = new Set<string>();
  private add(list: ValidationIssue[], tag: string, path: Path, message: string): void {
    const at = pathKey(path);
    const key = `${tag}${at}\u0000${message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    if (tag === 'E') this.errorPaths.add(at);
    list.push({ path: [...path], message });
  }
}

function pathKey(path: Path): string {
  return JSON.stringify(path);
}

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An optional mapping. `null` counts as absent (YAML `key:` with no value). */
export function readObj(iss: Issues, path: Path, v: unknown): Obj | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) { iss.error(path, 'must be an object'); return undefined; }
  return v;
}

export function readList(iss: Issues, path: Path, v: unknown): unknown[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) { iss.error(path, 'must be a list'); return undefined; }
  return v;
}

/** Calls `fn` for each item of an optional list, with the item's path. */
export function forEachItem(iss: Issues, path: Path, v: unknown, fn: (item: unknown, itemPath: PathSegment[]) => void): void {
  const list = readList(iss, path, v);
  list?.forEach((item, i) => fn(item, [...path, i]));
}

/** Like forEachItem, but items must be mappings (a scalar item is reported and skipped). */
export function forEachObj(iss: Issues, path: Path, v: unknown, fn: (item: Obj, itemPath: PathSegment[]) => void): void {
  forEachItem(iss, path, v, (item, p) => {
    if (isObj(item)) fn(item, p);
    else iss.error(p, 'must be an object');
  });
}

export function readStr(iss: Issues, path: Path, v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') { iss.error(path, 'must be a string'); return undefined; }
  return v;
}

/** A string that must be present and non-empty; `what` names it in the message. */
export function requireStr(iss: Issues, path: Path, v: unknown, what: string): string | undefined {
  if (v === undefined || v === null || v === '') { iss.error(path, `${what} is required`); return undefined; }
  return readStr(iss, path, v);
}

export function readBool(iss: Issues, path: Path, v: unknown): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') { iss.error(path, 'must be true or false'); return undefined; }
  return v;
}

export function readInt(iss: Issues, path: Path, v: unknown, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) { iss.error(path, `must be an integer, got ${JSON.stringify(v)}`); return undefined; }
  if (v < min || v > max) { iss.error(path, `${v} is out of range ${min}..${max}`); return undefined; }
  return v;
}

/** A percentage: a number (fractions allowed, as Istio's `Percent` message) from 0 to 100. */
export function readPercent(iss: Issues, path: Path, v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) { iss.error(path, 'must be a number'); return undefined; }
  if (v < 0 || v > 100) { iss.error(path, `percentage ${v} is out of range 0..100`); return undefined; }
  return v;
}

export function readEnum<T extends string>(iss: Issues, path: Path, v: unknown, values: readonly T[]): T | undefined {
  const s = readStr(iss, path, v);
  if (s === undefined) return undefined;
  if (!(values as readonly string[]).includes(s)) {
    iss.error(path, `unsupported value "${s}", expected one of ${values.join(', ')}`);
    return undefined;
  }
  return s as T;
}

/**
 * A duration in Go syntax ("1.5s", "100ms"), in milliseconds. Negative durations are rejected, and
 * so is sub-millisecond precision, which Envoy cannot express (Istio: "only durations to ms
 * precision are supported"). `min` is the smallest accepted value in ms.
 */
export function readDuration(iss: Issues, path: Path, v: unknown, min = 0): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') { iss.error(path, `must be a duration string such as 1.5s or 100ms, got ${JSON.stringify(v)}`); return undefined; }
  const s = v;
  const ms = parseGoDuration(s);
  if (ms === undefined) { iss.error(path, `invalid duration "${s}" (expected Go syntax such as 1.5s or 100ms)`); return undefined; }
  if (ms < 0) { iss.error(path, `duration "${s}" must not be negative`); return undefined; }
  if (!Number.isInteger(ms)) { iss.error(path, `duration "${s}": only millisecond precision is supported`); return undefined; }
  if (ms < min) { iss.error(path, `duration "${s}" must be at least ${min}ms`); return undefined; }
  return ms;
}

/** A map of string to string (a YAML `version: 1` is a number and is rejected, as Kubernetes does). */
export function readStringMap(iss: Issues, path: Path, v: unknown): Record<string, string> | undefined {
  const o = readObj(iss, path, v);
  if (!o) return undefined;
  let ok = true;
  for (const [k, val] of Object.entries(o)) {
    if (typeof val !== 'string') { iss.error([...path, k], `value must be a string, got ${JSON.stringify(val)} (quote it)`); ok = false; }
  }
  return ok ? (o as Record<string, string>) : undefined;
}

/** Kubernetes label syntax: `[prefix/]name` keys and short alphanumeric values. */
export function checkLabels(iss: Issues, path: Path, v: unknown): void {
  const labels = readStringMap(iss, path, v);
  for (const [k, val] of Object.entries(labels ?? {})) {
    if (!isLabelKey(k)) iss.error([...path, k], `invalid label key "${k}"`);
    else if (!isLabelValue(val)) iss.error([...path, k], `invalid label value "${val}"`);
  }
}

function isLabelKey(k: string): boolean {
  const slash = k.lastIndexOf('/');
  if (slash < 0) return isQualifiedName(k);
  return isDns1123Subdomain(k.slice(0, slash)) && isQualifiedName(k.slice(slash + 1));
}

/** Rejects fields not in `known` with `unknown field "x"` (protojson's wording), hinting at snake_case. */
export function checkUnknownFields(iss: Issues, path: Path, o: Obj, known: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (known.includes(k)) continue;
    const camel = k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    const hint = camel !== k && known.includes(camel) ? ` (did you mean "${camel}"?)` : '';
    iss.error([...path, k], `unknown field "${k}"${hint}`);
  }
}

/** A port number 1..65535 (Istio ValidatePort). */
export function checkPort(iss: Issues, path: Path, v: unknown, required: boolean): number | undefined {
  if ((v === undefined || v === null) && required) { iss.error(path, 'port number is required'); return undefined; }
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) {
    iss.error(path, `port number ${JSON.stringify(v)} must be in the range 1..65535`);
    return undefined;
  }
  return v;
}

/** Protocols Istio's protocol.Parse knows (case-insensitive). */
const ISTIO_PROTOCOLS = ['tcp', 'udp', 'grpc', 'grpc-web', 'http', 'http_proxy', 'http2', 'https', 'tls', 'mongo', 'redis', 'mysql'];

/** Istio protocol.Parse(s) != Unsupported. */
export function isIstioProtocol(s: string): boolean {
  return ISTIO_PROTOCOLS.includes(s.toLowerCase());
}

/** Istio ValidateProtocol: empty means "sniff", anything else must be known. */
export function checkProtocol(iss: Issues, path: Path, v: unknown, required: boolean): string | undefined {
  const s = readStr(iss, path, v);
  if (s === undefined || s === '') {
    if (required) iss.error(path, 'protocol is required');
    return undefined;
  }
  if (!ISTIO_PROTOCOLS.includes(s.toLowerCase())) { iss.error(path, `unrecognized protocol "${s}"`); return undefined; }
  return s;
}

/** Istio ValidatePortName: a DNS-1123 label (Istio's variant allows upper case). */
export function checkPortName(iss: Issues, path: Path, v: unknown): string | undefined {
  const s = readStr(iss, path, v);
  if (s === undefined || s === '') { iss.error(path, 'port name is required'); return undefined; }
  if (!isDns1123Label(s, true)) { iss.error(path, `invalid port name "${s}"`); return undefined; }
  return s;
}

/**
 * `workloadSelector: { labels: {...} }` as used by ServiceEntry and Sidecar. Label syntax already
 * excludes Istio's "wildcard is not supported in selector"; no labels at all is only a warning in
 * Istio (the config then applies to every workload of the namespace).
 */
export function checkWorkloadSelector(iss: Issues, path: Path, v: unknown, kind: string): Obj | undefined {
  const ws = readObj(iss, path, v);
  if (!ws) return undefined;
  checkUnknownFields(iss, path, ws, ['labels']);
  checkLabels(iss, [...path, 'labels'], ws.labels);
  if (!isObj(ws.labels) || Object.keys(ws.labels).length === 0) {
    iss.warn(path, `${kind}: workload selector specified without labels, will be applied to all services in namespace`);
  }
  return ws;
}

/** The object's namespace (defaulted by the caller before validation), or '' when missing. */
export function namespaceOf(o: Obj): string {
  const md = o.metadata;
  return isObj(md) && typeof md.namespace === 'string' ? md.namespace : '';
}

export interface ExportToOptions {
  /** ServiceEntries may be exported to no one ("~"). */
  allowNone?: boolean;
  /** DestinationRules with a workloadSelector stay in their own namespace. */
  ownNamespaceOnly?: boolean;
}

/**
 * exportTo entries (Istio validateExportTo): "." (own namespace), "*" (all), a namespace name, or
 * "~" where allowed; no duplicates ("." counts as the own namespace), "*" and "~" alone.
 */
export function checkExportTo(iss: Issues, path: Path, v: unknown, namespace: string, opts: ExportToOptions = {}): void {
  const list = readList(iss, path, v);
  if (!list || list.length === 0) return;
  const seen = new Set<string>();
  list.forEach((item, i) => {
    const p = [...path, i];
    const e = readStr(iss, p, item);
    if (e === undefined) return;
    const key = e === '.' ? namespace : e;
    if (seen.has(key)) {
      iss.error(p, key !== e ? `duplicate entries in exportTo: . and current namespace ${namespace}` : `duplicate entries in exportTo for entry ${e}`);
    } else if (e === '~' && !opts.allowNone) {
      iss.error(p, 'exportTo "~" (none) is only allowed for ServiceEntry');
    } else if (e !== '.' && e !== '*' && e !== '~' && !isDns1123Label(e)) {
      iss.error(p, `invalid exportTo value "${e}"`);
    } else {
      seen.add(key);
    }
  });
  if (opts.ownNamespaceOnly && seen.size > 0) {
    if (!seen.has(namespace)) iss.error(path, 'destination rule with workload selector cannot have exportTo beyond current namespace');
    else if (seen.size > 1) iss.error(path, 'destination rule with workload selector cannot have multiple entries in exportTo');
  }
  if (seen.has('*') && list.length > 1) iss.error(path, 'cannot have both public (*) and non-public exportTo values for a resource');
  if (seen.has('~') && list.length > 1) iss.error(path, 'cannot export service entry to no one (~) and someone');
}

/**
 * The `spec` of an Istio kind: must be a mapping when present, and every top-level field must be
 * one the API defines. Absent spec reads as `{}` so required-field checks still report.
 */
export function readIstioSpec(iss: Issues, o: Obj, known: readonly string[]): Obj {
  const spec = readObj(iss, ['spec'], o.spec);
  if (!spec) return {};
  checkUnknownFields(iss, ['spec'], spec, known);
  return spec;
}

/** Reports entries of `values` seen twice, at the second occurrence's path. */
export class DuplicateCheck<T> {
  private readonly seen = new Set<T>();
  /** True when `value` was already seen (and the error was reported). */
  check(iss: Issues, path: Path, value: T | undefined, message: (v: T) => string): boolean {
    if (value === undefined) return false;
    if (this.seen.has(value)) { iss.error(path, message(value)); return true; }
    this.seen.add(value);
    return false;
  }
}
