/**
 * uWebSockets.js loads an SSLApp's certificate and key from FILES only. This writes them into a
 * private directory (0700, the key 0600) just long enough for the SSLApp constructor to read
 * them, then deletes them: the key never stays on disk.
 *
 * The identity is checked with node:crypto first (the certificate parses, the key is its key,
 * it has not expired), because uWS only says "App construction failed".
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from '../../shared/errors';
import { splitCertificates } from '../../shared/ca/pem';

/**
 * The webhook's serving certificate. Either the CA's ServingIdentity shape (`certChainPem` = leaf
 * then intermediates, which IssuedServingCert from ca/serving-cert.ts is), or leaf + chain apart.
 */
export type WebhookIdentity =
  | { readonly keyPem: string; readonly certChainPem: string }
  | { readonly keyPem: string; readonly certPem: string; readonly chainPem?: string };

export interface CheckedIdentity {
  keyPem: string;
  /** leaf first, then the chain, as OpenSSL's use_certificate_chain_file wants */
  chainPem: string;
  /** leaf details for logs */
  subjectAltName: string;
  notAfter: string;
  fingerprint256: string;
}

export function checkIdentity(id: WebhookIdentity): CheckedIdentity {
  if (typeof id !== 'object' || id === null || typeof id.keyPem !== 'string') throw new ConfigError('webhook certificate: keyPem is required');
  const chainText = 'certChainPem' in id && typeof id.certChainPem === 'string' ? id.certChainPem
    : 'certPem' in id && typeof id.certPem === 'string' ? id.certPem + (id.chainPem ? `\n${id.chainPem}` : '') : '';
  let certs: string[];
  try { certs = splitCertificates(chainText); } catch (e) { throw new ConfigError(`webhook certificate: cannot read the certificate chain PEM: ${(e as Error).message}`); }
  if (certs.length === 0) throw new ConfigError('webhook certificate: no PEM CERTIFICATE block in the certificate chain');
  let leaf: crypto.X509Certificate;
  let key: crypto.KeyObject;
  try { leaf = new crypto.X509Certificate(certs[0]!); } catch (e) { throw new ConfigError(`webhook certificate: cannot parse the leaf certificate: ${(e as Error).message}`); }
  try { key = crypto.createPrivateKey(id.keyPem); } catch (e) { throw new ConfigError(`webhook certificate: cannot parse the private key: ${(e as Error).message}`); }
  if (!leaf.checkPrivateKey(key)) throw new ConfigError(`webhook certificate: the private key does not belong to the certificate (${leaf.subjectAltName ?? leaf.subject})`);
  if (Date.parse(leaf.validTo) <= Date.now()) throw new ConfigError(`webhook certificate: expired on ${leaf.validTo}`);
  return {
    keyPem: key.export({ format: 'pem', type: 'pkcs8' }) as string,
    chainPem: certs.join(''),
    subjectAltName: leaf.subjectAltName ?? '',
    notAfter: new Date(leaf.validTo).toISOString(),
    fingerprint256: leaf.fingerprint256,
  };
}

/** A private directory for the short-lived certificate and key files. */
export class ServingFiles {
  private readonly dir: string;
  private seq = 0;

  constructor() {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'istiod-ts-webhook-'));
    fs.chmodSync(this.dir, 0o700);
  }

  /** Writes the files, runs `use(certFile, keyFile)` (the SSLApp constructor), deletes them. */
  with<T>(id: CheckedIdentity, use: (certFile: string, keyFile: string) => T): T {
    const n = ++this.seq;
    const certFile = path.join(this.dir, `cert-chain-${n}.pem`);
    const keyFile = path.join(this.dir, `key-${n}.pem`);
    try {
      fs.writeFileSync(keyFile, id.keyPem, { mode: 0o600 });
      fs.writeFileSync(certFile, id.chainPem, { mode: 0o600 });
      return use(certFile, keyFile);
    } finally {
      fs.rmSync(keyFile, { force: true });
      fs.rmSync(certFile, { force: true });
    }
  }

  remove(): void { fs.rmSync(this.dir, { recursive: true, force: true }); }
}
