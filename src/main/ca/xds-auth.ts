/**
 * Authentication of xDS streams on the secure port (Istio pilot/pkg/xds/auth.go): with XDS_AUTH
 * the caller must authenticate like a CSR does (mTLS client certificate or bearer JWT), else the
 * stream ends UNAUTHENTICATED. With PILOT_ENABLE_XDS_IDENTITY_CHECK one of its SPIFFE identities
 * must match the proxy's namespace (ConfigNamespace) and, when the proxy declares one, its
 * SERVICE_ACCOUNT metadata (Istio's checkConnectionIdentity), else PERMISSION_DENIED.
 */
import * as grpc from '@grpc/grpc-js';
import { ProxyView } from '../../shared/model/proxy';
import { parseSpiffeUri } from '../../shared/ca/spiffe';
import { StreamAuthenticator } from '../xds/ads-server';
import { Authenticators } from './authenticate';

/** undefined when one identity fits the proxy, else the reason. */
export function checkConnectionIdentity(identities: readonly string[], proxy: ProxyView): string | undefined {
  for (const raw of identities) {
    const id = parseSpiffeUri(raw);
    if (!id) continue;
    if (proxy.namespace && id.namespace !== proxy.namespace) continue;
    if (proxy.serviceAccount && id.serviceAccount !== proxy.serviceAccount) continue;
    return undefined;
  }
  return `no identities (${identities.join(', ')}) matched ${proxy.namespace}/${proxy.serviceAccount}`;
}

export function xdsStreamAuthenticator(authenticators: Authenticators, opts: { identityCheck: boolean; onFailure?: (reason: string) => void }): StreamAuthenticator {
  return {
    authenticate: async (call) => {
      const r = await authenticators.authenticateCall(call as unknown as Parameters<Authenticators['authenticateCall']>[0]);
      if (!r.ok) {
        opts.onFailure?.(r.reason);
        return { ok: false, code: r.unavailable ? grpc.status.UNAVAILABLE : grpc.status.UNAUTHENTICATED, details: `authentication failure (${r.reason})` };
      }
      const identities = r.caller.identities;
      // Istio serves gateway credentials (SDS) only to streams whose identity was checked against the proxy.
      return { ok: true, verifiesIdentity: opts.identityCheck, authorize: (proxy: ProxyView) => (opts.identityCheck ? checkConnectionIdentity(identities, proxy) : undefined) };
    },
  };
}
