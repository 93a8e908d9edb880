import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ModelStore, ConfigChange } from '../../../../src/main/model/store';
import { K8sObject } from '../../../../src/shared/model/objects';

const svc = (name: string, port = 80): K8sObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'ns' }, spec: { ports: [{ port }] } } as unknown as K8sObject);

test('patchOrigin upserts and removes within one origin, leaving its other objects alone', () => {
  const store = new ModelStore();
  const seen: ConfigChange[][] = [];
  store.onChange((c) => seen.push(c));
  store.patchOrigin('kube:Service', [svc('a'), svc('b')]);
  assert.equal(store.size, 2);
  const changes = store.patchOrigin('kube:Service', [svc('a', 81)], ['/Service/ns/b']);
  assert.deepEqual(changes.map((c) => `${c.event} ${c.name}`).sort(), ['delete b', 'update a']);
  assert.equal(seen.length, 2, 'one notification per patch');
  assert.deepEqual(store.originKeys('kube:Service').length, 1);
  // identical content is not a change
  assert.deepEqual(store.patchOrigin('kube:Service', [svc('a', 81)]), []);
  // removing an unknown key is a no-op
  assert.deepEqual(store.patchOrigin('kube:Service', [], ['/Service/ns/zzz']), []);
});

test('patchOrigin and replaceOrigin share the winner rule across origins', () => {
  const store = new ModelStore();
  store.replaceOrigin('b-file.yaml', [svc('a', 1)]);
  store.patchOrigin('a-kube', [svc('a', 2)]);
  assert.equal((store.list('Service')[0]!.spec as { ports: Array<{ port: number }> }).ports[0]!.port, 2, 'the origin that sorts first wins');
  const keys = store.originKeys('a-kube');
  const changes = store.patchOrigin('a-kube', [], keys);
  assert.equal(changes.length, 1);
  assert.equal((store.list('Service')[0]!.spec as { ports: Array<{ port: number }> }).ports[0]!.port, 1, 'falls back to the other origin');
});
