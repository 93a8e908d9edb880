/**
 * deploy/components/monitoring as the production overlay renders it: the ServiceMonitor and
 * PrometheusRule against the Prometheus Operator's schemas, the ServiceMonitor against the
 * rendered Service, every alert and dashboard query parsed by Prometheus's own PromQL grammar
 * (@prometheus-io/lezer-promql), and every metric name they use checked against what a real
 * istiod-ts exports: istiod runs in Kubernetes mode against the API test server (so the k8s event
 * counters, the leader gauge, the CA and the webhook exist), a proxy connects over ADS and NACKs
 * once, config changes, a workload gets a certificate and the webhook answers a valid, an invalid
 * and a malformed review; then /metrics must carry a sample of every family the rules and the
 * dashboard read.
 */
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { DEPLOY_DIR, K8sObject, REPO_ROOT, findObject, render } from '../helpers/kustomize';
import { KubeTestServer, startKubeTestServer } from '../helpers/kube-apiserver';
import { KubeDiscovery, parseObjects, startKubeDiscovery } from '../helpers/kube-mesh';
import { exampleMeshFiles } from '../helpers/mesh-fixtures';
import { AdsClient, SotwStream, testNode } from '../helpers/ads-client';
import { createCertificate, makeCsr, tlsChannel } from '../helpers/ca-client';
import { PromFamily, httpGet, parsePrometheus } from '../helpers/ops';
import { waitFor } from '../helpers/wait-for';
import { webhookRequest } from '../helpers/webhook-client';
import { CLUSTER_TYPE_URL, LISTENER_TYPE_URL } from '../../src/shared/resources';

const NS = 'istio-system';
const OVERLAY = 'overlays/production';
const DASHBOARD_FILE = path.join(DEPLOY_DIR, 'components', 'monitoring', 'dashboards', 'istiod-ts.json');

/**
 * Series Prometheus itself creates for every target: not istiod's to export. (ALERTS and
 * ALERTS_FOR_STATE would belong here too; no rule or panel reads them.)
 */
const PROMETHEUS_OWN = new Set(['up']);

/** Grafana's built-in variables, replaced as Grafana would before the query reaches Prometheus. */
function substituteGrafana(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__interval', '30s')
    .replaceAll('$__range', '1h');
}

interface Parsed { errors: string[]; metrics: string[]; withoutJob: string[] }

/** Parses with Prometheus's grammar; metric names come from VectorSelectors (identifier or __name__ matcher). */
function parsePromQL(expr: string): Parsed {
  const tree = parser.parse(expr);
  const errors: string[] = [];
  const metrics = new Set<string>();
  const withoutJob: string[] = [];
  tree.iterate({
    enter: (n) => {
      if (n.type.isError) errors.push(`at ${n.from}: '${expr.slice(Math.max(0, n.from - 10), n.to + 10)}'`);
      if (n.name === 'VectorSelector') {
        const ident = n.node.getChild('Identifier');
        if (ident) metrics.add(expr.slice(ident.from, ident.to));
        if (!/\bjob="istiod"/.test(expr.slice(n.from, n.to))) withoutJob.push(expr.slice(n.from, n.to));
      }
      if (n.name === 'UnquotedLabelMatcher') {
        const label = n.node.getChild('LabelName');
        const value = n.node.getChild('StringLiteral');
        if (label && value && expr.slice(label.from, label.to) === '__name__') metrics.add(JSON.parse(expr.slice(value.from, value.to)));
      }
    },
  });
  return { errors, metrics: [...metrics], withoutJob };
}

/** The family a sample name belongs to, and whether /metrics has that very series (histogram suffixes included). */
function exported(families: Map<string, PromFamily>, metric: string): boolean {
  const f = families.get(metric);
  if (f) return f.samples.length > 0 && (f.type !== 'histogram' && f.type !== 'summary');
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!metric.endsWith(suffix)) continue;
    const base = families.get(metric.slice(0, -suffix.length));
    if (base && (base.type === 'histogram' || (base.type === 'summary' && suffix !== '_bucket'))) return base.samples.some((s) => s.name === metric);
  }
  return false;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes. */
function anchorsOf(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const line of markdown.split('\n')) {
    const m = /^#{1,6}\s+(.*?)\s*$/.exec(line);
    if (m) out.add(m[1]!.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-'));
    for (const a of line.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) out.add(a[1]!);
  }
  return out;
}

/** `0.8 * 2 * 2^30`: products of numbers and powers, as written in the thresholds. */
function product(text: string): number {
  return text.split('*').map((f) => f.trim()).reduce((acc, f) => {
    const [b, e] = f.split('^');
    return acc * (e === undefined ? Number(b) : Number(b) ** Number(e));
  }, 1);
}

const QUANTITY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 };
const bytesOf = (q: string): number => { const m = /^(\d+)(Ki|Mi|Gi)$/.exec(q); assert.ok(m, `quantity ${q}`); return Number(m[1]) * QUANTITY[m[2]!]!; };

const TEMPLATE_ACTION = /^\{\{ \$(labels(\.[a-zA-Z_]\w*)?|value)( \| (humanize|humanize1024|humanizeDuration|humanizePercentage))? \}\}$/;

interface Rule { alert: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }

let objs: K8sObject[];
let rules: Rule[];
let dashboard: any;

const dashboardPanels = (): any[] => (dashboard.panels as any[]).flatMap((p) => [p, ...(p.panels ?? [])]);
const dashboardExprs = (): Array<{ panel: string; expr: string }> =>
  dashboardPanels().flatMap((p) => (p.targets ?? []).map((t: any) => ({ panel: p.title, expr: substituteGrafana(String(t.expr ?? '')) })));
const ruleExprs = (): Array<{ alert: string; expr: string }> => rules.map((r) => ({ alert: r.alert, expr: r.expr }));

before(() => {
  objs = render(OVERLAY);
  const rule = findObject(objs, 'PrometheusRule', 'istiod');
  assert.ok(rule, `${OVERLAY} renders PrometheusRule istiod`);
  rules = rule.spec.groups.flatMap((g: any) => g.rules);
  const cm = findObject(objs, 'ConfigMap', 'istiod-ts-dashboard');
  assert.ok(cm, `${OVERLAY} renders the dashboard ConfigMap under its exact name (no hash suffix)`);
  dashboard = JSON.parse(cm.data['istiod-ts.json']);
});

describe('monitoring component: manifests', () => {
  it('ServiceMonitor and PrometheusRule validate against the Prometheus Operator schemas', () => {
    new ServiceMonitor(structuredClone(findObject(objs, 'ServiceMonitor', 'istiod')) as any).validate();
    new PrometheusRule(structuredClone(findObject(objs, 'PrometheusRule', 'istiod')) as any).validate();
  });

  it('the ServiceMonitor selects the istiod Service and its monitoring port, where istiod serves /metrics', () => {
    const sm = findObject(objs, 'ServiceMonitor', 'istiod')!;
    const svc = findObject(objs, 'Service', 'istiod')!;
    assert.equal(sm.metadata.namespace, NS);
    assert.equal(svc.metadata.namespace, sm.metadata.namespace, 'no namespaceSelector: the Service must be in the ServiceMonitor\'s namespace');
    assert.equal(sm.spec.namespaceSelector, undefined);
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels as Record<string, string>)) assert.equal(svc.metadata.labels?.[k], v, `Service label ${k}`);
    assert.equal(sm.spec.endpoints.length, 1);
    const ep = sm.spec.endpoints[0];
    assert.equal(ep.path, '/metrics');
    assert.equal(ep.interval, '15s');
    const port = svc.spec.ports.find((p: any) => p.name === ep.port);
    assert.ok(port, `Service istiod has a port named ${ep.port}`);
    // the container listens there: --monitoringAddr's default port
    const deploy = findObject(objs, 'Deployment', 'istiod')!;
    const container = deploy.spec.template.spec.containers.find((c: any) => c.name === 'discovery');
    const target = typeof port.targetPort === 'number' ? port.targetPort : container.ports.find((p: any) => p.name === port.targetPort)?.containerPort;
    assert.equal(target, 15014);
    // Prometheus Operator names the job after the Service unless jobLabel says otherwise: the rules select job="istiod"
    assert.equal(sm.spec.jobLabel, undefined);
    assert.equal(svc.metadata.name, 'istiod');
    assert.ok(rules.some((r) => r.expr.includes('up{job="istiod"}')));
  });

  it('every alert has a severity, summary, description with its labels and a runbook in the troubleshooting guide', () => {
    assert.ok(rules.length >= 10, `${rules.length} alerts`);
    const names = rules.map((r) => r.alert);
    assert.deepEqual(names.filter((n, i) => names.indexOf(n) !== i), [], 'alert names are unique');
    for (const expected of ['IstiodDown', 'IstiodHighMemoryUsage', 'ConfigPushLatencyHigh']) assert.ok(names.includes(expected), expected);
    for (const r of rules) {
      assert.ok(r.alert && r.expr, JSON.stringify(r));
      assert.match(r.labels?.severity ?? '', /^(critical|warning|info)$/, `${r.alert} severity`);
      assert.ok(r.annotations?.summary, `${r.alert} summary`);
      assert.match(r.annotations?.description ?? '', /\{\{ \$labels/, `${r.alert} description shows {{ $labels }}`);
      assert.match(r.annotations?.runbook_url ?? '', /^docs\/troubleshooting\.md#[a-z0-9-]+$/, `${r.alert} runbook_url`);
      assert.match(r.for ?? '', /^\d+[smh]$/, `${r.alert} has a for: duration`);
      // Prometheus renders annotations as Go templates: only $labels / $value and its humanize functions, braces balanced
      for (const [k, text] of Object.entries(r.annotations!)) {
        const actions = text.match(/\{\{.*?\}\}/g) ?? [];
        assert.equal(text.split('{{').length - 1, actions.length, `${r.alert} ${k}: unbalanced {{`);
        assert.equal(text.split('}}').length - 1, actions.length, `${r.alert} ${k}: unbalanced }}`);
        for (const a of actions) assert.match(a, TEMPLATE_ACTION, `${r.alert} ${k}: ${a}`);
      }
    }
  });

  it('runbook anchors exist in docs/troubleshooting.md', { skip: fs.existsSync(path.join(REPO_ROOT, 'docs', 'troubleshooting.md')) ? false : 'docs/troubleshooting.md not written yet' }, () => {
    const anchors = anchorsOf(fs.readFileSync(path.join(REPO_ROOT, 'docs', 'troubleshooting.md'), 'utf8'));
    const missing = [...new Set(rules.map((r) => r.annotations!.runbook_url!.split('#')[1]!))].filter((a) => !anchors.has(a));
    assert.deepEqual(missing, []);
  });

  it('memory thresholds follow the Deployment\'s limit and V8 heap size', () => {
    const container = findObject(objs, 'Deployment', 'istiod')!.spec.template.spec.containers.find((c: any) => c.name === 'discovery');
    const limit = bytesOf(container.resources.limits.memory);
    const rss = rules.find((r) => r.alert === 'IstiodHighMemoryUsage')!;
    assert.match(rss.expr, /process_resident_memory_bytes/);
    assert.equal(product(/>\s*([^>]+)$/.exec(rss.expr.trim())![1]!), 0.8 * limit, 'RSS alert at 80% of the container limit');
    const oldSpace = /--max-old-space-size=(\d+)/.exec(container.env.find((e: any) => e.name === 'NODE_OPTIONS')?.value ?? '');
    assert.ok(oldSpace, 'NODE_OPTIONS sets --max-old-space-size');
    const heap = rules.find((r) => r.alert === 'IstiodHeapNearLimit')!;
    assert.equal(product(/>\s*([^>]+)$/.exec(heap.expr.trim())![1]!), 0.9 * Number(oldSpace[1]) * 2 ** 20, 'heap alert at 90% of the old space');
  });

  it('the dashboard: Grafana 39 schema, a Prometheus datasource variable, unique ids, every panel queried and placed without overlap', () => {
    assert.equal(dashboard.schemaVersion, 39);
    const cm = findObject(objs, 'ConfigMap', 'istiod-ts-dashboard')!;
    assert.equal(cm.metadata.labels?.['grafana_dashboard'], '1', 'the Grafana sidecar label');
    assert.equal(cm.data['istiod-ts.json'], fs.readFileSync(DASHBOARD_FILE, 'utf8'));
    const ds = dashboard.templating.list.find((v: any) => v.name === 'datasource');
    assert.equal(ds?.type, 'datasource');
    assert.equal(ds?.query, 'prometheus');
    const panels = dashboardPanels();
    const ids = panels.map((p) => p.id);
    assert.ok(ids.every((id) => Number.isInteger(id)));
    assert.deepEqual(ids.filter((id, i) => ids.indexOf(id) !== i), [], 'panel ids are unique');
    const rects: Array<{ title: string; x: number; y: number; w: number; h: number }> = [];
    for (const p of panels) {
      const g = p.gridPos;
      assert.ok(g && g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.h > 0, `${p.title} gridPos`);
      for (const r of rects) assert.ok(g.x >= r.x + r.w || r.x >= g.x + g.w || g.y >= r.y + r.h || r.y >= g.y + g.h, `${p.title} overlaps ${r.title}`);
      rects.push({ title: p.title, ...g });
      if (p.type === 'row') continue; // a row is a heading: it has no queries of its own
      assert.ok(p.targets?.length > 0, `${p.title} has a target`);
      assert.equal(p.datasource?.uid, '${datasource}', `${p.title} uses the datasource variable`);
      const refIds = p.targets.map((t: any) => t.refId);
      assert.equal(new Set(refIds).size, refIds.length, `${p.title} refIds`);
      for (const t of p.targets) assert.ok(String(t.expr ?? '').trim(), `${p.title} target ${t.refId} has an expr`);
    }
  });

  it('every alert and dashboard expression parses with Prometheus\'s PromQL grammar', () => {
    const all = [...ruleExprs().map((e) => ({ where: `alert ${e.alert}`, expr: e.expr })), ...dashboardExprs().map((e) => ({ where: `panel ${e.panel}`, expr: e.expr }))];
    assert.ok(all.length > 60, `${all.length} expressions`);
    for (const { where, expr } of all) {
      assert.ok(!expr.includes('$'), `${where}: a Grafana variable left unsubstituted: ${expr}`);
      const p = parsePromQL(expr);
      assert.deepEqual(p.errors, [], `${where}: ${expr}`);
      assert.ok(p.metrics.length > 0, `${where} reads a metric`);
      // process_* and nodejs_* are every Node.js app's: each selector names istiod's job
      assert.deepEqual(p.withoutJob, [], `${where}: selectors without job="istiod"`);
    }
  });

  it('the PromQL check itself rejects broken expressions and finds metric names', () => {
    assert.notDeepEqual(parsePromQL('sum(rate(pilot_xds_pushes[5m])').errors, []);
    assert.notDeepEqual(parsePromQL('rate(pilot_xds_pushes[$__rate_interval])').errors, []);
    assert.notDeepEqual(parsePromQL('pilot_xds pilot_services').errors, []);
    assert.deepEqual(parsePromQL('rate(process_cpu_seconds_total[5m]) / pilot_xds{job="istiod"}').withoutJob, ['process_cpu_seconds_total']);
    assert.deepEqual(parsePromQL('histogram_quantile(0.99, sum by (le) (rate(a_bucket{x="1"}[5m]))) / on() b + {__name__="c"}').metrics.sort(), ['a_bucket', 'b', 'c']);
  });
});

/** POST to the webhook over HTTPS (our CA's certificate for istiod.<ns>.svc); resolves to the status. */
const postWebhook = async (port: number, ca: string, body: string): Promise<number> => (await webhookRequest(port, ca, '/validate', body)).status;

const review = (spec: Record<string, unknown>) => JSON.stringify({
  apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: {
    uid: 'mon-1', kind: { group: 'networking.istio.io', version: 'v1', kind: 'VirtualService' }, resource: { group: 'networking.istio.io', version: 'v1', resource: 'virtualservices' },
    operation: 'CREATE', object: { apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'mon', namespace: 'bookinfo' }, spec },
  },
});

describe('monitoring component: every metric the alerts and the dashboard read is exported by istiod-ts', () => {
  let server: KubeTestServer;
  let istiod: KubeDiscovery;
  let ads: SotwStream | undefined;
  let pump: Promise<void> | undefined;
  let nacks = 0;

  before(async () => {
    server = await startKubeTestServer();
    for (const o of parseObjects(...Object.values(exampleMeshFiles()))) if (!server.get(o.apiVersion, o.kind, o.metadata.namespace, o.metadata.name)) server.create(o);
    if (!server.get('v1', 'Namespace', undefined, NS)) server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    istiod = await startKubeDiscovery(server.kubeconfigPath, {
      env: { POD_NAMESPACE: NS, ISTIOD_LEADER_ELECTION_LEASE_DURATION: '2s' },
      flags: ['--monitoringAddr', '127.0.0.1:0'],
      start: { kubeBackoff: { initialMs: 50, maxMs: 500 } },
    });
  });

  after(async () => {
    ads?.close();
    await pump;
    await istiod?.close();
    await server?.close();
  });

  it('a proxy, config changes, a CSR and webhook reviews make every family appear on /metrics', async () => {
    const d = istiod.discovery;
    await waitFor(() => d.leaderDuties?.isLeader, 15_000, 'leadership');

    // a sidecar over ADS: ACKs everything except the first LDS, which it NACKs (pilot_total_xds_rejects)
    ads = AdsClient.sotw(istiod.grpcTarget);
    const stream = ads;
    stream.send({ type_url: CLUSTER_TYPE_URL, node: testNode({ namespace: 'bookinfo', ip: '10.9.0.7' }) });
    stream.send({ type_url: LISTENER_TYPE_URL });
    pump = (async () => {
      for (;;) {
        let r;
        try { r = await stream.next(120_000); } catch { return; }
        if (r.type_url === LISTENER_TYPE_URL && nacks === 0) {
          nacks++;
          stream.send({ type_url: r.type_url, response_nonce: r.nonce, error_detail: { code: 3, message: 'monitoring test NACK' } });
        } else {
          stream.send({ type_url: r.type_url, version_info: r.version_info, response_nonce: r.nonce });
        }
      }
    })();
    await waitFor(() => nacks > 0, 10_000, 'the LDS NACK');

    // config and registry changes after the proxy connected: a push reaches it (triggers, queue, convergence)
    const pushed = d.pushed();
    server.create({ apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'mon-reviews', namespace: 'bookinfo' }, spec: { host: 'reviews.bookinfo.svc.cluster.local', trafficPolicy: { connectionPool: { tcp: { maxConnections: 7 } } } } });
    server.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'mon-svc', namespace: 'bookinfo' }, spec: { ports: [{ name: 'http', port: 8080 }], selector: { app: 'mon' } } });
    await pushed;

    // a workload certificate, authenticated with its Kubernetes token (TokenReview)
    const channel = tlsChannel(`127.0.0.1:${d.ports.secureGrpc}`, { rootPem: d.ca!.ca.bundle.rootBundlePem });
    try {
      const { csrPem } = await makeCsr('ec-p256');
      const r = await createCertificate(channel, { csr: csrPem, validity_duration: 3600 }, server.serviceAccountToken('bookinfo', 'reviews', ['istio-ca']));
      assert.equal(r.ok, true, JSON.stringify(r));
    } finally { channel.close(); }

    // the validation webhook: passed, failed, and an HTTP error (malformed body)
    const root = d.ca!.ca.bundle.rootBundlePem;
    assert.equal(await postWebhook(d.ports.https, root, review({ hosts: ['a'], http: [{ route: [{ destination: { host: 'a' } }] }] })), 200);
    assert.equal(await postWebhook(d.ports.https, root, review({ hosts: ['a'], bogus: 1 })), 200);
    assert.equal(await postWebhook(d.ports.https, root, '{not json'), 400);

    const used = new Map<string, string[]>();
    const note = (m: string, where: string) => used.set(m, [...(used.get(m) ?? []), where]);
    for (const e of ruleExprs()) for (const m of parsePromQL(e.expr).metrics) note(m, `alert ${e.alert}`);
    for (const e of dashboardExprs()) for (const m of parsePromQL(e.expr).metrics) note(m, `panel ${e.panel}`);
    assert.ok(used.size > 40, `${used.size} metric names`);

    const monitoring = `http://127.0.0.1:${d.ports.monitoring}/metrics`;
    let missing: string[] = [];
    // histograms observed at the end of a push and the GC histogram may land a moment later: re-scrape until complete
    await waitFor(async () => {
      const res = await httpGet(monitoring);
      assert.equal(res.status, 200);
      const families = parsePrometheus(res.body);
      missing = [...used.keys()].filter((m) => !PROMETHEUS_OWN.has(m) && !exported(families, m));
      return missing.length === 0;
    }, 20_000, 'every family on /metrics', 200).catch(() => undefined);
    assert.deepEqual(missing.map((m) => `${m} (${[...new Set(used.get(m))].join(', ')})`), [], 'used by alerts or the dashboard but not exported with a sample');
  });

  it('the check itself: a name istiod does not export, or a histogram without its suffix, is reported', async () => {
    const families = parsePrometheus((await httpGet(`http://127.0.0.1:${istiod.discovery.ports.monitoring}/metrics`)).body);
    assert.equal(exported(families, 'pilot_xds_pushes'), true);
    assert.equal(exported(families, 'pilot_proxy_convergence_time_bucket'), true);
    assert.equal(exported(families, 'pilot_proxy_convergence_time'), false, 'a histogram is read through _bucket/_sum/_count');
    assert.equal(exported(families, 'pilot_xds_pushes_bucket'), false);
    assert.equal(exported(families, 'pilot_xds_push_errors'), false);
    assert.equal(exported(families, 'up'), false, 'up is Prometheus\'s, hence the allowlist');
  });
});
