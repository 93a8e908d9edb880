/**
 * Least privilege, proven by running the code under the rules: the rendered production RBAC
 * (ServiceAccount, ClusterRole, Role, bindings) is loaded into the Kubernetes API test server,
 * which enforces it as kube-apiserver's RBAC authorizer does (resourceNames included), and istiod
 * runs in Kubernetes mode with that ServiceAccount's token while the test drives every duty:
 * informers, leader election, istio-ca-root-cert in a new namespace, the CA root Secret (created,
 * then rotated), the validation webhook (the manifests' own configuration, reached through the
 * manifests' Service), the fail-close probe, and a CSR authenticated by TokenReview.
 *
 * The request log then shows: no call was refused (the rules cover the code), and every rule item
 * (group × resource × verb × resourceName) was used by some call (nothing more is granted).
 */
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { KubeRequest, KubeTestServer, startKubeTestServer } from '../helpers/kube-apiserver';
import { listedName } from '../helpers/kube-apiserver-http';
import { KubeDiscovery, parseObjects, startKubeDiscovery } from '../helpers/kube-mesh';
import { exampleMeshFiles } from '../helpers/mesh-fixtures';
import { K8sObject, findObject, render } from '../helpers/kustomize';
import { createCertificate, makeCsr, tlsChannel } from '../helpers/ca-client';
import { tempDir } from '../helpers/server';
import { waitFor } from '../helpers/wait-for';

const NS = 'istio-system';
const SA_USER = `system:serviceaccount:${NS}:istiod`;
const RBAC_KINDS = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);

interface RuleItem { group: string; resource: string; verb: string; name: string; scope: 'cluster' | string }

/** Every (group, resource, verb, resourceName or '*') a rule grants, with the scope of its binding. */
function expand(rules: any[], scope: string): RuleItem[] {
  const out: RuleItem[] = [];
  for (const r of rules) {
    for (const group of r.apiGroups) for (const resource of r.resources) for (const verb of r.verbs) {
      for (const name of r.resourceNames ?? ['*']) out.push({ group, resource, verb, name, scope });
    }
  }
  return out;
}

/** Does this logged request use this rule item? (the authorizer's match, plus the binding's scope) */
function uses(q: KubeRequest, item: RuleItem): boolean {
  if (q.group !== item.group || q.resource !== item.resource || q.verb !== item.verb || q.subresource !== undefined) return false;
  if (item.scope !== 'cluster' && q.namespace !== item.scope) return false;
  if (item.name === '*') return true;
  // the name the authorizer saw: the object's, or a list/watch's metadata.name field selector
  return (q.name ?? listedName(q.verb, new URL(q.path, 'http://api').searchParams)) === item.name;
}

describe('RBAC: the manifests grant exactly the API calls istiod-ts makes', () => {
  let server: KubeTestServer;
  let istiod: KubeDiscovery;
  let rendered: K8sObject[];
  const mine = () => server.requests.filter((q) => q.user === SA_USER && q.resource);

  before(async () => {
    rendered = render('base'); // every overlay's RBAC comes from base
    server = await startKubeTestServer();
    // the workloads' mesh, and the control plane's own objects from the manifests (as an SRE's apply)
    for (const o of parseObjects(...Object.values(exampleMeshFiles()))) server.create(o);
    for (const o of rendered) {
      if (RBAC_KINDS.has(o.kind) || o.kind === 'Namespace' || o.kind === 'ConfigMap' || o.kind === 'Service' || o.kind === 'ValidatingWebhookConfiguration') {
        if (!server.get(o.apiVersion, o.kind, o.metadata.namespace, o.metadata.name)) server.create(o);
      }
    }
    // an object named like the probe's: its dry-run create then conflicts, and the probe updates instead
    server.create({ apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'invalid-gateway', namespace: NS }, spec: { selector: { istio: 'none' }, servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['probe.invalid'] }] } });
    // istiod's credentials: its ServiceAccount's token, nothing else (RBAC applies to every call)
    const token = server.serviceAccountToken(NS, 'istiod');
    const kubeconfig = path.join(tempDir('istiod-ts-rbac-'), 'kubeconfig');
    const admin = JSON.parse(fs.readFileSync(server.kubeconfigPath, 'utf8'));
    admin.users = [{ name: 'istiod', user: { token } }];
    admin.contexts[0].context.user = 'istiod';
    fs.writeFileSync(kubeconfig, JSON.stringify(admin));

    // A refused initial list keeps istiod from ever syncing (as Istio's informers): fail with the
    // refused calls instead of waiting, and end the process, whose istiod cannot finish starting.
    const refused = new Promise<never>((_, reject) => {
      const t = setInterval(() => {
        const denied = server.requests.filter((q) => q.user === SA_USER && q.code === 403);
        if (denied.length === 0) return;
        clearInterval(t);
        setTimeout(() => process.exit(1), 2000).unref();
        reject(new Error(`istiod's ServiceAccount was refused: ${[...new Set(denied.map((q) => `${q.verb} ${q.group || 'core'}/${q.resource}${q.namespace ? ` in ${q.namespace}` : ''}`))].join('; ')}`));
      }, 100);
      t.unref();
    });
    istiod = await Promise.race([startKubeDiscovery(kubeconfig, { env: { POD_NAMESPACE: NS, ISTIOD_LEADER_ELECTION_LEASE_DURATION: '2s' }, start: { kubeBackoff: { initialMs: 50, maxMs: 500 } } }), refused]);
    // The manifests' webhook configuration reaches istiod through the manifests' Service; only the
    // endpoint is the test's (istiod listens on an ephemeral loopback port, not 15017).
    const port = istiod.discovery.ports.https;
    const svc = server.get('v1', 'Service', NS, 'istiod') as any;
    svc.spec.ports = svc.spec.ports.map((p: any) => (p.name === 'https-webhook' ? { ...p, targetPort: port } : p));
    server.update(svc);
    // Until the Service has an endpoint the API server cannot call the webhook (failurePolicy
    // Ignore: writes pass), so the probe's dry-run create reaches storage, conflicts with the
    // Gateway above, and the probe retries as an update: that path is exercised too.
    await waitFor(() => server.requests.some((q) => q.user === SA_USER && q.resource === 'gateways' && q.verb === 'update'), 20_000, 'the probe\'s dry-run update');
    server.create({
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: { name: 'istiod-test', namespace: NS, labels: { 'kubernetes.io/service-name': 'istiod' } },
      addressType: 'IPv4', ports: [{ name: 'https-webhook', port, protocol: 'TCP' }],
      endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
    });
  });

  after(async () => {
    await istiod?.close();
    await server?.close();
  });

  it('runs every duty under the rules', async () => {
    // leader election + the webhook: caBundle injected, Fail after the probe was denied through the API server
    await waitFor(() => (server.get('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', undefined, `istio-validator-${NS}`) as any)?.webhooks?.[0]?.failurePolicy === 'Fail', 20_000, 'webhook switched to Fail');
    // istio-ca-root-cert in a namespace created now
    server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'rbac-late' } });
    await waitFor(() => server.get('v1', 'ConfigMap', 'rbac-late', 'istio-ca-root-cert'), 10_000, 'root cert ConfigMap in the new namespace');
    // root rotation: the CA Secret is updated and every istio-ca-root-cert rewritten
    const before = (server.get('v1', 'Secret', NS, 'istio-ca-secret') as any).data['ca-cert.pem'];
    await istiod.discovery.ca!.ca.rotateRoot();
    await waitFor(() => (server.get('v1', 'Secret', NS, 'istio-ca-secret') as any).data['ca-cert.pem'] !== before, 10_000, 'CA secret rotated');
    await waitFor(() => mine().some((q) => q.resource === 'configmaps' && q.verb === 'update'), 10_000, 'root cert ConfigMaps rewritten');
    // a workload's CSR authenticated with its Kubernetes token (TokenReview)
    const workloadToken = server.serviceAccountToken('bookinfo', 'reviews', ['istio-ca']);
    const channel = tlsChannel(`127.0.0.1:${istiod.discovery.ports.secureGrpc}`, { rootPem: istiod.discovery.ca!.ca.bundle.rootBundlePem });
    try {
      const { csrPem } = await makeCsr('ec-p256', { sans: ['spiffe://cluster.local/ns/bookinfo/sa/reviews'] });
      const r = await createCertificate(channel, { csr: csrPem, validity_duration: 3600 }, workloadToken);
      assert.equal(r.ok, true, JSON.stringify(r));
    } finally { channel.close(); }
    // the leader renews its Lease
    await waitFor(() => mine().some((q) => q.resource === 'leases' && q.verb === 'update'), 10_000, 'a Lease renewal');
    assert.equal(istiod.discovery.lifecycle.report().ready, true);
  });

  it('no call was refused: the rules cover every call the code made', () => {
    const refused = mine().filter((q) => q.code === 403).map((q) => `${q.verb} ${q.path}`);
    assert.deepEqual(refused, []);
    assert.ok(mine().length > 20, 'istiod made its calls as the ServiceAccount');
    assert.equal(server.requests.filter((q) => q.user !== SA_USER && q.code !== undefined && q.user !== '' && q.user !== 'kube-test-admin' && !q.user.startsWith('system:serviceaccount:bookinfo')).length, 0, 'no other identity');
  });

  it('nothing more: every rule item is used by some call', () => {
    const items = [
      ...expand(findObject(rendered, 'ClusterRole', `istiod-clusterrole-${NS}`)!.rules, 'cluster'),
      ...expand(findObject(rendered, 'Role', 'istiod')!.rules, NS),
    ];
    const calls = mine().filter((q) => q.code !== 403);
    const unused = items.filter((item) => !calls.some((q) => uses(q, item))).map((i) => `${i.verb} ${i.group || 'core'}/${i.resource}${i.name === '*' ? '' : `[${i.name}]`} (${i.scope})`);
    assert.deepEqual(unused, [], 'granted but never used');
    // and every call is explained by some item (the authorizer agreed; this checks our reading of it)
    const unexplained = calls.filter((q) => !items.some((item) => uses(q, item))).map((q) => `${q.verb} ${q.path}`);
    assert.deepEqual(unexplained, []);
  });
});
