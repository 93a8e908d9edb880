/**
 * HTTP-level field checks shared by VirtualService routes: StringMatch (with RE2 regexes), header
 * names in matches and header operations, header values in Envoy's `%VARIABLE%` syntax, and
 * Istio's `Percent`. After Istio's pkg/config/validation (validateStringMatch,
 * ValidateHTTPHeaderNameOrJwtClaimRoute, ValidateHTTPHeaderOperationName, ValidateHTTPHeaderValue,
 * validatePercentage). Pure, no I/O.
 */
import { Issues, Obj, Path, PathSegment, checkUnknownFields, forEachItem, readObj, readStr } from './validate-fields';

/** RFC 7230 token characters. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~A-Za-z0-9]+$/;
const PSEUDO_HEADERS = new Set([':method', ':scheme', ':authority', ':path', ':status']);
/** Istio's JWT claim routing keys: "@request.auth.claims.<name>" or "@request.auth.claims[a][b]". */
const JWT_CLAIM = /^@request\.auth\.claims(\.[^.[\]]+|(\[[^\]]+\])+)$/;
const CONTROL_CHARS = /[\u0000-\u0008\u000A-\u001F\u007F]/;
/** Envoy caps regex program size; Istio approximates it by length. */
const MAX_REGEX_LENGTH = 1024;

export function isJwtClaimHeader(name: string): boolean {
  return JWT_CLAIM.test(name);
}

/** A header name in a match: a token, a pseudo header or a JWT claim key. */
export function checkMatchHeaderName(iss: Issues, p: Path, name: string): void {
  if (name === '') iss.error(p, 'header name cannot be empty');
  else if (!isJwtClaimHeader(name) && !PSEUDO_HEADERS.has(name) && !HEADER_NAME.test(name)) iss.error(p, `header name ${name} is not a valid header name`);
}

/** A CORS allow/expose header: a token or "*". */
export function checkCorsHeaderName(iss: Issues, p: Path, v: unknown): void {
  const name = readStr(iss, p, v);
  if (name === undefined) return;
  if (name === '') iss.error(p, 'header name cannot be empty');
  else if (name !== '*' && !HEADER_NAME.test(name)) iss.error(p, `header name ${name} is not a valid header name`);
}

/**
 * `headers: {request, response}` operations. Requests may set the authority (":authority" or
 * "host"), nothing else with a ":" prefix; responses may not touch "host" or pseudo headers.
 * Returns the authority values set, for the single-authority-rewrite rule.
 */
export function checkHeaderOperations(iss: Issues, p: PathSegment[], v: unknown): string[] {
  const headers = readObj(iss, p, v);
  const authorities: string[] = [];
  for (const side of ['request', 'response'] as const) {
    const ops = readObj(iss, [...p, side], headers?.[side]);
    if (!ops) continue;
    for (const op of ['set', 'add'] as const) {
      const m = readObj(iss, [...p, side, op], ops[op]);
      for (const [name, val] of Object.entries(m ?? {})) {
        const np = [...p, side, op, name];
        const isAuthority = /^(:authority|host)$/i.test(name);
        if (side === 'request' && isAuthority) {
          if (typeof val === 'string') authorities.push(val);
        } else {
          operationNameCheck(iss, np, name);
        }
        const value = readStr(iss, np, val);
        const err = value === undefined ? undefined : headerValueError(value);
        if (err) iss.error(np, err);
      }
    }
    forEachItem(iss, [...p, side, 'remove'], ops.remove, (n, np) => {
      const name = readStr(iss, np, n);
      if (name !== undefined) operationNameCheck(iss, np, name);
    });
  }
  return authorities;
}

function operationNameCheck(iss: Issues, p: Path, name: string): void {
  if (name === '') iss.error(p, 'header name cannot be empty');
  else if (/^host$/i.test(name)) iss.error(p, `invalid header "${name}": cannot set Host header`);
  else if (name.startsWith(':')) iss.error(p, `invalid header "${name}": header cannot have ":" prefix`);
}

/**
 * Envoy custom header values: no control characters; "%" starts a `%VAR%` or `%VAR(args)%`
 * expression and a literal percent is written "%%".
 */
export function headerValueError(value: string): string | undefined {
  if (CONTROL_CHARS.test(value)) return `header value configuration ${JSON.stringify(value)} is invalid`;
  for (let i = 0; i < value.length; i++) {
    if (value[i] !== '%') continue;
    if (i + 1 >= value.length) return 'header value configuration: un-escaped % (write %% for a literal percent)';
    if (value[i + 1] === '%') { i++; continue; }
    const m = /^%[^%(]+(\([^)]*\))?%/.exec(value.slice(i));
    if (!m) return `header value configuration: un-terminated variable expression in ${JSON.stringify(value)}`;
    i += m[0].length - 1;
  }
  return undefined;
}

export interface StringMatchOptions {
  /** In header-like maps an empty match `{}` means "present". */
  allowEmpty: boolean;
  /** URIs may use an empty prefix (Envoy accepts it there); scheme, method, authority, headers may not. */
  allowEmptyPrefix?: boolean;
}

/** StringMatch: exactly one of exact/prefix/regex, non-empty where Envoy needs it, RE2 regexes. */
export function checkStringMatch(iss: Issues, p: PathSegment[], v: unknown, opts: StringMatchOptions): Obj | undefined {
  const m = readObj(iss, p, v);
  if (!m) return undefined;
  checkUnknownFields(iss, p, m, ['exact', 'prefix', 'regex']);
  const set = ['exact', 'prefix', 'regex'].filter((k) => m[k] !== undefined && m[k] !== null);
  if (set.length > 1) iss.error(p, 'only one of exact, prefix or regex may be set');
  if (set.length === 0 && !opts.allowEmpty) iss.error(p, 'one of exact, prefix or regex is required');
  for (const k of set) readStr(iss, [...p, k], m[k]);
  if (m.prefix === '' && !opts.allowEmptyPrefix) iss.error([...p, 'prefix'], 'prefix string match should not be empty');
  if (typeof m.regex === 'string') checkRegex(iss, [...p, 'regex'], m.regex);
  return m;
}

/** An RE2 regex, as Envoy compiles it. */
export function checkRegex(iss: Issues, p: Path, re: string): void {
  if (re === '') { iss.error(p, 'regex string match should not be empty'); return; }
  if (re.length > MAX_REGEX_LENGTH) { iss.error(p, `regex is too large, max length allowed is ${MAX_REGEX_LENGTH}`); return; }
  const err = re2Error(re);
  if (err) iss.error(p, `invalid regex "${re}": ${err}; Istio uses RE2 syntax`);
}

/**
 * JS compiles most RE2 once inline flags and `(?P<name>` are translated; look-around and
 * back-references (which RE2 lacks) are rejected.
 */
function re2Error(re: string): string | undefined {
  if (/\(\?<?[=!]/.test(re)) return 'look-around is not supported by RE2';
  if (/\\[1-9]/.test(re)) return 'back-references are not supported by RE2';
  let flags = '';
  const body = re.replace(/^\(\?([imsU]+)\)/, (_, f: string) => { flags = f.replace(/U/g, ''); return ''; }).replace(/\(\?P</g, '(?<');
  try {
    // No 'u' flag: RE2 accepts escapes of any punctuation (\-, \@), which unicode mode rejects.
    new RegExp(body, [...new Set(flags)].join(''));
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message.replace(/^Invalid regular expression: /, '') : String(e);
  }
}

/** Istio's `Percent` message: `{value}` that is 0, or within 0.0001..100. */
export function checkPercentage(iss: Issues, p: PathSegment[], v: unknown): number | undefined {
  const pct = readObj(iss, p, v);
  if (!pct || pct.value === undefined || pct.value === null) return undefined;
  const value = pct.value;
  if (typeof value !== 'number' || !Number.isFinite(value)) { iss.error([...p, 'value'], 'must be a number'); return undefined; }
  if (value < 0 || value > 100 || (value > 0 && value < 0.0001)) {
    iss.error([...p, 'value'], `percentage ${value} is neither 0.0, nor in range [0.0001, 100.0]`);
    return undefined;
  }
  return value;
}
