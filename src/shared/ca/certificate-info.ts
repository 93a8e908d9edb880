/**
 * Read the fields of an X.509 certificate that signing needs and node:crypto's X509Certificate
 * does not expose as bytes: the raw subject Name (it becomes the issuer Name of what we sign),
 * the SubjectPublicKeyInfo and the subject key identifier (it becomes the authority key id).
 * Pure, no I/O.
 */
import { DerError, TAG, children, decodeOid, expectTag, readOnly, readTlv } from './der';
import { OID } from './oids';

export interface CertificateInfo {
  /** DER of the subject Name, exactly as encoded in the certificate */
  readonly subjectDer: Uint8Array;
  readonly spkiDer: Uint8Array;
  /** contents of the SubjectKeyIdentifier extension, if present */
  readonly subjectKeyId?: Uint8Array;
}

export function certificateInfo(der: Uint8Array): CertificateInfo {
  const cert = readOnly(der, TAG.SEQUENCE, 'Certificate');
  const tbs = expectTag(children(cert.value)[0], TAG.SEQUENCE, 'TBSCertificate');
  const f = children(tbs.value);
  // version is [0] EXPLICIT and optional (absent = v1)
  const o = f[0]?.tag === 0xa0 ? 1 : 0;
  const subject = expectTag(f[o + 4], TAG.SEQUENCE, 'subject');
  const spki = expectTag(f[o + 5], TAG.SEQUENCE, 'subjectPublicKeyInfo');
  let subjectKeyId: Uint8Array | undefined;
  const extsWrapper = f.slice(o + 6).find((t) => t.tag === 0xa3);
  if (extsWrapper) {
    const exts = expectTag(readTlv(extsWrapper.value), TAG.SEQUENCE, 'extensions');
    for (const ext of children(exts.value)) {
      const parts = children(ext.value);
      if (decodeOid(expectTag(parts[0], TAG.OID, 'extension id').value) !== OID.subjectKeyIdentifier) continue;
      const value = expectTag(parts[parts.length - 1], TAG.OCTET_STRING, 'extension value');
      subjectKeyId = readOnly(value.value, TAG.OCTET_STRING, 'SubjectKeyIdentifier').value;
    }
  }
  if (subject.raw.length === 0) throw new DerError('empty subject');
  return { subjectDer: subject.raw, spkiDer: spki.raw, subjectKeyId };
}
