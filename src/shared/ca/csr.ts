/**
 * PKCS#10 certificate signing requests: decode the PEM, walk the DER, check the key policy and
 * verify the CSR's own signature (proof that the caller holds the private key). Nothing else in
 * the CSR is trusted: its subject and requested SANs are ignored, as Istio does, because the
 * certificate names the authenticated caller only.
 *
 * Returns result unions; `reason` says which check failed (all map to INVALID_ARGUMENT at the
 * gRPC edge). Pure compute (node:crypto), no I/O.
 */
import * as crypto from 'node:crypto';
import { DerError, TAG, children, decodeOid, expectTag, readOnly } from './der';
import { decodePemBlocks } from './pem';
import { SIGNATURE_HASH } from './oids';

/** An RSA-4096 CSR with a few SANs is under 2 KiB of PEM; anything past this is refused unparsed. */
export const MAX_CSR_PEM_BYTES = 16 * 1024;

export type CsrRejection = 'too-large' | 'malformed' | 'unsupported-key' | 'bad-signature';

export interface ParsedCsr {
  /** DER SubjectPublicKeyInfo, copied into the issued certificate */
  readonly spkiDer: Uint8Array;
  /** `ECDSA P-256`, `RSA 2048`, ... */
  readonly keyDescription: string;
}

export type CsrResult = { ok: true; value: ParsedCsr } | { ok: false; reason: CsrRejection; message: string };

const reject = (reason: CsrRejection, message: string): CsrResult => ({ ok: false, reason, message });

const RSA_SIZES = new Set([2048, 3072, 4096]);

/** Key policy: ECDSA P-256 / P-384, RSA 2048 / 3072 / 4096. */
function describeKey(key: crypto.KeyObject): string | undefined {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec' && (d.namedCurve === 'prime256v1' || d.namedCurve === 'secp384r1')) {
    return `ECDSA ${d.namedCurve === 'prime256v1' ? 'P-256' : 'P-384'}`;
  }
  if (key.asymmetricKeyType === 'rsa' && d.modulusLength !== undefined && RSA_SIZES.has(d.modulusLength)) return `RSA ${d.modulusLength}`;
  return undefined;
}

function describeUnsupported(key: crypto.KeyObject): string {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') return `RSA ${d.modulusLength ?? '?'} (RSA keys must be 2048, 3072 or 4096 bits)`;
  if (key.asymmetricKeyType === 'ec') return `ECDSA ${d.namedCurve ?? '?'} (ECDSA keys must be P-256 or P-384)`;
  return `${key.asymmetricKeyType ?? 'unknown'} (supported: ECDSA P-256/P-384, RSA 2048/3072/4096)`;
}

/** Parse, check and verify a PEM CSR. */
export function parseAndVerifyCsr(pem: string): CsrResult {
  if (Buffer.byteLength(pem, 'utf8') > MAX_CSR_PEM_BYTES) return reject('too-large', `CSR is larger than ${MAX_CSR_PEM_BYTES} bytes`);
  const blocks = decodePemBlocks(pem).filter((b) => b.label === 'CERTIFICATE REQUEST' || b.label === 'NEW CERTIFICATE REQUEST');
  if (blocks.length !== 1) return reject('malformed', blocks.length === 0 ? 'no PEM CERTIFICATE REQUEST block' : 'more than one CERTIFICATE REQUEST block');
  const der = blocks[0]!.der;
  let info: Uint8Array; let spkiDer: Uint8Array; let sigOid: string; let signature: Uint8Array;
  try {
    const outer = readOnly(der, TAG.SEQUENCE, 'CertificationRequest');
    const [infoTlv, algTlv, sigTlv, extra] = children(outer.value);
    if (extra) throw new DerError('CertificationRequest: unexpected trailing field');
    const infoSeq = expectTag(infoTlv, TAG.SEQUENCE, 'certificationRequestInfo');
    const fields = children(infoSeq.value);
    const version = expectTag(fields[0], TAG.INTEGER, 'version');
    if (version.value.length !== 1 || version.value[0] !== 0) throw new DerError('version: expected 0 (v1)');
    expectTag(fields[1], TAG.SEQUENCE, 'subject');
    spkiDer = expectTag(fields[2], TAG.SEQUENCE, 'subjectPKInfo').raw;
    const alg = children(expectTag(algTlv, TAG.SEQUENCE, 'signatureAlgorithm').value);
    sigOid = decodeOid(expectTag(alg[0], TAG.OID, 'signatureAlgorithm.algorithm').value);
    const sig = expectTag(sigTlv, TAG.BIT_STRING, 'signature');
    if (sig.value.length < 2 || sig.value[0] !== 0) throw new DerError('signature: expected a whole-byte BIT STRING');
    signature = sig.value.subarray(1);
    info = infoSeq.raw;
  } catch (e) {
    return reject('malformed', `CSR is not a valid PKCS#10 request: ${(e as Error).message}`);
  }
  let key: crypto.KeyObject;
  try {
    key = crypto.createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' });
  } catch (e) {
    return reject('unsupported-key', `CSR public key cannot be used: ${(e as Error).message}`);
  }
  const keyDescription = describeKey(key);
  if (!keyDescription) return reject('unsupported-key', `unsupported CSR key type ${describeUnsupported(key)}`);
  const hash = SIGNATURE_HASH[sigOid];
  const sigMatchesKey = hash !== undefined && (sigOid.startsWith('1.2.840.10045.4.3.') ? key.asymmetricKeyType === 'ec' : key.asymmetricKeyType === 'rsa');
  if (!sigMatchesKey) return reject('unsupported-key', `unsupported CSR signature algorithm ${sigOid} for a ${keyDescription} key`);
  let valid = false;
  try {
    valid = crypto.verify(hash, info, key, signature);
  } catch {
    valid = false;
  }
  if (!valid) return reject('bad-signature', 'CSR signature does not verify with the CSR public key');
  return { ok: true, value: { spkiDer, keyDescription } };
}

