/**
 * Kubernetes mode end to end against the API test server (or a real one with
 * KUBE_TEST_APISERVER + KUBECONFIG): the informers feed proxies, the mesh ConfigMap reloads live,
 * the CA root lands in istio-ca-secret, the leader keeps istio-ca-root-cert in every namespace and
 * patches the validating webhook, and /validate answers over HTTPS with our CA's certificate for
 * istiod.<ns>.svc.
 */
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { KubeTestTarget, kubeTestTarget } from '../helpers/kube-apiserver';
import { KubeDiscovery, loadInto, parseObjects, startKubeDiscovery } from '../helpers/kube-mesh';
import { exampleMeshFiles } from '../helpers/mesh-fixtures';
import { AdsClient, resourceName, testNode } from '../helpers/ads-client';
import { waitFor } from '../helpers/wait-for';
import { webhookRequest } from '../helpers/webhook-client';
import { CLUSTER_TYPE_URL } from '../../src/shared/resources';

const NS = 'istio-system';
/**
 * Istio's validating webhook configuration, failurePolicy Ignore until the leader patches it. The
 * API server calls it at https://localhost:<port>/validate (our serving certificate names
 * localhost through ISTIOD_CUSTOM_HOST): a loopback API server cannot resolve the istiod Service.
 */
const webhookConfig = (port: number) => ({
  apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration',
  metadata: { name: `istio-validator-${NS}` },
  webhooks: [{
    name: 'rev.validation.istio.io', admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Ignore', timeoutSeconds: 5,
    clientConfig: { url: `https://localhost:${port}/validate` },
    rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: ['networking.istio.io', 'security.istio.io'], apiVersions: ['*'], resources: ['*'] }],
  }],
});
const WEBHOOK_NAME = `istio-validator-${NS}`;

const post = (port: number, path: string, ca: string, body: unknown) => webhookRequest(port, ca, path, JSON.stringify(body));

describe('Kubernetes mode end to end', () => {
  let target: KubeTestTarget;
  let istiod: KubeDiscovery;

  before(async () => {
    target = await kubeTestTarget();
    await loadInto(target, parseObjects(...Object.values(exampleMeshFiles()), `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${NS}}`));
    istiod = await startKubeDiscovery(target.kubeconfigPath, { env: { ISTIOD_LEADER_ELECTION_LEASE_DURATION: '2s', ISTIOD_CUSTOM_HOST: 'localhost' }, start: { kubeBackoff: { initialMs: 50, maxMs: 500 } } });
    // created after istiod runs (the port is known only then): the leader patches it when it appears
    await target.remove('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', undefined, WEBHOOK_NAME);
    await target.create(webhookConfig(istiod.discovery.ports.https));
  });
  after(async () => {
    await istiod?.close();
    // a Fail-closed configuration pointing at a stopped istiod would block every later Istio write
    await target?.remove('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', undefined, WEBHOOK_NAME).catch(() => undefined);
    await target?.close();
  });

  it('is Ready with the cluster\'s services, and a proxy gets them', async () => {
    assert.equal(istiod.discovery.lifecycle.report().ready, true);
    const ads = AdsClient.sotw(istiod.grpcTarget);
    try {
      const cds = await ads.request({ type_url: CLUSTER_TYPE_URL, node: testNode({ namespace: 'bookinfo', ip: '10.9.0.1' }) });
      assert.ok(cds.resources.map(resourceName).includes('outbound|9080||reviews.bookinfo.svc.cluster.local'));
    } finally { ads.close(); }
  });

  it('stores the CA root in istio-ca-secret', async () => {
    const secret = await target.get('v1', 'Secret', NS, 'istio-ca-secret') as any;
    assert.ok(secret, 'istio-ca-secret exists');
    assert.equal(secret.type, 'istio.io/ca-root');
    assert.equal(Buffer.from(secret.data['ca-cert.pem'], 'base64').toString(), istiod.discovery.ca!.ca.bundle.caCertPem);
  });

  it('the leader keeps istio-ca-root-cert current in every namespace, including new ones', async () => {
    const root = istiod.discovery.ca!.ca.bundle.rootBundlePem;
    await waitFor(() => istiod.discovery.leaderDuties?.isLeader, 10_000, 'leadership');
    for (const ns of ['bookinfo', 'shop', 'default', NS]) {
      const cm = await waitFor(() => target.get('v1', 'ConfigMap', ns, 'istio-ca-root-cert'), 10_000, `ConfigMap in ${ns}`) as any;
      assert.equal(cm.data['root-cert.pem'], root);
    }
    await target.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'late-arrival' } });
    const cm = await waitFor(() => target.get('v1', 'ConfigMap', 'late-arrival', 'istio-ca-root-cert'), 10_000, 'ConfigMap in a new namespace') as any;
    assert.equal(cm.data['root-cert.pem'], root);
    // an edit is reverted
    await target.update({ ...cm, data: { 'root-cert.pem': 'tampered' } });
    await waitFor(async () => ((await target.get('v1', 'ConfigMap', 'late-arrival', 'istio-ca-root-cert')) as any)?.data?.['root-cert.pem'] === root, 10_000, 'the edit reverted');
  });

  it('patches the validating webhook (caBundle, failurePolicy Fail) and /validate answers over HTTPS with our certificate', async () => {
    const root = istiod.discovery.ca!.ca.bundle.rootBundlePem;
    const cfg = await waitFor(async () => {
      const c = await target.get('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', undefined, WEBHOOK_NAME) as any;
      return c?.webhooks?.[0]?.failurePolicy === 'Fail' ? c : undefined;
    }, 10_000, 'failurePolicy Fail');
    assert.equal(Buffer.from(cfg.webhooks[0].clientConfig.caBundle, 'base64').toString(), root);
    // fail-close only after the API server itself had our webhook deny a dry-run invalid Gateway
    assert.ok(!(await target.get('networking.istio.io/v1', 'Gateway', NS, 'invalid-gateway')), 'the probe was a dry run');
    const review = (object: unknown) => ({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: {
      uid: 'u-1', kind: { group: 'networking.istio.io', version: 'v1', kind: 'VirtualService' }, resource: { group: 'networking.istio.io', version: 'v1', resource: 'virtualservices' },
      operation: 'CREATE', object } });
    const ok = await post(istiod.discovery.ports.https, '/validate', root, review({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'a', namespace: 'x' }, spec: { hosts: ['a'], http: [{ route: [{ destination: { host: 'a' } }] }] } }));
    assert.equal(ok.status, 200);
    assert.equal(ok.json.response.allowed, true);
    const bad = await post(istiod.discovery.ports.https, '/validate', root, review({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'a', namespace: 'x' }, spec: { hosts: ['a'], bogus: 1 } }));
    assert.equal(bad.json.response.allowed, false);
    assert.match(bad.json.response.status.message, /^configuration is invalid: /);
  });

  it('reloads mesh config from the istio ConfigMap live and pushes', async () => {
    const before = istiod.discovery.registry.current!.mesh as Record<string, any>;
    assert.equal(before['outboundTrafficPolicy']?.mode, 'ALLOW_ANY');
    const pushed = istiod.discovery.pushed();
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'istio', namespace: NS }, data: { mesh: 'outboundTrafficPolicy:\n  mode: REGISTRY_ONLY\n' } };
    if (await target.get('v1', 'ConfigMap', NS, 'istio')) await target.update(cm); else await target.create(cm);
    await pushed;
    await waitFor(() => (istiod.discovery.registry.current!.mesh as Record<string, any>)['outboundTrafficPolicy']?.mode === 'REGISTRY_ONLY', 10_000, 'mesh reloaded');
  });

  it('the API server refuses an invalid Istio object through our webhook (fail-closed)', async () => {
    // over HTTP, so the API server's admission runs (the local server's direct edits skip it, as etcd writes)
    const vs = { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'refused', namespace: 'bookinfo' }, spec: { hosts: ['refused'], http: [{ route: [] }] } };
    await assert.rejects(target.client().request('POST', '/apis/networking.istio.io/v1/namespaces/bookinfo/virtualservices', vs),
      /denied the request: configuration is invalid: .*route/);
  });

  it('an invalid Istio object that got in anyway (written before the webhook) is reported and kept out; the instance stays Ready', { skip: process.env['KUBE_TEST_APISERVER'] ? 'a real API server refuses it at admission' : false }, async () => {
    // the local test server's direct write bypasses admission, like an object stored before the webhook existed
    target.server!.create({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'broken', namespace: 'bookinfo' }, spec: { hosts: ['broken'], http: [{ route: [] }] } });
    const err = await waitFor(() => istiod.discovery.fileErrors().find((e) => e.name === 'broken'), 10_000, 'the error reported');
    assert.match(err.reason, /route/);
    assert.ok(!istiod.discovery.registry.current!.configs.some((c) => c.name === 'broken'));
    assert.equal(istiod.discovery.lifecycle.report().ready, true);
  });
});
