/**
 * Where the CA's key and certificates come from and go to in file mode.
 *
 * - Plug-in CA: ROOT_CA_DIR with Istio's `cacerts` layout (ca-cert.pem, ca-key.pem,
 *   root-cert.pem, cert-chain.pem) or the kubernetes.io/tls layout (tls.crt, tls.key, ca.crt).
 *   Chosen when the key file exists, as Istio does. Read-only: never written back.
 * - Self-signed: --stateDir with the same four file names (ca-key.pem mode 0600). Loaded when
 *   present, so a restart keeps the root; generated and written otherwise, and rewritten on
 *   rotation. Files are written to temporaries and renamed, so a crash leaves either the old
 *   or the new file, never a torn one.
 *
 * A folder that exists but does not hold a consistent bundle stops startup with the reason: it
 * is never silently replaced (that would change the mesh's root under running workloads).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../../shared/errors';
import { splitCertificates } from '../../shared/ca/pem';
import { KeyCertBundle, parseCertificates, verifyBundle } from './key-cert-bundle';

export const FILES = { caCert: 'ca-cert.pem', caKey: 'ca-key.pem', rootCert: 'root-cert.pem', certChain: 'cert-chain.pem' } as const;
const TLS_FILES = { cert: 'tls.crt', key: 'tls.key', ca: 'ca.crt' } as const;

const readIf = (p: string): string | undefined => (fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : undefined);

function checked(b: KeyCertBundle, where: string, nowMs: number): KeyCertBundle {
  const v = verifyBundle(b, nowMs);
  if (!v.ok) throw new ConfigError(`${where}: ${v.errors}`);
  return b;
}

/** The plug-in CA in `dir`, or undefined when `dir` holds no CA key. */
export function loadPluginCa(dir: string, nowMs: number): KeyCertBundle | undefined {
  if (!dir) return undefined;
  const key = readIf(path.join(dir, FILES.caKey));
  if (key !== undefined) {
    const need = (f: string): string => {
      const t = readIf(path.join(dir, f));
      if (t === undefined) throw new ConfigError(`ROOT_CA_DIR ${dir}: ${FILES.caKey} is present but ${f} is missing`);
      return t;
    };
    return checked({
      source: 'plug-in',
      caCertPem: need(FILES.caCert),
      caKeyPem: key,
      certChainPem: readIf(path.join(dir, FILES.certChain)) ?? '',
      rootBundlePem: need(FILES.rootCert),
    }, `ROOT_CA_DIR ${dir}`, nowMs);
  }
  const tlsKey = readIf(path.join(dir, TLS_FILES.key));
  if (tlsKey !== undefined) {
    const tlsCrt = readIf(path.join(dir, TLS_FILES.cert));
    const caCrt = readIf(path.join(dir, TLS_FILES.ca));
    if (tlsCrt === undefined || caCrt === undefined) throw new ConfigError(`ROOT_CA_DIR ${dir}: ${TLS_FILES.key} is present but ${tlsCrt === undefined ? TLS_FILES.cert : TLS_FILES.ca} is missing`);
    const certs = splitCertificates(tlsCrt);
    if (certs.length === 0) throw new ConfigError(`ROOT_CA_DIR ${dir}: ${TLS_FILES.cert} holds no certificate`);
    // tls.crt = signing cert followed by its chain; Istio uses the whole file as the cert chain.
    return checked({ source: 'plug-in', caCertPem: certs[0]!, caKeyPem: tlsKey, certChainPem: tlsCrt, rootBundlePem: caCrt }, `ROOT_CA_DIR ${dir}`, nowMs);
  }
  return undefined;
}

/** The self-signed bundle persisted in `stateDir`, or undefined when there is none yet. */
export function loadSelfSigned(stateDir: string, nowMs: number): KeyCertBundle | undefined {
  const key = readIf(path.join(stateDir, FILES.caKey));
  const cert = readIf(path.join(stateDir, FILES.caCert));
  if (key === undefined && cert === undefined) return undefined;
  if (key === undefined || cert === undefined) throw new ConfigError(`--stateDir ${stateDir}: found ${key === undefined ? FILES.caCert : FILES.caKey} without ${key === undefined ? FILES.caKey : FILES.caCert}; restore both or remove both to generate a new root`);
  // Old roots that have expired are dropped from the trust bundle on load.
  const roots = readIf(path.join(stateDir, FILES.rootCert)) ?? cert;
  const live = parseCertificates(roots).filter((c) => Date.parse(c.validTo) > nowMs).map((c) => c.toString());
  return checked({ source: 'self-signed', caCertPem: cert, caKeyPem: key, certChainPem: '', rootBundlePem: live.join('') || cert }, `--stateDir ${stateDir}`, nowMs);
}

function writeAtomic(file: string, text: string, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text, { mode });
  fs.chmodSync(tmp, mode); // writeFileSync's mode is filtered by the umask
  fs.renameSync(tmp, file);
}

/** Persist a self-signed bundle. cert-chain.pem = ca-cert.pem, so the folder is also a valid plug-in layout. */
export function saveSelfSigned(stateDir: string, b: KeyCertBundle): void {
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  writeAtomic(path.join(stateDir, FILES.caKey), b.caKeyPem, 0o600);
  writeAtomic(path.join(stateDir, FILES.caCert), b.caCertPem, 0o644);
  writeAtomic(path.join(stateDir, FILES.certChain), b.caCertPem, 0o644);
  writeAtomic(path.join(stateDir, FILES.rootCert), b.rootBundlePem, 0o644);
}
