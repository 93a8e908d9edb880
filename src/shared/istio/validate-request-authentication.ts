/**
 * security.istio.io RequestAuthentication validation, after Istio's ValidateRequestAuthentication
 * and validateJwtRule (pkg/config/validation): one of selector / targetRef / targetRefs, selector
 * labels without wildcards, allowed targetRef kinds, and per JWT rule: non-empty audiences, issuer
 * or jwksUri, a jwksUri Istio can parse (http or https), an inline jwks that parses as a JWK set,
 * non-empty header / param / cookie locations, outputClaimToHeaders with strict header names, a
 * timeout of at least 1ms. Unknown fields at any depth are rejected through the API shape below
 * (registered in validation.ts SPEC_SHAPES). Pure, no I/O.
 */
import {
  Issues, Obj, Path, checkLabels, forEachItem, forEachObj, isObj, readDuration, readIstioSpec, readObj, readStr,
} from './validate-fields';
import { JsonWebKey, createHash, createPublicKey } from 'node:crypto';
import type { Shape } from './validate-shape';

const RA_FIELDS = ['selector', 'targetRef', 'targetRefs', 'jwtRules'];

const STRINGS: Shape = { list: 'string' };
const TARGET_REF: Shape = { fields: { group: 'string', kind: 'string', name: 'string', namespace: 'string' } };

/** The JSON shape of security.istio.io/v1 RequestAuthentication (istio/api security/v1beta1/request_authentication.proto, type/v1beta1/selector.proto). */
export const REQUEST_AUTHENTICATION_SHAPE: Shape = {
  fields: {
    selector: { fields: { matchLabels: { map: 'string' } } },
    targetRef: TARGET_REF,
    targetRefs: { list: TARGET_REF },
    jwtRules: {
      list: {
        fields: {
          issuer: 'string', audiences: STRINGS, jwksUri: 'string', jwks: 'string',
          fromHeaders: { list: { fields: { name: 'string', prefix: 'string' } } },
          fromParams: STRINGS, fromCookies: STRINGS,
          outputPayloadToHeader: 'string', forwardOriginalToken: 'bool',
          outputClaimToHeaders: { list: { fields: { header: 'string', claim: 'string' } } },
          timeout: 'duration', spaceDelimitedClaims: STRINGS,
        },
      },
    },
  },
};

/** Istio allowedTargetRefs (group/kind; '' is the core group). */
const ALLOWED_TARGET_REFS: ReadonlyArray<readonly [string, string]> = [
  ['', 'Service'], ['networking.istio.io', 'ServiceEntry'], ['gateway.networking.k8s.io', 'Gateway'], ['gateway.networking.k8s.io', 'GatewayClass'],
];
/** Istio validStrictHeaderNameRegex (the probe header rule). */
const STRICT_HEADER_NAME = /^[-A-Za-z0-9]+$/;

export function validateRequestAuthentication(o: Obj, iss: Issues): void {
  const spec = readIstioSpec(iss, o, RA_FIELDS);
  checkSelectorType(iss, spec);
  checkSelector(iss, ['spec', 'selector'], spec.selector);
  const ref = readObj(iss, ['spec', 'targetRef'], spec.targetRef);
  if (ref) checkTargetRef(iss, ['spec', 'targetRef'], ref);
  forEachObj(iss, ['spec', 'targetRefs'], spec.targetRefs, (r, p) => checkTargetRef(iss, p, r));
  forEachItem(iss, ['spec', 'jwtRules'], spec.jwtRules, (rule, p) => {
    if (rule === null) return; // Istio skips a nil rule
    if (!isObj(rule)) { iss.error(p, 'must be an object'); return; }
    checkJwtRule(iss, p, rule);
  });
}

/** Istio validateOneOfSelectorType. */
function checkSelectorType(iss: Issues, spec: Obj): void {
  const set = [spec.selector !== undefined && spec.selector !== null, spec.targetRef !== undefined && spec.targetRef !== null,
    Array.isArray(spec.targetRefs) && spec.targetRefs.length > 0].filter(Boolean).length;
  if (set > 1) iss.error(['spec'], 'only one of targetRefs or workloadSelector can be set');
}

/** Istio validateWorkloadSelector (security API: `selector.matchLabels`). */
function checkSelector(iss: Issues, p: Path, v: unknown): void {
  const sel = readObj(iss, p, v);
  if (!sel) return;
  const labels = readObj(iss, [...p, 'matchLabels'], sel.matchLabels) ?? {};
  for (const [k, val] of Object.entries(labels)) {
    if (k === '') iss.error([...p, 'matchLabels', k], `empty key is not supported in selector: "${k}=${String(val)}"`);
    else if (k.includes('*') || (typeof val === 'string' && val.includes('*'))) iss.error([...p, 'matchLabels', k], `wildcard is not supported in selector: "${k}=${String(val)}"`);
  }
  const rest = Object.fromEntries(Object.entries(labels).filter(([k, val]) => k !== '' && !k.includes('*') && !(typeof val === 'string' && val.includes('*'))));
  checkLabels(iss, [...p, 'matchLabels'], rest);
  if (Object.keys(labels).length === 0) iss.warn(p, 'workload selector specified without labels');
}

/** Istio validatePolicyTargetReference. */
function checkTargetRef(iss: Issues, p: Path, ref: Obj): void {
  if (typeof ref.name !== 'string' || ref.name === '') iss.error([...p, 'name'], 'targetRef name must be set');
  if (typeof ref.namespace === 'string' && ref.namespace !== '') {
    iss.error([...p, 'namespace'], 'targetRef namespace must not be set; cross namespace referencing is not supported');
  }
  const group = typeof ref.group === 'string' ? ref.group : '';
  const kind = typeof ref.kind === 'string' ? ref.kind : '';
  const canonical = (g: string) => (g === '' || g === 'core' ? '' : g);
  if (!ALLOWED_TARGET_REFS.some(([g, k]) => k === kind && canonical(g) === canonical(group))) {
    const allowed = ALLOWED_TARGET_REFS.map(([g, k]) => `${g || 'core'}/${k}`).join(', ');
    iss.error(p, `targetRef must be to one of [${allowed}] but was ${group}/${kind}`);
  }
}

/** Istio validateJwtRule. */
function checkJwtRule(iss: Issues, p: Path, rule: Obj): void {
  forEachItem(iss, [...p, 'audiences'], rule.audiences, (a, ap) => {
    if (a === '') iss.error(ap, 'audience must be non-empty string');
  });
  const issuer = readStr(iss, [...p, 'issuer'], rule.issuer) ?? '';
  const jwksUri = readStr(iss, [...p, 'jwksUri'], rule.jwksUri) ?? '';
  if (issuer === '' && jwksUri === '' && !iss.hasErrorAt([...p, 'issuer'])) iss.error([...p, 'issuer'], 'issuer or jwksUri must be non-empty string');
  if (jwksUri !== '') {
    const err = jwksUriError(jwksUri);
    if (err) iss.error([...p, 'jwksUri'], err);
  }
  const jwks = readStr(iss, [...p, 'jwks'], rule.jwks) ?? '';
  if (jwks !== '') {
    const err = jwksError(jwks);
    if (err) iss.error([...p, 'jwks'], `jwks parse error: ${err}`);
    // The API: "Only one of jwksUri and jwks should be used"; Istio then ignores jwksUri.
    if (jwksUri !== '') iss.warn([...p, 'jwksUri'], 'jwksUri is ignored: jwks is set (only one of jwksUri and jwks should be used)');
  }
  forEachItem(iss, [...p, 'fromHeaders'], rule.fromHeaders, (h, hp) => {
    if (h === null) { iss.error(hp, 'location header name must be non-null'); return; }
    if (!isObj(h)) { iss.error(hp, 'must be an object'); return; }
    if (h.name === undefined || h.name === null || h.name === '') iss.error([...hp, 'name'], 'location header name must be non-empty string');
  });
  forEachItem(iss, [...p, 'fromParams'], rule.fromParams, (q, qp) => {
    if (q === '' || q === null) iss.error(qp, 'location query must be non-empty string');
  });
  forEachItem(iss, [...p, 'fromCookies'], rule.fromCookies, (c, cp) => {
    if (c === '' || c === null) iss.error(cp, 'cookie name must be non-empty string');
  });
  forEachItem(iss, [...p, 'outputClaimToHeaders'], rule.outputClaimToHeaders, (c, cp) => {
    if (c === null) { iss.error(cp, 'outputClaimToHeaders must not be null'); return; }
    if (!isObj(c)) { iss.error(cp, 'must be an object'); return; }
    if (!c.claim || !c.header) { iss.error(cp, 'outputClaimToHeaders header and claim value must be non-empty string'); return; }
    if (typeof c.header === 'string' && !STRICT_HEADER_NAME.test(c.header)) iss.error([...cp, 'header'], `header name ${c.header} is not a valid header name`);
  });
  if (rule.outputPayloadToHeader !== undefined && rule.outputPayloadToHeader !== null && rule.outputPayloadToHeader !== ''
    && typeof rule.outputPayloadToHeader === 'string' && !/^[!#$%&'*+\-.^_`|~A-Za-z0-9]+$/.test(rule.outputPayloadToHeader)) {
    // Envoy's forward_payload_header is a header name (Envoy rejects others); Istio leaves it to Envoy.
    iss.error([...p, 'outputPayloadToHeader'], `header name ${rule.outputPayloadToHeader} is not a valid header name`);
  }
  // agent.ValidateDuration: at least 1ms, millisecond precision.
  readDuration(iss, [...p, 'timeout'], rule.timeout, 1);
}

/**
 * Istio security.ParseJwksURI (url.Parse, then the scheme must be http or https; a port must be a
 * number). The WHATWG parser is stricter than Go's about hosts; an empty host is refused too,
 * since there is nothing to fetch.
 */
export function jwksUriError(uri: string): string | undefined {
  let u: URL;
  try { u = new URL(uri); } catch { return `parse "${uri}": invalid URI`; }
  const scheme = u.protocol.replace(/:$/, '');
  if (scheme !== 'http' && scheme !== 'https') return `URI scheme "${scheme}" is not supported`;
  if (u.hostname === '') return `parse "${uri}": missing host`;
  return undefined;
}

/**
 * A JSON Web Key Set as lestrrat-go/jwx jwk.Parse (Istio's check) reads it: a JSON object that is
 * either a set (`keys`: a list of key objects) or one key (with `kty`); each key needs `kty`.
 * RSA and EC keys must also load: Envoy (jwt_verify_lib) refuses a JWKS with one it cannot load,
 * and that refusal is a NACK of the whole listener update. So a key node:crypto cannot load, or an
 * RSA modulus that is even or under 512 bits (BoringSSL rejects those), is an error here too.
 */
export function jwksError(text: string): string | undefined {
  let doc: unknown;
  try { doc = JSON.parse(text); } catch (e) { return `not JSON (${(e as Error).message})`; }
  if (!isObj(doc)) return 'a JWK set must be a JSON object';
  const keys = doc.keys === undefined ? [doc] : doc.keys;
  if (!Array.isArray(keys)) return '"keys" must be a list';
  for (const [i, k] of keys.entries()) {
    if (!isObj(k)) return `key ${i} must be a JSON object`;
    if (typeof k.kty !== 'string' || k.kty === '') return `key ${i}: "kty" is required`;
    if (k.kty !== 'RSA' && k.kty !== 'EC') continue; // other types Envoy skips or checks itself
    const what = `key ${i} (${k.kty}${typeof k.kid === 'string' ? ` kid ${k.kid}` : ''})`;
    try {
      const pub = createPublicKey({ key: k as JsonWebKey, format: 'jwk' });
      if (k.kty === 'RSA') {
        const n = Buffer.from(String(k.n), 'base64url');
        if (n.length === 0 || (n[n.length - 1]! & 1) === 0 || (pub.asymmetricKeyDetails?.modulusLength ?? 0) < 512) return `${what}: RSA modulus must be odd and at least 512 bits`;
      }
    } catch (e) {
      return `${what}: ${(e as Error).message}`;
    }
  }
  return undefined;
}

// ---- JwksCache: the JWKS the control plane fetched for a jwksUri -----------------------------

/** Kind and apiVersion of the internal objects the main thread's JWKS resolver writes into the model store. */
export const JWKS_CACHE_KIND = 'JwksCache';
export const JWKS_CACHE_API_VERSION = 'internal.istiod-ts.io/v1';

/**
 * Where the keys of a JWT rule come from, when they are not inline: its jwksUri, or for a rule with
 * only an issuer, OpenID discovery (`openid:<issuer>`: the jwks_uri of
 * `<issuer>/.well-known/openid-configuration`), as Istio's JwksResolver does. Undefined for inline jwks.
 */
export function jwksSource(rule: { jwks?: unknown; jwksUri?: unknown; issuer?: unknown }): string | undefined {
  if (typeof rule.jwks === 'string' && rule.jwks !== '') return undefined;
  if (typeof rule.jwksUri === 'string' && rule.jwksUri !== '') return rule.jwksUri;
  if (typeof rule.issuer === 'string' && rule.issuer !== '') return `${OPENID_PREFIX}${rule.issuer}`;
  return undefined;
}
export const OPENID_PREFIX = 'openid:';

/** metadata.name of the JwksCache object for a source: the first 32 hex digits of its SHA-256. */
export function jwksCacheName(source: string): string {
  return createHash('sha256').update(source).digest('hex').slice(0, 32);
}

/** spec of a JwksCache object. Exactly one of `jwks` (the fetched document) and `error` is set. */
export interface JwksCacheSpec {
  /** the source (jwksUri, or `openid:<issuer>`) */
  uri: string;
  jwks?: string;
  error?: string;
  /** RFC 3339 time of the fetch that produced this state */
  fetchedAt: string;
}
