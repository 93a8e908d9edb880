/**
 * The webhooks over real HTTPS: a CertificateAuthority issues istiod's serving certificate for
 * istiod.istio-system.svc, the server serves it from a uWS SSLApp, and node:https clients verify
 * it against the CA's root (rejectUnauthorized) while posting AdmissionReview and
 * ConversionReview bodies shaped as kube-apiserver sends them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { Registry } from 'prom-client';
import { CertificateAuthority } from '../../src/main/ca/certificate-authority';
import { CaPool } from '../../src/main/ca/ca-pool';
import { issueServingCert } from '../../src/main/ca/serving-cert';
import { loadConfig } from '../../src/main/config';
import { signCsr } from '../../src/workers/ca/sign-csr';
import { WEBHOOK_SERVER_NAME, webhookRequest } from '../helpers/webhook-client';
import { WebhookIdentity, WebhookServer, startWebhookServer } from '../../src/main/webhooks/webhook-server';

const SERVER_NAME = WEBHOOK_SERVER_NAME;
const H = 3600_000;
const inlinePool: CaPool = { run: async (job) => signCsr(job), stats: () => ({ threads: 0, queueSize: 0, completed: 0, utilization: 0 }), close: async () => {} };

const post = webhookRequest;

const vs = (spec: Record<string, unknown>, apiVersion = 'networking.istio.io/v1') =>
  ({ apiVersion, kind: 'VirtualService', metadata: { name: 'reviews', namespace: 'bookinfo', uid: '5b3c', resourceVersion: '' }, spec });

function admissionReview(object: unknown, operation = 'CREATE', apiVersion = 'admission.k8s.io/v1', uid = 'a1b2c3') {
  const o = object as { apiVersion: string; kind: string };
  const [group, version] = o.apiVersion.split('/');
  return JSON.stringify({
    apiVersion, kind: 'AdmissionReview',
    request: {
      uid, kind: { group, version, kind: o.kind }, resource: { group, version, resource: `${o.kind.toLowerCase()}s` },
      requestKind: { group, version, kind: o.kind }, requestResource: { group, version, resource: `${o.kind.toLowerCase()}s` },
      name: 'reviews', namespace: 'bookinfo', operation, userInfo: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
      object: operation === 'DELETE' ? null : object, oldObject: operation === 'DELETE' ? object : null, dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: operation === 'DELETE' ? 'DeleteOptions' : 'CreateOptions' },
    },
  });
}

function conversionReview(desiredAPIVersion: string, objects: unknown[]) {
  return JSON.stringify({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'ConversionReview', request: { uid: 'conv-1', desiredAPIVersion, objects } });
}

describe('validation and conversion webhooks over HTTPS', () => {
  let stateDir: string;
  let ca: CertificateAuthority;
  let root: string;
  let server: WebhookServer;
  let registry: Registry;
  let rotate: ((id: WebhookIdentity) => void) | undefined;

  before(async () => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'istiod-ts-webhooks-'));
    const config = loadConfig([], { ROOT_CA_DIR: '', CITADEL_SELF_SIGNED_ROOT_CERT_CHECK_INTERVAL: '0' }).ca;
    ca = await CertificateAuthority.start({ config, trustDomain: 'cluster.local', stateDir, pool: inlinePool });
    root = ca.material.rootBundlePem;
    registry = new Registry();
    const first = issueServingCert(ca, [SERVER_NAME], 24 * H);
    server = await startWebhookServer({ addr: { host: '127.0.0.1', port: 0 }, identity: () => first, onRotate: (l) => { rotate = l; return () => { rotate = undefined; }; }, registry });
  });

  after(() => {
    server.close();
    ca.close();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('is ready and serves a certificate that verifies against the CA root for istiod.istio-system.svc', async () => {
    assert.equal(server.ready(), true);
    assert.ok(server.port > 0);
    const r = await post(server.port, root, '/validate', admissionReview(vs({ hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews' } }] }] })));
    assert.equal(r.status, 200);
    assert.equal(r.contentType, 'application/json');
    assert.deepEqual(r.json, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'a1b2c3', allowed: true } });
  });

  it('refuses the handshake to a client that does not trust our CA, or asks for another name', async () => {
    await assert.rejects(post(server.port, '', '/validate', '{}'), /self[- ]signed|unable to (get|verify)/i);
    await assert.rejects(new Promise((resolve, reject) => {
      https.request({ host: '127.0.0.1', port: server.port, path: '/validate', method: 'POST', servername: 'istiod.other.svc', ca: root, agent: false }, resolve).on('error', reject).end('{}');
    }), /altnames|Hostname\/IP does not match/i);
  });

  it('denies invalid VirtualServices with "configuration is invalid: ..."', async () => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['zero weight sum', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'a' }, weight: 0 }, { destination: { host: 'b' }, weight: 0 }] }] }, /^configuration is invalid: spec\.http\[0\]\.route: total destination weight = 0$/],
      ['unknown field', { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'a' } }] }], foo: 'bar' }, /^configuration is invalid: spec.*unknown field "foo"/],
      ['missing hosts on a gateway-bound VirtualService', { gateways: ['bookinfo-gateway'], http: [{ route: [{ destination: { host: 'a' } }] }] }, /^configuration is invalid: .*delegate virtual service must have no gateways specified/],
      ['no routes at all', { hosts: ['reviews'] }, /^configuration is invalid: .*http, tcp or tls must be provided in virtual service/],
    ];
    for (const [what, spec, message] of cases) {
      const r = await post(server.port, root, '/validate', admissionReview(vs(spec)));
      assert.equal(r.status, 200, what);
      assert.equal(r.json.response.uid, 'a1b2c3', what);
      assert.equal(r.json.response.allowed, false, what);
      assert.match(r.json.response.status.message, message, what);
    }
  });

  it('returns warnings for a valid object the validators warn about', async () => {
    const r = await post(server.port, root, '/validate', admissionReview(vs({ hosts: ['reviews'], http: [{ route: [{ destination: { host: 'a' }, weight: 80 }, { destination: { host: 'b' }, weight: 10 }] }] })));
    assert.equal(r.json.response.allowed, true);
    assert.deepEqual(r.json.response.warnings, ['spec.http[0].route: total destination weight 90 != 100']);
  });

  it('allows DELETE, answers v1beta1 reviews in v1beta1, and serves /validate/', async () => {
    const del = await post(server.port, root, '/validate', admissionReview(vs({ hosts: ['reviews'] }), 'DELETE'));
    assert.deepEqual(del.json.response, { uid: 'a1b2c3', allowed: true });
    const beta = await post(server.port, root, '/validate/', admissionReview(vs({ hosts: ['reviews'] }, 'networking.istio.io/v1beta1'), 'UPDATE', 'admission.k8s.io/v1beta1', 'beta-uid'));
    assert.equal(beta.json.apiVersion, 'admission.k8s.io/v1beta1');
    assert.equal(beta.json.response.uid, 'beta-uid');
    assert.equal(beta.json.response.allowed, false);
  });

  it('answers 415 for a wrong content type, 400 for an empty or undecodable body, 413 for a huge one', async () => {
    const body = admissionReview(vs({ hosts: ['reviews'] }));
    const wrongType = await post(server.port, root, '/validate', body, { 'Content-Type': 'application/yaml' });
    assert.equal(wrongType.status, 415);
    assert.equal(wrongType.body, 'invalid Content-Type, want `application/json`\n');
    const noType = await post(server.port, root, '/validate', body, {});
    assert.equal(noType.status, 415);
    const empty = await post(server.port, root, '/validate', '');
    assert.equal(empty.status, 400);
    assert.equal(empty.body, 'no body found\n');
    const emptyWrongType = await post(server.port, root, '/validate', '', { 'Content-Type': 'text/plain' });
    assert.equal(emptyWrongType.status, 400, 'Istio checks the body before the content type');
    const garbage = await post(server.port, root, '/validate', '{"apiVersion": "admission.k8s.io/v1", kind');
    assert.equal(garbage.status, 400);
    assert.match(garbage.body, /^could not decode body: .*JSON/);
    const notAReview = await post(server.port, root, '/validate', JSON.stringify({ apiVersion: 'v1', kind: 'Pod' }));
    assert.equal(notAReview.status, 400);
    assert.match(notAReview.body, /^could not decode body: expected kind AdmissionReview/);
    const huge = await post(server.port, root, '/validate', Buffer.alloc(5 * 1024 * 1024, 0x20));
    assert.equal(huge.status, 413);
    const get = await post(server.port, root, '/validate', '', {}, 'GET');
    assert.equal(get.status, 400);
    const elsewhere = await post(server.port, root, '/inject', '{}');
    assert.equal(elsewhere.status, 404);
  });

  it('survives hostile bodies and keeps answering', async () => {
    const deep = (n: number) => '{"x":'.repeat(n) + '1' + '}'.repeat(n);
    const hostile: Array<[string, string | Buffer]> = [
      ['/validate', Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x80])],
      ['/validate', '\u0000'],
      ['/validate', '[]'],
      ['/validate', 'null'],
      ['/validate', '1e999999'],
      ['/validate', `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","object":{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"a","namespace":"b"},"spec":${deep(100_000)}}}}`],
      ['/validate', `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":{"a":1},"operation":"CREATE","kind":7,"resource":[],"object":{"apiVersion":"networking.istio.io/v1","kind":"Gateway","metadata":[],"spec":"x","__proto__":{"polluted":true}}}}`],
      ['/convert', `{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview","request":{"uid":"u","desiredAPIVersion":"networking.istio.io/v1","objects":[{"apiVersion":"networking.istio.io/v1beta1","kind":"VirtualService","metadata":{"name":"a"},"spec":${deep(100_000)}}]}}`],
      ['/convert', '{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview","request":{"uid":"u","desiredAPIVersion":7,"objects":{}}}'],
    ];
    for (const [p, body] of hostile) {
      const r = await post(server.port, root, p, body);
      assert.ok([200, 400, 500].includes(r.status), `${p} ${String(body).slice(0, 40)} → ${r.status}`);
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    const ok = await post(server.port, root, '/validate', admissionReview(vs({ hosts: ['reviews'], http: [{ route: [{ destination: { host: 'a' } }] }] })));
    assert.equal(ok.json.response.allowed, true);
  });

  it('converts ConversionReviews between v1alpha3, v1beta1 and v1', async () => {
    const objects = [
      { ...vs({ hosts: ['reviews'] }, 'networking.istio.io/v1alpha3') },
      { apiVersion: 'networking.istio.io/v1beta1', kind: 'DestinationRule', metadata: { name: 'reviews', namespace: 'bookinfo' }, spec: { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }] } },
      { apiVersion: 'networking.istio.io/v1alpha3', kind: 'Gateway', metadata: { name: 'gw', namespace: 'bookinfo' }, spec: { servers: [] } },
    ];
    const up = await post(server.port, root, '/convert', conversionReview('networking.istio.io/v1', objects));
    assert.equal(up.status, 200);
    assert.equal(up.json.kind, 'ConversionReview');
    assert.equal(up.json.response.uid, 'conv-1');
    assert.deepEqual(up.json.response.result, { status: 'Success' });
    assert.deepEqual(up.json.response.convertedObjects, objects.map((o) => ({ ...o, apiVersion: 'networking.istio.io/v1' })));
    const down = await post(server.port, root, '/convert', conversionReview('networking.istio.io/v1beta1', up.json.response.convertedObjects));
    assert.deepEqual(down.json.response.convertedObjects.map((o: { apiVersion: string }) => o.apiVersion), Array(3).fill('networking.istio.io/v1beta1'));
    const sec = await post(server.port, root, '/convert', conversionReview('security.istio.io/v1beta1', [{ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'istio-system' }, spec: { mtls: { mode: 'STRICT' } } }]));
    assert.equal(sec.json.response.convertedObjects[0].apiVersion, 'security.istio.io/v1beta1');
  });

  it('fails a conversion to a version the kind is not served in', async () => {
    const r = await post(server.port, root, '/convert', conversionReview('networking.istio.io/v1', [{ apiVersion: 'networking.istio.io/v1alpha3', kind: 'EnvoyFilter', metadata: { name: 'ef', namespace: 'istio-system' }, spec: {} }]));
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.response, { uid: 'conv-1', convertedObjects: [], result: { status: 'Failure', message: 'objects[0] (EnvoyFilter istio-system/ef): EnvoyFilter is not served in networking.istio.io/v1 (served versions: v1alpha3)' } });
    const wrongType = await post(server.port, root, '/convert', conversionReview('networking.istio.io/v1', []), { 'Content-Type': 'text/plain' });
    assert.equal(wrongType.status, 415);
    assert.equal((await post(server.port, root, '/convert', '')).status, 400);
  });

  it('counts galley_validation_passed, _failed and _http_error', async () => {
    const value = async (name: string, labels: Record<string, string>) =>
      (await registry.getSingleMetric(name)!.get()).values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value ?? 0;
    const vsLabels = { group: 'networking.istio.io', version: 'v1', resource: 'virtualservices' };
    const before = {
      passed: await value('galley_validation_passed', vsLabels),
      invalid: await value('galley_validation_failed', { ...vsLabels, reason: 'invalid_resource' }),
      unsupported: await value('galley_validation_failed', { ...vsLabels, reason: 'unsupported_operation' }),
      e415: await value('galley_validation_http_error', { status: '415' }),
      e400: await value('galley_validation_http_error', { status: '400' }),
    };
    await post(server.port, root, '/validate', admissionReview(vs({ hosts: ['reviews'], http: [{ route: [{ destination: { host: 'a' } }] }] })));
    await post(server.port, root, '/validate', admissionReview(vs({ hosts: ['reviews'] })));
    await post(server.port, root, '/validate', admissionReview(vs({ hosts: ['reviews'] }), 'DELETE'));
    await post(server.port, root, '/validate', '{}', { 'Content-Type': 'text/json' });
    await post(server.port, root, '/validate', '');
    await post(server.port, root, '/convert', ''); // /convert errors are not validation errors
    assert.equal(await value('galley_validation_passed', vsLabels), before.passed + 1);
    assert.equal(await value('galley_validation_failed', { ...vsLabels, reason: 'invalid_resource' }), before.invalid + 1);
    assert.equal(await value('galley_validation_failed', { ...vsLabels, reason: 'unsupported_operation' }), before.unsupported + 1);
    assert.equal(await value('galley_validation_http_error', { status: '415' }), before.e415 + 1);
    assert.equal(await value('galley_validation_http_error', { status: '400' }), before.e400 + 1);
    assert.ok(await value('galley_validation_http_error', { status: '413' }) >= 1);
    const text = await registry.metrics();
    assert.match(text, /# TYPE galley_validation_passed counter\ngalley_validation_passed\{group="networking.istio.io",version="v1",resource="virtualservices"\} \d+/);
  });

  it('keeps serving through certificate rotation, with the new certificate', async () => {
    const before = await post(server.port, root, '/validate', admissionReview(vs({ hosts: ['reviews'], http: [{ route: [{ destination: { host: 'a' } }] }] })));
    const next = issueServingCert(ca, [SERVER_NAME], 24 * H);
    // Requests keep flowing while the certificate changes underneath them.
    let stop = false;
    const failures: string[] = [];
    const serials = new Set<string>();
    const load = (async () => {
      while (!stop) {
        try { serials.add((await post(server.port, root, '/validate', admissionReview(vs({ hosts: ['reviews'] }), 'DELETE'))).serial); } catch (e) { failures.push((e as Error).message); }
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(rotate, 'the server subscribed to rotation');
    rotate!(next);
    await new Promise((r) => setTimeout(r, 100));
    stop = true;
    await load;
    assert.equal(server.ready(), true);
    const afterRotation = await post(server.port, root, '/validate', admissionReview(vs({ hosts: ['reviews'], http: [{ route: [{ destination: { host: 'a' } }] }] })));
    assert.equal(afterRotation.json.response.allowed, true);
    assert.notEqual(afterRotation.serial, before.serial);
    const nextSerial = new (await import('node:crypto')).X509Certificate(next.certPem).serialNumber;
    assert.equal(afterRotation.serial, nextSerial);
    assert.ok(serials.has(nextSerial), 'requests during the rotation reached the new certificate');
    // The new app listens before the old one stops, so no connection is ever refused. Linux still
    // resets a connection that entered the old listener's accept queue in the instant between
    // uWS's last accept and the close (unless net.ipv4.tcp_migrate_req=1): at most one here.
    assert.ok(failures.length <= 1 && failures.every((f) => /ECONNRESET/.test(f)), failures.join('; '));
  });

  it('sends kept-alive clients of the replaced certificate to the new one (Connection: close)', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const viaAgent = (): Promise<{ serial: string; connection: string; socket: unknown }> => new Promise((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: server.port, path: '/validate', method: 'POST', servername: SERVER_NAME, ca: root, agent, headers: { 'Content-Type': 'application/json' } }, (res) => {
        const socket = res.socket as import('node:tls').TLSSocket;
        const serial = socket.getPeerCertificate().serialNumber;
        res.resume();
        res.on('end', () => resolve({ serial, connection: String(res.headers.connection ?? ''), socket }));
      });
      req.on('error', reject);
      req.end(admissionReview(vs({ hosts: ['reviews'] }), 'DELETE'));
    });
    try {
      const first = await viaAgent();
      const again = await viaAgent();
      assert.equal(again.socket, first.socket, 'the connection is kept alive');
      const next = issueServingCert(ca, [SERVER_NAME], 24 * H);
      server.updateCertificate(next);
      const onOld = await viaAgent();
      assert.equal(onOld.socket, first.socket, 'served on the connection opened before the rotation');
      assert.equal(onOld.serial, first.serial);
      assert.equal(onOld.connection, 'close');
      const onNew = await viaAgent();
      assert.notEqual(onNew.socket, first.socket);
      assert.equal(onNew.serial, new (await import('node:crypto')).X509Certificate(next.certPem).serialNumber);
    } finally {
      agent.destroy();
    }
  });

  it('refuses an unusable certificate and keeps the current one', async () => {
    const current = (await post(server.port, root, '/validate', admissionReview(vs({ hosts: ['reviews'] }), 'DELETE'))).serial;
    const a = issueServingCert(ca, [SERVER_NAME], H);
    const b = issueServingCert(ca, [SERVER_NAME], H);
    assert.throws(() => server.updateCertificate({ keyPem: a.keyPem, certChainPem: b.certChainPem }), /private key does not belong to the certificate/);
    assert.throws(() => server.updateCertificate({ keyPem: a.keyPem, certPem: 'not a pem' }), /no PEM CERTIFICATE block/);
    assert.throws(() => server.updateCertificate({ keyPem: 'nope', certChainPem: a.certChainPem }), /cannot parse the private key/);
    const still = await post(server.port, root, '/validate', admissionReview(vs({ hosts: ['reviews'] }), 'DELETE'));
    assert.equal(still.status, 200);
    assert.equal(still.serial, current);
  });

  it('follows a renewer by re-reading identity() (no subscription needed)', async () => {
    let current = issueServingCert(ca, [SERVER_NAME], H);
    const own = await startWebhookServer({ addr: { host: '127.0.0.1', port: 0 }, identity: () => current, identityCheckMs: 20, registry: new Registry() });
    try {
      const ping = () => post(own.port, root, '/validate', admissionReview(vs({ hosts: ['reviews'] }), 'DELETE'));
      assert.equal((await ping()).serial, new (await import('node:crypto')).X509Certificate(current.certPem).serialNumber);
      current = issueServingCert(ca, [SERVER_NAME], H);
      const want = new (await import('node:crypto')).X509Certificate(current.certPem).serialNumber;
      const deadline = Date.now() + 10_000;
      let seen = '';
      while (Date.now() < deadline && (seen = (await ping()).serial) !== want) await new Promise((r) => setTimeout(r, 20));
      assert.equal(seen, want);
      assert.equal(own.ready(), true);
    } finally {
      own.close();
    }
    assert.equal(own.ready(), false);
  });

  it('fails to start on a port already taken, naming it', async () => {
    const id = issueServingCert(ca, [SERVER_NAME], H);
    await assert.rejects(startWebhookServer({ addr: { host: '127.0.0.1', port: server.port }, identity: () => id, registry: new Registry() }), new RegExp(`cannot listen on 127.0.0.1:${server.port}`));
  });
});
