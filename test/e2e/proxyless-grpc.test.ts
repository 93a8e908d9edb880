/**
 * Proxyless gRPC end to end: the real @grpc/grpc-js-xds client resolves `xds:///host:port` through
 * our ADS server and its RPCs reach real gRPC backends on loopback. Weighted routing, subsets and
 * live config edits are observed in backend hit counts.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as xds from '@grpc/grpc-js-xds';
import { startTestServer, TestServer } from '../helpers/server';
import { startGrpcBackend, callWho } from '../helpers/grpc-backend';
import { echoServiceEntryYaml, echoSplitYaml } from '../helpers/mesh-fixtures';
import { BOOTSTRAP_OPTION, grpcBootstrap } from '../helpers/xds-bootstrap';
import { waitFor } from '../helpers/wait-for';

xds.register();



function newClient(server: TestServer, target: string, pod: string): grpc.Client {
  return new grpc.Client(target, grpc.credentials.createInsecure(), {
    [BOOTSTRAP_OPTION]: grpcBootstrap(server.grpcTarget, { podName: pod, namespace: 'apps' }),
  } as grpc.ChannelOptions);
}

async function tally(client: grpc.Client, n: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const who = await callWho(client);
    counts.set(who, (counts.get(who) ?? 0) + 1);
  }
  return counts;
}

test('grpc-js-xds client: ServiceEntry backends, 80/20 split, live edit moves traffic', async (t) => {
  const v1 = await startGrpcBackend('v1');
  const v2 = await startGrpcBackend('v2');
  const server = await startTestServer({ files: { 'echo.yaml': echoServiceEntryYaml(v1, v2), 'echo-vs.yaml': echoSplitYaml(80, 20) } });
  const client = newClient(server, 'xds:///echo.apps.internal:7070', 'client-a');
  t.after(async () => { client.close(); await server.close(); await v1.close(); await v2.close(); });

  const counts = await tally(client, 400);
  const share1 = (counts.get('v1') ?? 0) / 400;
  assert.ok(share1 > 0.7 && share1 < 0.9, `v1 share ${share1} should be about 0.8 (counts ${JSON.stringify([...counts])})`);
  assert.ok((counts.get('v2') ?? 0) > 0, 'v2 gets some traffic');

  // Rewrite the VirtualService while the client runs: all traffic moves to v2, no restart.
  const pushed = server.discovery.pushed();
  fs.writeFileSync(path.join(server.configDir, 'echo-vs.yaml'), echoSplitYaml(0, 100));
  await pushed;
  await waitFor(async () => (await callWho(client)) === 'v2' && (await callWho(client)) === 'v2', 10_000, 'traffic to move to v2');
  const after = await tally(client, 200);
  assert.equal(after.get('v2'), 200, `all calls reach v2 after the edit, got ${JSON.stringify([...after])}`);

  // Generation ran in the worker pool: the main thread encoded no resource.
  assert.equal(server.discovery.mainThreadEncodes(), 0);
  assert.ok(server.discovery.generation.stats.jobs > 0);
  // The client ACKed everything it was sent.
  for (const c of server.discovery.ads.connections.values()) {
    for (const w of c.watches.values()) assert.equal(w.lastError, '', `no NACK for ${w.typeUrl}`);
  }
});

test('grpc-js-xds client: Kubernetes Service + EndpointSlice, short-name target', async (t) => {
  const a = await startGrpcBackend('pod-a', '127.0.0.1');
  const b = await startGrpcBackend('pod-b', '127.0.0.1');
  // Two endpoints on one address, distinct ports: one slice per port keeps it realistic enough.
  const yaml = `
apiVersion: v1
kind: Service
metadata: {name: greeter, namespace: apps}
spec:
  clusterIP: 10.96.0.50
  ports: [{name: grpc, port: 8080, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: greeter-a, namespace: apps, labels: {kubernetes.io/service-name: greeter}}
addressType: IPv4
ports: [{name: grpc, port: ${a.port}}]
endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: greeter-b, namespace: apps, labels: {kubernetes.io/service-name: greeter}}
addressType: IPv4
ports: [{name: grpc, port: ${b.port}}]
endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]
`;
  const server = await startTestServer({ files: { 'greeter.yaml': yaml } });
  const fqdn = newClient(server, 'xds:///greeter.apps.svc.cluster.local:8080', 'client-b');
  const short = newClient(server, 'xds:///greeter:8080', 'client-c');
  t.after(async () => { fqdn.close(); short.close(); await server.close(); await a.close(); await b.close(); });

  const seen = await tally(fqdn, 60);
  assert.ok((seen.get('pod-a') ?? 0) > 0 && (seen.get('pod-b') ?? 0) > 0, `round robin reaches both endpoints: ${JSON.stringify([...seen])}`);
  assert.ok(['pod-a', 'pod-b'].includes(await callWho(short)), 'short name resolves in the client namespace');

  // Remove one endpoint: traffic converges on the other.
  const pushed = server.discovery.pushed();
  fs.writeFileSync(path.join(server.configDir, 'greeter.yaml'), yaml.split('---').slice(0, 2).join('---'));
  await pushed;
  await waitFor(async () => {
    const c = await tally(fqdn, 10);
    return c.get('pod-a') === 10;
  }, 10_000, 'endpoint removal to reach the client');
});
