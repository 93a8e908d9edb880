/**
 * deploy/: every overlay (and every component, through one synthetic overlay) renders with
 * kustomize, every object validates against its Kubernetes / Istio CRD / Prometheus Operator / VPA
 * schema (kubernetes-models packages), and the Deployment agrees with the code: Istio's ports,
 * probes on the real health paths, every env knob with its default, flags the CLI accepts, RBAC
 * resource names equal to the knobs' defaults, and the webhook wired to the HTTPS port.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as YAML from 'yaml';
import { DEPLOY_DIR, K8sObject, findObject, overlays, render } from '../helpers/kustomize';
import { CA_KNOBS, KNOBS, KUBE_KNOBS, loadConfig } from '../../src/main/config';
import { CORE_KINDS, ISTIO_KINDS } from '../../src/main/sources/kube/kinds';
import { checkDocument } from '../../src/shared/istio/config-document';
import { meshSettingsFrom } from '../../src/main/mesh-config';

const NS = 'istio-system';

/** The schema package and module of an apiVersion. Istio serves every version of a kind from one schema. */
function modelModule(apiVersion: string, kind: string): string | undefined {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  if (group.endsWith('.istio.io')) {
    // @kubernetes-models/istio 2.3 has some kinds only in v1beta1; Istio's CRDs share one schema across versions
    for (const v of [version, 'v1beta1', 'v1alpha3']) {
      const mod = `@kubernetes-models/istio/${group}/${v}`;
      try { if (require(mod)[kind]) return mod; } catch { /* next */ }
    }
    return undefined;
  }
  if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/${group}/${version}`;
  if (group === 'autoscaling.k8s.io') return `@kubernetes-models/autoscaler/${group}/${version}`;
  return `kubernetes-models/${group ? `${group}/` : ''}${version}`;
}

function validateSchema(o: K8sObject): void {
  const mod = modelModule(o.apiVersion, o.kind);
  assert.ok(mod, `${o.kind} ${o.apiVersion}: no schema`);
  const Model = require(mod)[o.kind];
  assert.ok(Model, `${o.kind} ${o.apiVersion}: no schema in ${mod}`);
  const copy = structuredClone(o);
  // the schema package knows the kind's versions; Istio's versions share one schema
  copy.apiVersion = new Model({}).apiVersion;
  new Model(copy).validate();
}

/** Base plus every component, as one overlay in a temporary folder. */
function renderAllComponents(): K8sObject[] {
  const dir = fs.mkdtempSync(path.join(DEPLOY_DIR, '.tmp-all-'));
  try {
    const components = fs.readdirSync(path.join(DEPLOY_DIR, 'components')).map((c) => `../components/${c}`);
    fs.writeFileSync(path.join(dir, 'kustomization.yaml'), YAML.stringify({
      apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', namespace: NS, resources: ['../base'], components,
    }));
    return render(path.basename(dir));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const production = () => render('overlays/production');
const deploymentOf = (objs: K8sObject[]) => findObject(objs, 'Deployment', 'istiod')!;
const containerOf = (objs: K8sObject[]) => deploymentOf(objs).spec.template.spec.containers.find((c: any) => c.name === 'discovery');

test('every overlay renders, and every object validates against its schema', () => {
  const names = overlays();
  for (const must of ['overlays/production', 'overlays/production-vpa', 'overlays/single-replica']) assert.ok(names.includes(must), must);
  for (const overlay of names) {
    const objs = render(overlay);
    assert.ok(objs.length > 0, overlay);
    for (const o of objs) {
      try { validateSchema(o); } catch (e) { assert.fail(`${overlay}: ${o.kind}/${o.metadata.name}: ${(e as Error).message}`); }
    }
    const ids = objs.map((o) => `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`);
    assert.equal(new Set(ids).size, ids.length, `${overlay}: duplicate objects`);
    for (const o of objs) if (!['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'ValidatingWebhookConfiguration'].includes(o.kind)) assert.equal(o.metadata.namespace, NS, `${overlay}: ${o.kind}/${o.metadata.name} namespace`);
  }
});

test('every component renders with the base and validates (schemas, and Istio kinds with istiod-ts validation)', () => {
  const objs = renderAllComponents();
  const kinds = new Set(objs.map((o) => o.kind));
  for (const k of ['HorizontalPodAutoscaler', 'VerticalPodAutoscaler', 'PeerAuthentication']) assert.ok(kinds.has(k), k);
  for (const o of objs) {
    try { validateSchema(o); } catch (e) { assert.fail(`${o.kind}/${o.metadata.name}: ${(e as Error).message}`); }
    if (o.apiVersion.includes('.istio.io/')) {
      const r = checkDocument(structuredClone(o));
      assert.equal(r.status, 'checked', `${o.kind}/${o.metadata.name}`);
      if (r.status === 'checked') assert.deepEqual(r.errors, [], `${o.kind}/${o.metadata.name}`);
    }
  }
});

test('a bad object is caught by the schema check (the check can fail)', () => {
  const d = structuredClone(deploymentOf(production()));
  d.spec.template.spec.containers[0].ports[0].containerPort = 'fifteen-ten';
  assert.throws(() => validateSchema(d), /containerPort/);
  const pa = { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'x', namespace: NS }, spec: { mtls: { mode: 'STRICTEST' } } };
  assert.throws(() => validateSchema(pa as K8sObject), /mode/);
});

test('the Deployment: Istio ports, probes on the real health paths, resources, placement, hardening', () => {
  const objs = production();
  const d = deploymentOf(objs);
  const pod = d.spec.template.spec;
  const c = containerOf(objs);
  assert.deepEqual(c.ports.map((p: any) => p.containerPort).sort((a: number, b: number) => a - b), [8080, 15010, 15012, 15014, 15017]);
  assert.equal(c.readinessProbe.httpGet.path, '/ready');
  assert.equal(c.readinessProbe.httpGet.port, 8080);
  assert.equal(c.livenessProbe.httpGet.path, '/healthz');
  assert.deepEqual(c.resources, { requests: { cpu: '500m', memory: '512Mi' }, limits: { cpu: '2', memory: '2Gi' } });
  assert.equal(pod.serviceAccountName, 'istiod');
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.ok(pod.securityContext.runAsUser > 0);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
  // the only writable paths are volumes; the webhook's serving files go to os.tmpdir() = /tmp
  assert.ok(c.volumeMounts.some((m: any) => m.mountPath === '/tmp' && pod.volumes.find((v: any) => v.name === m.name)?.emptyDir));
  const stateDir = c.args.find((a: string) => a.startsWith('--stateDir='))?.slice('--stateDir='.length);
  assert.ok(stateDir?.startsWith('/tmp/'), `--stateDir ${stateDir} must be under the /tmp emptyDir`);
  assert.equal(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey, 'kubernetes.io/hostname');
  assert.deepEqual(pod.topologySpreadConstraints.map((t: any) => t.topologyKey).sort(), ['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
  assert.deepEqual(d.spec.selector.matchLabels, { app: 'istiod', istio: 'pilot' });
  // the grace period outlasts the bounded graceful shutdown
  const shutdown = c.env.find((e: any) => e.name === 'ISTIOD_SHUTDOWN_TIMEOUT').value;
  assert.ok(pod.terminationGracePeriodSeconds * 1000 > KNOBS.shutdownTimeout.parse(shutdown, 'ISTIOD_SHUTDOWN_TIMEOUT'));
  assert.equal(d.spec.replicas, undefined, 'the HPA owns the replica count in production');
  assert.equal(deploymentOf(render('overlays/single-replica')).spec.replicas, 1);
  assert.equal(findObject(render('overlays/single-replica'), 'PodDisruptionBudget'), undefined, 'a PDB over one pod would block drains');
});

test('the Deployment sets every env knob, with Istio\'s defaults unless the deployment needs otherwise', () => {
  const c = containerOf(production());
  const env = new Map<string, any>(c.env.map((e: any) => [e.name, e]));
  const knobs = [...Object.values(KNOBS), ...Object.values(CA_KNOBS), ...Object.values(KUBE_KNOBS)];
  /** deliberate, documented differences from the code's defaults */
  const overrides: Record<string, string> = {
    ROOT_CA_DIR: '/etc/cacerts', // Istio's mount path of the optional `cacerts` Secret
  };
  const downward: Record<string, string> = { POD_NAME: 'metadata.name', POD_NAMESPACE: 'metadata.namespace' };
  for (const k of knobs) {
    const e = env.get(k.name);
    assert.ok(e, `env ${k.name} missing from the Deployment`);
    if (downward[k.name]) { assert.equal(e.valueFrom?.fieldRef?.fieldPath, downward[k.name], k.name); continue; }
    assert.equal(e.value, overrides[k.name] ?? k.default, k.name);
  }
  const known = new Set([...knobs.map((k) => k.name), 'NODE_OPTIONS']);
  assert.deepEqual([...env.keys()].filter((n) => !known.has(n)), [], 'env the code does not read');
  // the args and env load: the same validation a pod start runs
  const podEnv: Record<string, string> = { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' };
  for (const [n, e] of env) podEnv[n] = e.value ?? (n === 'POD_NAMESPACE' ? NS : 'istiod-abc');
  const cfg = loadConfig(c.args.slice(1), podEnv);
  assert.equal(c.args[0], 'discovery');
  assert.equal(cfg.kube.enabled, true, 'in-cluster Kubernetes mode');
  assert.equal(cfg.kube.kubeconfig, '', 'in-cluster credentials');
  assert.equal(cfg.configDir, '');
  assert.equal(cfg.keepalive.maxConnectionAgeMs, 30 * 60_000, 'connections age out (30m, Istio\'s chart) so new replicas get their share');
  assert.deepEqual([cfg.grpcAddr?.port, cfg.secureGrpcAddr?.port, cfg.monitoringAddr?.port, cfg.httpAddr?.port, cfg.httpsAddr?.port], [15010, 15012, 15014, 8080, 15017]);
});

test('Service istiod: Istio\'s port names; webhook 443 → the HTTPS port; the webhook configuration starts Ignore', () => {
  const objs = production();
  const svc = findObject(objs, 'Service', 'istiod')!;
  const ports = Object.fromEntries(svc.spec.ports.map((p: any) => [p.name, [p.port, p.targetPort]]));
  assert.deepEqual(ports, { 'grpc-xds': [15010, 15010], 'https-dns': [15012, 15012], 'https-webhook': [443, 15017], 'http-monitoring': [15014, 15014] });
  assert.deepEqual(svc.spec.selector, { app: 'istiod', istio: 'pilot' });
  for (const [k, v] of Object.entries(svc.spec.selector)) assert.equal(deploymentOf(objs).spec.template.metadata.labels[k], v, `the Service selects the pods: ${k}`);
  const vwc = findObject(objs, 'ValidatingWebhookConfiguration')!;
  assert.equal(vwc.metadata.name, `istio-validator-${NS}`, 'VALIDATION_WEBHOOK_CONFIG_NAME default: the name the leader patches');
  for (const w of vwc.webhooks) {
    assert.equal(w.failurePolicy, 'Ignore', 'Fail only once the leader has proven the webhook works');
    assert.equal(w.clientConfig.caBundle, undefined);
    assert.deepEqual(w.clientConfig.service, { name: 'istiod', namespace: NS, path: '/validate', port: 443 });
    assert.deepEqual(w.admissionReviewVersions, ['v1']);
    assert.equal(w.sideEffects, 'None');
  }
});

test('HPA 2–5 on CPU 70% / memory 80%; PDB keeps one replica serving', () => {
  const objs = production();
  const hpa = findObject(objs, 'HorizontalPodAutoscaler', 'istiod')!;
  assert.equal(hpa.spec.minReplicas, 2);
  assert.equal(hpa.spec.maxReplicas, 5);
  assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'istiod' });
  const targets = Object.fromEntries(hpa.spec.metrics.map((m: any) => [m.resource.name, m.resource.target.averageUtilization]));
  assert.deepEqual(targets, { cpu: 70, memory: 80 });
  const pdb = findObject(objs, 'PodDisruptionBudget', 'istiod')!;
  assert.equal(pdb.spec.maxUnavailable, 1);
  assert.deepEqual(pdb.spec.selector.matchLabels, deploymentOf(objs).spec.selector.matchLabels);
  const vpa = findObject(render('overlays/production-vpa'), 'VerticalPodAutoscaler', 'istiod')!;
  assert.equal(vpa.spec.updatePolicy.updateMode, 'Off', 'recommendations only: the HPA scales on the same signals');
});

test('the mesh ConfigMap holds valid mesh config pointing at this Service', () => {
  const cm = findObject(production(), 'ConfigMap', KUBE_KNOBS.meshConfigMap.default)!;
  const raw = YAML.parse(cm.data.mesh);
  assert.equal(typeof raw, 'object');
  const mesh = meshSettingsFrom(raw);
  assert.equal(mesh.rootNamespace, NS);
  assert.equal((mesh.raw as any).defaultConfig.discoveryAddress, `istiod.${NS}.svc:15012`);
});

test('RBAC: informer rules are exactly the kinds the Kubernetes source watches; names match the knobs\' defaults', () => {
  const objs = production();
  const cr = findObject(objs, 'ClusterRole', `istiod-clusterrole-${NS}`)!;
  const role = findObject(objs, 'Role', 'istiod')!;
  const watched = new Set<string>();
  for (const r of cr.rules) {
    if (r.resourceNames || !(r.verbs.includes('list') && r.verbs.includes('watch'))) continue;
    for (const g of r.apiGroups) for (const res of r.resources) watched.add(`${g}/${res}`);
  }
  const expected = new Set([...CORE_KINDS, ...ISTIO_KINDS].map((k) => `${k.group}/${k.plural}`));
  assert.deepEqual([...watched].sort(), [...expected].sort());
  const names = (rules: any[], res: string) => rules.filter((r) => r.resources.includes(res) && r.resourceNames).flatMap((r) => r.resourceNames);
  assert.deepEqual(names(cr.rules, 'configmaps'), [KUBE_KNOBS.caCertConfigMap.default]);
  assert.deepEqual(names(cr.rules, 'validatingwebhookconfigurations'), [`istio-validator-${NS}`]);
  assert.deepEqual(names(role.rules, 'configmaps'), [KUBE_KNOBS.meshConfigMap.default]);
  assert.deepEqual(names(role.rules, 'leases'), [KUBE_KNOBS.leaseName.default]);
  assert.deepEqual(names(role.rules, 'secrets'), ['istio-ca-secret']);
  for (const b of [findObject(objs, 'ClusterRoleBinding')!, findObject(objs, 'RoleBinding')!]) {
    assert.deepEqual(b.subjects, [{ kind: 'ServiceAccount', name: 'istiod', namespace: NS }]);
  }
});
