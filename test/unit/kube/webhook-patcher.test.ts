/**
 * WebhookPatcher against the Kubernetes API test server: caBundle on every webhook of the
 * ValidatingWebhookConfiguration, failurePolicy Ignore until the webhook server is ready and Fail
 * after, re-patched after someone edits it back and after a root rotation; an absent
 * configuration is waited for, and a stopped patcher writes nothing.
 */
import { test, TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startKubeTestServer, KubeTestServer } from '../../helpers/kube-apiserver';
import { teardown } from '../../helpers/teardown';
import { waitFor, sleep } from '../../helpers/wait-for';
import { WebhookPatcher, patched } from '../../../src/main/kube/webhook-patcher';
import { setLogSink } from '../../../src/main/log';

const NAME = 'istio-validator-istio-system';
type Obj = Record<string, any>;
const b64 = (s: string) => Buffer.from(s).toString('base64');

function vwc(): Obj {
  const hook = (name: string) => ({
    name,
    clientConfig: { service: { name: 'istiod', namespace: 'istio-system', path: '/validate' } },
    rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: ['networking.istio.io'], apiVersions: ['*'], resources: ['*'] }],
    failurePolicy: 'Ignore',
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
  });
  return { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: NAME, labels: { app: 'istiod' } }, webhooks: [hook('rev.validation.istio.io'), hook('validation.istio.io')] };
}

async function setup(t: TestContext, opts: { create?: boolean } = {}) {
  const lines: string[] = [];
  const restoreLog = setLogSink((l) => lines.push(l));
  const onClose = teardown(t);
  onClose(restoreLog);
  const server = await startKubeTestServer({ bookmarkIntervalMs: 200 });
  onClose(() => server.close());
  if (opts.create !== false) server.create(vwc());
  let ready = false;
  const patcher = new WebhookPatcher({ client: server.client(), configName: NAME, rootPem: 'ROOT-A\n', ready: () => ready, retryMs: 100, retryMaxMs: 500,
    // the API server would call our webhook; here the probe answers as it would once we serve
    probe: async () => ({ rejected: ready, reason: ready ? '' : 'not serving' }) });
  onClose(() => patcher.stop());
  return { server, patcher, lines, setReady: (v: boolean) => { ready = v; } };
}

const get = (server: KubeTestServer) => server.get('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', undefined, NAME) as Obj | undefined;
const all = (server: KubeTestServer, fn: (w: Obj) => boolean) => (get(server)?.webhooks ?? []).length > 0 && get(server)!.webhooks.every(fn);

test('patched(): every webhook gets caBundle and failurePolicy; nothing to do when already so', () => {
  const cfg = vwc() as never;
  const p = patched(cfg, b64('R'), 'Fail')!;
  assert.ok(p.webhooks!.every((w) => w.clientConfig!.caBundle === b64('R') && w.failurePolicy === 'Fail'));
  assert.equal(p.webhooks![0]!.clientConfig!.service!.name, 'istiod', 'the rest of clientConfig is kept');
  assert.equal(patched(p, b64('R'), 'Fail'), undefined);
});

test('caBundle is set with failurePolicy Ignore until ready, then Fail', async (t) => {
  const { server, patcher, setReady } = await setup(t);
  patcher.start();
  await waitFor(() => all(server, (w) => w.clientConfig.caBundle === b64('ROOT-A\n')), 5000, 'caBundle patched');
  assert.ok(all(server, (w) => w.failurePolicy === 'Ignore'));
  setReady(true);
  await waitFor(() => all(server, (w) => w.failurePolicy === 'Fail'), 5000, 'failurePolicy Fail');
  assert.equal(get(server)!.metadata.labels.app, 'istiod', 'the rest of the object is kept');
});

test('an edit reverting caBundle or failurePolicy is patched again; setRoots re-patches', async (t) => {
  const { server, patcher, setReady } = await setup(t);
  setReady(true);
  patcher.start();
  await waitFor(() => all(server, (w) => w.failurePolicy === 'Fail' && w.clientConfig.caBundle === b64('ROOT-A\n')), 5000, 'patched');
  const cur = get(server)!;
  server.update({ ...cur, webhooks: cur.webhooks.map((w: Obj) => ({ ...w, failurePolicy: 'Ignore', clientConfig: { ...w.clientConfig, caBundle: b64('stale') } })) });
  await waitFor(() => all(server, (w) => w.failurePolicy === 'Fail' && w.clientConfig.caBundle === b64('ROOT-A\n')), 5000, 're-patched after the edit');
  patcher.setRoots('ROOT-B\nROOT-A\n');
  await waitFor(() => all(server, (w) => w.clientConfig.caBundle === b64('ROOT-B\nROOT-A\n')), 5000, 'new roots');
});

test('an absent configuration is logged and patched once it appears', async (t) => {
  const { server, patcher, lines, setReady } = await setup(t, { create: false });
  setReady(true);
  patcher.start();
  await waitFor(() => lines.some((l) => l.includes(`Skip patching webhook, webhook \\"${NAME}\\" not found`)), 5000, 'not-found log');
  server.create(vwc());
  await waitFor(() => all(server, (w) => w.failurePolicy === 'Fail' && w.clientConfig.caBundle === b64('ROOT-A\n')), 5000, 'patched after it appeared');
});

test('a stopped patcher writes nothing', async (t) => {
  const { server, patcher, setReady } = await setup(t);
  setReady(true);
  patcher.start();
  await waitFor(() => all(server, (w) => w.failurePolicy === 'Fail'), 5000, 'patched');
  patcher.stop();
  const cur = get(server)!;
  server.update({ ...cur, webhooks: cur.webhooks.map((w: Obj) => ({ ...w, failurePolicy: 'Ignore' })) });
  patcher.setRoots('ROOT-Z\n');
  await sleep(500);
  assert.ok(all(server, (w) => w.failurePolicy === 'Ignore' && w.clientConfig.caBundle === b64('ROOT-A\n')));
});
