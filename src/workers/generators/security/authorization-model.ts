/**
 * One AuthorizationPolicy rule → one Envoy RBAC `Policy` (permissions + principals), after Istio's
 * pilot/pkg/security/authz/model (model.go, generator.go, matcher/*):
 *
 * - `from[].source` fields and the principal-side `when` keys become principals; `to[].operation`
 *   fields and the permission-side `when` keys become permissions. One principal per `from` entry
 *   and one permission per `to` entry (each an and_ids / and_rules of its conditions, `any` when
 *   empty); the `when` conditions are appended to every one of them.
 * - The order inside each and-set is Istio's: source principals, requestPrincipals,
 *   serviceAccounts, namespaces, remoteIpBlocks, ipBlocks, then `when`; operation hosts, methods,
 *   paths, ports, then `when`.
 * - Each field's values are or-ed; its not-values become not(or(...)).
 * - Peer principals match the peer certificate's SPIFFE URI: `spiffe://` is prepended; `*` alone
 *   matches any non-empty identity; a `*` prefix or suffix becomes a suffix (regex after the
 *   prefix) or prefix match. Namespaces match the regex `.*` + `/ns/<ns>/` + `.*`.
 * - HTTP-only attributes (methods, paths, hosts, requestPrincipals, request headers, JWT claims) on
 *   a TCP filter chain, and values that cannot be translated (a bad IP or port): for an ALLOW
 *   policy the whole rule is dropped (a smaller allow); for DENY/AUDIT/CUSTOM only that condition
 *   is dropped (a wider deny), exactly as Istio's checkError.
 *
 * Pure: plain objects with Envoy proto field names.
 */
import { isIPOrCidr } from '../../../shared/istio/validate-names';

type Obj = Record<string, unknown>;
export type RbacAction = 'ALLOW' | 'DENY' | 'LOG';

export const JWT_FILTER = 'envoy.filters.http.jwt_authn';
export const JWT_PAYLOAD_KEY = 'payload';

// ---------------------------------------------------------------- string / header matchers

const regex = (r: string): Obj => ({ safe_regex: { regex: r } });

/** Istio matcher.StringMatcherWithPrefix: `*` → `.+`; `*x` → suffix; `x*` → prefix; exact otherwise. */
export function stringMatcher(v: string, prefix = ''): Obj {
  if (v === '*') return regex('.+');
  if (v.startsWith('*')) return prefix === '' ? { suffix: v.slice(1) } : regex(`${prefix}.*${v.slice(1)}`);
  if (v.endsWith('*')) return { prefix: prefix + v.slice(0, -1) };
  return { exact: prefix + v };
}

/** Istio matcher.HeaderMatcher: `*` is presence; otherwise a string_match (case-sensitive). */
function headerMatcher(name: string, v: string, ignoreCase = false): Obj {
  if (v === '*') return { name, present_match: true };
  const ic = ignoreCase ? { ignore_case: true } : {};
  if (v.startsWith('*')) return { name, string_match: { suffix: v.slice(1), ...ic } };
  if (v.endsWith('*')) return { name, string_match: { prefix: v.slice(0, -1), ...ic } };
  return { name, string_match: { exact: v, ...ic } };
}

/** Go regexp.QuoteMeta. */
const quoteMeta = (v: string): string => v.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');

/**
 * Istio matcher.InlineHeaderMatcher: the value may be one of several comma-joined values of the
 * header (RFC 7230), so it is matched by a regex over the joined value; `*` is presence.
 */
function inlineHeaderMatcher(name: string, v: string): Obj {
  if (v === '*') return { name, present_match: true };
  const r = v.startsWith('*') ? `.*${quoteMeta(v.slice(1))}` : v.endsWith('*') ? `${quoteMeta(v.slice(0, -1))}.*` : quoteMeta(v);
  return { name, safe_regex_match: { regex: `^${r}$|^${r},.*|.*,${r},.*|.*,${r}$` } };
}

/** `10.1.2.3` or `10.0.0.0/8` → CidrRange; undefined when it is neither (Istio AddrStrToCidrRange). */
function cidrRange(v: string): Obj | undefined {
  if (!isIPOrCidr(v)) return undefined;
  const slash = v.indexOf('/');
  const ip = slash < 0 ? v : v.slice(0, slash);
  const len = slash < 0 ? (ip.includes(':') ? 128 : 32) : Number(v.slice(slash + 1));
  return { address_prefix: ip, prefix_len: { value: len } };
}

function port(v: string): number | undefined {
  if (!/^\d+$/.test(v)) return undefined;
  const n = Number(v);
  return n <= 65535 ? n : undefined;
}

/** `[a][b]` → ['a','b'] (Istio extractNameInNestedBrackets); `[a.b]` → ['a.b']. */
function namesInBrackets(s: string): string[] | undefined {
  if (!s.startsWith('[') || !s.endsWith(']')) return undefined;
  const inner = s.slice(1, -1);
  if (!inner.includes('][')) return inner.length > 0 ? [inner] : undefined;
  const parts = inner.split('][');
  return parts.every((p) => p.length > 0 && !p.includes('[') && !p.includes(']')) ? parts : undefined;
}

function valueOr(vs: readonly string[]): Obj {
  const ms = vs.map((v) => ({ string_match: stringMatcher(v) }));
  return ms.length === 1 ? ms[0]! : { or_match: { value_matchers: ms } };
}

/** Istio MetadataListValueMatcherForJWTClaims (extended JWT: the claim may be a list or a value). */
function jwtClaimMatcher(claims: readonly string[], value: Obj): Obj {
  return {
    filter: JWT_FILTER,
    path: [JWT_PAYLOAD_KEY, ...claims].map((key) => ({ key })),
    value: { or_match: { value_matchers: [{ list_match: { one_of: value } }, value] } },
  };
}

function jwtClaimString(claim: string, m: Obj): Obj {
  return { filter: JWT_FILTER, path: [{ key: JWT_PAYLOAD_KEY }, { key: claim }], value: { string_match: m } };
}

// ---------------------------------------------------------------- generators

class Unsupported extends Error {}

/** Translates one value (or, for `extended` keys, all values at once) of one attribute. */
interface Gen {
  side: 'permission' | 'principal';
  /** per value; throws Unsupported when the value cannot be expressed here */
  one?(key: string, v: string, forTCP: boolean): Obj;
  /** all values together (Istio's extendedGenerator) */
  all?(key: string, vs: readonly string[], forTCP: boolean): Obj;
}

const httpOnly = (key: string, forTCP: boolean): void => {
  if (forTCP) throw new Unsupported(`"${key}" is HTTP only`);
};

const cidrOr = (v: string): Obj => {
  const c = cidrRange(v);
  if (!c) throw new Unsupported(`invalid IP or CIDR "${v}"`);
  return c;
};

const authenticated = (m: Obj): Obj => ({ authenticated: { principal_name: m } });

const G = {
  destIp: { side: 'permission', one: (_k, v) => ({ destination_ip: cidrOr(v) }) },
  destPort: {
    side: 'permission',
    one: (_k, v) => {
      const p = port(v);
      if (p === undefined) throw new Unsupported(`invalid port ${v}`);
      return { destination_port: p };
    },
  },
  sni: { side: 'permission', one: (_k, v) => ({ requested_server_name: stringMatcher(v) }) },
  envoyFilter: {
    side: 'permission',
    all: (key, vs) => {
      const inner = key.slice('experimental.'.length).replace(/\]$/, '');
      const open = inner.indexOf('[');
      if (open < 0) throw new Unsupported(`invalid key: ${key}`);
      const matchers = vs.map((v) => (v.startsWith('[') && v.endsWith(']')
        ? { list_match: { one_of: { string_match: stringMatcher(v.slice(1, -1)) } } }
        : { string_match: stringMatcher(v) }));
      return { metadata: { filter: inner.slice(0, open), path: [{ key: inner.slice(open + 1) }], value: matchers.length === 1 ? matchers[0] : { or_match: { value_matchers: matchers } } } };
    },
  },
  srcIp: { side: 'principal', one: (_k, v) => ({ direct_remote_ip: cidrOr(v) }) },
  remoteIp: { side: 'principal', one: (_k, v) => ({ remote_ip: cidrOr(v) }) },
  srcNamespace: { side: 'principal', one: (_k, v) => authenticated(regex(`.*/ns/${v.replace(/\*/g, '.*')}/.*`)) },
  srcPrincipal: { side: 'principal', one: (_k, v) => authenticated(stringMatcher(v, 'spiffe://')) },
  requestPrincipal: {
    side: 'principal',
    all: (key, vs, forTCP) => {
      httpOnly(key, forTCP);
      const any = regex('.+');
      const ors = vs.map((v) => {
        const idx = v.lastIndexOf('/');
        const found = idx >= 0;
        const iss = found ? v.slice(0, idx) : v;
        const sub = found ? v.slice(idx + 1) : '';
        let mIss: Obj; let mSub: Obj;
        if (v === '*') { mIss = any; mSub = any; }
        else if (v.startsWith('*')) {
          if (found) { mIss = iss === '*' ? any : { suffix: iss.slice(1) }; mSub = { exact: sub }; }
          else { mIss = any; mSub = { suffix: v.slice(1) }; }
        } else if (v.endsWith('*')) {
          if (found) { mIss = { exact: iss }; mSub = sub === '*' ? any : { prefix: sub.slice(0, -1) }; }
          else { mIss = { prefix: v.slice(0, -1) }; mSub = any; }
        } else { mIss = { exact: iss }; mSub = { exact: sub }; }
        return { and_ids: { ids: [{ metadata: jwtClaimString('iss', mIss) }, { metadata: jwtClaimString('sub', mSub) }] } };
      });
      return ors.length === 1 ? ors[0]! : { or_ids: { ids: ors } };
    },
  },
  audiences: { side: 'principal', all: (key, vs, forTCP) => { httpOnly(key, forTCP); return { metadata: jwtClaimMatcher(['aud'], valueOr(vs)) }; } },
  presenter: { side: 'principal', all: (key, vs, forTCP) => { httpOnly(key, forTCP); return { metadata: jwtClaimMatcher(['azp'], valueOr(vs)) }; } },
  claims: {
    side: 'principal',
    all: (key, vs, forTCP) => {
      httpOnly(key, forTCP);
      const claims = namesInBrackets(key.slice('request.auth.claims'.length));
      if (!claims) throw new Unsupported(`expecting format [<NAME>], found ${key}`);
      return { metadata: jwtClaimMatcher(claims, valueOr(vs)) };
    },
  },
  header: {
    side: 'principal',
    one: (key, v, forTCP) => {
      httpOnly(key, forTCP);
      const name = namesInBrackets(key.slice('request.headers'.length));
      if (!name || name.length !== 1) throw new Unsupported(`expecting format [<NAME>], found ${key}`);
      return { header: headerMatcher(name[0]!, v) };
    },
  },
  inlineHeader: {
    side: 'principal',
    one: (key, v, forTCP) => {
      httpOnly(key, forTCP);
      const name = namesInBrackets(key.slice('request.experimental.inline.headers'.length));
      if (!name || name.length !== 1) throw new Unsupported(`expecting format [<NAME>], found ${key}`);
      return { header: inlineHeaderMatcher(name[0]!, v) };
    },
  },
  host: { side: 'permission', one: (key, v, forTCP) => { httpOnly(key, forTCP); return { header: headerMatcher(':authority', v, true) }; } },
  method: { side: 'permission', one: (key, v, forTCP) => { httpOnly(key, forTCP); return { header: headerMatcher(':method', v) }; } },
  path: {
    side: 'permission',
    one: (key, v, forTCP) => {
      httpOnly(key, forTCP);
      if (v.includes('{*}') || v.includes('{**}')) {
        return {
          uri_template: {
            name: 'uri-template',
            typed_config: { '@type': URI_TEMPLATE_TYPE, path_template: v.replace(/\{\*\*\}/g, '**').replace(/\{\*\}/g, '*') },
          },
        };
      }
      return { url_path: { path: stringMatcher(v) } };
    },
  },
} satisfies Record<string, Gen>;

export const URI_TEMPLATE_TYPE = 'type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig';

/** Istio serviceAccountRegex: `<sa>` (the policy's namespace) or `<ns>/<sa>`. */
function serviceAccountGen(policyNamespace: string): Gen {
  return {
    side: 'principal',
    one: (_k, v) => {
      const slash = v.indexOf('/');
      const [ns, sa] = slash < 0 ? [policyNamespace, v] : [v.slice(0, slash), v.slice(slash + 1)];
      return authenticated(regex(`spiffe://.+/ns/${ns}/(.+/|)sa/${sa}(/.+)?`));
    },
  };
}

// ---------------------------------------------------------------- the model

interface Cond { key: string; values: readonly string[]; notValues: readonly string[]; gen: Gen }

const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** The `when` key → generator (Istio model.New); undefined for an unknown attribute. */
function whenGen(key: string, policyNamespace: string): Gen | undefined {
  switch (key) {
    case 'destination.ip': return G.destIp;
    case 'destination.port': return G.destPort;
    case 'connection.sni': return G.sni;
    case 'source.ip': return G.srcIp;
    case 'remote.ip': return G.remoteIp;
    case 'source.namespace': return G.srcNamespace;
    case 'source.serviceAccount': return serviceAccountGen(policyNamespace);
    case 'source.principal': return G.srcPrincipal;
    case 'request.auth.principal': return G.requestPrincipal;
    case 'request.auth.audiences': return G.audiences;
    case 'request.auth.presenter': return G.presenter;
  }
  if (key.startsWith('experimental.envoy.filters.')) return G.envoyFilter;
  if (key.startsWith('request.headers')) return G.header;
  if (key.startsWith('request.experimental.inline.headers')) return G.inlineHeader;
  if (key.startsWith('request.auth.claims')) return G.claims;
  return undefined;
}

export interface RuleModel { permissions: Cond[][]; principals: Cond[][] }

/** Istio model.New. Throws (a plain Error) for an unknown `when` attribute: the rule is skipped. */
export function ruleModel(rule: Obj, policyNamespace: string): RuleModel {
  const basePerm: Cond[] = [];
  const basePrin: Cond[] = [];
  for (const w of Array.isArray(rule['when']) ? rule['when'] : []) {
    if (!w || typeof w !== 'object') continue;
    const key = String((w as Obj)['key'] ?? '');
    const gen = whenGen(key, policyNamespace);
    if (!gen) throw new Error(`unknown attribute ${key}`);
    const c = { key, values: strs((w as Obj)['values']), notValues: strs((w as Obj)['notValues']), gen };
    if (c.values.length === 0 && c.notValues.length === 0) continue;
    (gen.side === 'permission' ? basePerm : basePrin).push(c);
  }
  const front = (list: Cond[], gen: Gen, key: string, values: unknown, notValues: unknown): void => {
    const c = { key, values: strs(values), notValues: strs(notValues), gen };
    if (c.values.length > 0 || c.notValues.length > 0) list.unshift(c);
  };
  const principals: Cond[][] = [];
  for (const from of Array.isArray(rule['from']) ? rule['from'] : []) {
    const merged = [...basePrin];
    const s = (from as Obj | null)?.['source'] as Obj | undefined;
    if (s && typeof s === 'object') {
      front(merged, G.srcIp, 'source.ip', s['ipBlocks'], s['notIpBlocks']);
      front(merged, G.remoteIp, 'remote.ip', s['remoteIpBlocks'], s['notRemoteIpBlocks']);
      front(merged, G.srcNamespace, 'source.namespace', s['namespaces'], s['notNamespaces']);
      front(merged, serviceAccountGen(policyNamespace), 'source.serviceAccount', s['serviceAccounts'], s['notServiceAccounts']);
      front(merged, G.requestPrincipal, 'request.auth.principal', s['requestPrincipals'], s['notRequestPrincipals']);
      front(merged, G.srcPrincipal, 'source.principal', s['principals'], s['notPrincipals']);
    }
    principals.push(merged);
  }
  if (principals.length === 0) principals.push(basePrin);
  const permissions: Cond[][] = [];
  for (const to of Array.isArray(rule['to']) ? rule['to'] : []) {
    const merged = [...basePerm];
    const o = (to as Obj | null)?.['operation'] as Obj | undefined;
    if (o && typeof o === 'object') {
      front(merged, G.destPort, 'destination.port', o['ports'], o['notPorts']);
      front(merged, G.path, 'path-matcher', o['paths'], o['notPaths']);
      front(merged, G.method, ':method', o['methods'], o['notMethods']);
      front(merged, G.host, ':authority', o['hosts'], o['notHosts']);
    }
    permissions.push(merged);
  }
  if (permissions.length === 0) permissions.push(basePerm);
  return { permissions, principals };
}

/** Istio rule.checkError: ALLOW fails the rule, DENY/AUDIT drop the condition. */
function attempt(action: RbacAction, fn: () => Obj): Obj | undefined {
  try {
    return fn();
  } catch (e) {
    if (action === 'ALLOW') throw e;
    return undefined;
  }
}

function translate(c: Cond, forTCP: boolean, action: RbacAction, or: string, setKey: string, not: string): Obj[] {
  const out: Obj[] = [];
  const group = (vs: readonly string[]): Obj | undefined => {
    if (vs.length === 0) return undefined;
    if (c.gen.all) return attempt(action, () => c.gen.all!(c.key, vs, forTCP));
    const items = vs.map((v) => attempt(action, () => c.gen.one!(c.key, v, forTCP))).filter((x): x is Obj => !!x);
    return items.length > 0 ? { [or]: { [setKey]: items } } : undefined;
  };
  const pos = group(c.values);
  if (pos) out.push(pos);
  const neg = group(c.notValues);
  if (neg) out.push({ [not]: neg });
  return out;
}

/**
 * Istio Model.Generate: the RBAC Policy for this rule. Throws when the rule must be skipped (ALLOW
 * with an untranslatable condition, e.g. an HTTP-only field on a TCP chain).
 */
export function generatePolicy(m: RuleModel, forTCP: boolean, action: RbacAction): Obj {
  const permissions = m.permissions.map((conds) => {
    const and = conds.flatMap((c) => translate(c, forTCP, action, 'or_rules', 'rules', 'not_rule'));
    return { and_rules: { rules: and.length > 0 ? and : [{ any: true }] } };
  });
  const principals = m.principals.map((conds) => {
    const and = conds.flatMap((c) => translate(c, forTCP, action, 'or_ids', 'ids', 'not_id'));
    return { and_ids: { ids: and.length > 0 ? and : [{ any: true }] } };
  });
  return { permissions, principals };
}

/** The policy an ALLOW/DENY policy without rules contributes: matches nothing (Istio rbacPolicyMatchNever). */
export const MATCH_NEVER: Obj = Object.freeze({ permissions: [{ not_rule: { any: true } }], principals: [{ not_id: { any: true } }] });

/**
 * Istio trustdomain.Bundle.ReplaceTrustDomainAliases for `source.principal` values: a principal
 * `<td>/ns/<ns>/sa/<sa>` whose trust domain is the mesh's, one of its aliases or `cluster.local`
 * is expanded to the trust domain and every alias; others are kept as written.
 */
export function withTrustDomains(principals: readonly string[], trustDomains: readonly string[]): string[] {
  if (trustDomains.length === 0) return [...principals];
  const out: string[] = [];
  const tdMatch = (pattern: string, td: string): boolean =>
    pattern === td || (pattern.startsWith('*') && td.endsWith(pattern.slice(1))) || (pattern.endsWith('*') && td.startsWith(pattern.slice(0, -1)));
  for (const p of principals) {
    const parts = p.split('/');
    if (parts.length !== 5 || parts[0] === '*') { out.push(p); continue; }
    const td = parts[0]!;
    if (!trustDomains.some((t) => tdMatch(td, t)) && td !== 'cluster.local') { out.push(p); continue; }
    const mine: string[] = [];
    for (const t of trustDomains) {
      const np = td.startsWith('*') && t.endsWith(td.slice(1)) ? p : [t, ...parts.slice(1)].join('/');
      if (!mine.includes(np)) mine.push(np);
    }
    out.push(...mine);
  }
  return out;
}

/** Applies withTrustDomains to every source.principal condition of a model (Istio MigrateTrustDomain). */
export function migrateTrustDomain(m: RuleModel, trustDomains: readonly string[]): void {
  for (const list of m.principals) {
    for (let i = 0; i < list.length; i++) {
      const c = list[i]!;
      if (c.key !== 'source.principal') continue;
      list[i] = { ...c, values: withTrustDomains(c.values, trustDomains), notValues: withTrustDomains(c.notValues, trustDomains) };
    }
  }
}
