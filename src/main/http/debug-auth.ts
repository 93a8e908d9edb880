/**
 * Who may read the debug endpoints (Istio's allowAuthenticatedOrLocalhost, pilot/pkg/xds/debug.go):
 * loopback callers always; anyone else only with ENABLE_DEBUG_ENDPOINT_AUTH=false, or with
 * credentials the CA's authenticators accept, the same way xDS callers are authenticated. Over
 * plain HTTP that is a bearer JWT (`Authorization: Bearer <service-account token>`, verified
 * against --jwksFile); client certificates cannot reach a plaintext port. Without a CA (or
 * without --jwksFile) no token can be verified, so non-local callers always get 401.
 */
import * as grpc from '@grpc/grpc-js';
import { Authenticators } from '../ca/authenticate';
import { Authorize } from './http-server';

/** 127.0.0.0/8, ::1, and their IPv4-mapped / expanded spellings as uWS prints them. */
export function isLoopback(remote: string): boolean {
  const a = remote.toLowerCase();
  if (a.startsWith('127.') || a === '::1' || a.startsWith('::ffff:127.')) return true;
  // uWS prints IPv6 in full: 0000:0000:0000:0000:0000:0000:0000:0001
  const groups = a.split(':');
  if (groups.length === 8 && groups.slice(0, 7).every((g) => /^0+$/.test(g)) && /^0*1$/.test(groups[7]!)) return true;
  // IPv4-mapped in full: 0000:...:ffff:7f00:0001
  if (groups.length === 8 && groups.slice(0, 5).every((g) => /^0+$/.test(g)) && groups[5] === 'ffff' && /^7f/.test(groups[6]!.padStart(4, '0'))) return true;
  return false;
}

export function debugAuthorizer(opts: { enabled: boolean; authenticators: () => Authenticators | undefined }): Authorize {
  return ({ remote, authorization }) => {
    if (!opts.enabled || isLoopback(remote)) return { ok: true };
    const authn = opts.authenticators();
    if (!authn) return { ok: false, status: 401, reason: 'non-local caller and no authenticator (run the CA with --jwksFile, or set ENABLE_DEBUG_ENDPOINT_AUTH=false)' };
    const md = new grpc.Metadata();
    if (authorization) md.set('authorization', authorization);
    const r = authn.authenticate({ metadata: md });
    return r.ok ? { ok: true } : { ok: false, status: 401, reason: r.reason };
  };
}
