import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { SotwConnection } from '../../../../src/main/xds/sotw';
import { ConnectionDeps } from '../../../../src/main/xds/connection';
import { GenerationService } from '../../../../src/main/push/generation-service';
import { CLUSTER_TYPE_URL } from '../../../../src/shared/resources';
import { waitFor } from '../../../helpers/wait-for';

/** A stream whose buffer is always full and never drains: a proxy that stopped reading. */
class StuckStream extends EventEmitter {
  writes = 0;
  status?: { code: number; details: string };
  constructor() {
    super();
    this.on('error', (s) => { this.status = s; });
  }
  write(): boolean { this.writes++; return false; }
}

function deps(drainTimeoutMs: number, events: string[]): ConnectionDeps {
  let n = 0;
  const generation = {
    resolve: async () => ({
      snapshotVersion: 1,
      resources: new Map([[`c${++n}`, { name: `c${n}`, hash: `h${n}`, any: new Uint8Array(8) }]]),
      missing: [], memo: new Map(),
    }),
    watch: () => {}, unwatch: () => {},
  } as unknown as GenerationService;
  return {
    generation,
    contextFor: () => ({ generator: 'sidecar', proxyType: 'sidecar', namespace: 'default', sidecar: '', inbound: [], interceptionMode: 'REDIRECT', labels: {}, gateways: [] }),
    publishedAt: () => 0,
    callbacks: { onWriteTimeout: () => events.push('timeout'), onWrite: () => events.push('write') },
    retryDelayMs: 10,
    drainTimeoutMs,
  };
}

const node = { id: 'sidecar~10.0.0.1~a.default~default.svc.cluster.local' };

test('a proxy that stops reading is disconnected after the drain timeout', async () => {
  const events: string[] = [];
  const stream = new StuckStream();
  const conn = new SotwConnection(deps(50, events), stream);
  conn.handleRequest({ node, type_url: CLUSTER_TYPE_URL, resource_names: [], version_info: '', response_nonce: '' });
  await waitFor(() => conn.closed, 2000, 'connection closed');
  assert.deepEqual(events, ['timeout']);
  assert.equal(stream.status?.code, 14, 'ended with UNAVAILABLE so the proxy reconnects');
  assert.match(stream.status!.details, /did not read/);
  // later pushes do nothing and never block
  await conn.push({ configsUpdated: new Set(), endpointsOnly: false, reasons: {}, start: 0, forced: true });
  assert.equal(stream.writes, 1, 'nothing more is written to a disconnected proxy');
});

test('a drain before the timeout lets the stream carry on', async () => {
  const events: string[] = [];
  const stream = new StuckStream();
  const conn = new SotwConnection(deps(5000, events), stream);
  conn.handleRequest({ node, type_url: CLUSTER_TYPE_URL, resource_names: [], version_info: '', response_nonce: '' });
  await waitFor(() => stream.writes === 1, 2000, 'first write');
  stream.emit('drain');
  await waitFor(() => events.includes('write'), 2000, 'write completes after drain');
  assert.equal(conn.closed, false);
  assert.equal(stream.status, undefined);
});
