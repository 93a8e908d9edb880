import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkDocument } from '../../../../src/shared/istio/config-document';
import { checkDeploymentLabels, checkServicePortNaming } from '../../../../src/shared/istio/istioctl-checks';
import { Issues } from '../../../../src/shared/istio/validate-fields';
import { formatIssue } from '../../../../src/shared/istio/validation';
import { ISTIO, assertError } from './validation-builders';

describe('checkDocument (shared by file mode and istiod-ts validate)', () => {
  it('defaults the namespace of namespaced kinds and drops it from cluster-scoped ones', () => {
    const vs = { apiVersion: ISTIO, kind: 'VirtualService', metadata: { name: 'a' }, spec: { hosts: ['a'], http: [{ route: [{ destination: { host: 'a' } }] }] } };
    const r = checkDocument(vs, 'team-a');
    assert.equal(r.status, 'checked');
    assert.equal(r.status === 'checked' && r.object.metadata.namespace, 'team-a');
    const ns = checkDocument({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'x', namespace: 'y' } });
    assert.ok(ns.status === 'checked' && ns.object.metadata.namespace === undefined && ns.errors.length === 0);
  });

  it('classifies documents it cannot validate', () => {
    assert.equal(checkDocument(['a']).status, 'not-object');
    const missing = checkDocument({ kind: 'Service' });
    assert.ok(missing.status === 'unsupported' && /apiVersion is required/.test(missing.reason));
    const deployment = checkDocument({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'a' } });
    assert.ok(deployment.status === 'unsupported' && deployment.info === undefined);
    const badVersion = checkDocument({ apiVersion: 'networking.istio.io/v2', kind: 'Gateway', metadata: { name: 'a' } });
    assert.ok(badVersion.status === 'unsupported' && badVersion.info !== undefined && /unsupported version/.test(badVersion.reason));
  });

  it('rejects unknown top-level fields of Istio objects', () => {
    assertError({ apiVersion: ISTIO, kind: 'Sidecar', metadata: { name: 'x', namespace: 'default' }, spec: { egress: [{ hosts: ['./*'] }] }, specs: {} } as never, ['specs'], /unknown field/);
  });
});

describe('istioctl checks', () => {
  const service = (ports: unknown[], namespace = 'default') => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's', namespace }, spec: { ports } });
  const run = (check: (o: never, iss: Issues) => void, o: unknown) => { const iss = new Issues(); check(o as never, iss); return iss; };

  it('requires Service ports named after a protocol or with an Istio appProtocol, UDP and istio-system exempt', () => {
    const iss = run(checkServicePortNaming, service([{ port: 80, name: 'http-web' }, { port: 81, name: 'web' }, { port: 82 }, { port: 83, appProtocol: 'h3' }, { port: 53, protocol: 'UDP' }, { port: 84, appProtocol: 'grpc' }]));
    assert.deepEqual(iss.errors.map((e) => formatIssue(e).replace(/, see .*/, '')), [
      'spec.ports[1].name: port name "web" does not follow the Istio naming convention <protocol>[-<suffix>]',
      'spec.ports[2]: unnamed port: Istio cannot select its protocol, name it <protocol>[-<suffix>] or set appProtocol',
      'spec.ports[3].appProtocol: appProtocol "h3" doesn\'t follow Istio protocol selection',
    ]);
    assert.equal(run(checkServicePortNaming, service([{ port: 81, name: 'web' }], 'istio-system')).errors.length, 0);
  });

  it('warns when a Deployment template lacks canonical service labels', () => {
    const deployment = (labels: Record<string, string>) => ({ kind: 'Deployment', metadata: { name: 'd', namespace: 'default' }, spec: { template: { metadata: { labels } } } });
    assert.equal(run(checkDeploymentLabels, deployment({ app: 'a', version: 'v1' })).warnings.length, 0);
    assert.match(run(checkDeploymentLabels, deployment({ app: 'a' })).warnings[0]!.message, /canonical-revision/);
  });
});
