/**
 * RequestAuthentication → Envoy `envoy.filters.http.jwt_authn`, as Istio builds it
 * (pilot/pkg/security/authn/policy_applier.go convertToEnvoyJwtConfig, model/jwks_resolver.go
 * BuildLocalJwks):
 *
 * - The policies that apply to a workload: those of its namespace and of the root namespace whose
 *   `selector.matchLabels` is a subset of its labels (no selector: every workload of the namespace,
 *   or of the mesh for the root namespace). Policies with targetRef(s) attach to gateways and
 *   waypoints, never to sidecars. Namespace policies first, then root ones, each oldest first; their
 *   rules are concatenated and sorted by issuer (stable), and rule i becomes provider `origins-<i>`.
 * - Each provider: issuer, audiences, forward (forwardOriginalToken), forward_payload_header
 *   (outputPayloadToHeader), payload_in_metadata `payload` (Istio's EnvoyJwtFilterPayload: the
 *   verified payload lands in the filter's dynamic metadata under `payload`, where
 *   AuthorizationPolicy requestPrincipals / request.auth.* match it), normalize_payload_in_metadata
 *   (space-delimited `permission`, `scope` and the rule's spaceDelimitedClaims), claim_to_headers
 *   (outputClaimToHeaders), from_headers / from_params / from_cookies, and local_jwks inline: the
 *   rule's jwks, else the JWKS the control plane fetched for its jwksUri (or by OpenID discovery
 *   from the issuer), read from the snapshot's JwksCache config; until fetched, or when the fetch
 *   failed, Istio's fake JWKS (an RSA key no token can be signed with), so a token for that issuer
 *   is rejected (401), never let through.
 * - Requirements: a missing token is allowed, an invalid one rejected. One provider: requires_any
 *   {origins-0, allow_missing}. Several: requires_any {each provider, requires_all {requires_any
 *   {p, allow_missing} for each p}} (the outer alternatives cover providers sharing a location).
 *   bypass_cors_preflight true. clear_route_cache only on gateways (Istio: JwtFilter(proxy is not a
 *   sidecar)).
 *
 * Not generated: Istio's own `istio_authn` filter (an Istio-proxy extension Envoy lacks; current
 * Istio no longer emits it either: RBAC reads the jwt_authn metadata directly), and remote_jwks
 * (Istio's PILOT_JWT_ENABLE_REMOTE_JWKS modes that let Envoy fetch the keys; we always inline, as
 * Istio's default `istiod` fetch mode does). Pure; reads the snapshot through SnapshotView.
 */
import { SnapshotView } from '../../../shared/snapshot/snapshot-view';
import { ConfigModel } from '../../../shared/model/service';
import { JWKS_CACHE_KIND, JwksCacheSpec, OPENID_PREFIX, jwksCacheName, jwksSource } from '../../../shared/istio/validate-request-authentication';
import { createHash } from 'node:crypto';
import { ROOT_NAMESPACE } from '../types';

type Obj = Record<string, unknown>;

export const JWT_AUTHN_FILTER = 'envoy.filters.http.jwt_authn';
export const JWT_AUTHN_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication';
/** Istio filters.EnvoyJwtFilterPayload: the metadata field (under the filter's namespace) holding a verified payload. */
export const JWT_PAYLOAD_METADATA_KEY = 'payload';
/** Claims Istio always normalizes as space-delimited (buildSpaceDelimitedClaims). */
const DEFAULT_SPACE_DELIMITED = ['permission', 'scope'];

interface JwtRule {
  issuer?: string;
  audiences?: string[];
  jwksUri?: string;
  jwks?: string;
  fromHeaders?: Array<{ name?: string; prefix?: string }>;
  fromParams?: string[];
  fromCookies?: string[];
  outputPayloadToHeader?: string;
  forwardOriginalToken?: boolean;
  outputClaimToHeaders?: Array<{ header?: string; claim?: string }>;
  spaceDelimitedClaims?: string[];
}

export interface JwtFilterOptions {
  /** gateways clear the route cache after verification (JWT claim based routing); sidecars do not */
  readonly clearRouteCache?: boolean;
}

/**
 * The RequestAuthentications that apply to a workload of `namespace` with `labels` (restricted to
 * selector keys, as GenContext.labels is), in Istio's order: its namespace's, then the root
 * namespace's, each oldest first.
 */
export function requestAuthenticationsFor(snap: SnapshotView, namespace: string, labels: Readonly<Record<string, string>>): ConfigModel[] {
  const root = String((snap.mesh() as Obj)?.['rootNamespace'] ?? ROOT_NAMESPACE);
  const all = snap.configs('RequestAuthentication');
  const out: ConfigModel[] = [];
  for (const ns of namespace === root ? [root] : [namespace, root]) {
    const inNs = all.filter((c) => c.namespace === ns && attaches(c, labels)).sort(olderFirst);
    out.push(...inNs);
  }
  return out;
}

function attaches(c: ConfigModel, labels: Readonly<Record<string, string>>): boolean {
  const spec = (c.spec ?? {}) as Obj;
  if (spec['targetRef'] || (Array.isArray(spec['targetRefs']) && spec['targetRefs'].length > 0)) return false;
  const match = ((spec['selector'] as Obj | undefined)?.['matchLabels'] ?? {}) as Record<string, string>;
  return Object.entries(match).every(([k, v]) => labels[k] === v);
}

/** Istio sortConfigByCreationTime: creation time, then name, then namespace. */
function olderFirst(a: ConfigModel, b: ConfigModel): number {
  const ta = a.created ?? '~', tb = b.created ?? '~';
  if (ta !== tb) return ta < tb ? -1 : 1;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  return a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : 0;
}

/** The jwt_authn HTTP filter for a workload, or undefined when no RequestAuthentication applies. */
export function jwtAuthnFilter(snap: SnapshotView, namespace: string, labels: Readonly<Record<string, string>>, opts: JwtFilterOptions = {}): Obj | undefined {
  const rules: JwtRule[] = [];
  for (const ra of requestAuthenticationsFor(snap, namespace, labels)) {
    for (const r of (ra.spec?.jwtRules ?? []) as unknown[]) if (r && typeof r === 'object') rules.push(r as JwtRule);
  }
  if (rules.length === 0) return undefined;
  // Array.prototype.sort is stable: rules with one issuer keep their policy order.
  rules.sort((a, b) => ((a.issuer ?? '') < (b.issuer ?? '') ? -1 : (a.issuer ?? '') > (b.issuer ?? '') ? 1 : 0));
  return { name: JWT_AUTHN_FILTER, typed_config: jwtAuthentication(snap, rules, opts) };
}

function jwtAuthentication(snap: SnapshotView, rules: readonly JwtRule[], opts: JwtFilterOptions): Obj {
  const providers: Record<string, Obj> = {};
  const eachOrMissing: Obj[] = [];
  const anyProvider: Obj[] = [];
  rules.forEach((rule, i) => {
    const name = `origins-${i}`;
    providers[name] = provider(snap, rule, opts);
    eachOrMissing.push({ requires_any: { requirements: [{ provider_name: name }, { allow_missing: {} }] } });
    anyProvider.push({ provider_name: name });
  });
  const requires = eachOrMissing.length === 1
    ? eachOrMissing[0]!
    : { requires_any: { requirements: [...anyProvider, { requires_all: { requirements: eachOrMissing } }] } };
  return { '@type': JWT_AUTHN_TYPE, providers, rules: [{ match: { prefix: '/' }, requires }], bypass_cors_preflight: true };
}

function provider(snap: SnapshotView, rule: JwtRule, opts: JwtFilterOptions): Obj {
  const p: Obj = {
    ...(rule.issuer ? { issuer: rule.issuer } : {}),
    ...(rule.audiences?.length ? { audiences: [...rule.audiences] } : {}),
    local_jwks: { inline_string: jwksFor(snap, rule) },
    ...(rule.forwardOriginalToken ? { forward: true } : {}),
    ...(rule.fromHeaders?.length ? { from_headers: rule.fromHeaders.map((h) => ({ name: h.name ?? '', ...(h.prefix ? { value_prefix: h.prefix } : {}) })) } : {}),
    ...(rule.fromParams?.length ? { from_params: [...rule.fromParams] } : {}),
    ...(rule.fromCookies?.length ? { from_cookies: [...rule.fromCookies] } : {}),
    ...(rule.outputPayloadToHeader ? { forward_payload_header: rule.outputPayloadToHeader } : {}),
    payload_in_metadata: JWT_PAYLOAD_METADATA_KEY,
    normalize_payload_in_metadata: { space_delimited_claims: spaceDelimitedClaims(rule.spaceDelimitedClaims) },
    ...(rule.outputClaimToHeaders?.length ? { claim_to_headers: rule.outputClaimToHeaders.map((c) => ({ header_name: c.header ?? '', claim_name: c.claim ?? '' })) } : {}),
    ...(opts.clearRouteCache ? { clear_route_cache: true } : {}),
  };
  return p;
}

/** Istio buildSpaceDelimitedClaims: the rule's claims plus `permission` and `scope`, deduplicated and sorted. */
function spaceDelimitedClaims(extra: readonly string[] | undefined): string[] {
  return [...new Set([...(extra ?? []), ...DEFAULT_SPACE_DELIMITED])].sort();
}

/**
 * The keys of a rule: inline jwks; else what the resolver fetched for its source (a JwksCache
 * config, one dependency key per source, so a refreshed JWKS regenerates exactly its users); else
 * Istio's fake JWKS.
 */
function jwksFor(snap: SnapshotView, rule: JwtRule): string {
  const source = jwksSource(rule);
  if (source === undefined) return rule.jwks ?? '';
  const cached = snap.config(JWKS_CACHE_KIND, '', jwksCacheName(source))?.spec as JwksCacheSpec | undefined;
  if (cached?.uri === source && typeof cached.jwks === 'string' && cached.jwks !== '') return cached.jwks;
  return createFakeJwks(source.startsWith(OPENID_PREFIX) ? '' : source);
}

/**
 * Istio's fake JWKS (CreateFakeJwks): one RSA key (kid "abc", e AQAB) that nobody holds the private
 * half of, so every token of that issuer fails verification (401) while requests without a token
 * pass. Istio's modulus is just the text "Error-IstiodFailedToFetchJwksUri-<uri>"; current Envoy
 * (jwt_verify_lib on BoringSSL) rejects such a key, and a listener update carrying it would be
 * NACKed whole. So the modulus here is 2048 bits that start with that same text (decode it to see
 * why the key is fake), padded with SHA-256 of the text and made odd: a well-formed public key
 * whose factorization no one knows. Deterministic: the same uri gives the same JWKS.
 */
export function createFakeJwks(jwksUri: string): string {
  const text = Buffer.from(`Error-IstiodFailedToFetchJwksUri-${jwksUri}`).subarray(0, FAKE_TEXT_MAX);
  const n = Buffer.alloc(FAKE_MODULUS_BYTES);
  text.copy(n);
  let filler = createHash('sha256').update(text).digest();
  for (let at = text.length; at < n.length; at += filler.length) {
    filler.copy(n, at);
    filler = createHash('sha256').update(filler).digest();
  }
  n[n.length - 1]! |= 1;
  return `{"keys":[ {"e":"AQAB","kid":"abc","kty":"RSA","n":"${n.toString('base64url')}"}]}`;
}
const FAKE_MODULUS_BYTES = 256;
const FAKE_TEXT_MAX = 192;
