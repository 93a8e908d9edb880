/**
 * IstioCertificateService/CreateCertificate (Istio security/pkg/server/ca/server.go):
 * 1. count the CSR; authenticate the caller (mTLS client certificate, then bearer JWT), else
 *    UNAUTHENTICATED "request authenticate failure";
 * 2. SANs = the caller's identities only (the CSR's own names are ignored); impersonation
 *    (metadata ImpersonatedIdentity) needs a node authorizer we do not have: UNAUTHENTICATED;
 * 3. sign in the CA pool: CSR or TTL problems are INVALID_ARGUMENT, signing failures INTERNAL,
 *    a full pool UNAVAILABLE;
 * 4. answer with the chain in Istio's shape (one PEM per element, "\n"-terminated, roots last).
 * Errors become gRPC statuses here, at the edge, and nowhere else.
 */
import * as grpc from '@grpc/grpc-js';
import { Metrics } from '../http/metrics';
import { SignErrorCode } from '../../shared/ca/messages';
import { MAX_CSR_PEM_BYTES } from '../../shared/ca/csr';
import { Authenticators } from './authenticate';
import { CertificateAuthority } from './certificate-authority';
import { IstioCertificateRequest, IstioCertificateResponse, metadataString } from './ca-proto';
import { scope } from '../log';

const log = scope('ca');

/** Istio's caerror types (the `error` label of citadel_server_csr_sign_err_count) and their status. */
const SIGN_ERROR: Record<SignErrorCode, { type: string; status: grpc.status }> = {
  CSR_TOO_LARGE: { type: 'CSR_ERROR', status: grpc.status.INVALID_ARGUMENT },
  CSR_MALFORMED: { type: 'CSR_ERROR', status: grpc.status.INVALID_ARGUMENT },
  CSR_UNSUPPORTED_KEY: { type: 'CSR_ERROR', status: grpc.status.INVALID_ARGUMENT },
  CSR_BAD_SIGNATURE: { type: 'CSR_ERROR', status: grpc.status.INVALID_ARGUMENT },
  TTL_ERROR: { type: 'TTL_ERROR', status: grpc.status.INVALID_ARGUMENT },
  CERT_GEN_ERROR: { type: 'CERT_GEN_ERROR', status: grpc.status.INTERNAL },
};

export type CitadelMetrics = Metrics['citadel'];

type Call = grpc.ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>;

export function caServiceImplementation(deps: { ca: CertificateAuthority; authenticators: Authenticators; metrics: CitadelMetrics }): grpc.UntypedServiceImplementation {
  const { ca, authenticators, metrics } = deps;
  const CreateCertificate = (call: Call, callback: grpc.sendUnaryData<IstioCertificateResponse>): void => {
    const t0 = performance.now();
    metrics.csr.inc();
    const fail = (code: grpc.status, details: string) => callback({ code, details } as grpc.ServiceError, null);
    authenticators.authenticateCall(call).then((auth) => {
      if (!auth.ok) {
        metrics.authnFailures.inc();
        if (auth.idExtraction) metrics.idExtractionErrors.inc();
        log.warn('CSR refused: authentication failed', { peer: call.getPeer(), reason: auth.reason });
        fail(auth.unavailable ? grpc.status.UNAVAILABLE : grpc.status.UNAUTHENTICATED, `request authenticate failure (${auth.reason})`);
        return;
      }
      const req = call.request;
      if (metadataString(req, 'ImpersonatedIdentity')) {
        metrics.authnFailures.inc();
        log.warn('CSR refused: impersonation needs a node authorizer (CA_TRUSTED_NODE_ACCOUNTS), which istiod-ts does not support', { caller: auth.caller.identities });
        fail(grpc.status.UNAUTHENTICATED, 'request impersonation authentication failure');
        return;
      }
      const csr = typeof req.csr === 'string' ? req.csr : '';
      if (csr.length > MAX_CSR_PEM_BYTES) {
        // Refused before the pool: no point cloning a huge string into a worker.
        metrics.csrParsingErrors.inc();
        metrics.signErrors.inc({ error: 'CSR_ERROR' });
        fail(grpc.status.INVALID_ARGUMENT, `CSR signing error (CSR is larger than ${MAX_CSR_PEM_BYTES} bytes)`);
        return;
      }
      ca.sign({ csrPem: csr, ttlSeconds: Number(req.validity_duration ?? 0), uris: auth.caller.identities }).then((r) => {
        if (!r.ok) {
          const e = SIGN_ERROR[r.error.code];
          if (r.error.code === 'CSR_MALFORMED' || r.error.code === 'CSR_TOO_LARGE') metrics.csrParsingErrors.inc();
          metrics.signErrors.inc({ error: e.type });
          log.warn('CSR signing error', { caller: auth.caller.identities, code: r.error.code, error: r.error.message });
          fail(e.status, `CSR signing error (${r.error.message})`);
          return;
        }
        metrics.issued.inc();
        metrics.signDuration.observe((performance.now() - t0) / 1000);
        if (log.enabled('debug')) log.debug('certificate issued', { identities: auth.caller.identities, via: auth.caller.via, key: r.keyDescription, notAfter: new Date(r.notAfterMs).toISOString() });
        callback(null, { cert_chain: [...r.certChain] });
      }, (e: unknown) => {
        // Piscina refuses when its queue is full, or fails a job whose worker died.
        const msg = e instanceof Error ? e.message : String(e);
        metrics.signErrors.inc({ error: 'CA_NOT_READY' });
        log.error('CA pool failed a CSR', { error: msg });
        fail(grpc.status.UNAVAILABLE, `CA is overloaded or restarting, retry (${msg})`);
      });
    }, (e: unknown) => {
      metrics.authnFailures.inc();
      fail(grpc.status.INTERNAL, `authentication error (${e instanceof Error ? e.message : String(e)})`);
    });
  };
  return { CreateCertificate } as grpc.UntypedServiceImplementation;
}
