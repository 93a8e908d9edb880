/**
 * Self-signed root certificates, as Istio's CA makes them when no plug-in CA is given
 * (security/pkg/pki/util GenCertKeyFromOptions with IsCA + IsSelfSigned): subject
 * `O=<trustDomain>`, BasicConstraints CA:TRUE and KeyUsage keyCertSign (both critical), a
 * subject key identifier, RSA key of CITADEL_SELF_SIGNED_CA_RSA_KEY_SIZE bits, lifetime
 * CITADEL_SELF_SIGNED_CA_CERT_TTL.
 *
 * Built with @peculiar/x509 over @peculiar/webcrypto: roots are made rarely (first start and
 * rotation), so a full X.509 library is the right tool here; the per-CSR hot path uses the
 * fixed template in shared/ca/leaf-cert.ts instead.
 */
import * as crypto from 'node:crypto';
import { promisify } from 'node:util';
import { Crypto } from '@peculiar/webcrypto';
import * as x509 from '@peculiar/x509';
import { randomSerial } from '../../shared/ca/leaf-cert';

const generateKeyPair = promisify(crypto.generateKeyPair);
const webcrypto = new Crypto();
const RSA_SIGN = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;

export interface RootOptions {
  /** Organization of the subject (Istio: the trust domain) */
  readonly org: string;
  readonly ttlMs: number;
  readonly rsaKeySize: number;
  readonly nowMs: number;
  /** reuse this key (PKCS#8 PEM) instead of generating one: Istio's rotation keeps the key */
  readonly keyPem?: string;
}

export interface RootMaterial { readonly certPem: string; readonly keyPem: string }

export async function newRsaKeyPem(bits: number): Promise<string> {
  const { privateKey } = await generateKeyPair('rsa', { modulusLength: bits, publicExponent: 0x10001 });
  return privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
}

export async function createSelfSignedRoot(o: RootOptions): Promise<RootMaterial> {
  const keyPem = o.keyPem ?? await newRsaKeyPem(o.rsaKeySize);
  const nodeKey = crypto.createPrivateKey(keyPem);
  if (nodeKey.asymmetricKeyType !== 'rsa') throw new TypeError(`self-signed roots use RSA keys, got ${nodeKey.asymmetricKeyType}`);
  const pkcs8 = nodeKey.export({ format: 'der', type: 'pkcs8' });
  const spki = crypto.createPublicKey(nodeKey).export({ format: 'der', type: 'spki' });
  const signingKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, RSA_SIGN, false, ['sign']);
  const publicKey = await webcrypto.subtle.importKey('spki', spki, RSA_SIGN, true, ['verify']);
  const name = new x509.Name([{ '2.5.4.10': [o.org] }]);
  const notBefore = new Date(Math.floor(o.nowMs / 1000) * 1000);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: Buffer.from(randomSerial()).toString('hex'),
    subject: name,
    issuer: name,
    notBefore,
    notAfter: new Date(notBefore.getTime() + o.ttlMs),
    publicKey,
    signingKey,
    signingAlgorithm: RSA_SIGN,
    extensions: [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
      new x509.BasicConstraintsExtension(true, undefined, true),
      await x509.SubjectKeyIdentifierExtension.create(publicKey, false, webcrypto),
    ],
  }, webcrypto);
  return { certPem: cert.toString('pem') + '\n', keyPem };
}
