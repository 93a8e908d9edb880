/**
 * The CSR signer that runs in the CA pool: check the CSR (size, PEM, DER, key policy, its own
 * signature), resolve the lifetime, issue a certificate for the identities main authenticated,
 * and return the chain in Istio's response shape. A pure function of its job apart from a cache
 * of parsed signing keys keyed by the material's PEM texts (parsing an RSA key costs more than a
 * sign; comparing two short strings costs nothing).
 */
import * as crypto from 'node:crypto';
import { CaToMain, MainToCa, SignErrorCode, SigningMaterial } from '../../shared/ca/messages';
import { parseAndVerifyCsr, CsrRejection } from '../../shared/ca/csr';
import { resolveTtl } from '../../shared/ca/ttl';
import { LeafIssuer, randomSerial, signLeaf } from '../../shared/ca/leaf-cert';
import { certificateInfo } from '../../shared/ca/certificate-info';
import { decodePemBlocks, encodePem, istioResponseChain } from '../../shared/ca/pem';

const REJECTION_CODE: Record<CsrRejection, SignErrorCode> = {
  'too-large': 'CSR_TOO_LARGE',
  malformed: 'CSR_MALFORMED',
  'unsupported-key': 'CSR_UNSUPPORTED_KEY',
  'bad-signature': 'CSR_BAD_SIGNATURE',
};

interface PreparedIssuer extends LeafIssuer { readonly caCertPem: string; readonly caKeyPem: string }

/** Two entries: the current material and the one before it (jobs in flight across a rotation). */
const issuers: PreparedIssuer[] = [];

export function prepareIssuer(m: SigningMaterial): PreparedIssuer {
  // Keyed by content, not by `version`: versions are only unique within one CA instance.
  const hit = issuers.find((i) => i.caCertPem === m.caCertPem && i.caKeyPem === m.caKeyPem);
  if (hit) return hit;
  const certBlock = decodePemBlocks(m.caCertPem).find((b) => b.label === 'CERTIFICATE');
  if (!certBlock) throw new Error('signing material has no CA certificate');
  const info = certificateInfo(certBlock.der);
  const prepared: PreparedIssuer = { caCertPem: m.caCertPem, caKeyPem: m.caKeyPem, key: crypto.createPrivateKey(m.caKeyPem), nameDer: info.subjectDer, keyId: info.subjectKeyId };
  issuers.unshift(prepared);
  issuers.length = Math.min(issuers.length, 2);
  return prepared;
}

export function signCsr(job: MainToCa): CaToMain {
  const t0 = performance.now();
  const fail = (code: SignErrorCode, message: string): CaToMain => ({ id: job.id, ok: false, error: { code, message } });
  const csr = parseAndVerifyCsr(job.csrPem);
  if (!csr.ok) return fail(REJECTION_CODE[csr.reason], csr.message);
  const ttl = resolveTtl(job.requestedTtlSeconds, job.defaultTtlMs, job.maxTtlMs);
  if (!ttl.ok) return fail('TTL_ERROR', ttl.message);
  if (job.uris.length === 0 && (job.dnsNames ?? []).length === 0) return fail('CERT_GEN_ERROR', 'no identity to certify');
  let der: Buffer;
  try {
    const issuer = prepareIssuer(job.material);
    // Whole seconds: X.509 times have no fractions, so notAfter - notBefore is exactly the TTL.
    const notBeforeMs = Math.floor(job.nowMs / 1000) * 1000;
    der = signLeaf({
      serial: randomSerial(),
      notBefore: new Date(notBeforeMs),
      notAfter: new Date(notBeforeMs + ttl.ms),
      spkiDer: csr.value.spkiDer,
      uris: job.uris,
      dnsNames: job.dnsNames,
    }, issuer);
  } catch (e) {
    return fail('CERT_GEN_ERROR', `failed to sign the certificate: ${(e as Error).message}`);
  }
  const certChain = istioResponseChain(encodePem('CERTIFICATE', der), job.material.certChainPem, job.material.rootBundlePem);
  return {
    id: job.id, ok: true, certChain, keyDescription: csr.value.keyDescription,
    notAfterMs: Math.floor(job.nowMs / 1000) * 1000 + ttl.ms, signMs: performance.now() - t0,
  };
}
