import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as x509 from '@peculiar/x509';
import { ServingFiles, checkIdentity } from '../../../src/main/webhooks/serving-files';

const DAY = 24 * 3600_000;

async function selfSigned(notBefore: Date, notAfter: Date): Promise<{ certPem: string; keyPem: string }> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const wc = crypto.webcrypto;
  const keys = await wc.subtle.generateKey(alg, true, ['sign', 'verify']) as crypto.webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'CN=istiod', notBefore, notAfter, keys, signingAlgorithm: alg,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'istiod.istio-system.svc' }])],
  } as never, wc as never);
  const pkcs8 = Buffer.from(await crypto.webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { certPem: cert.toString('pem'), keyPem: crypto.createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }) as string };
}

describe('webhook serving certificate files', () => {
  it('accepts leaf + chain apart or as one chain, and describes the leaf', async () => {
    const { certPem, keyPem } = await selfSigned(new Date(Date.now() - DAY), new Date(Date.now() + DAY));
    const a = checkIdentity({ keyPem, certPem });
    const b = checkIdentity({ keyPem, certChainPem: certPem });
    assert.equal(a.chainPem, b.chainPem);
    assert.equal(a.subjectAltName, 'DNS:istiod.istio-system.svc');
    assert.match(a.keyPem, /BEGIN PRIVATE KEY/);
  });

  it('refuses an expired certificate, a foreign key and garbage, naming the problem', async () => {
    const old = await selfSigned(new Date(Date.now() - 3 * DAY), new Date(Date.now() - DAY));
    assert.throws(() => checkIdentity({ keyPem: old.keyPem, certPem: old.certPem }), /webhook certificate: expired on/);
    const one = await selfSigned(new Date(Date.now() - DAY), new Date(Date.now() + DAY));
    const two = await selfSigned(new Date(Date.now() - DAY), new Date(Date.now() + DAY));
    assert.throws(() => checkIdentity({ keyPem: one.keyPem, certPem: two.certPem }), /private key does not belong to the certificate/);
    assert.throws(() => checkIdentity({ keyPem: one.keyPem, certChainPem: '' }), /no PEM CERTIFICATE block/);
    assert.throws(() => checkIdentity({ keyPem: 'x', certChainPem: one.certPem }), /cannot parse the private key/);
    assert.throws(() => checkIdentity(null as never), /keyPem is required/);
  });

  it('writes the files privately only while they are read, and removes its directory', async () => {
    const { certPem, keyPem } = await selfSigned(new Date(Date.now() - DAY), new Date(Date.now() + DAY));
    const files = new ServingFiles();
    let seen: { dir: string; keyMode: number; dirMode: number; cert: string } | undefined;
    const out = files.with(checkIdentity({ keyPem, certPem }), (certFile, keyFile) => {
      seen = { dir: path.dirname(keyFile), keyMode: fs.statSync(keyFile).mode & 0o777, dirMode: fs.statSync(path.dirname(keyFile)).mode & 0o777, cert: fs.readFileSync(certFile, 'utf8') };
      return 42;
    });
    assert.equal(out, 42);
    assert.equal(seen!.keyMode, 0o600);
    assert.equal(seen!.dirMode, 0o700);
    assert.equal(seen!.cert.trim(), certPem.trim());
    assert.deepEqual(fs.readdirSync(seen!.dir), [], 'nothing stays on disk');
    assert.throws(() => files.with(checkIdentity({ keyPem, certPem }), () => { throw new Error('boom'); }), /boom/);
    assert.deepEqual(fs.readdirSync(seen!.dir), [], 'removed on failure too');
    files.remove();
    assert.equal(fs.existsSync(seen!.dir), false);
  });
});
