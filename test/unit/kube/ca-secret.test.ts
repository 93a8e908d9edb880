/**
 * The CA root Secret `istio-ca-secret` against the Kubernetes API test server: Istio's type and
 * data keys, two replicas racing to create it agree on ONE root, rotation is compare-and-swap,
 * an unusable Secret is a clear error, and the CA on secretRootStore shares and rotates its root
 * through the Secret.
 */
import { test, TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { kubeTestTarget, KubeTestTarget } from '../../helpers/kube-apiserver';
import { teardown } from '../../helpers/teardown';
import { CA_SECRET_NAME, loadCaSecret, saveCaSecret, secretRootStore } from '../../../src/main/kube/ca-secret';
import type { KubeClient } from '../../../src/main/kube/client';
import { CertificateAuthority } from '../../../src/main/ca/certificate-authority';
import type { CaPool } from '../../../src/main/ca/ca-pool';
import { createSelfSignedRoot } from '../../../src/main/ca/self-signed-root';
import { KeyCertBundle } from '../../../src/main/ca/key-cert-bundle';
import type { CaConfig } from '../../../src/main/config';
import { setLogSink } from '../../../src/main/log';

type Obj = Record<string, any>;
const YEAR = 365 * 24 * 3600 * 1000;

async function newBundle(org = 'cluster.local'): Promise<KeyCertBundle> {
  const r = await createSelfSignedRoot({ org, ttlMs: YEAR, rsaKeySize: 2048, nowMs: Date.now() });
  return { source: 'self-signed', caCertPem: r.certPem, caKeyPem: r.keyPem, certChainPem: '', rootBundlePem: r.certPem };
}

/** The local test server, or a real API server (KUBE_TEST_APISERVER + KUBECONFIG); a fresh namespace each. */
async function setup(t: TestContext) {
  const restoreLog = setLogSink(() => {});
  const onClose = teardown(t);
  onClose(restoreLog);
  const server = await kubeTestTarget();
  onClose(() => server.close());
  const ns = `ca-secret-test-${Math.random().toString(36).slice(2, 8)}`;
  await server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ca-secret-'));
  onClose(() => fs.rmSync(dir, { recursive: true, force: true }));
  return { server, dir, ns };
}

const secret = async (server: KubeTestTarget, ns: string) => await server.get('v1', 'Secret', ns, CA_SECRET_NAME) as Obj | undefined;
const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

test('absent Secret: loadCaSecret resolves undefined', async (t) => {
  const { server, ns: NS } = await setup(t);
  assert.equal(await loadCaSecret(server.client(), NS), undefined);
});

test('two replicas creating it together end up with ONE root, stored with Istio\'s type and keys', async (t) => {
  const { server, ns: NS } = await setup(t);
  const [a, b] = await Promise.all([newBundle(), newBundle()]);
  const [ra, rb] = await Promise.all([saveCaSecret(server.client(), NS, a), saveCaSecret(server.client(), NS, b)]);
  assert.equal(ra.caCertPem, rb.caCertPem, 'both replicas use the same root');
  assert.equal(ra.caKeyPem, rb.caKeyPem);
  const s = (await secret(server, NS))!;
  assert.equal(s.type, 'istio.io/ca-root');
  assert.deepEqual(Object.keys(s.data).sort(), ['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem', 'key.pem', 'root-cert.pem']);
  assert.equal(unb64(s.data['ca-cert.pem']), ra.caCertPem);
  assert.equal(unb64(s.data['ca-key.pem']), ra.caKeyPem);
  assert.equal(unb64(s.data['root-cert.pem']), ra.rootBundlePem);
  const loaded = await loadCaSecret(server.client(), NS);
  assert.equal(loaded?.caCertPem, ra.caCertPem);
  assert.equal(loaded?.rootBundlePem, ra.rootBundlePem);
  assert.equal(loaded?.source, 'self-signed');
});

test('rotation is compare-and-swap on ca-cert.pem', async (t) => {
  const { server, ns: NS } = await setup(t);
  const [v1, v2, v2other] = await Promise.all([newBundle(), newBundle(), newBundle()]);
  await saveCaSecret(server.client(), NS, v1);
  const rotated: KeyCertBundle = { ...v2, rootBundlePem: v2.caCertPem + v1.caCertPem };
  const inForce = await saveCaSecret(server.client(), NS, rotated, { replaces: v1.caCertPem });
  assert.equal(inForce.caCertPem, v2.caCertPem);
  assert.equal(unb64((await secret(server, NS))!.data['root-cert.pem']), v2.caCertPem + v1.caCertPem);
  // A second replica rotating from the same old root loses: it gets the first one's bundle.
  const late = await saveCaSecret(server.client(), NS, v2other, { replaces: v1.caCertPem });
  assert.equal(late.caCertPem, v2.caCertPem);
  assert.equal(unb64((await secret(server, NS))!.data['ca-cert.pem']), v2.caCertPem);
  // An Istio-written Secret (root-cert.pem empty) reads as the CA certificate alone.
  const cur = (await secret(server, NS))!;
  await server.update({ ...cur, data: { ...cur.data, 'root-cert.pem': '' } });
  assert.equal((await loadCaSecret(server.client(), NS))!.rootBundlePem, v2.caCertPem);
});

test('an unusable Secret is a clear error naming it', async (t) => {
  const { server, ns: NS } = await setup(t);
  const b = await newBundle();
  await server.create({ apiVersion: 'v1', kind: 'Secret', type: 'istio.io/ca-root', metadata: { name: CA_SECRET_NAME, namespace: NS }, data: { 'ca-cert.pem': Buffer.from(b.caCertPem).toString('base64') } } as Obj);
  await assert.rejects(loadCaSecret(server.client(), NS), new RegExp(`Secret ${NS}/istio-ca-secret: ca-key\\.pem is missing`));
  const other = await newBundle();
  const cur = (await secret(server, NS))!;
  await server.update({ ...cur, data: { ...cur.data, 'ca-key.pem': Buffer.from(other.caKeyPem).toString('base64') } });
  await assert.rejects(loadCaSecret(server.client(), NS), new RegExp(`Secret ${NS}/istio-ca-secret: ca-key\\.pem does not match`));
});

function caConfig(rootCaDir = ''): CaConfig {
  return { rootCaDir, selfSignedCaCertTtlMs: YEAR, rsaKeySize: 2048, rootCheckIntervalMs: 0, rootGracePercentile: 20 } as CaConfig;
}

/** A replica's CA on the Secret store (the signing pool is not used by what these tests do). */
async function startReplica(t: TestContext, client: KubeClient, ns: string, stateDir: string, rootCaDir = ''): Promise<CertificateAuthority> {
  const ca = await CertificateAuthority.start({ config: caConfig(rootCaDir), trustDomain: 'cluster.local', stateDir, pool: {} as CaPool, rootStore: secretRootStore(client, ns) });
  t.after(() => ca.close());
  return ca;
}

test('secretRootStore: replicas starting together share ONE root; a restart loads it back', async (t) => {
  const { server, dir, ns: NS } = await setup(t);
  const [a, b] = await Promise.all([startReplica(t, server.client(), NS, path.join(dir, 'a')), startReplica(t, server.client(), NS, path.join(dir, 'b'))]);
  assert.equal(a.bundle.caCertPem, b.bundle.caCertPem);
  assert.equal(unb64((await secret(server, NS))!.data['ca-cert.pem']), a.bundle.caCertPem);
  const c = await startReplica(t, server.client(), NS, path.join(dir, 'c'));
  assert.equal(c.bundle.caCertPem, a.bundle.caCertPem);
  assert.equal(fs.existsSync(path.join(dir, 'c', 'ca-key.pem')), false, 'the key is kept in the Secret, not on disk');
});

test('secretRootStore: a rotation lands in the Secret (new root first, old kept); the other replica adopts it', async (t) => {
  const { server, dir, ns: NS } = await setup(t);
  const a = await startReplica(t, server.client(), NS, path.join(dir, 'a'));
  const b = await startReplica(t, server.client(), NS, path.join(dir, 'b'));
  const old = a.bundle.caCertPem;
  await a.rotateRoot();
  assert.notEqual(a.bundle.caCertPem, old);
  const s = (await secret(server, NS))!;
  assert.equal(unb64(s.data['ca-cert.pem']), a.bundle.caCertPem);
  const roots = unb64(s.data['root-cert.pem']);
  assert.ok(roots.startsWith(a.bundle.caCertPem) && roots.includes(old), 'new root first, old root kept');
  // b, still on the old root, rotating concurrently would lose; at its next check it adopts a's root.
  assert.equal(b.bundle.caCertPem, old);
  await b.checkRotation();
  assert.equal(b.bundle.caCertPem, a.bundle.caCertPem);
  assert.equal(b.bundle.rootBundlePem, a.bundle.rootBundlePem);
});

test('a plug-in CA (ROOT_CA_DIR) leaves the Secret alone', async (t) => {
  const { server, dir, ns: NS } = await setup(t);
  const plugin = path.join(dir, 'plugin');
  fs.mkdirSync(plugin);
  const p = await newBundle('plugin');
  fs.writeFileSync(path.join(plugin, 'ca-cert.pem'), p.caCertPem);
  fs.writeFileSync(path.join(plugin, 'ca-key.pem'), p.caKeyPem);
  fs.writeFileSync(path.join(plugin, 'root-cert.pem'), p.caCertPem);
  const ca = await startReplica(t, server.client(), NS, path.join(dir, 'state'), plugin);
  assert.equal(ca.bundle.caCertPem, p.caCertPem);
  assert.equal(await secret(server, NS), undefined);
});
