/**
 * Caller authentication for the CA and for secure xDS (Istio's security.Authenticate over its
 * authenticator list): first the mTLS client certificate (its SPIFFE URI SANs, when the TLS
 * handshake verified the chain against our trust bundle), then the bearer JWT. The first
 * authenticator that succeeds names the caller; when none does, the reasons are joined.
 */
import * as grpc from '@grpc/grpc-js';
import { PeerCertificate } from 'node:tls';
import { JwtVerifier } from './jwt';
import { parseSpiffeUri, spiffeUri } from '../../shared/ca/spiffe';

export interface Caller {
  /** SPIFFE URIs; the CA certifies exactly these */
  readonly identities: readonly string[];
  readonly via: 'mtls' | 'jwt';
}

export type AuthResult =
  | { ok: true; caller: Caller }
  /**
   * `idExtraction`: credentials were valid but named no identity; `unavailable`: the check itself
   * could not run (e.g. the Kubernetes API server is down), so the caller should retry
   */
  | { ok: false; reason: string; idExtraction: boolean; unavailable?: boolean };

/** What an authenticator sees of a call. */
export interface AuthInput {
  readonly metadata: grpc.Metadata;
  /** present only when the TLS handshake verified the client certificate chain */
  readonly peerCertificate?: PeerCertificate;
}

interface Authenticator {
  readonly name: string;
  /** undefined = this authenticator has nothing to go on (no certificate, no token) */
  authenticate(input: AuthInput): AuthResult | undefined;
}

/** URI entries of Node's `subjectaltname` text (`URI:a, DNS:b`; values with ", " are JSON-quoted). */
export function sanUris(subjectaltname: string | undefined): string[] {
  if (!subjectaltname) return [];
  const out: string[] = [];
  const re = /(?:^|, )URI:("(?:[^"\\]|\\.)*"|[^,]*)/g;
  for (let m = re.exec(subjectaltname); m; m = re.exec(subjectaltname)) {
    const v = m[1]!;
    try { out.push(v.startsWith('"') ? JSON.parse(v) : v); } catch { /* malformed quoting: skip */ }
  }
  return out;
}

/** An authenticator that asks someone else (Kubernetes TokenReview); runs after the local ones. */
export interface AsyncAuthenticator {
  readonly name: string;
  authenticate(input: AuthInput): Promise<AuthResult | undefined>;
}

export function clientCertAuthenticator(): Authenticator {
  return {
    name: 'ClientCertAuthenticator',
    authenticate: ({ peerCertificate }) => {
      if (!peerCertificate) return undefined;
      const ids = sanUris(peerCertificate.subjectaltname).filter((u) => parseSpiffeUri(u) !== undefined);
      if (ids.length === 0) return { ok: false, reason: 'client certificate has no SPIFFE URI SAN', idExtraction: true };
      return { ok: true, caller: { identities: ids, via: 'mtls' } };
    },
  };
}

export function bearerToken(metadata: grpc.Metadata): string | undefined {
  const v = metadata.get('authorization')[0];
  if (typeof v !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(v.trim());
  return m ? m[1] : undefined;
}

export function jwtAuthenticator(verifier: JwtVerifier, trustDomain: () => string): Authenticator {
  return {
    name: 'JwtAuthenticator',
    authenticate: ({ metadata }) => {
      if (metadata.get('authorization').length === 0) return undefined;
      const token = bearerToken(metadata);
      if (!token) return { ok: false, reason: 'authorization header is not "Bearer <token>"', idExtraction: false };
      const r = verifier.verify(token);
      if (!r.ok) return { ok: false, reason: r.reason, idExtraction: r.idExtraction ?? false };
      return { ok: true, caller: { identities: [spiffeUri({ trustDomain: trustDomain(), ...r.identity })], via: 'jwt' } };
    },
  };
}

export class Authenticators {
  constructor(private readonly list: readonly Authenticator[], private readonly asyncList: readonly AsyncAuthenticator[] = []) {}

  /** The local (synchronous) authenticators only. */
  authenticate(input: AuthInput): AuthResult {
    return this.conclude(this.list.map((a) => [a.name, a.authenticate(input)] as const), input);
  }

  /** Every authenticator: the local ones first, then the asynchronous ones in order. */
  async authenticateAsync(input: AuthInput): Promise<AuthResult> {
    const seen: Array<readonly [string, AuthResult | undefined]> = [];
    for (const a of this.list) {
      const r = a.authenticate(input);
      if (r?.ok) return r;
      seen.push([a.name, r]);
    }
    for (const a of this.asyncList) {
      const r = await a.authenticate(input).catch((e: unknown): AuthResult => ({ ok: false, reason: `authenticator error: ${String(e)}`, idExtraction: false }));
      if (r?.ok) return r;
      seen.push([a.name, r]);
    }
    return this.conclude(seen, input);
  }

  /** Authenticate a gRPC call from its metadata and its TLS peer certificate. */
  authenticateCall(call: { metadata: grpc.Metadata; getAuthContext?: () => { sslPeerCertificate?: PeerCertificate } | null }): Promise<AuthResult> {
    let peerCertificate: PeerCertificate | undefined;
    try { peerCertificate = call.getAuthContext?.()?.sslPeerCertificate; } catch { peerCertificate = undefined; }
    return this.authenticateAsync({ metadata: call.metadata, peerCertificate });
  }

  private conclude(results: ReadonlyArray<readonly [string, AuthResult | undefined]>, input: AuthInput): AuthResult {
    const reasons: string[] = [];
    let idExtraction = false;
    let unavailable = false;
    for (const [name, r] of results) {
      if (!r) continue;
      if (r.ok) return r;
      reasons.push(`${name}: ${r.reason}`);
      idExtraction ||= r.idExtraction;
      unavailable ||= r.unavailable === true;
    }
    if (reasons.length === 0) {
      // Say what was presented: a token nobody could check is a configuration problem, not a missing credential.
      const token = input.metadata.get('authorization').length > 0;
      const reason = token
        ? 'a bearer token was presented but no token authenticator is configured (file mode: --jwksFile; Kubernetes mode: TokenReview)'
        : 'no credentials (no verified client certificate, no bearer token)';
      return { ok: false, reason, idExtraction: false };
    }
    return { ok: false, reason: reasons.join('; '), idExtraction, ...(unavailable ? { unavailable } : {}) };
  }
}
