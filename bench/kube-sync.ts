/**
 * Kubernetes mode against the API test server on loopback: how long istiod-ts takes from start to
 * Ready (every initial list in the store, first snapshot published) for meshes of N services (each
 * a Service, an EndpointSlice with 3 endpoints, 3 Pods, and a VirtualService), and how long an
 * EndpointSlice update takes to reach the model. Prints a table; asserts nothing.
 *
 *   node dist/bench/kube-sync.js [--services 100,1000,3000]
 */
import { performance } from 'node:perf_hooks';
import { startKubeTestServer } from '../test/helpers/kube-apiserver';
import { startKubeDiscovery } from '../test/helpers/kube-mesh';
import { optionList, table } from './common';

async function one(services: number): Promise<Array<string | number>> {
  const server = await startKubeTestServer({ historyLimit: 100_000 });
  const namespaces = Math.max(1, Math.ceil(services / 100));
  for (let n = 0; n < namespaces; n++) server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${n}` } });
  server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } });
  for (let i = 0; i < services; i++) {
    const ns = `ns-${i % namespaces}`;
    const name = `svc-${i}`;
    server.create({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { clusterIP: `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, selector: { app: name }, ports: [{ name: 'http', port: 8080 }] } });
    const ips = [0, 1, 2].map((k) => `10.${200 + k}.${(i >> 8) & 255}.${i & 255}`);
    for (let k = 0; k < 3; k++) {
      server.create({ apiVersion: 'v1', kind: 'Pod', metadata: { name: `${name}-${k}`, namespace: ns, labels: { app: name } }, spec: { nodeName: 'node-a', serviceAccountName: name, containers: [{ name: 'app', image: 'app' }] }, status: { podIP: ips[k], phase: 'Running' } });
    }
    server.create({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `${name}-1`, namespace: ns, labels: { 'kubernetes.io/service-name': name } }, addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }], endpoints: ips.map((ip, k) => ({ addresses: [ip], conditions: { ready: true }, targetRef: { kind: 'Pod', name: `${name}-${k}`, namespace: ns } })) });
    server.create({ apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name, namespace: ns }, spec: { hosts: [name], http: [{ timeout: '5s', route: [{ destination: { host: name } }] }] } });
  }
  const objects = namespaces + 1 + services * 6;
  const t0 = performance.now();
  const d = await startKubeDiscovery(server.kubeconfigPath, { flags: ['--secureGRPCAddr', '', '--httpsAddr', ''] });
  const readyMs = performance.now() - t0;
  const rss = process.memoryUsage().rss / 1048576;
  // one endpoint update → the model
  const latencies: number[] = [];
  for (let r = 0; r < 20; r++) {
    const i = (r * 7919) % services;
    const slice = server.get('discovery.k8s.io/v1', 'EndpointSlice', `ns-${i % namespaces}`, `svc-${i}-1`)! as any;
    const ip = `10.250.${r}.${i & 255}`;
    const ts = performance.now();
    server.update({ ...slice, endpoints: [...slice.endpoints.slice(0, 2), { addresses: [ip], conditions: { ready: true } }] });
    for (;;) {
      const s = d.discovery.store.get(`discovery.k8s.io/EndpointSlice/ns-${i % namespaces}/svc-${i}-1`) as any;
      if (s?.endpoints?.some((e: any) => e.addresses[0] === ip)) break;
      await new Promise((res) => setImmediate(res));
    }
    latencies.push(performance.now() - ts);
  }
  latencies.sort((a, b) => a - b);
  await d.close();
  await server.close();
  return [services, objects, readyMs.toFixed(0), latencies[Math.floor(latencies.length / 2)]!.toFixed(1), latencies[latencies.length - 1]!.toFixed(1), rss.toFixed(0)];
}

async function main(): Promise<void> {
  const rows: Array<Array<string | number>> = [];
  for (const n of optionList('services', [100, 1000, 3000])) rows.push(await one(n));
  console.log(table(['services', 'API objects', 'start → Ready ms', 'slice update → store P50 ms', 'max ms', 'RSS MB (bench + istiod + API server)'], rows));
}

void main().catch((e) => { console.error(e); process.exit(1); });
