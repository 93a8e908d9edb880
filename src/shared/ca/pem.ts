/**
 * PEM armour (RFC 7468) for certificates, CSRs and keys, and the response-chain shape Istio's CA
 * returns. Pure, no I/O.
 */

export interface PemBlock { readonly label: string; readonly der: Buffer }

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;
const BASE64 = /^[A-Za-z0-9+/=\s]*$/;

/** Every PEM block in `text`, in order. Blocks whose body is not base64 are skipped. */
export function decodePemBlocks(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  BLOCK.lastIndex = 0;
  for (let m = BLOCK.exec(text); m; m = BLOCK.exec(text)) {
    const body = m[2]!;
    if (!BASE64.test(body)) continue;
    out.push({ label: m[1]!, der: Buffer.from(body.replace(/\s+/g, ''), 'base64') });
  }
  return out;
}

/** PEM-encode `der` with 64-character lines and a trailing newline (Go's pem.EncodeToMemory shape). */
export function encodePem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** The CERTIFICATE blocks of `text`, each re-encoded as one PEM string ending in "\n". */
export function splitCertificates(text: string): string[] {
  return decodePemBlocks(text).filter((b) => b.label === 'CERTIFICATE').map((b) => encodePem('CERTIFICATE', b.der));
}

/**
 * The CreateCertificate response chain exactly as Istio shapes it (security/pkg/server/ca):
 * the leaf, then the CA's cert chain, then the root bundle, each concatenated-PEM element
 * expanded to one certificate per string with a trailing "\n" ("specifically expected by
 * ztunnel"). The root bundle holds every trusted root (new and old during a rotation).
 */
export function istioResponseChain(leafPem: string, certChainPem: string, rootBundlePem: string): string[] {
  return [leafPem, certChainPem, rootBundlePem].flatMap(splitCertificates);
}
