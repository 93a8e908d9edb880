#!/usr/bin/env node
/**
 * Sends the same requests to the local Kubernetes API test server (test/helpers/kube-apiserver.ts)
 * and to the real API server of run.sh, and prints where the answers differ. Each probe reduces
 * an answer to the facts that matter (status code, reason, a few fields), so the output is a
 * short table, not a diff of whole bodies.
 *
 *   npx tsc -p . && eval "$(scripts/kube-apiserver/run.sh start /tmp/peer.kubeconfig)"
 *   node scripts/kube-apiserver/fidelity-probe.js      # uses KUBECONFIG for the real server
 */
'use strict';
const path = require('node:path');
const dist = path.join(__dirname, '..', '..', 'dist');
const { KubeClient, loadKubeConfig } = require(path.join(dist, 'src/main/kube/client'));
const { startKubeTestServer } = require(path.join(dist, 'test/helpers/kube-apiserver'));

const NS = `probe-${Date.now().toString(36)}`;

async function call(c, method, p, body, type) {
  try {
    return { code: 200, body: await c.request(method, p, body, type) };
  } catch (e) {
    return { code: e.statusCode, reason: e.reason, message: (e.body && e.body.message) || e.message };
  }
}

/** Reads a watch stream for `ms` and returns its event lines (parsed). */
async function watchLines(c, p, ms) {
  const init = await c.kc.applyToFetchOptions({});
  const headers = {};
  init.headers.forEach((v, k) => { headers[k] = v; });
  const fetch = require('node-fetch');
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), ms);
  const out = [];
  try {
    const res = await fetch(c.server + p, { ...init, headers, signal: ctl.signal });
    out.push({ status: res.status });
    let buf = '';
    for await (const chunk of res.body) {
      buf += chunk.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (line) out.push(JSON.parse(line));
      }
    }
  } catch (e) {
    if (e.name !== 'AbortError') out.push({ error: e.message });
  } finally {
    clearTimeout(timer);
  }
  return out;
}

const short = (r) => (r.code === 200 ? '200' : `${r.code} ${r.reason || ''}`.trim());

const PROBES = [
  ['no credentials: GET /api/v1/namespaces', async (c, anon) => short(await call(anon, 'GET', '/api/v1/namespaces'))],
  ['default/kubernetes Service exists', async (c) => short(await call(c, 'GET', '/api/v1/namespaces/default/services/kubernetes'))],
  ['built-in list items carry kind/apiVersion', async (c) => {
    const r = await call(c, 'GET', `/api/v1/namespaces/${NS}/services`);
    const i = r.body.items[0];
    return `list.kind=${r.body.kind} item.kind=${i.kind} item.apiVersion=${i.apiVersion}`;
  }],
  ['CR list items carry kind/apiVersion (v1beta1 read of a v1 object)', async (c) => {
    const r = await call(c, 'GET', `/apis/networking.istio.io/v1beta1/namespaces/${NS}/gateways`);
    const i = r.body.items[0];
    return `list.kind=${r.body.kind} item.kind=${i.kind} item.apiVersion=${i.apiVersion}`;
  }],
  ['list resourceVersion=0&limit=1 (2 services)', async (c) => {
    const r = await call(c, 'GET', `/api/v1/namespaces/${NS}/services?resourceVersion=0&limit=1`);
    return `items=${r.body.items.length} continue=${!!r.body.metadata.continue}`;
  }],
  ['list limit=1 (2 services)', async (c) => {
    const r = await call(c, 'GET', `/api/v1/namespaces/${NS}/services?limit=1`);
    return `items=${r.body.items.length} continue=${!!r.body.metadata.continue} remaining=${r.body.metadata.remainingItemCount}`;
  }],
  ['fieldSelector spec.type=ClusterIP on services', async (c) => short(await call(c, 'GET', `/api/v1/namespaces/${NS}/services?fieldSelector=spec.type%3DClusterIP`))],
  ['fieldSelector spec.nodeName=node-a on pods', async (c) => short(await call(c, 'GET', `/api/v1/namespaces/${NS}/pods?fieldSelector=spec.nodeName%3Dnode-a`))],
  ['fieldSelector status.phase=Running on pods', async (c) => short(await call(c, 'GET', `/api/v1/namespaces/${NS}/pods?fieldSelector=status.phase%3DRunning`))],
  ['fieldSelector spec.host on destinationrules', async (c) => short(await call(c, 'GET', `/apis/networking.istio.io/v1/namespaces/${NS}/destinationrules?fieldSelector=spec.host%3Dx`))],
  ['PUT ConfigMap without resourceVersion', async (c) => short(await call(c, 'PUT', `/api/v1/namespaces/${NS}/configmaps/cm`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' }, data: { a: '2' } }))],
  ['PUT Lease without resourceVersion', async (c) => short(await call(c, 'PUT', `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/l`, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l' }, spec: { holderIdentity: 'b' } }))],
  ['PUT Gateway (CR) without resourceVersion', async (c) => short(await call(c, 'PUT', `/apis/networking.istio.io/v1/namespaces/${NS}/gateways/g`, { apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'g' }, spec: { selector: { a: 'b' } } }))],
  ['PUT ValidatingWebhookConfiguration without resourceVersion', async (c) => short(await call(c, 'PUT', `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${NS}`, { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: NS, labels: { x: 'y' } }, webhooks: [] }))],
  ['POST with dryRun=All (ConfigMap) is not stored', async (c) => {
    const r = await call(c, 'POST', `/api/v1/namespaces/${NS}/configmaps?dryRun=All`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'dry' } });
    const g = await call(c, 'GET', `/api/v1/namespaces/${NS}/configmaps/dry`);
    return `post=${short(r)} get=${short(g)}`;
  }],
  ['DELETE ConfigMap answer', async (c) => {
    const r = await call(c, 'DELETE', `/api/v1/namespaces/${NS}/configmaps/cm`);
    return `${short(r)} kind=${r.body && r.body.kind} status=${r.body && r.body.status}`;
  }],
  ['DELETE Gateway (CR) answer', async (c) => {
    const r = await call(c, 'DELETE', `/apis/networking.istio.io/v1/namespaces/${NS}/gateways/g`);
    return `${short(r)} kind=${r.body && r.body.kind}`;
  }],
  ['DELETE Pod with spec.nodeName (no kubelet)', async (c) => {
    const r = await call(c, 'DELETE', `/api/v1/namespaces/${NS}/pods/p`);
    const g = await call(c, 'GET', `/api/v1/namespaces/${NS}/pods/p`);
    return `delete=${short(r)} kind=${r.body && r.body.kind} then GET=${short(g)} deletionTimestamp=${!!(g.body && g.body.metadata.deletionTimestamp)} grace=${g.body && g.body.metadata.deletionGracePeriodSeconds}`;
  }],
  ['DELETE Pod gracePeriodSeconds=0', async (c) => {
    const r = await call(c, 'DELETE', `/api/v1/namespaces/${NS}/pods/p`, { gracePeriodSeconds: 0 });
    const g = await call(c, 'GET', `/api/v1/namespaces/${NS}/pods/p`);
    return `delete=${short(r)} then GET=${short(g)}`;
  }],
  ['watch (no resourceVersion, allowWatchBookmarks) first 1.5 s', async (c) => {
    const ev = await watchLines(c, `/api/v1/namespaces/${NS}/services?watch=1&allowWatchBookmarks=true`, 1500);
    return ev.map((e) => e.status ? `HTTP ${e.status}` : e.type ? `${e.type}${e.object.metadata.annotations && e.object.metadata.annotations['k8s.io/initial-events-end'] ? '(initial-events-end)' : ''}` : JSON.stringify(e)).join(' ');
  }],
  ['watch sendInitialEvents=true&resourceVersionMatch=NotOlderThan', async (c) => {
    const ev = await watchLines(c, `/api/v1/namespaces/${NS}/services?watch=1&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan`, 1500);
    return ev.map((e) => e.status ? `HTTP ${e.status}` : e.type ? `${e.type}${e.object.metadata.annotations && e.object.metadata.annotations['k8s.io/initial-events-end'] ? '(initial-events-end)' : ''}` : e.error ? 'error' : '?').join(' ');
  }],
  ['POST Service: spec.clusterIP allocated', async (c) => {
    const r = await call(c, 'POST', `/api/v1/namespaces/${NS}/services`, { apiVersion: 'v1', kind: 'Service', metadata: { name: 's3' }, spec: { ports: [{ port: 80 }] } });
    return `${short(r)} clusterIP=${r.body && r.body.spec.clusterIP ? 'set' : 'none'} targetPort=${r.body && r.body.spec.ports[0].targetPort} protocol=${r.body && r.body.spec.ports[0].protocol}`;
  }],
  ['POST invalid Service (no ports)', async (c) => short(await call(c, 'POST', `/api/v1/namespaces/${NS}/services`, { apiVersion: 'v1', kind: 'Service', metadata: { name: 's4' }, spec: {} }))],
  ['POST into a missing namespace', async (c) => short(await call(c, 'POST', `/api/v1/namespaces/${NS}-none/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }))],
  ['GET an unknown resource', async (c) => short(await call(c, 'GET', '/apis/networking.istio.io/v1/namespaces/default/nothings'))],
];

async function setup(c) {
  const mk = (p, body) => call(c, 'POST', p, body);
  await mk('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  await mk(`/api/v1/namespaces/${NS}/services`, { apiVersion: 'v1', kind: 'Service', metadata: { name: 's1' }, spec: { ports: [{ port: 80 }] } });
  await mk(`/api/v1/namespaces/${NS}/services`, { apiVersion: 'v1', kind: 'Service', metadata: { name: 's2' }, spec: { ports: [{ port: 81 }] } });
  await mk(`/api/v1/namespaces/${NS}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' }, data: { a: '1' } });
  await mk(`/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l' }, spec: { holderIdentity: 'a' } });
  await mk(`/apis/networking.istio.io/v1/namespaces/${NS}/gateways`, { apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'g' }, spec: {} });
  await mk('/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations', { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: NS }, webhooks: [] });
  await mk(`/api/v1/namespaces/${NS}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' }, spec: { nodeName: 'node-a', containers: [{ name: 'app', image: 'app' }] } });
}

async function cleanup(c) {
  await call(c, 'DELETE', `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/${NS}`);
  await call(c, 'DELETE', `/api/v1/namespaces/${NS}/pods/p`, { gracePeriodSeconds: 0 });
  await call(c, 'DELETE', `/api/v1/namespaces/${NS}`);
}

function anonymousClient(c) {
  const k8s = require('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  const cluster = c.kc.getCurrentCluster();
  kc.loadFromOptions({ clusters: [cluster], users: [{ name: 'anon' }], contexts: [{ name: 'x', cluster: cluster.name, user: 'anon' }], currentContext: 'x' });
  return new KubeClient(kc);
}

async function runAll(c) {
  await setup(c);
  const anon = anonymousClient(c);
  const out = [];
  for (const [name, fn] of PROBES) {
    try { out.push(await fn(c, anon)); } catch (e) { out.push(`probe error: ${e.message}`); }
  }
  await cleanup(c);
  return out;
}

(async () => {
  const kubeconfig = process.env.KUBECONFIG;
  if (!kubeconfig) throw new Error('KUBECONFIG (of run.sh) is required');
  const real = new KubeClient(loadKubeConfig({ kubeconfig }));
  const server = await startKubeTestServer();
  try {
    const [mock, realOut] = [await runAll(server.client()), await runAll(real)];
    let differ = 0;
    PROBES.forEach(([name], i) => {
      const same = mock[i] === realOut[i];
      if (!same) differ++;
      console.log(`${same ? 'same  ' : 'DIFFER'} ${name}\n         real: ${realOut[i]}${same ? '' : `\n         mock: ${mock[i]}`}`);
    });
    console.log(`\n${PROBES.length - differ} same, ${differ} differ`);
  } finally {
    await server.close();
  }
})().catch((e) => { console.error(`fidelity-probe: ${e.stack || e.message}`); process.exitCode = 1; });
