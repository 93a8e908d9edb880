import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { formatErrors, reviewAdmission } from '../../../src/main/webhooks/admission';
import { WebhookMetrics } from '../../../src/main/webhooks/webhook-metrics';

/** A VirtualService as the API server hands it to the webhook (namespace filled in). */
function virtualService(spec: Record<string, unknown>, extra: Record<string, unknown> = {}, apiVersion = 'networking.istio.io/v1') {
  return { apiVersion, kind: 'VirtualService', metadata: { name: 'reviews', namespace: 'bookinfo', uid: 'u-1', generation: 1, creationTimestamp: '2026-11-27T00:00:00Z' }, spec, ...extra };
}

const routeTo = (...hosts: Array<[string, number?]>) => ({ hosts: ['reviews'], http: [{ route: hosts.map(([host, weight]) => ({ destination: { host }, ...(weight === undefined ? {} : { weight }) })) }] });

/** An AdmissionReview request the way kube-apiserver builds one. */
function review(object: unknown, over: Record<string, unknown> = {}, apiVersion = 'admission.k8s.io/v1') {
  const o = object as { apiVersion?: string; kind?: string } | null;
  const [group, version] = (o?.apiVersion ?? 'networking.istio.io/v1').split('/');
  return {
    apiVersion, kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group, version, kind: o?.kind ?? 'VirtualService' },
      resource: { group, version, resource: 'virtualservices' },
      requestKind: { group, version, kind: o?.kind ?? 'VirtualService' },
      name: 'reviews', namespace: 'bookinfo', operation: 'CREATE',
      userInfo: { username: 'admin', groups: ['system:masters'] },
      object, oldObject: null, dryRun: false, options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
      ...over,
    },
  };
}

function decide(body: unknown, metrics?: WebhookMetrics) {
  const out = reviewAdmission(body, metrics);
  assert.ok(out.ok, JSON.stringify(out));
  return out.review;
}

describe('validating admission webhook decisions (Istio server.go)', () => {
  it('allows a valid VirtualService and echoes the uid in the same apiVersion', () => {
    const r = decide(review(virtualService(routeTo(['reviews']))));
    assert.deepEqual(r, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true } });
  });

  it('denies an invalid VirtualService with "configuration is invalid" and no code (the API server makes it 400)', () => {
    const r = decide(review(virtualService(routeTo(['reviews', 0], ['ratings', 0]))));
    assert.equal(r.response.allowed, false);
    assert.deepEqual(r.response.status, { metadata: {}, message: 'configuration is invalid: spec.http[0].route: total destination weight = 0' });
  });

  it('lists several errors in the multierror layout', () => {
    const r = decide(review(virtualService({ hosts: ['reviews'], http: [{ route: [{ destination: { host: '*' }, weight: 50 }, { destination: { host: 'a', subset: 'Bad_Subset' }, weight: 50 }] }] })));
    assert.equal(r.response.allowed, false);
    assert.match(r.response.status!.message, /^configuration is invalid: 2 errors occurred:\n\t\* .*invalid destination host \*\n\t\* .*subset name is invalid: Bad_Subset\n\n$/);
  });

  it('rejects unknown fields inside the spec, as the CRD schema and file mode do', () => {
    const r = decide(review(virtualService({ ...routeTo(['reviews']), foo: 1 })));
    assert.equal(r.response.allowed, false);
    assert.match(r.response.status!.message, /^configuration is invalid: .*unknown field "foo"/);
  });

  it('rejects an unknown top-level field with Istio\'s checkFields message', () => {
    const r = decide(review(virtualService(routeTo(['reviews']), { foo: 'bar' })));
    assert.equal(r.response.allowed, false);
    assert.equal(r.response.status!.message, 'unknown field "foo" on VirtualService resource bookinfo/reviews');
  });

  it('returns the validators\' warnings on an allowed object', () => {
    const r = decide(review(virtualService(routeTo(['reviews', 30], ['ratings', 30]))));
    assert.equal(r.response.allowed, true);
    assert.deepEqual(r.response.warnings, ['spec.http[0].route: total destination weight 60 != 100']);
  });

  it('looks kinds up by group and kind, any served version (v1alpha3, v1beta1)', () => {
    for (const v of ['v1alpha3', 'v1beta1']) {
      assert.equal(decide(review(virtualService(routeTo(['reviews']), {}, `networking.istio.io/${v}`))).response.allowed, true, v);
      assert.equal(decide(review(virtualService({ hosts: ['reviews'] }, {}, `networking.istio.io/${v}`))).response.allowed, false, v);
    }
  });

  it('denies a version the CRD does not serve, and unknown kinds of Istio groups, as "unrecognized type"', () => {
    const ef = { apiVersion: 'networking.istio.io/v1', kind: 'EnvoyFilter', metadata: { name: 'f', namespace: 'bookinfo' }, spec: {} };
    assert.equal(decide(review(ef)).response.status?.message, 'unrecognized type networking.istio.io/v1, Kind=EnvoyFilter');
    const odd = { apiVersion: 'security.istio.io/v1', kind: 'Frobnicator', metadata: { name: 'f', namespace: 'bookinfo' }, spec: {} };
    assert.equal(decide(review(odd)).response.status?.message, 'unrecognized type security.istio.io/v1, Kind=Frobnicator');
  });

  it('admits Istio kinds it has no validator for (top-level fields still checked), and other groups', () => {
    const tel = { apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name: 'mesh-default', namespace: 'bookinfo' }, spec: { tracing: [{ randomSamplingPercentage: 1 }] } };
    assert.equal(decide(review(tel)).response.allowed, true);
    assert.equal(decide(review({ ...tel, extra: 1 })).response.status?.message, 'unknown field "extra" on Telemetry resource bookinfo/mesh-default');
    // security kinds are validated now (issue 9): a DENY policy without rules is refused, as Istio
    const ap = { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'deny', namespace: 'bookinfo' }, spec: { action: 'DENY' } };
    assert.equal(decide(review(ap)).response.allowed, false);
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'bookinfo' }, data: {} };
    assert.equal(decide(review(cm)).response.allowed, true);
  });

  it('allows operations other than CREATE and UPDATE', () => {
    for (const operation of ['DELETE', 'CONNECT', '']) {
      assert.equal(decide(review(null, { operation })).response.allowed, true, operation);
    }
    assert.equal(decide(review(virtualService({ hosts: ['reviews'] }), { operation: 'UPDATE' })).response.allowed, false);
  });

  it('answers an admission.k8s.io/v1beta1 review in v1beta1', () => {
    const r = decide(review(virtualService(routeTo(['reviews'])), {}, 'admission.k8s.io/v1beta1'));
    assert.equal(r.apiVersion, 'admission.k8s.io/v1beta1');
    assert.equal(r.response.allowed, true);
  });

  it('denies an object that is not a JSON object', () => {
    for (const object of [null, 'text', [1], 7]) {
      const r = decide(review(object, { operation: 'CREATE', kind: { group: 'networking.istio.io', version: 'v1', kind: 'VirtualService' } }));
      assert.equal(r.response.allowed, false);
      assert.match(r.response.status!.message, /^cannot decode configuration: request\.object must be a JSON object/);
    }
  });

  it('refuses bodies that are not AdmissionReviews', () => {
    for (const body of [null, [], 'x', {}, { apiVersion: 'admission.k8s.io/v2', kind: 'AdmissionReview', request: {} }, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }]) {
      const out = reviewAdmission(body);
      assert.equal(out.ok, false, JSON.stringify(body));
      assert.match((out as { message: string }).message, /^could not decode body: /);
    }
  });

  it('never throws on odd shapes', () => {
    const odd: unknown[] = [
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { operation: 'CREATE', object: { apiVersion: 7, kind: [] } } },
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { operation: 'CREATE', resource: 'x', object: { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: 'x', spec: [] } } },
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { operation: 'UPDATE', object: { apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'g' }, spec: { servers: 'x' } } } },
    ];
    for (const body of odd) assert.doesNotThrow(() => reviewAdmission(body));
  });

  it('counts galley_validation_{passed,failed} with the request resource and Istio reasons', async () => {
    const registry = new Registry();
    const m = new WebhookMetrics(registry);
    decide(review(virtualService(routeTo(['reviews']))), m);
    decide(review(virtualService({ hosts: ['reviews'] })), m);
    decide(review(null, { operation: 'DELETE' }), m);
    const text = await registry.metrics();
    assert.match(text, /galley_validation_passed\{group="networking.istio.io",version="v1",resource="virtualservices"\} 1/);
    assert.match(text, /galley_validation_failed\{group="networking.istio.io",version="v1",resource="virtualservices",reason="invalid_resource"\} 1/);
    assert.match(text, /galley_validation_failed\{group="networking.istio.io",version="v1",resource="virtualservices",reason="unsupported_operation"\} 1/);
    // a second server on the same registry reuses the counters
    assert.doesNotThrow(() => new WebhookMetrics(registry));
  });

  it('formats one error plainly', () => {
    assert.equal(formatErrors(['x']), 'x');
  });
});
