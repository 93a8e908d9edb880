/**
 * The CA's key and certificates (Istio's KeyCertBundle): the signing certificate and key, the
 * chain between it and the root, and the trust bundle of roots. `verifyBundle` checks what Istio's
 * NewVerifiedKeyCertBundleFromPem checks: the key matches the certificate, the certificate may
 * sign (CA:TRUE), and it chains through cert-chain to a root of the bundle.
 */
import * as crypto from 'node:crypto';
import { Result } from '../../shared/errors';
import { splitCertificates } from '../../shared/ca/pem';

export type BundleSource = 'plug-in' | 'self-signed';

export interface KeyCertBundle {
  readonly source: BundleSource;
  /** ca-cert.pem: the signing certificate */
  readonly caCertPem: string;
  /** ca-key.pem: its private key (PKCS#8 or PKCS#1/SEC1 PEM) */
  readonly caKeyPem: string;
  /** cert-chain.pem: intermediates from the signing cert towards the root (may be empty) */
  readonly certChainPem: string;
  /** root-cert.pem: trusted roots, newest first */
  readonly rootBundlePem: string;
}

/** The certificates of a PEM text, parsed. */
export function parseCertificates(pem: string): crypto.X509Certificate[] {
  return splitCertificates(pem).map((p) => new crypto.X509Certificate(p));
}

/** Expiry (ms) of the first root of the bundle (the metric Istio reports) and of the signing cert. */
export function bundleExpiry(b: KeyCertBundle): { rootMs: number; caCertMs: number } {
  const roots = parseCertificates(b.rootBundlePem);
  const ca = new crypto.X509Certificate(b.caCertPem);
  return { rootMs: roots.length > 0 ? Date.parse(roots[0]!.validTo) : NaN, caCertMs: Date.parse(ca.validTo) };
}

export function verifyBundle(b: KeyCertBundle, nowMs: number): Result<void, string> {
  const bad = (msg: string): Result<void, string> => ({ ok: false, errors: msg });
  let cert: crypto.X509Certificate;
  let key: crypto.KeyObject;
  try { cert = new crypto.X509Certificate(b.caCertPem); } catch (e) { return bad(`ca-cert.pem: not a certificate (${(e as Error).message})`); }
  try { key = crypto.createPrivateKey(b.caKeyPem); } catch (e) { return bad(`ca-key.pem: not a private key (${(e as Error).message})`); }
  if (!cert.checkPrivateKey(key)) return bad('ca-key.pem does not match the public key of ca-cert.pem');
  if (!cert.ca) return bad('ca-cert.pem is not a CA certificate (BasicConstraints CA:TRUE missing)');
  if (Date.parse(cert.validTo) <= nowMs) return bad(`ca-cert.pem expired at ${cert.validTo}`);
  let roots: crypto.X509Certificate[];
  let chain: crypto.X509Certificate[];
  try {
    roots = parseCertificates(b.rootBundlePem);
    chain = parseCertificates(b.certChainPem);
  } catch (e) {
    return bad(`root-cert.pem / cert-chain.pem: ${(e as Error).message}`);
  }
  if (roots.length === 0) return bad('root-cert.pem holds no certificate');
  // Walk up from the signing cert: through cert-chain, then to a root.
  let current = cert;
  const pool = [...chain];
  for (let hops = 0; hops <= pool.length + 1; hops++) {
    const root = roots.find((r) => current.checkIssued(r) && current.verify(r.publicKey));
    if (root) return { ok: true, value: undefined };
    const next = pool.find((c) => c.fingerprint256 !== current.fingerprint256 && current.checkIssued(c) && current.verify(c.publicKey));
    if (!next) break;
    current = next;
  }
  return bad('ca-cert.pem does not chain (through cert-chain.pem) to any certificate of root-cert.pem');
}
