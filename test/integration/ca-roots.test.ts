/**
 * Roots over real gRPC (issue 6 acceptance): a restart keeps the root; a forced rotation yields a
 * new root while certificates issued under the old one still verify through the trust bundle,
 * and still authenticate over mTLS.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { splitCertificates } from '../../src/shared/ca/pem';
import { createCertificate, makeCsr, startCaServer, tlsChannel, tokenFor } from '../helpers/ca-client';

const verifies = (leafPem: string, rootPem: string) => {
  const leaf = new crypto.X509Certificate(leafPem);
  const root = new crypto.X509Certificate(rootPem);
  return leaf.checkIssued(root) && leaf.verify(root.publicKey);
};

describe('CA roots across restarts and rotations', () => {
  it('a restart keeps the root: certificates from before verify against the root after', async () => {
    const first = await startCaServer();
    const rootBefore = first.roots();
    const c1 = tlsChannel(first.secureTarget, { rootPem: rootBefore });
    const r1 = await createCertificate(c1, { csr: (await makeCsr()).csrPem }, tokenFor(first.signer, 'default', 'sleep'));
    c1.close();
    await first.close();
    assert.ok(r1.ok);

    const second = await startCaServer({ stateDir: first.stateDir, signer: first.signer });
    try {
      assert.equal(second.roots(), rootBefore);
      // a client that only knows the old root still trusts the new serving certificate
      const c2 = tlsChannel(second.secureTarget, { rootPem: rootBefore });
      const r2 = await createCertificate(c2, { csr: (await makeCsr()).csrPem }, tokenFor(second.signer, 'default', 'sleep'));
      c2.close();
      assert.ok(r2.ok, JSON.stringify(r2));
      assert.equal(r2.response.cert_chain.at(-1), r1.response.cert_chain.at(-1));
      assert.ok(verifies(r1.response.cert_chain[0]!, second.roots()));
    } finally {
      await second.close();
    }
  });

  it('a forced rotation (new key) serves a new root; old certificates verify through the bundle and still authenticate', async () => {
    const s = await startCaServer();
    try {
      const oldRoot = s.roots();
      const csr = await makeCsr();
      const c = tlsChannel(s.secureTarget, { rootPem: oldRoot });
      const before = await createCertificate(c, { csr: csr.csrPem }, tokenFor(s.signer, 'prod', 'reviews'));
      c.close();
      assert.ok(before.ok);
      const oldLeaf = before.response.cert_chain[0]!;

      await s.discovery.ca!.ca.rotateRoot({ newKey: true });
      const bundle = splitCertificates(s.roots());
      assert.equal(bundle.length, 2);
      assert.notEqual(bundle[0], oldRoot);
      assert.equal(bundle[1], oldRoot);

      // New clients get the bundle (istio-ca-root-cert); the serving certificate now chains to the new root.
      const fresh = tlsChannel(s.secureTarget, { rootPem: s.roots() });
      const after = await createCertificate(fresh, { csr: (await makeCsr()).csrPem }, tokenFor(s.signer, 'default', 'sleep'));
      fresh.close();
      assert.ok(after.ok, JSON.stringify(after));
      assert.deepEqual(after.response.cert_chain.slice(1), bundle, 'response = [leaf, new root, old root]');
      assert.ok(verifies(after.response.cert_chain[0]!, bundle[0]!));
      assert.ok(!verifies(oldLeaf, bundle[0]!));
      assert.ok(verifies(oldLeaf, bundle[1]!), 'the old leaf verifies through the old root of the bundle');

      // The old leaf still authenticates over mTLS (the server trusts the whole bundle).
      const mtls = tlsChannel(s.secureTarget, { rootPem: s.roots(), clientKeyPem: csr.keyPem, clientChainPem: oldLeaf });
      const renewed = await createCertificate(mtls, { csr: (await makeCsr()).csrPem });
      mtls.close();
      assert.ok(renewed.ok, JSON.stringify(renewed));
      assert.equal(new crypto.X509Certificate(renewed.response.cert_chain[0]!).subjectAltName, 'URI:spiffe://cluster.local/ns/prod/sa/reviews');
      assert.ok(verifies(renewed.response.cert_chain[0]!, bundle[0]!), 'renewed under the new root');
    } finally {
      await s.close();
    }
  });

  it('a rotation that keeps the key (Istio default) leaves clients that only know the old root working', async () => {
    const s = await startCaServer();
    try {
      const oldRoot = s.roots();
      await s.discovery.ca!.ca.rotateRoot();
      assert.equal(splitCertificates(s.roots()).length, 2);
      const c = tlsChannel(s.secureTarget, { rootPem: oldRoot });
      const r = await createCertificate(c, { csr: (await makeCsr()).csrPem }, tokenFor(s.signer, 'default', 'sleep'));
      c.close();
      assert.ok(r.ok, JSON.stringify(r));
      assert.ok(verifies(r.response.cert_chain[0]!, oldRoot));
    } finally {
      await s.close();
    }
  });
});
