/**
 * PeerAuthentication validation (Istio ValidatePeerAuthentication + the API shape): what the
 * webhook and `istioctl validate` accept and reject, with Istio's messages.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { formatIssue, validateObject } from '../../../../src/shared/istio/validation';
import { K8sObject } from '../../../../src/shared/model/objects';

const pa = (spec: unknown, apiVersion = 'security.istio.io/v1'): K8sObject =>
  ({ apiVersion, kind: 'PeerAuthentication', metadata: { name: 'p', namespace: 'default' }, spec } as unknown as K8sObject);

function errors(spec: unknown): string[] {
  const r = validateObject(pa(spec));
  return r.ok ? [] : r.errors.map(formatIssue);
}

test('PeerAuthentication: valid mesh, namespace, workload and port-level policies (v1 and v1beta1)', () => {
  assert.deepEqual(errors({ mtls: { mode: 'STRICT' } }), []);
  assert.deepEqual(errors({}), []);
  assert.deepEqual(errors({ selector: { matchLabels: { app: 'reviews' } }, mtls: { mode: 'UNSET' }, portLevelMtls: { '8080': { mode: 'DISABLE' }, '9090': {} } }), []);
  assert.equal(validateObject(pa({ mtls: { mode: 'PERMISSIVE' } }, 'security.istio.io/v1beta1')).ok, true);
});

test('PeerAuthentication: Istio\'s rules (port level needs a selector, at least one entry, ports 1..65535, mode enum)', () => {
  assert.deepEqual(errors({ portLevelMtls: { '8080': { mode: 'DISABLE' } } }), ['spec.portLevelMtls: mesh/namespace peer authentication cannot have port level mTLS']);
  assert.deepEqual(errors({ selector: { matchLabels: { app: 'a' } }, portLevelMtls: {} }), ['spec.portLevelMtls: port level mTLS, if defined, must have at least one element']);
  assert.deepEqual(errors({ selector: { matchLabels: { app: 'a' } }, portLevelMtls: { '0': { mode: 'STRICT' } } }), ['spec.portLevelMtls["0"]: port cannot be 0']);
  assert.match(errors({ selector: { matchLabels: { app: 'a' } }, portLevelMtls: { http: { mode: 'STRICT' } } })[0]!, /invalid port "http"/);
  assert.match(errors({ mtls: { mode: 'strict' } })[0]!, /^spec\.mtls\.mode: /);
});

test('PeerAuthentication: unknown fields at any depth and bad selectors are rejected', () => {
  assert.match(errors({ mtls: { mode: 'STRICT', level: 1 } }).join('\n'), /unknown field "level"/);
  assert.match(errors({ peers: [] }).join('\n'), /unknown field "peers"/);
  assert.match(errors({ selector: { matchLabels: { app: 'a' }, labels: {} } }).join('\n'), /unknown field "labels"/);
  assert.ok(errors({ selector: { matchLabels: { 'app*': 'a' } } }).length > 0);
  assert.ok(errors({ selector: { matchLabels: { app: 'a*' } } }).length > 0);
});
