/**
 * Kubernetes mode: bearer service-account tokens checked by the API server with a TokenReview
 * (Istio security/pkg/server/ca/authenticate/kubeauth/kube_jwt.go + security/pkg/k8s/tokenreview).
 *
 * 1. `authorization: Bearer <jwt>` from the call metadata; none = nothing to go on (undefined).
 * 2. Optional `clusterid` metadata naming another cluster: refused (istiod-ts serves one cluster;
 *    Istio would pick a remote cluster's client and fails the same way when it has none).
 * 3. POST authentication.k8s.io/v1 TokenReview {token, audiences: TOKEN_AUDIENCES}.
 * 4. status.error → refused; !status.authenticated → refused; status.audiences, when the API
 *    server names them, must meet the expected audiences; the user must be a service account
 *    (`system:serviceaccount:<ns>:<sa>`, group `system:serviceaccounts` when groups are given).
 * 5. Identity `spiffe://<trustDomain>/ns/<ns>/sa/<sa>`.
 *
 * Positive answers are cached for a short TTL (never past the token's own `exp`), keyed by a
 * SHA-256 of the token: the token itself is never a key and never logged. Concurrent checks of one
 * token share a single TokenReview. An unreachable or failing API server fails authentication with
 * a reason starting `kubernetes API unavailable:` (and `unavailable: true`), never an exception.
 *
 * TokenReview is a network call, so `authenticate` is async; the synchronous Authenticators of
 * authenticate.ts cannot hold it as they are (see the note at the end of this file).
 */
import * as crypto from 'node:crypto';
import { AuthInput, AuthResult, bearerToken } from './authenticate';
import { KubeStatusError } from '../kube/client';
import { isKubernetesName, spiffeUri } from '../../shared/ca/spiffe';
import { scope } from '../log';

const log = scope('ca');

export const KUBE_JWT_AUTHENTICATOR = 'KubeJWTAuthenticator';
/** gRPC metadata naming the caller's cluster (Istio's clusterIDMeta) */
export const CLUSTER_ID_METADATA = 'clusterid';
export const DEFAULT_TOKEN_AUDIENCES: readonly string[] = Object.freeze(['istio-ca']);
const SA_PREFIX = 'system:serviceaccount:';
const SA_GROUP = 'system:serviceaccounts';
const TOKEN_REVIEW_PATH = '/apis/authentication.k8s.io/v1/tokenreviews';
/** Projected tokens are ~1 KiB; anything this large is not worth a round trip to the API server. */
export const MAX_TOKEN_BYTES = 16 * 1024;

/** An AuthResult; a failure may say the API server (not the caller) was the problem. */
export type KubeAuthResult = AuthResult | { ok: false; reason: string; idExtraction: boolean; unavailable: true };

/** Same shape as authenticate.ts's authenticators, but asynchronous. */
export interface AsyncAuthenticator {
  readonly name: string;
  /** undefined = no bearer token: nothing to go on */
  authenticate(input: AuthInput): Promise<KubeAuthResult | undefined>;
}

export interface KubeJwtAuthenticator extends AsyncAuthenticator {
  /** TokenReviews sent, answers served from the cache, entries cached now */
  stats(): { reviews: number; cacheHits: number; cached: number };
  /** forget every cached answer */
  clear(): void;
}

export interface KubeJwtAuthenticatorOptions {
  /** the API server (KubeClient or anything with its `request`) */
  readonly client: { request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> };
  /** TOKEN_AUDIENCES (default ['istio-ca']) */
  readonly audiences?: readonly string[];
  /** read per call: the mesh config's trust domain can change */
  readonly trustDomain: () => string;
  /** CLUSTER_ID of this istiod */
  readonly clusterId: string;
  /** how long a positive answer is reused (default 30 s; 0 = no cache) */
  readonly cacheTtlMs?: number;
  /** most cached answers (default 10 000; the oldest go first) */
  readonly cacheMaxEntries?: number;
  /** give up on a TokenReview after this long (default 10 s) */
  readonly timeoutMs?: number;
  readonly now?: () => number;
}

/** The parts of authentication.k8s.io/v1 TokenReview status we read. */
export interface TokenReviewStatus {
  authenticated?: boolean;
  error?: string;
  audiences?: string[];
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
}

export interface ServiceAccountIdentity {
  readonly namespace: string;
  readonly serviceAccount: string;
  /** from the user's extra (authentication.kubernetes.io/pod-name), when the token is pod-bound */
  readonly podName?: string;
}

/**
 * The service account a TokenReview status names, or why it names none. `expected` are the
 * audiences we asked for.
 */
export function tokenReviewIdentity(status: TokenReviewStatus | undefined, expected: readonly string[]): { ok: true; id: ServiceAccountIdentity } | { ok: false; reason: string; idExtraction: boolean } {
  if (!status) return { ok: false, reason: 'the TokenReview answer has no status', idExtraction: false };
  if (status.error) return { ok: false, reason: `the service account authentication returns an error: ${status.error}`, idExtraction: false };
  if (status.authenticated !== true) return { ok: false, reason: 'the token is not authenticated', idExtraction: false };
  // An audience-aware API server names the audiences it matched; none of ours = not meant for us.
  const aud = Array.isArray(status.audiences) ? status.audiences : [];
  if (aud.length > 0 && !aud.some((a) => expected.includes(a))) {
    return { ok: false, reason: `the token's audiences [${aud.join(', ')}] include none of the expected audiences [${expected.join(', ')}] (TOKEN_AUDIENCES)`, idExtraction: false };
  }
  const user = status.user ?? {};
  const username = typeof user.username === 'string' ? user.username : '';
  if (Array.isArray(user.groups) && user.groups.length > 0 && !user.groups.includes(SA_GROUP)) {
    return { ok: false, reason: `the token is not a service account (user "${username}" is not in group ${SA_GROUP})`, idExtraction: true };
  }
  const sa = parseServiceAccountUsername(username);
  if (typeof sa === 'string') return { ok: false, reason: sa, idExtraction: true };
  const podName = user.extra?.['authentication.kubernetes.io/pod-name']?.[0];
  return { ok: true, id: { ...sa, ...(podName ? { podName } : {}) } };
}

/** `system:serviceaccount:<ns>:<sa>` → {namespace, serviceAccount}; anything else → the reason. */
export function parseServiceAccountUsername(username: string): { namespace: string; serviceAccount: string } | string {
  if (!username.startsWith(SA_PREFIX)) {
    return `the token is not a service account (user "${username}"; expected ${SA_PREFIX}<namespace>:<name>)`;
  }
  const parts = username.split(':');
  const [, , namespace = '', serviceAccount = ''] = parts;
  if (parts.length !== 4 || !isKubernetesName(namespace) || !isKubernetesName(serviceAccount)) {
    return `invalid username field in the token review result ("${username}"; expected ${SA_PREFIX}<namespace>:<name>)`;
  }
  return { namespace, serviceAccount };
}

/** The token's `exp` (ms), read without verifying: only to keep a cached answer from outliving it. */
function tokenExpiryMs(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** Why a TokenReview call failed, as an authentication failure. */
function apiFailure(e: unknown): KubeAuthResult {
  const err = e as Partial<KubeStatusError> & { message?: string };
  const code = typeof err?.statusCode === 'number' ? err.statusCode : 0;
  const msg = err?.message ?? String(e);
  if (code === 0 || code >= 500 || code === 429) {
    return { ok: false, reason: `kubernetes API unavailable: TokenReview failed (${code === 0 ? 'no connection' : `HTTP ${code}`}): ${msg}`, idExtraction: false, unavailable: true };
  }
  // istiod's own problem, not the caller's: its credentials or RBAC
  if (code === 401) {
    return { ok: false, reason: `TokenReview refused (HTTP 401): the API server does not accept istiod's own credentials: ${msg}`, idExtraction: false, unavailable: true };
  }
  if (code === 403) {
    return { ok: false, reason: `TokenReview refused (HTTP 403): istiod needs RBAC "create" on tokenreviews.authentication.k8s.io: ${msg}`, idExtraction: false, unavailable: true };
  }
  return { ok: false, reason: `TokenReview failed (HTTP ${code}): ${msg}`, idExtraction: false };
}

interface CacheEntry { id: ServiceAccountIdentity; expiresAt: number }

export function kubeJwtAuthenticator(opts: KubeJwtAuthenticatorOptions): KubeJwtAuthenticator {
  const audiences = [...(opts.audiences && opts.audiences.length > 0 ? opts.audiences : DEFAULT_TOKEN_AUDIENCES)];
  const ttl = Math.max(0, opts.cacheTtlMs ?? 30_000);
  const maxEntries = Math.max(1, opts.cacheMaxEntries ?? 10_000);
  const timeoutMs = Math.max(1, opts.timeoutMs ?? 10_000);
  const now = opts.now ?? Date.now;
  const cache = new Map<string, CacheEntry>();
  const inflight = new Map<string, Promise<KubeAuthResult>>();
  let reviews = 0;
  let cacheHits = 0;

  const result = (id: ServiceAccountIdentity): KubeAuthResult => ({
    ok: true,
    caller: { identities: [spiffeUri({ trustDomain: opts.trustDomain(), namespace: id.namespace, serviceAccount: id.serviceAccount })], via: 'jwt' },
  });

  const remember = (key: string, token: string, id: ServiceAccountIdentity): void => {
    if (ttl === 0) return;
    const t = now();
    const exp = tokenExpiryMs(token);
    const expiresAt = Math.min(t + ttl, exp ?? Infinity);
    if (expiresAt <= t) return;
    cache.delete(key);
    cache.set(key, { id, expiresAt });
    while (cache.size > maxEntries) cache.delete(cache.keys().next().value as string);
  };

  const review = async (key: string, token: string): Promise<KubeAuthResult> => {
    reviews++;
    const body = { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } };
    let timer: NodeJS.Timeout | undefined;
    let answer: { status?: TokenReviewStatus } | undefined;
    try {
      answer = await Promise.race([
        opts.client.request<{ status?: TokenReviewStatus }>('POST', TOKEN_REVIEW_PATH, body),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { statusCode: 0 })), timeoutMs);
        }),
      ]);
    } catch (e) {
      const r = apiFailure(e);
      log.warn('TokenReview failed', { reason: (r as { reason: string }).reason });
      return r;
    } finally {
      if (timer) clearTimeout(timer);
    }
    const r = tokenReviewIdentity(answer?.status, audiences);
    if (!r.ok) return { ok: false, reason: r.reason, idExtraction: r.idExtraction };
    remember(key, token, r.id);
    if (log.enabled('debug')) log.debug('TokenReview accepted a service account', { namespace: r.id.namespace, serviceAccount: r.id.serviceAccount, pod: r.id.podName, token: key.slice(0, 12) });
    return result(r.id);
  };

  return {
    name: KUBE_JWT_AUTHENTICATOR,
    async authenticate({ metadata }) {
      if (metadata.get('authorization').length === 0) return undefined;
      const token = bearerToken(metadata);
      if (!token) return { ok: false, reason: 'target JWT extraction error: authorization header is not "Bearer <token>"', idExtraction: false };
      const clusterIds = metadata.get(CLUSTER_ID_METADATA);
      const clusterId = clusterIds.length === 1 && typeof clusterIds[0] === 'string' ? clusterIds[0] : '';
      if (clusterId && clusterId !== opts.clusterId) {
        return { ok: false, reason: `could not get cluster ${clusterId}'s kube client: this istiod serves only cluster "${opts.clusterId}" (CLUSTER_ID)`, idExtraction: false };
      }
      if (token.length > MAX_TOKEN_BYTES) return { ok: false, reason: `the token is larger than ${MAX_TOKEN_BYTES} bytes`, idExtraction: false };

      const key = crypto.createHash('sha256').update(token).digest('hex');
      const hit = cache.get(key);
      if (hit) {
        if (hit.expiresAt > now()) {
          cacheHits++;
          return result(hit.id);
        }
        cache.delete(key);
      }
      let pending = inflight.get(key);
      if (!pending) {
        pending = review(key, token)
          .catch((e: unknown): KubeAuthResult => ({ ok: false, reason: `TokenReview answer could not be read: ${(e as Error)?.message ?? String(e)}`, idExtraction: false }))
          .finally(() => inflight.delete(key));
        inflight.set(key, pending);
      }
      return pending;
    },
    stats: () => ({ reviews, cacheHits, cached: cache.size }),
    clear: () => cache.clear(),
  };
}

/*
 * Wiring note. authenticate.ts's `Authenticators` is synchronous (its callers, ca-service.ts and
 * xds-auth.ts, use the result directly). To put this authenticator in the list, `Authenticator`'s
 * `authenticate` may return a Promise, `Authenticators.authenticate/authenticateCall` become
 * async, and the callers await them; `unavailable` failures may map to gRPC UNAVAILABLE.
 */
