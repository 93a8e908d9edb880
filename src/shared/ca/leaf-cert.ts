/**
 * Build and sign an end-entity certificate with the shape Istio's CA gives workload certificates
 * (security/pkg/pki/util GenCertFromCSR): X.509 v3, 128-bit random serial, empty subject,
 * SubjectAltName critical (the subject is empty, RFC 5280 §4.2.1.6) holding only the names we
 * chose, KeyUsage digitalSignature + keyEncipherment (critical), ExtKeyUsage serverAuth +
 * clientAuth, BasicConstraints CA:FALSE (critical), AuthorityKeyIdentifier from the issuer.
 *
 * This is the signing hot path: the TBSCertificate is assembled from byte arrays (the issuer
 * Name and the subject's SubjectPublicKeyInfo are copied verbatim) and signed with node:crypto,
 * which keeps one certificate to roughly the cost of the signature itself.
 */
import * as crypto from 'node:crypto';
import { NULL, bitString, boolean, explicit, octetString, oid, seq, smallInteger, time, tlv, unsignedInteger } from './der';
import { OID } from './oids';

export interface LeafTemplate {
  /** positive serial number, big-endian (16 random bytes is Istio's choice) */
  readonly serial: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** DER SubjectPublicKeyInfo of the certified key (copied from the CSR) */
  readonly spkiDer: Uint8Array;
  readonly uris?: readonly string[];
  readonly dnsNames?: readonly string[];
}

/** What signs: the CA key, the CA certificate's subject Name (DER) and its key identifier. */
export interface LeafIssuer {
  readonly key: crypto.KeyObject;
  readonly nameDer: Uint8Array;
  readonly keyId?: Uint8Array;
}

interface SignatureScheme { readonly algorithmDer: Uint8Array; readonly hash: 'sha256' | 'sha384' | 'sha512' }

/** The scheme Go's crypto/x509 picks by default for a CA key: SHA-256 RSA, ECDSA by curve size. */
export function signatureSchemeFor(key: crypto.KeyObject): SignatureScheme {
  if (key.asymmetricKeyType === 'rsa') return { algorithmDer: seq(oid(OID.sha256WithRSA), NULL), hash: 'sha256' };
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1' || curve === 'P-256') return { algorithmDer: seq(oid(OID.ecdsaWithSHA256)), hash: 'sha256' };
    if (curve === 'secp384r1' || curve === 'P-384') return { algorithmDer: seq(oid(OID.ecdsaWithSHA384)), hash: 'sha384' };
    if (curve === 'secp521r1' || curve === 'P-521') return { algorithmDer: seq(oid(OID.ecdsaWithSHA512)), hash: 'sha512' };
  }
  throw new TypeError(`unsupported CA key type ${key.asymmetricKeyType}${key.asymmetricKeyDetails?.namedCurve ? ` (${key.asymmetricKeyDetails.namedCurve})` : ''}`);
}

const schemeCache = new WeakMap<crypto.KeyObject, SignatureScheme>();
function schemeOf(key: crypto.KeyObject): SignatureScheme {
  let s = schemeCache.get(key);
  if (!s) { s = signatureSchemeFor(key); schemeCache.set(key, s); }
  return s;
}

function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical ? seq(oid(id), boolean(true), octetString(value)) : seq(oid(id), octetString(value));
}

// Constant extensions, encoded once.
// KeyUsage BIT STRING: digitalSignature (bit 0) + keyEncipherment (bit 2) = 0b1010_0000, 5 unused bits.
const KEY_USAGE = extension(OID.keyUsage, true, bitString(Uint8Array.of(0xa0), 5));
const EXT_KEY_USAGE = extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth), oid(OID.clientAuth)));
const BASIC_CONSTRAINTS_LEAF = extension(OID.basicConstraints, true, seq());
const VERSION_3 = explicit(0, smallInteger(2));
const EMPTY_NAME = seq();

function subjectAltName(uris: readonly string[], dnsNames: readonly string[]): Uint8Array {
  const names = [
    ...dnsNames.map((d) => tlv(0x82, Buffer.from(d, 'latin1'))), // [2] dNSName IA5String
    ...uris.map((u) => tlv(0x86, Buffer.from(u, 'latin1'))), // [6] uniformResourceIdentifier IA5String
  ];
  return extension(OID.subjectAltName, true, seq(...names));
}

/** Sign `t` as `issuer`; returns the certificate DER. */
export function signLeaf(t: LeafTemplate, issuer: LeafIssuer): Buffer {
  const scheme = schemeOf(issuer.key);
  const exts = [KEY_USAGE, EXT_KEY_USAGE, BASIC_CONSTRAINTS_LEAF];
  if (issuer.keyId) exts.push(extension(OID.authorityKeyIdentifier, false, seq(tlv(0x80, issuer.keyId))));
  exts.push(subjectAltName(t.uris ?? [], t.dnsNames ?? []));
  const tbs = seq(
    VERSION_3,
    unsignedInteger(t.serial),
    scheme.algorithmDer,
    issuer.nameDer,
    seq(time(t.notBefore), time(t.notAfter)),
    EMPTY_NAME,
    t.spkiDer,
    explicit(3, seq(...exts)),
  );
  // ECDSA signatures come out DER-encoded (node's default dsaEncoding), as X.509 wants them.
  const signature = crypto.sign(scheme.hash, tbs, issuer.key);
  return Buffer.from(seq(tbs, scheme.algorithmDer, bitString(signature)));
}

/** 128 random bits with the top bit cleared (a positive INTEGER of at most 16 bytes). */
export function randomSerial(): Uint8Array {
  const b = crypto.randomBytes(16);
  b[0] = (b[0]! & 0x7f) || 0x01;
  return b;
}
