/**
 * Registry.contextChange(): which proxies' GenContext a build may have changed, so a push
 * recomputes contexts only there (and the ones it says are unchanged really are unchanged).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as YAML from 'yaml';
import { ModelStore } from '../../../../src/main/model/store';
import { Registry, MeshSettings } from '../../../../src/main/model/registry';
import { K8sObject } from '../../../../src/shared/model/objects';
import { ProxyView } from '../../../../src/shared/model/proxy';

const MESH: MeshSettings = { domainSuffix: 'cluster.local', rootNamespace: 'istio-system', trustDomain: 'cluster.local', raw: {} };
const objs = (yaml: string) => YAML.parseAllDocuments(yaml).map((d) => d.toJS() as K8sObject).filter(Boolean);
const svc = (name: string, ips: string[]) => `
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: shop}
spec: {clusterIP: 10.0.0.${ips.length + 1}, ports: [{name: http, port: 80, targetPort: 8080}], selector: {app: ${name}}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ${name}-1, namespace: shop, labels: {kubernetes.io/service-name: ${name}}}
ports: [{name: http, port: 8080}]
endpoints: [${ips.map((ip) => `{addresses: [${ip}]}`).join(', ')}]
`;
const proxy = (ip: string, labels: Record<string, string> = {}): ProxyView => ({
  id: `sidecar~${ip}~p.shop~shop.svc.cluster.local`, type: 'sidecar', ipAddresses: [ip], namespace: 'shop', labels, generator: '', interceptionMode: 'REDIRECT',
  locality: { region: '', zone: '', subZone: '' },
} as unknown as ProxyView);

test('an endpoint move reports only the changed service\'s addresses; a VirtualService changes none', () => {
  const store = new ModelStore();
  const reg = new Registry(store, MESH);
  store.replaceOrigin('a', objs(svc('web', ['10.1.0.1', '10.1.0.2'])));
  store.replaceOrigin('b', objs(svc('db', ['10.2.0.1'])));
  reg.build();
  assert.equal(reg.contextChange().all, true, 'the first build changes everything');
  const before = new Map(['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.2.0.1'].map((ip) => [ip, JSON.stringify(reg.contextFor(proxy(ip)))]));

  store.replaceOrigin('a', objs(svc('web', ['10.1.0.1', '10.1.0.3'])));
  reg.build();
  assert.equal(reg.contextChange().all, false);
  // the addresses of the changed service (a superset of the contexts that changed), not db's
  assert.deepEqual([...reg.contextChange().ips].sort(), ['10.1.0.1', '10.1.0.2', '10.1.0.3']);
  for (const [ip, ctx] of before) {
    const changed = JSON.stringify(reg.contextFor(proxy(ip))) !== ctx;
    if (changed) assert.ok(reg.contextChange().ips.has(ip), `${ip}: context changed but not reported`);
  }
  assert.notEqual(JSON.stringify(reg.contextFor(proxy('10.1.0.3'))), before.get('10.1.0.3'), 'the new address now has web inbound');
  assert.equal(JSON.stringify(reg.contextFor(proxy('10.2.0.1'))), before.get('10.2.0.1'));

  store.replaceOrigin('vs', objs(`
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec: {hosts: [web], http: [{route: [{destination: {host: web}}]}]}`));
  reg.build();
  assert.deepEqual(reg.contextChange(), { all: false, ips: new Set() });
});

test('a Sidecar, a Gateway selector or new selector label keys may change every context', () => {
  const store = new ModelStore();
  const reg = new Registry(store, MESH);
  store.replaceOrigin('a', objs(svc('web', ['10.1.0.1'])));
  reg.build();
  const p = proxy('10.1.0.9', { app: 'web', version: 'v1' });
  const first = JSON.stringify(reg.contextFor(p));

  store.replaceOrigin('sc', objs(`
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: shop}
spec: {egress: [{hosts: ['./*']}]}`));
  reg.build();
  assert.equal(reg.contextChange().all, true);
  assert.notEqual(JSON.stringify(reg.contextFor(p)), first);

  // the Sidecar's egress changes, its selection does not: contexts stay (its generated config changes by its own key)
  store.replaceOrigin('sc', objs(`
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: shop}
spec: {egress: [{hosts: ['./*', 'istio-system/*']}]}`));
  reg.build();
  assert.equal(reg.contextChange().all, false);

  // a policy selecting on a new label key: proxies' selected labels change
  store.replaceOrigin('ap', objs(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: v1-only, namespace: shop}
spec: {selector: {matchLabels: {version: v1}}, action: DENY, rules: [{}]}`));
  const beforePolicy = JSON.stringify(reg.contextFor(p));
  reg.build();
  assert.equal(reg.contextChange().all, true);
  assert.notEqual(JSON.stringify(reg.contextFor(p)), beforePolicy);
});
