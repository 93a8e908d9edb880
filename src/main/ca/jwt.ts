/**
 * Local verification of Kubernetes service-account tokens (file mode: no API server to send a
 * TokenReview to). Trusted signing keys come from a JWKS file (--jwksFile), the expected issuer
 * from --jwtIssuer, accepted audiences from TOKEN_AUDIENCES. Checks, in order: shape and size,
 * `alg` (asymmetric only: RS*, PS*, ES*; never `none` or HMAC) and that it fits the key, the
 * signature, `exp` (required), `nbf`, `iss`, `aud`. Then the identity: the `kubernetes.io`
 * claim (namespace + serviceaccount.name) or `sub: system:serviceaccount:NS:SA`.
 *
 * node:crypto does the cryptography; nothing here is cached across key-file reloads.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { isKubernetesName } from '../../shared/ca/spiffe';

/** Tokens longer than this are refused unparsed (a projected SA token is ~1 KiB). */
export const MAX_TOKEN_BYTES = 16 * 1024;
/** Clock skew tolerated on exp / nbf. */
export const CLOCK_SKEW_S = 30;

type Alg = 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512';
const ALGS: Readonly<Record<Alg, { kty: 'RSA' | 'EC'; hash: string; pss?: true; curve?: string }>> = {
  RS256: { kty: 'RSA', hash: 'sha256' }, RS384: { kty: 'RSA', hash: 'sha384' }, RS512: { kty: 'RSA', hash: 'sha512' },
  PS256: { kty: 'RSA', hash: 'sha256', pss: true }, PS384: { kty: 'RSA', hash: 'sha384', pss: true }, PS512: { kty: 'RSA', hash: 'sha512', pss: true },
  ES256: { kty: 'EC', hash: 'sha256', curve: 'P-256' }, ES384: { kty: 'EC', hash: 'sha384', curve: 'P-384' }, ES512: { kty: 'EC', hash: 'sha512', curve: 'P-521' },
};

interface TrustedKey { readonly kid?: string; readonly alg?: string; readonly kty: string; readonly crv?: string; readonly key: crypto.KeyObject }

export interface ServiceAccountIdentity { readonly namespace: string; readonly serviceAccount: string }

export type JwtResult =
  | { ok: true; identity: ServiceAccountIdentity }
  /** `idExtraction`: the token was valid but named no service account (citadel_server_id_extraction_err_count) */
  | { ok: false; reason: string; idExtraction?: boolean };

export interface JwtVerifierOptions {
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly now?: () => number;
}

/** Parse a JWKS document (RFC 7517): `{ "keys": [ {kty, kid, n, e | crv, x, y, ...}, ... ] }`. */
export function parseJwks(text: string, source: string): TrustedKey[] {
  let doc: unknown;
  try { doc = JSON.parse(text); } catch (e) { throw new TypeError(`${source}: not JSON (${(e as Error).message})`); }
  const keys = (doc as { keys?: unknown })?.keys;
  if (!Array.isArray(keys)) throw new TypeError(`${source}: expected a JWKS object with a "keys" array`);
  const out: TrustedKey[] = [];
  keys.forEach((jwk: Record<string, unknown>, i) => {
    if (jwk?.['use'] !== undefined && jwk['use'] !== 'sig') return;
    if (jwk?.['kty'] !== 'RSA' && jwk?.['kty'] !== 'EC') throw new TypeError(`${source}: keys[${i}]: unsupported kty ${JSON.stringify(jwk?.['kty'])} (RSA or EC)`);
    if ('d' in jwk) throw new TypeError(`${source}: keys[${i}] is a private key; the JWKS must hold public keys only`);
    let key: crypto.KeyObject;
    try { key = crypto.createPublicKey({ key: jwk as crypto.JsonWebKey, format: 'jwk' }); } catch (e) { throw new TypeError(`${source}: keys[${i}]: ${(e as Error).message}`); }
    out.push({ kid: typeof jwk['kid'] === 'string' ? jwk['kid'] : undefined, alg: typeof jwk['alg'] === 'string' ? jwk['alg'] : undefined, kty: jwk['kty'] as string, crv: typeof jwk['crv'] === 'string' ? jwk['crv'] : undefined, key });
  });
  if (out.length === 0) throw new TypeError(`${source}: no signing keys`);
  return out;
}

function b64json(part: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

const B64URL = /^[A-Za-z0-9_-]+$/;

export class JwtVerifier {
  private keys: TrustedKey[];
  private readonly now: () => number;

  constructor(keys: TrustedKey[], private readonly opts: JwtVerifierOptions) {
    this.keys = keys;
    this.now = opts.now ?? Date.now;
  }

  /** Read the JWKS file; throws TypeError naming the file when it is unusable. */
  static fromFile(file: string, opts: JwtVerifierOptions): JwtVerifier {
    return new JwtVerifier(parseJwks(fs.readFileSync(file, 'utf8'), file), opts);
  }

  /** Replace the trusted keys (the JWKS file changed). */
  setKeys(keys: TrustedKey[]): void { this.keys = keys; }

  verify(token: string): JwtResult {
    const fail = (reason: string): JwtResult => ({ ok: false, reason });
    if (token.length > MAX_TOKEN_BYTES) return fail('token too large');
    const parts = token.split('.');
    if (parts.length !== 3 || !parts.every((p) => B64URL.test(p))) return fail('malformed token (expected three base64url parts)');
    const [h, p, s] = parts as [string, string, string];
    const header = b64json(h);
    const claims = b64json(p);
    if (!header || !claims) return fail('malformed token (header or payload is not a JSON object)');
    if (header['crit'] !== undefined) return fail('unsupported critical header parameters');
    const alg = header['alg'];
    if (typeof alg !== 'string' || !(alg in ALGS)) return fail(`unsupported alg ${JSON.stringify(alg)} (accepted: ${Object.keys(ALGS).join(', ')})`);
    const spec = ALGS[alg as Alg];
    const kid = typeof header['kid'] === 'string' ? header['kid'] : undefined;
    const candidates = this.keys.filter((k) => k.kty === spec.kty && (kid === undefined || k.kid === kid) && (k.alg === undefined || k.alg === alg) && (spec.curve === undefined || k.crv === spec.curve));
    if (candidates.length === 0) return fail(`no trusted key for alg ${alg}${kid ? ` kid ${kid}` : ''}`);
    const signed = Buffer.from(`${h}.${p}`, 'latin1');
    const sig = Buffer.from(s, 'base64url');
    const verified = candidates.some((k) => {
      try {
        if (spec.pss) return crypto.verify(spec.hash, signed, { key: k.key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: crypto.constants.RSA_PSS_SALTLEN_DIGEST }, sig);
        if (spec.kty === 'EC') return crypto.verify(spec.hash, signed, { key: k.key, dsaEncoding: 'ieee-p1363' }, sig);
        return crypto.verify(spec.hash, signed, k.key, sig);
      } catch {
        return false;
      }
    });
    if (!verified) return fail('bad signature');
    const nowS = this.now() / 1000;
    const exp = claims['exp'];
    if (typeof exp !== 'number') return fail('token has no exp claim');
    if (nowS >= exp + CLOCK_SKEW_S) return fail('token expired');
    const nbf = claims['nbf'];
    if (nbf !== undefined && (typeof nbf !== 'number' || nowS + CLOCK_SKEW_S < nbf)) return fail('token not valid yet (nbf)');
    if (this.opts.issuer && claims['iss'] !== this.opts.issuer) return fail(`issuer ${JSON.stringify(claims['iss'])} is not trusted`);
    const aud = claims['aud'];
    const auds = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
    if (!auds.some((a) => this.opts.audiences.includes(a))) return fail(`audience ${JSON.stringify(aud ?? null)} not accepted (want one of ${this.opts.audiences.join(', ')})`);
    const identity = identityFromClaims(claims);
    return identity ? { ok: true, identity } : { ok: false, reason: 'token names no Kubernetes service account', idExtraction: true };
  }
}

/** `kubernetes.io: {namespace, serviceaccount: {name}}`, else `sub: system:serviceaccount:NS:SA`. */
export function identityFromClaims(claims: Record<string, unknown>): ServiceAccountIdentity | undefined {
  const k8s = claims['kubernetes.io'] as { namespace?: unknown; serviceaccount?: { name?: unknown } } | undefined;
  let namespace: unknown = k8s?.namespace;
  let serviceAccount: unknown = k8s?.serviceaccount?.name;
  if (typeof namespace !== 'string' || typeof serviceAccount !== 'string') {
    const sub = claims['sub'];
    const m = typeof sub === 'string' ? /^system:serviceaccount:([^:]+):([^:]+)$/.exec(sub) : null;
    if (!m) return undefined;
    [, namespace, serviceAccount] = m;
  }
  if (!isKubernetesName(namespace as string) || !isKubernetesName(serviceAccount as string)) return undefined;
  return { namespace: namespace as string, serviceAccount: serviceAccount as string };
}
