import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as x509 from '@peculiar/x509';
import { CertificateAuthority } from '../../../../src/main/ca/certificate-authority';
import { CaPool } from '../../../../src/main/ca/ca-pool';
import { CaConfig, loadConfig } from '../../../../src/main/config';
import { ConfigError } from '../../../../src/shared/errors';
import { signCsr } from '../../../../src/workers/ca/sign-csr';
import { splitCertificates } from '../../../../src/shared/ca/pem';
import { createSelfSignedRoot } from '../../../../src/main/ca/self-signed-root';
import { makeCsr } from '../../../helpers/ca-client';

const H = 3600_000;
const YEAR = 365 * 24 * H;
const ID = 'spiffe://cluster.local/ns/default/sa/sleep';

/** The signing pool, in-process (the worker's function, no threads). */
const inlinePool: CaPool = { run: async (job) => signCsr(job), stats: () => ({ threads: 0, queueSize: 0, completed: 0, utilization: 0 }), close: async () => {} };

function caConfig(over: Partial<CaConfig> = {}): CaConfig {
  return { ...loadConfig([], { ROOT_CA_DIR: '', CITADEL_SELF_SIGNED_ROOT_CERT_CHECK_INTERVAL: '0' }).ca, ...over };
}
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'istiod-ts-ca-'));

async function start(stateDir: string, over: Partial<CaConfig> = {}, now?: () => number): Promise<CertificateAuthority> {
  return CertificateAuthority.start({ config: caConfig(over), trustDomain: 'cluster.local', stateDir, pool: inlinePool, now });
}

async function issue(ca: CertificateAuthority): Promise<string[]> {
  const r = await ca.sign({ csrPem: (await makeCsr('ec-p256')).csrPem, ttlSeconds: 3600, uris: [ID] });
  assert.ok(r.ok, JSON.stringify(r));
  return [...r.certChain];
}

const verifiesWith = (leafPem: string, rootPem: string) => {
  const leaf = new crypto.X509Certificate(leafPem);
  const root = new crypto.X509Certificate(rootPem);
  return leaf.checkIssued(root) && leaf.verify(root.publicKey);
};

describe('self-signed root', () => {
  it('is generated as Istio does (O=<trust domain>, CA, keyCertSign) and persisted with a 0600 key', async () => {
    const dir = tmp();
    const ca = await start(dir);
    const root = new crypto.X509Certificate(ca.bundle.caCertPem);
    assert.equal(root.subject, 'O=cluster.local');
    assert.equal(root.issuer, 'O=cluster.local');
    assert.equal(root.ca, true);
    assert.ok(Math.abs(Date.parse(root.validTo) - Date.parse(root.validFrom) - 3650 * 24 * H) < 1000);
    assert.equal((root.publicKey.asymmetricKeyDetails?.modulusLength), 2048);
    for (const f of ['ca-cert.pem', 'ca-key.pem', 'root-cert.pem', 'cert-chain.pem']) assert.ok(fs.existsSync(path.join(dir, f)), f);
    assert.equal(fs.statSync(path.join(dir, 'ca-key.pem')).mode & 0o777, 0o600);
    assert.equal(ca.bundle.source, 'self-signed');
    ca.close();
  });

  it('survives a restart: the same root signs, and old certificates still verify', async () => {
    const dir = tmp();
    const first = await start(dir);
    const before = await issue(first);
    first.close();
    const second = await start(dir);
    assert.equal(second.bundle.caCertPem, first.bundle.caCertPem);
    assert.equal(second.bundle.caKeyPem, first.bundle.caKeyPem);
    const after = await issue(second);
    assert.equal(after.at(-1), before.at(-1), 'same root at the end of the chain');
    assert.ok(verifiesWith(before[0]!, second.bundle.rootBundlePem));
    second.close();
  });

  it('refuses a state folder holding a key without its certificate, or a key that does not match', async () => {
    const dir = tmp();
    (await start(dir)).close();
    fs.rmSync(path.join(dir, 'ca-cert.pem'));
    await assert.rejects(start(dir), (e: unknown) => e instanceof ConfigError && /found ca-key.pem without ca-cert.pem/.test(e.message));
    const dir2 = tmp();
    (await start(dir2)).close();
    const other = await createSelfSignedRoot({ org: 'x', ttlMs: YEAR, rsaKeySize: 2048, nowMs: Date.now() });
    fs.writeFileSync(path.join(dir2, 'ca-key.pem'), other.keyPem);
    await assert.rejects(start(dir2), /ca-key.pem does not match the public key of ca-cert.pem/);
  });

  it('rotates in the grace period (last 20 % of its life) and keeps the key, so old leaves verify with the new root', async () => {
    const dir = tmp();
    let now = Date.now();
    const ca = await start(dir, { selfSignedCaCertTtlMs: 100 * H }, () => now);
    const oldLeaf = (await issue(ca))[0]!;
    const oldRoot = ca.bundle.caCertPem;
    let changes = 0;
    ca.onChange(() => changes++);
    now += 79 * H;
    assert.equal(await ca.checkRotation(), false, '21 % left: not yet');
    now += 2 * H;
    assert.equal(await ca.checkRotation(), true, '19 % left: rotate');
    assert.equal(changes, 1);
    assert.notEqual(ca.bundle.caCertPem, oldRoot);
    assert.ok(new crypto.X509Certificate(ca.bundle.caCertPem).publicKey.equals(new crypto.X509Certificate(oldRoot).publicKey), 'key kept');
    assert.equal(ca.bundle.caKeyPem, fs.readFileSync(path.join(dir, 'ca-key.pem'), 'utf8'));
    const roots = splitCertificates(ca.bundle.rootBundlePem);
    assert.equal(roots.length, 2, 'trust bundle = new + old');
    assert.equal(roots[0], ca.bundle.caCertPem);
    assert.equal(roots[1], oldRoot);
    assert.ok(verifiesWith(oldLeaf, roots[0]!), 'same key and subject: old leaf verifies with the new root');
    assert.equal(fs.readFileSync(path.join(dir, 'root-cert.pem'), 'utf8'), ca.bundle.rootBundlePem, 'bundle persisted');
    assert.equal(ca.material.version, 2);
    ca.close();
  });

  it('a forced rotation with a new key keeps old leaves verifying through the old root in the bundle', async () => {
    const dir = tmp();
    const ca = await start(dir);
    const oldChain = await issue(ca);
    const oldRoot = ca.bundle.caCertPem;
    await ca.rotateRoot({ newKey: true });
    const roots = splitCertificates(ca.bundle.rootBundlePem);
    assert.equal(roots.length, 2);
    assert.equal(verifiesWith(oldChain[0]!, roots[0]!), false, 'new key: the new root does not verify old leaves');
    assert.ok(verifiesWith(oldChain[0]!, roots[1]!), 'the old root, still in the bundle, does');
    assert.equal(roots[1], oldRoot);
    const newChain = await issue(ca);
    assert.ok(verifiesWith(newChain[0]!, roots[0]!));
    assert.deepEqual(newChain.slice(1), roots, 'response ends with the whole bundle, newest root first');
    // restart: the rotated root and the two-root bundle are what loads
    ca.close();
    const again = await start(dir);
    assert.equal(again.bundle.caCertPem, roots[0]);
    assert.equal(splitCertificates(again.bundle.rootBundlePem).length, 2);
    again.close();
  });

  it('drops expired old roots from the bundle on load', async () => {
    const dir2 = tmp();
    let t = Date.now();
    const b = await start(dir2, { selfSignedCaCertTtlMs: 10 * H }, () => t);
    t += 5 * H;
    await b.rotateRoot(); // second root valid until t0 + 15 h
    b.close();
    t += 6 * H; // first root expired at t0 + 10 h
    const reloaded = await start(dir2, { selfSignedCaCertTtlMs: 10 * H }, () => t);
    assert.equal(splitCertificates(reloaded.bundle.rootBundlePem).length, 1);
    reloaded.close();
  });
});

// ---- plug-in CA -------------------------------------------------------------------------------------

async function pluginFixture(): Promise<{ root: { certPem: string; keyPem: string }; inter: { certPem: string; keyPem: string } }> {
  const wc = crypto.webcrypto;
  const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const root = await createSelfSignedRoot({ org: 'offline-root', ttlMs: 10 * YEAR, rsaKeySize: 2048, nowMs: Date.now() });
  const interKeys = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const rootKey = await wc.subtle.importKey('pkcs8', crypto.createPrivateKey(root.keyPem).export({ format: 'der', type: 'pkcs8' }), alg, false, ['sign']);
  const interPub = await wc.subtle.importKey('spki', interKeys.publicKey.export({ format: 'der', type: 'spki' }), { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '0a', subject: 'O=cluster.local, CN=intermediate', issuer: new crypto.X509Certificate(root.certPem).subject.replace(/\n/g, ', '),
    notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + YEAR), publicKey: interPub as never, signingKey: rootKey as never, signingAlgorithm: alg,
    extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true), await x509.SubjectKeyIdentifierExtension.create(interPub as never, false, wc as never)],
  } as never, wc as never);
  return { root, inter: { certPem: cert.toString('pem') + '\n', keyPem: interKeys.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string } };
}

describe('plug-in CA (ROOT_CA_DIR)', () => {
  it('signs with the cacerts layout and answers [leaf, cert-chain..., root] as Istio', async () => {
    const { root, inter } = await pluginFixture();
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'ca-cert.pem'), inter.certPem);
    fs.writeFileSync(path.join(dir, 'ca-key.pem'), inter.keyPem);
    fs.writeFileSync(path.join(dir, 'root-cert.pem'), root.certPem);
    fs.writeFileSync(path.join(dir, 'cert-chain.pem'), inter.certPem + root.certPem);
    const state = tmp();
    const ca = await start(state, { rootCaDir: dir });
    assert.equal(ca.bundle.source, 'plug-in');
    assert.deepEqual(fs.readdirSync(state), [], 'a plug-in CA writes nothing to the state folder');
    const chain = await issue(ca);
    assert.deepEqual(chain.slice(1), [inter.certPem, root.certPem, root.certPem]);
    assert.ok(verifiesWith(chain[0]!, inter.certPem));
    assert.ok(verifiesWith(inter.certPem, root.certPem));
    await assert.rejects(ca.rotateRoot(), /only a self-signed root can be rotated/);
    ca.close();
  });

  it('reads the kubernetes.io/tls layout (tls.crt, tls.key, ca.crt)', async () => {
    const { root, inter } = await pluginFixture();
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'tls.crt'), inter.certPem);
    fs.writeFileSync(path.join(dir, 'tls.key'), inter.keyPem);
    fs.writeFileSync(path.join(dir, 'ca.crt'), root.certPem);
    const ca = await start(tmp(), { rootCaDir: dir });
    const chain = await issue(ca);
    assert.deepEqual(chain.slice(1), [inter.certPem, root.certPem]);
    ca.close();
  });

  it('refuses a plug-in CA that does not chain to its root, or misses a file', async () => {
    const { inter } = await pluginFixture();
    const stranger = await createSelfSignedRoot({ org: 'stranger', ttlMs: YEAR, rsaKeySize: 2048, nowMs: Date.now() });
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'ca-cert.pem'), inter.certPem);
    fs.writeFileSync(path.join(dir, 'ca-key.pem'), inter.keyPem);
    await assert.rejects(start(tmp(), { rootCaDir: dir }), /ca-key.pem is present but root-cert.pem is missing/);
    fs.writeFileSync(path.join(dir, 'root-cert.pem'), stranger.certPem);
    await assert.rejects(start(tmp(), { rootCaDir: dir }), /does not chain/);
  });

  it('refuses a leaf certificate as the signing certificate', async () => {
    const root = await createSelfSignedRoot({ org: 'r', ttlMs: YEAR, rsaKeySize: 2048, nowMs: Date.now() });
    const ca = await start(tmp());
    const leafChain = await issue(ca);
    ca.close();
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'ca-cert.pem'), leafChain[0]!);
    fs.writeFileSync(path.join(dir, 'ca-key.pem'), root.keyPem);
    fs.writeFileSync(path.join(dir, 'root-cert.pem'), root.certPem);
    await assert.rejects(start(tmp(), { rootCaDir: dir }), /does not match|not a CA certificate/);
  });
});
