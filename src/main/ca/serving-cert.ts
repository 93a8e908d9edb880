/**
 * istiod's own serving certificate for the secure gRPC port, issued by our CA (Istio's
 * "istiod DNS certificate"): DNS SANs istiod.<POD_NAMESPACE>.svc, the host of the mesh's
 * discoveryAddress, and ISTIOD_CUSTOM_HOST names; ECDSA P-256 key; lifetime
 * DEFAULT_WORKLOAD_CERT_TTL. Renewed at half its lifetime and whenever the CA's signing
 * material changes, so it never expires under a running server and always chains to the
 * current root.
 *
 * Signed here on the main thread with the same template as workload certificates: it happens
 * once per renewal, and going through the pool would put it behind a CSR storm.
 */
import * as crypto from 'node:crypto';
import { signLeaf, randomSerial } from '../../shared/ca/leaf-cert';
import { certificateInfo } from '../../shared/ca/certificate-info';
import { decodePemBlocks, encodePem, splitCertificates } from '../../shared/ca/pem';
import { CertificateAuthority } from './certificate-authority';
import { ServingIdentity } from './tls-credentials';
import { scope } from '../log';

const log = scope('ca');

export function istiodDnsNames(podNamespace: string, discoveryAddress: string | undefined, customHosts: readonly string[]): string[] {
  const names = [`istiod.${podNamespace}.svc`];
  const host = discoveryAddress?.replace(/:\d+$/, '');
  if (host && /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/i.test(host) && !/^[\d.]+$/.test(host)) names.push(host);
  names.push(...customHosts);
  return [...new Set(names)];
}

export interface IssuedServingCert extends ServingIdentity {
  readonly notAfterMs: number;
  readonly certPem: string;
}

export function issueServingCert(ca: CertificateAuthority, dnsNames: readonly string[], ttlMs: number): IssuedServingCert {
  const m = ca.material;
  const caDer = decodePemBlocks(m.caCertPem).find((b) => b.label === 'CERTIFICATE')!.der;
  const info = certificateInfo(caDer);
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const nowMs = Math.floor(ca.now() / 1000) * 1000;
  const der = signLeaf({
    serial: randomSerial(),
    notBefore: new Date(nowMs),
    notAfter: new Date(nowMs + ttlMs),
    spkiDer: publicKey.export({ format: 'der', type: 'spki' }),
    dnsNames,
  }, { key: crypto.createPrivateKey(m.caKeyPem), nameDer: info.subjectDer, keyId: info.subjectKeyId });
  const certPem = encodePem('CERTIFICATE', der);
  // Chain sent in the handshake: leaf, the signing cert unless it is a root, then cert-chain.
  const caIsRoot = splitCertificates(m.rootBundlePem).includes(splitCertificates(m.caCertPem)[0]!);
  const chain = [certPem, ...(caIsRoot ? [] : splitCertificates(m.caCertPem)), ...splitCertificates(m.certChainPem)];
  return {
    certPem,
    notAfterMs: nowMs + ttlMs,
    keyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
    certChainPem: [...new Set(chain)].join(''),
    clientCaPem: [...new Set([...splitCertificates(m.rootBundlePem), ...splitCertificates(m.certChainPem)])].join(''),
  };
}

/** Keeps a serving certificate fresh and tells `onRenew` about every new one. */
export class ServingCertRenewer {
  private timer?: NodeJS.Timeout;
  current: IssuedServingCert;

  constructor(private readonly ca: CertificateAuthority, private readonly dnsNames: readonly string[], private readonly ttlMs: number, private readonly onRenew: (c: IssuedServingCert) => void) {
    this.current = issueServingCert(ca, dnsNames, ttlMs);
    ca.onChange(() => this.renew('CA signing material changed'));
    this.schedule();
  }

  renew(reason: string): void {
    this.current = issueServingCert(this.ca, this.dnsNames, this.ttlMs);
    log.info('renewed the istiod serving certificate', { reason, dnsNames: this.dnsNames, notAfter: new Date(this.current.notAfterMs).toISOString() });
    this.onRenew(this.current);
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    // Half the lifetime, capped by setTimeout's 32-bit range (~24.8 days).
    const delay = Math.min(Math.max(1000, (this.current.notAfterMs - this.ca.now()) / 2), 2 ** 31 - 1);
    this.timer = setTimeout(() => this.renew('half of its lifetime passed'), delay);
    this.timer.unref();
  }

  close(): void { if (this.timer) clearTimeout(this.timer); }
}
