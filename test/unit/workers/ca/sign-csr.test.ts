import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { signCsr } from '../../../../src/workers/ca/sign-csr';
import caWorker from '../../../../src/workers/ca-worker';
import { MainToCa, SigningMaterial } from '../../../../src/shared/ca/messages';
import { createSelfSignedRoot } from '../../../../src/main/ca/self-signed-root';
import { corruptCsrSignature, makeCsr } from '../../../helpers/ca-client';

const H = 3600_000;
const ID = 'spiffe://cluster.local/ns/default/sa/sleep';

async function ecRootMaterial(version: number): Promise<SigningMaterial> {
  const wc = crypto.webcrypto;
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await wc.subtle.generateKey(alg, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'O=ec-root', keys, signingAlgorithm: alg, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 365 * 24 * H),
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  } as never, wc as never);
  const keyPem = crypto.createPrivateKey({ key: Buffer.from(await wc.subtle.exportKey('pkcs8', keys.privateKey)), format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }) as string;
  const pem = cert.toString('pem') + '\n';
  return { version, caCertPem: pem, caKeyPem: keyPem, certChainPem: '', rootBundlePem: pem };
}

describe('CSR signer (CA pool job)', () => {
  let rsa: SigningMaterial;
  let ec: SigningMaterial;
  let csrPem: string;
  const job = (over: Partial<MainToCa> = {}): MainToCa => ({
    id: 1, material: rsa, csrPem, requestedTtlSeconds: 0, defaultTtlMs: 24 * H, maxTtlMs: 2160 * H, uris: [ID], nowMs: Date.now(), ...over,
  });

  before(async () => {
    const root = await createSelfSignedRoot({ org: 'cluster.local', ttlMs: 10 * 365 * 24 * H, rsaKeySize: 2048, nowMs: Date.now() });
    rsa = { version: 1, caCertPem: root.certPem, caKeyPem: root.keyPem, certChainPem: '', rootBundlePem: root.certPem };
    ec = await ecRootMaterial(2);
    csrPem = (await makeCsr('ec-p256', { sans: ['spiffe://cluster.local/ns/kube-system/sa/admin'], subject: 'CN=admin' })).csrPem;
  });

  it('issues a leaf that verifies against the root, with only the given identity and Istio key usages', () => {
    const r = signCsr(job());
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.certChain.length, 2);
    const leaf = new crypto.X509Certificate(r.certChain[0]!);
    const root = new crypto.X509Certificate(rsa.caCertPem);
    assert.ok(leaf.verify(root.publicKey));
    assert.ok(leaf.checkIssued(root));
    assert.equal(leaf.subjectAltName, `URI:${ID}`, 'the CSR asked for kube-system/admin: ignored');
    assert.ok(!leaf.subject, 'empty subject');
    assert.equal(leaf.ca, false);
    assert.deepEqual(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    assert.equal(r.keyDescription, 'ECDSA P-256');
    assert.equal(r.certChain[1], rsa.caCertPem);
  });

  it('gives DEFAULT_WORKLOAD_CERT_TTL when none is asked for, and the asked TTL otherwise', () => {
    const now = Date.parse('2030-01-01T00:00:00.500Z');
    const def = signCsr(job({ nowMs: now }));
    assert.ok(def.ok);
    const leaf = new crypto.X509Certificate(def.certChain[0]!);
    assert.equal(Date.parse(leaf.validFrom), Date.parse('2030-01-01T00:00:00Z'));
    assert.equal(Date.parse(leaf.validTo) - Date.parse(leaf.validFrom), 24 * H);
    const asked = signCsr(job({ nowMs: now, requestedTtlSeconds: 7200 }));
    assert.ok(asked.ok);
    const l2 = new crypto.X509Certificate(asked.certChain[0]!);
    assert.equal(Date.parse(l2.validTo) - Date.parse(l2.validFrom), 2 * H);
    assert.equal(asked.notAfterMs, Date.parse(l2.validTo));
  });

  it('refuses a TTL above the maximum with TTL_ERROR', () => {
    const r = signCsr(job({ requestedTtlSeconds: 91 * 24 * 3600 }));
    assert.equal(r.ok, false);
    assert.equal((r as { error: { code: string } }).error.code, 'TTL_ERROR');
  });

  it('maps CSR problems to their codes', async () => {
    const codeOf = (pem: string) => (signCsr(job({ csrPem: pem })) as { error: { code: string } }).error.code;
    assert.equal(codeOf('not a csr'), 'CSR_MALFORMED');
    assert.equal(codeOf(corruptCsrSignature(csrPem)), 'CSR_BAD_SIGNATURE');
    assert.equal(codeOf((await makeCsr('rsa-1024')).csrPem), 'CSR_UNSUPPORTED_KEY');
    assert.equal(codeOf(csrPem + 'x'.repeat(20_000)), 'CSR_TOO_LARGE');
  });

  it('signs with an ECDSA CA too (ecdsa-with-SHA256)', async () => {
    const rsaCsr = (await makeCsr('rsa-2048')).csrPem;
    const r = signCsr(job({ material: ec, csrPem: rsaCsr }));
    assert.ok(r.ok, JSON.stringify(r));
    const leaf = new crypto.X509Certificate(r.certChain[0]!);
    assert.ok(leaf.verify(new crypto.X509Certificate(ec.caCertPem).publicKey));
    assert.equal(r.keyDescription, 'RSA 2048');
  });

  it('puts DNS names in the SAN for the serving certificate', () => {
    const r = signCsr(job({ uris: [], dnsNames: ['istiod.istio-system.svc', 'istiod.example.com'] }));
    assert.ok(r.ok);
    assert.equal(new crypto.X509Certificate(r.certChain[0]!).subjectAltName, 'DNS:istiod.istio-system.svc, DNS:istiod.example.com');
  });

  it('refuses a job with no identity', () => {
    assert.equal((signCsr(job({ uris: [] })) as { error: { code: string } }).error.code, 'CERT_GEN_ERROR');
  });

  it('never throws out of the worker entry: broken material comes back as CERT_GEN_ERROR', () => {
    const r = caWorker(job({ material: { ...rsa, version: 99, caKeyPem: 'garbage' } }));
    assert.equal(r.ok, false);
    assert.equal((r as { error: { code: string } }).error.code, 'CERT_GEN_ERROR');
  });
});
