/**
 * Authorization and admission of the Kubernetes API test server: RBAC for ServiceAccount tokens
 * (test/helpers/kube-apiserver-rbac.ts) and validating admission webhooks called over real HTTPS
 * with AdmissionReview v1 (kube-apiserver-admission.ts). Tests on KubeTestTarget also run against
 * a real API server (KUBE_TEST_APISERVER + KUBECONFIG), which reaches the webhook on 127.0.0.1 by URL.
 */
import { test, TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as x509 from '@peculiar/x509';
import { KubeStatusError } from '../../../src/main/kube/client';
import { KubeTestServer, KubeTestTarget, kubeTestTarget, startKubeTestServer } from '../../helpers/kube-apiserver';
import { teardown } from '../../helpers/teardown';
import { waitFor } from '../../helpers/wait-for';

const REMOTE = Boolean(process.env.KUBE_TEST_APISERVER && process.env.KUBECONFIG);

async function target(t: TestContext): Promise<KubeTestTarget> {
  const k = await kubeTestTarget();
  teardown(t)(() => k.close());
  return k;
}

async function local(t: TestContext): Promise<KubeTestServer | undefined> {
  if (REMOTE) { t.skip('needs the local test server'); return undefined; }
  const s = await startKubeTestServer();
  teardown(t)(() => s.close());
  return s;
}

/** A self-signed serving certificate for 127.0.0.1 and a DNS name. */
async function selfSigned(dns: string): Promise<{ certPem: string; keyPem: string }> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '0a1b2c', name: `CN=${dns}`, notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3_600_000),
    signingAlgorithm: alg, keys: keys as webcrypto.CryptoKeyPair as never,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }, { type: 'dns', value: dns }])],
  }, webcrypto as never);
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', (keys as webcrypto.CryptoKeyPair).privateKey));
  return { certPem: cert.toString('pem'), keyPem: `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END PRIVATE KEY-----\n` };
}

test('validating admission webhooks are called for CREATE/UPDATE (dry runs too): denial, allowance, failurePolicy', async (t) => {
  const k = await target(t);
  const ns = await k.freshNamespace();
  const c = k.client();
  const tlsId = await selfSigned('kt-webhook.example.com');
  const reviews: any[] = [];
  const hook = https.createServer({ cert: tlsId.certPem, key: tlsId.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const review = JSON.parse(Buffer.concat(chunks).toString());
      reviews.push({ url: req.url, ...review.request });
      const bad = (review.request.object?.spec?.hosts ?? []).includes('deny.example.com');
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request.uid, allowed: !bad, ...(bad ? { status: { message: 'configuration is invalid: host deny.example.com is refused' } } : {}) } }));
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
  t.after(() => { hook.closeAllConnections(); hook.close(); });
  const port = (hook.address() as AddressInfo).port;
  const vwcName = `kt-validator-${ns}`;
  await k.create({
    apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: vwcName },
    webhooks: [{
      name: 'kt.validation.example.com',
      clientConfig: { url: `https://127.0.0.1:${port}/validate`, caBundle: Buffer.from(tlsId.certPem).toString('base64') },
      rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: ['networking.istio.io'], apiVersions: ['*'], resources: ['virtualservices'] }],
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } }, // only this test's namespace
      failurePolicy: 'Fail', sideEffects: 'None', admissionReviewVersions: ['v1'], timeoutSeconds: 5,
    }],
  });
  t.after(() => k.remove('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', undefined, vwcName));
  const vsPath = `/apis/networking.istio.io/v1/namespaces/${ns}/virtualservices`;
  const vs = (name: string, host: string) => ({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name, namespace: ns }, spec: { hosts: [host] } });
  const denied = (e: KubeStatusError) => e.statusCode === 400
    && e.message.includes('admission webhook "kt.validation.example.com" denied the request: configuration is invalid: host deny.example.com is refused');
  // a real API server picks new webhook configurations up after a moment
  await waitFor(async () => {
    try { await c.request('POST', `${vsPath}?dryRun=All`, vs('probe', 'deny.example.com')); return false; } catch (e) { return denied(e as KubeStatusError); }
  }, 10_000, 'the webhook is called');
  await assert.rejects(c.request('POST', vsPath, vs('bad', 'deny.example.com')), denied);
  const ok = await c.request<any>('POST', vsPath, vs('good', 'good.example.com'));
  const created = reviews.find((r) => r.operation === 'CREATE' && r.name === 'good' && !r.dryRun);
  assert.ok(created, 'the webhook saw the create');
  assert.match(created.url, /^\/validate\?timeout=5s$/);
  assert.deepEqual(created.kind, { group: 'networking.istio.io', version: 'v1', kind: 'VirtualService' });
  assert.deepEqual(created.resource, { group: 'networking.istio.io', version: 'v1', resource: 'virtualservices' });
  assert.equal(created.namespace, ns);
  assert.deepEqual(created.object.spec, { hosts: ['good.example.com'] });
  const dry = await c.request<any>('POST', `${vsPath}?dryRun=All`, vs('dry', 'good.example.com'));
  assert.equal(dry.metadata.name, 'dry');
  assert.equal(await k.get('networking.istio.io/v1', 'VirtualService', ns, 'dry'), undefined, 'a dry run stores nothing');
  assert.equal(reviews.find((r) => r.name === 'dry')?.dryRun, true);
  await assert.rejects(c.request('PUT', `${vsPath}/good`, { ...ok, spec: { hosts: ['deny.example.com'] } }), denied);
  await c.request('PUT', `${vsPath}/good`, { ...ok, spec: { hosts: ['other.example.com'] } });
  const update = reviews.find((r) => r.operation === 'UPDATE' && r.object.spec.hosts[0] === 'other.example.com');
  assert.deepEqual(update.oldObject.spec, { hosts: ['good.example.com'] });
  // other namespaces are not selected; ConfigMaps are not in the rules
  await c.request('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'cm' } });
  assert.ok(!reviews.some((r) => r.name === 'cm'));
  // the webhook down: failurePolicy Fail refuses the write
  hook.closeAllConnections();
  await new Promise((r) => hook.close(r));
  await assert.rejects(c.request('POST', vsPath, vs('down', 'good.example.com')),
    (e: KubeStatusError) => e.statusCode === 500 && /failed calling webhook "kt.validation.example.com"/.test(e.message));
});

test('local server: a webhook named by Service is reached through its EndpointSlice (targetPort, TLS name <svc>.<ns>.svc)', async (t) => {
  const s = await local(t);
  if (!s) return;
  const tlsId = await selfSigned('istiod.istio-system.svc');
  const seen: string[] = [];
  const hook = https.createServer({ cert: tlsId.certPem, key: tlsId.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const review = JSON.parse(Buffer.concat(chunks).toString());
      seen.push(`${req.url} ${review.request.operation} ${review.request.name}`);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request.uid, allowed: false, status: { message: 'configuration is invalid: gateway must have at least one server', code: 400 } } }));
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
  t.after(() => { hook.closeAllConnections(); hook.close(); });
  const port = (hook.address() as AddressInfo).port;
  s.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'istiod', namespace: 'istio-system' }, spec: { ports: [{ name: 'https-webhook', port: 443, targetPort: port }] } });
  s.create({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: 'istio-validator-istio-system' },
    webhooks: [{ name: 'rev.validation.istio.io', clientConfig: { service: { name: 'istiod', namespace: 'istio-system', path: '/validate' }, caBundle: Buffer.from(tlsId.certPem).toString('base64') },
      rules: [{ operations: ['CREATE', 'UPDATE'], apiGroups: ['networking.istio.io'], apiVersions: ['*'], resources: ['*'] }], failurePolicy: 'Fail', sideEffects: 'None', admissionReviewVersions: ['v1'] }] });
  const c = s.client();
  const gw = { apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'invalid-gateway', namespace: 'default' }, spec: {} };
  // no endpoints yet: failurePolicy Fail refuses
  await assert.rejects(c.request('POST', '/apis/networking.istio.io/v1/namespaces/default/gateways?dryRun=All', gw),
    (e: KubeStatusError) => e.statusCode === 500 && /no endpoints available for service "istiod"/.test(e.message));
  s.create({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'istiod-abc', namespace: 'istio-system', labels: { 'kubernetes.io/service-name': 'istiod' } },
    addressType: 'IPv4', endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }], ports: [{ name: 'https-webhook', port }] });
  await assert.rejects(c.request('POST', '/apis/networking.istio.io/v1/namespaces/default/gateways?dryRun=All', gw),
    (e: KubeStatusError) => e.statusCode === 400 && /admission webhook "rev.validation.istio.io" denied the request: configuration is invalid/.test(e.message));
  assert.deepEqual(seen, ['/validate?timeout=10s CREATE invalid-gateway']);
});

test('RBAC: a ServiceAccount token may do what its Role/ClusterRole bindings grant, and gets the API server\'s 403 otherwise', async (t) => {
  const k = await target(t);
  const ns = await k.freshNamespace();
  const u = k.clientAs(await k.serviceAccountToken(ns, 'istiod'));
  const user = `system:serviceaccount:${ns}:istiod`;
  const forbidden = (re: RegExp) => (e: KubeStatusError) => e.statusCode === 403 && e.reason === 'Forbidden' && re.test(e.message);
  await assert.rejects(u.request('GET', `/api/v1/namespaces/${ns}/configmaps`),
    forbidden(new RegExp(`^GET .*: 403 configmaps is forbidden: User "${user}" cannot list resource "configmaps" in API group "" in the namespace "${ns}"$`)));
  await assert.rejects(u.request('GET', `/api/v1/namespaces/${ns}/configmaps/istio`), forbidden(/configmaps "istio" is forbidden: .* cannot get resource "configmaps"/));
  assert.equal((await u.request<any>('GET', '/apis')).kind, 'APIGroupList', 'discovery is open to every authenticated user');

  await k.create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'cm-reader', namespace: ns }, rules: [
    { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['istio-leader'], verbs: ['get', 'update'] },
  ] });
  await k.create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'istiod-cm', namespace: ns },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'cm-reader' }, subjects: [{ kind: 'ServiceAccount', name: 'istiod', namespace: ns }] });
  await waitFor(async () => (await u.request<any>('GET', `/api/v1/namespaces/${ns}/configmaps`)).kind === 'ConfigMapList', 10_000, 'the binding applies');
  await assert.rejects(u.request('GET', '/api/v1/configmaps'), forbidden(/cannot list resource "configmaps" in API group "" at the cluster scope/));
  await assert.rejects(u.request('POST', `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: 'x' } }), forbidden(/cannot create resource "configmaps"/));
  await assert.rejects(u.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/istio-leader`), (e: KubeStatusError) => e.statusCode === 404, 'allowed by name (and absent)');
  await assert.rejects(u.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/other`), forbidden(/leases.coordination.k8s.io "other" is forbidden/));

  await assert.rejects(u.request('POST', '/apis/authentication.k8s.io/v1/tokenreviews', { spec: { token: 'x' } }),
    forbidden(/tokenreviews.authentication.k8s.io is forbidden: .* cannot create resource "tokenreviews" in API group "authentication.k8s.io" at the cluster scope/));
  await k.create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: `${ns}-istiod-auth-delegator` },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:auth-delegator' }, subjects: [{ kind: 'ServiceAccount', name: 'istiod', namespace: ns }] });
  await waitFor(async () => (await u.request<any>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', { spec: { token: 'x' } })).kind === 'TokenReview', 10_000, 'the cluster binding applies');
});
