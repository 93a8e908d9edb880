/**
 * Authentication of the Kubernetes API test server: bearer tokens (the server's own admin token,
 * tokens added by tests, ServiceAccount tokens issued by TokenRequest), TokenReview and the
 * serviceaccounts/token subresource (TokenRequest).
 *
 * As the API server: a ServiceAccount token is a JWT bound to the ServiceAccount's uid (deleting
 * the ServiceAccount invalidates it) with an expiry (at least 10 minutes, default 1 hour) and
 * audiences (default: the API server's); a token is accepted for API requests only when its
 * audiences include one of the API server's.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { ApiError } from './kube-apiserver-errors';
import { RESOURCES } from './kube-apiserver-resources';
import { KubeStore, Obj, rfc3339 } from './kube-apiserver-store';

export interface UserInfo { username: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> }

export interface TokenEntry {
  user: UserInfo;
  /** undefined: not audience-bound (static token file); accepted everywhere */
  audiences?: string[];
  /** ms since the epoch */
  expires?: number;
  /** ServiceAccount the token is bound to (must still exist with this uid) */
  boundTo?: { namespace: string; name: string; uid: string };
}

/** The API audiences of the server (what a TokenReview without spec.audiences checks against). */
export const API_AUDIENCES = ['https://kubernetes.default.svc.cluster.local'];
export const ISSUER = 'https://kubernetes.default.svc.cluster.local';

const SA = RESOURCES.find((d) => d.resource === 'serviceaccounts')!;

function invalidExpiry(value: unknown, why: string): ApiError {
  const message = `Invalid value: ${value}: ${why}`;
  return new ApiError(422, 'Invalid', `TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: ${message}`, {
    group: 'authentication.k8s.io', kind: 'TokenRequest', causes: [{ reason: 'FieldValueInvalid', message, field: 'spec.expirationSeconds' }],
  });
}

export class Authenticator {
  readonly tokens = new Map<string, TokenEntry>();

  constructor(private readonly store: KubeStore, private readonly now: () => number = Date.now) {}

  add(token: string, entry: TokenEntry): void { this.tokens.set(token, entry); }

  /** The entry of a currently valid token, or why it is not. */
  check(token: string): { entry: TokenEntry } | { error: string } {
    const entry = this.tokens.get(token);
    if (!entry) return { error: 'invalid bearer token' };
    if (entry.expires !== undefined && this.now() >= entry.expires) return { error: 'invalid bearer token, Token has expired.' };
    if (entry.boundTo) {
      const sa = this.store.get(SA, entry.boundTo.namespace, entry.boundTo.name);
      if (!sa) return { error: `invalid bearer token, serviceaccounts "${entry.boundTo.name}" not found` };
      if (sa.metadata.uid !== entry.boundTo.uid) return { error: `invalid bearer token, the UID in the bound object reference (${entry.boundTo.uid}) does not match the UID in record. The object might have been deleted and then recreated` };
    }
    return { entry };
  }

  /** The user of an API request's `Authorization: Bearer` header; 401 otherwise. */
  authenticateRequest(authorization: string | undefined): UserInfo {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!m) throw ApiError.unauthorized();
    const r = this.check(m[1]);
    if ('error' in r) throw ApiError.unauthorized();
    if (r.entry.audiences && !r.entry.audiences.some((a) => API_AUDIENCES.includes(a))) throw ApiError.unauthorized();
    return r.entry.user;
  }

  /** TokenReview status for spec {token, audiences}. */
  review(spec: Obj): Obj {
    const requested: string[] = Array.isArray(spec.audiences) && spec.audiences.length > 0 ? spec.audiences : API_AUDIENCES;
    const r = this.check(spec.token);
    if ('error' in r) return { user: {}, error: r.error === 'invalid bearer token' ? r.error : `[${r.error}]` };
    const tokenAud = r.entry.audiences ?? API_AUDIENCES;
    const both = requested.filter((a) => tokenAud.includes(a));
    if (both.length === 0) {
      return { user: {}, error: `[invalid bearer token, token audiences ${JSON.stringify(tokenAud)} is invalid for the target audiences ${JSON.stringify(requested)}]` };
    }
    const u = r.entry.user;
    return {
      authenticated: true,
      user: { username: u.username, ...(u.uid ? { uid: u.uid } : {}), groups: u.groups ?? ['system:authenticated'], ...(u.extra ? { extra: u.extra } : {}) },
      audiences: both,
    };
  }

  /**
   * Issues a ServiceAccount token (what POST .../serviceaccounts/<name>/token does).
   * Throws 404 when the ServiceAccount does not exist, 422 for an expiry under 10 minutes.
   */
  issue(namespace: string, name: string, spec: { audiences?: string[]; expirationSeconds?: number } = {}): { token: string; expirationTimestamp: string; audiences: string[]; expirationSeconds: number; sa: Obj } {
    const sa = this.store.get(SA, namespace, name);
    if (!sa) throw ApiError.notFound(SA, name);
    const expirationSeconds = spec.expirationSeconds ?? 3600;
    if (!Number.isInteger(expirationSeconds) || expirationSeconds < 600) {
      throw invalidExpiry(expirationSeconds, 'may not specify a duration less than 10 minutes');
    }
    if (expirationSeconds > 2 ** 32) throw invalidExpiry(expirationSeconds, 'may not specify a duration larger than 2^32 seconds');
    const audiences = spec.audiences && spec.audiences.length > 0 ? spec.audiences : API_AUDIENCES;
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + expirationSeconds;
    const jti = randomUUID();
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const token = [
      b64({ alg: 'RS256', kid: 'kube-test-server' }),
      b64({
        aud: audiences, exp, iat, iss: ISSUER, jti, nbf: iat,
        'kubernetes.io': { namespace, serviceaccount: { name, uid: sa.metadata.uid } },
        sub: `system:serviceaccount:${namespace}:${name}`,
      }),
      randomBytes(64).toString('base64url'),
    ].join('.');
    this.add(token, {
      user: {
        username: `system:serviceaccount:${namespace}:${name}`,
        uid: sa.metadata.uid,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
        extra: { 'authentication.kubernetes.io/credential-id': [`JTI=${jti}`] },
      },
      audiences,
      expires: exp * 1000,
      boundTo: { namespace, name, uid: sa.metadata.uid },
    });
    return { token, expirationTimestamp: rfc3339(new Date(exp * 1000)), audiences, expirationSeconds, sa };
  }

  /** The TokenRequest response body for a request body. */
  tokenRequest(namespace: string, name: string, body: Obj): Obj {
    const spec = body?.spec ?? {};
    const issued = this.issue(namespace, name, spec);
    return {
      kind: 'TokenRequest',
      apiVersion: 'authentication.k8s.io/v1',
      metadata: { name, namespace, uid: issued.sa.metadata.uid, creationTimestamp: issued.sa.metadata.creationTimestamp },
      spec: { audiences: issued.audiences, expirationSeconds: issued.expirationSeconds, boundObjectRef: spec.boundObjectRef ?? null },
      status: { token: issued.token, expirationTimestamp: issued.expirationTimestamp },
    };
  }
}
