/**
 * Proxyless gRPC routing end to end: the real @grpc/grpc-js-xds client, configured through our ADS
 * server by a VirtualService, routes by request metadata (a header match sends calls to subset v2,
 * everything else to v1) and applies client-side fault injection (an abort with gRPC status
 * UNAVAILABLE for 100% of calls carrying a header, and a fixed delay), without any proxy.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as xds from '@grpc/grpc-js-xds';
import { startTestServer } from '../helpers/server';
import { startGrpcBackend, callWho } from '../helpers/grpc-backend';
import { echoServiceEntryYaml } from '../helpers/mesh-fixtures';
import { BOOTSTRAP_OPTION, grpcBootstrap } from '../helpers/xds-bootstrap';
import { teardown } from '../helpers/teardown';

xds.register();

const ROUTING_VS = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: apps}
spec:
  hosts: [echo.apps.internal]
  http:
  - name: fault-abort
    match: [{headers: {x-fault: {exact: abort}}}]
    fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}
    route: [{destination: {host: echo.apps.internal, subset: v1}}]
  - name: fault-delay
    match: [{headers: {x-fault: {exact: delay}}}]
    fault: {delay: {fixedDelay: 300ms, percentage: {value: 100}}}
    route: [{destination: {host: echo.apps.internal, subset: v1}}]
  - name: canary
    match: [{headers: {x-canary: {exact: "true"}}}]
    route: [{destination: {host: echo.apps.internal, subset: v2}}]
  - name: stable
    route: [{destination: {host: echo.apps.internal, subset: v1}}]
`;

function callError(client: grpc.Client, metadata: Record<string, string>): Promise<grpc.ServiceError | undefined> {
  return callWho(client, 10_000, metadata).then(() => undefined, (e: grpc.ServiceError) => e);
}

test('grpc-js-xds client: header-match routing to a subset and fault-injection abort and delay', async (t) => {
  const onClose = teardown(t);
  const v1 = await startGrpcBackend('v1');
  onClose(() => v1.close());
  const v2 = await startGrpcBackend('v2');
  onClose(() => v2.close());
  const server = await startTestServer({ files: { 'echo.yaml': echoServiceEntryYaml(v1, v2), 'echo-vs.yaml': ROUTING_VS } });
  onClose(() => server.close());
  const client = new grpc.Client('xds:///echo.apps.internal:7070', grpc.credentials.createInsecure(), {
    [BOOTSTRAP_OPTION]: grpcBootstrap(server.grpcTarget, { podName: 'routing-client', namespace: 'apps' }),
  } as grpc.ChannelOptions);
  onClose(() => client.close());

  // Header match: x-canary → v2; anything else → v1.
  for (let i = 0; i < 20; i++) assert.equal(await callWho(client), 'v1', 'calls without the header go to subset v1');
  for (let i = 0; i < 20; i++) assert.equal(await callWho(client, 10_000, { 'x-canary': 'true' }), 'v2', 'x-canary: true goes to subset v2');
  assert.equal(await callWho(client, 10_000, { 'x-canary': 'false' }), 'v1', 'another header value does not match');

  // Fault abort: every call with x-fault: abort fails with UNAVAILABLE and never reaches a backend.
  const hitsBefore = v1.hits + v2.hits;
  for (let i = 0; i < 10; i++) {
    const err = await callError(client, { 'x-fault': 'abort' });
    assert.ok(err, 'an aborted call fails');
    assert.equal(err.code, grpc.status.UNAVAILABLE, `aborted with UNAVAILABLE, got ${err.code}: ${err.details}`);
  }
  assert.equal(v1.hits + v2.hits, hitsBefore, 'aborted calls never reach a backend');

  // Fault delay: the call still succeeds, 300 ms later.
  const started = Date.now();
  assert.equal(await callWho(client, 10_000, { 'x-fault': 'delay' }), 'v1');
  assert.ok(Date.now() - started >= 280, `delayed by the fault (took ${Date.now() - started} ms)`);

  // The client ACKed everything it was sent.
  for (const c of server.discovery.ads.connections.values()) {
    for (const w of c.watches.values()) assert.equal(w.lastError, '', `no NACK for ${w.typeUrl}`);
  }
});
