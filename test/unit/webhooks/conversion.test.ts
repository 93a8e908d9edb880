import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { reviewConversion } from '../../../src/main/webhooks/conversion';

const obj = (apiVersion: string, kind: string, name = 'x') => ({
  apiVersion, kind, metadata: { name, namespace: 'bookinfo', uid: 'u', resourceVersion: '12', labels: { a: 'b' } }, spec: { hosts: ['reviews'] }, status: { observedGeneration: '1' },
});

function review(desiredAPIVersion: unknown, objects: unknown, apiVersion = 'apiextensions.k8s.io/v1') {
  return { apiVersion, kind: 'ConversionReview', request: { uid: 'c0ffee', desiredAPIVersion, objects } };
}

function convert(body: unknown) {
  const out = reviewConversion(body);
  assert.ok(out.ok, JSON.stringify(out));
  return out.review;
}

describe('CRD conversion webhook', () => {
  it('rewrites only apiVersion, keeps order and everything else', () => {
    const input = [obj('networking.istio.io/v1alpha3', 'VirtualService', 'a'), obj('networking.istio.io/v1beta1', 'DestinationRule', 'b'), obj('networking.istio.io/v1', 'Gateway', 'c')];
    const r = convert(review('networking.istio.io/v1', input));
    assert.equal(r.apiVersion, 'apiextensions.k8s.io/v1');
    assert.equal(r.kind, 'ConversionReview');
    assert.equal(r.response.uid, 'c0ffee');
    assert.deepEqual(r.response.result, { status: 'Success' });
    assert.deepEqual(r.response.convertedObjects, input.map((o) => ({ ...o, apiVersion: 'networking.istio.io/v1' })));
  });

  it('converts down as well (v1 → v1beta1, v1 → v1alpha3) and across groups\' own versions', () => {
    assert.deepEqual(convert(review('networking.istio.io/v1beta1', [obj('networking.istio.io/v1', 'ServiceEntry')])).response.result, { status: 'Success' });
    assert.deepEqual(convert(review('networking.istio.io/v1alpha3', [obj('networking.istio.io/v1', 'Sidecar')])).response.result, { status: 'Success' });
    assert.deepEqual(convert(review('security.istio.io/v1beta1', [obj('security.istio.io/v1', 'AuthorizationPolicy')])).response.result, { status: 'Success' });
    assert.deepEqual(convert(review('telemetry.istio.io/v1alpha1', [obj('telemetry.istio.io/v1', 'Telemetry')])).response.result, { status: 'Success' });
  });

  it('fails the whole review for a version the kind is not served in', () => {
    const r = convert(review('networking.istio.io/v1', [obj('networking.istio.io/v1alpha3', 'VirtualService'), obj('networking.istio.io/v1alpha3', 'EnvoyFilter', 'ef')]));
    assert.deepEqual(r.response.convertedObjects, []);
    assert.deepEqual(r.response.result, { status: 'Failure', message: 'objects[1] (EnvoyFilter bookinfo/ef): EnvoyFilter is not served in networking.istio.io/v1 (served versions: v1alpha3)' });
  });

  it('fails for a group change, an unknown kind, a bad desiredAPIVersion or a non-object', () => {
    const fail = (body: unknown) => { const r = convert(body).response.result; assert.equal(r.status, 'Failure'); return (r as { message: string }).message; };
    assert.match(fail(review('security.istio.io/v1', [obj('networking.istio.io/v1', 'VirtualService')])), /conversion never changes the group/);
    assert.match(fail(review('networking.istio.io/v1', [obj('networking.istio.io/v1', 'Frobnicator')])), /unrecognized type Frobnicator/);
    assert.match(fail(review('v1', [])), /desiredAPIVersion must be group\/version/);
    assert.match(fail(review('networking.istio.io/v1', [7])), /objects\[0\]: must be an object/);
    assert.match(fail(review('networking.istio.io/v1', 'x')), /request.objects must be a list/);
  });

  it('answers v1beta1 reviews in v1beta1', () => {
    assert.equal(convert(review('networking.istio.io/v1', [], 'apiextensions.k8s.io/v1beta1')).apiVersion, 'apiextensions.k8s.io/v1beta1');
  });

  it('refuses bodies that are not ConversionReviews', () => {
    for (const body of [null, [], {}, { apiVersion: 'apiextensions.k8s.io/v1', kind: 'ConversionReview' }, { apiVersion: 'apiextensions.k8s.io/v1', kind: 'ConversionReview', request: { desiredAPIVersion: 'a/b' } }, { apiVersion: 'admission.k8s.io/v1', kind: 'ConversionReview', request: {} }]) {
      const out = reviewConversion(body);
      assert.equal(out.ok, false, JSON.stringify(body));
    }
  });
});
