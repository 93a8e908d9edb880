/**
 * Replicas sharing one root store (Kubernetes mode: the istio-ca-secret Secret): two CAs that
 * start together agree on one root, and a rotation by one is adopted by the other at its next
 * check, so every replica signs under the same root and publishes the same trust bundle.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CertificateAuthority, RootStore } from '../../../../src/main/ca/certificate-authority';
import { KeyCertBundle } from '../../../../src/main/ca/key-cert-bundle';
import { CaPool } from '../../../../src/main/ca/ca-pool';
import { loadConfig } from '../../../../src/main/config';
import { signCsr } from '../../../../src/workers/ca/sign-csr';

const inlinePool: CaPool = { run: async (job) => signCsr(job), stats: () => ({ threads: 0, queueSize: 0, completed: 0, utilization: 0 }), close: async () => {} };
const config = { ...loadConfig([], { ROOT_CA_DIR: '', CITADEL_SELF_SIGNED_ROOT_CERT_CHECK_INTERVAL: '0' }).ca };

/** An in-memory store with create-if-absent and compare-and-swap, as the Secret is. */
function sharedStore(): RootStore & { saves: number } {
  let stored: KeyCertBundle | undefined;
  const store = {
    where: 'memory', saves: 0,
    load: async () => stored,
    save: async (next: KeyCertBundle) => {
      store.saves++;
      // first writer wins a create; a rotation replaces only the root it started from
      if (!stored) stored = next;
      else if (!next.rootBundlePem.includes(stored.caCertPem.trim())) return stored;
      else stored = next;
      return stored;
    },
  };
  return store;
}

describe('CA roots shared between replicas', () => {
  it('two replicas starting together end up with one root', async () => {
    const store = sharedStore();
    const [a, b] = await Promise.all([0, 1].map(() => CertificateAuthority.start({ config, trustDomain: 'cluster.local', stateDir: '/nonexistent', pool: inlinePool, rootStore: store })));
    assert.equal(a!.bundle.caCertPem, b!.bundle.caCertPem);
    assert.equal(a!.bundle.rootBundlePem, b!.bundle.rootBundlePem);
    a!.close(); b!.close();
  });

  it('a rotation by one replica is adopted by the other at its next check; listeners hear it', async () => {
    const store = sharedStore();
    const a = await CertificateAuthority.start({ config, trustDomain: 'cluster.local', stateDir: '/nonexistent', pool: inlinePool, rootStore: store });
    const b = await CertificateAuthority.start({ config, trustDomain: 'cluster.local', stateDir: '/nonexistent', pool: inlinePool, rootStore: store });
    const heard: number[] = [];
    b.onChange((m) => heard.push(m.version));
    await a.rotateRoot({ newKey: true });
    assert.notEqual(a.bundle.caCertPem, b.bundle.caCertPem);
    assert.equal(await b.checkRotation(), false, 'b itself does not rotate: the root is fresh');
    assert.equal(b.bundle.caCertPem, a.bundle.caCertPem, 'b adopted the rotated root');
    assert.equal(b.bundle.rootBundlePem, a.bundle.rootBundlePem, 'and the bundle with both roots');
    assert.deepEqual(heard, [2]);
    a.close(); b.close();
  });
});
