/**
 * Proxyless gRPC end to end with the stricter gRPC C-core client: Debian's python3-grpcio (1.51)
 * run as /usr/bin/python3 test/e2e/grpcio_client.py, resolving `xds:///host:port` through our ADS
 * server and calling real grpc-js backends on loopback. Same scenario as proxyless-grpc.test.ts:
 * 80/20 subset split, then a live VirtualService edit that the long-running client must follow
 * without a restart, and no NACK on our side.
 *
 * Skipped (with the reason) only when /usr/bin/python3 cannot `import grpc`; CI installs
 * python3-grpcio through apt.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync, ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startTestServer } from '../helpers/server';
import { startGrpcBackend } from '../helpers/grpc-backend';
import { echoServiceEntryYaml, echoSplitYaml } from '../helpers/mesh-fixtures';
import { grpcBootstrap } from '../helpers/xds-bootstrap';
import { XdsCallbacks } from '../../src/main/xds/callbacks';

// GRPCIO_PYTHON: only to exercise the skip path; CI uses Debian's interpreter with python3-grpcio.
const PYTHON = process.env['GRPCIO_PYTHON'] ?? '/usr/bin/python3';
// dist/test/e2e/ at run time; the script is not compiled, it lives next to this file's source.
const SCRIPT = path.resolve(__dirname, '..', '..', '..', 'test', 'e2e', 'grpcio_client.py');
const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const RDS = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';

function grpcioMissing(): string | undefined {
  if (!fs.existsSync(PYTHON)) return `${PYTHON} not found (install python3-grpcio)`;
  const r = spawnSync(PYTHON, ['-c', 'import grpc'], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) return `${PYTHON} cannot import grpc (install python3-grpcio): ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`;
  return undefined;
}



interface Reply {
  cmd: string;
  ok?: boolean;
  calls?: number;
  counts?: Record<string, number>;
  errors?: Record<string, number>;
  last_error?: string;
  error?: string;
  elapsed?: number;
}

/** The python client as a long-running child: one command line in, one JSON line out. */
class GrpcioClient {
  private readonly child: ChildProcessWithoutNullStreams;
  private buf = '';
  private stderr = '';
  private readonly lines: string[] = [];
  private waiter?: () => void;
  private exited = false;

  constructor(target: string, bootstrapJson: string) {
    this.child = spawn(PYTHON, ['-u', SCRIPT, target, '-'], {
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin',
        GRPC_XDS_BOOTSTRAP_CONFIG: bootstrapJson,
        // C-core's xds trace goes to stderr; kept only for failure messages
        GRPC_VERBOSITY: process.env['GRPCIO_VERBOSITY'] ?? 'ERROR',
        GRPC_TRACE: process.env['GRPCIO_TRACE'] ?? '',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.setEncoding('utf8');
    this.child.stdout.on('data', (d: string) => {
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 1);
      }
      this.waiter?.();
    });
    this.child.stderr.on('data', (d: string) => { this.stderr = (this.stderr + d).slice(-8000); });
    this.child.on('exit', () => { this.exited = true; this.waiter?.(); });
    this.child.stdin.on('error', () => { /* child gone; reported by send() */ });
  }

  /** Send one command; resolves to its JSON reply, rejects on timeout or child exit. */
  async send(command: string, timeoutMs: number): Promise<Reply> {
    this.child.stdin.write(command + '\n');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.lines.shift();
      if (line !== undefined) {
        const reply = JSON.parse(line) as Reply;
        if (reply.error) throw new Error(`python client: ${reply.error}`);
        return reply;
      }
      if (this.exited) throw new Error(`python client exited (code ${this.child.exitCode}) during ${command}; stderr: ${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`python client gave no reply to ${command} within ${timeoutMs}ms; stderr: ${this.stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => { clearTimeout(timer); this.waiter = undefined; resolve(); };
      });
    }
  }

  get stderrTail(): string { return this.stderr; }

  /** Ask it to quit; SIGKILL if it is still there after a grace period. */
  async close(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    try { this.child.stdin.end('quit\n'); } catch { /* ignore */ }
    const timer = setTimeout(() => { if (!this.exited) this.child.kill('SIGKILL'); }, 3000);
    await gone;
    clearTimeout(timer);
  }
}

const reason = grpcioMissing();

test('grpcio (C-core) client: ServiceEntry backends, 80/20 split, live edit moves traffic, no NACK', { skip: reason, timeout: 90_000 }, async (t) => {
  const nacks: string[] = [];
  const acked = new Set<string>();
  const callbacks: XdsCallbacks = {
    onNack: (s, type, error) => { nacks.push(`${s.conId} ${type}: ${error}`); },
    onAck: (_s, type) => { acked.add(type); },
  };
  const v1 = await startGrpcBackend('v1');
  const v2 = await startGrpcBackend('v2');
  const server = await startTestServer({
    files: { 'echo.yaml': echoServiceEntryYaml(v1, v2), 'echo-vs.yaml': echoSplitYaml(80, 20) },
    start: { callbacks },
  });
  const client = new GrpcioClient('xds:///echo.apps.internal:7070', grpcBootstrap(server.grpcTarget, { podName: 'grpcio-client', namespace: 'apps' }));
  t.after(async () => { await client.close(); await server.close(); await v1.close(); await v2.close(); });
  const ctx = (r: Reply): string => `${JSON.stringify(r)}; nacks ${JSON.stringify(nacks)}; stderr: ${client.stderrTail}`;

  // Phase 1: 80/20. The first calls wait for LDS → RDS → CDS → EDS.
  const ready = await client.send('ready:15', 20_000);
  assert.ok(ready.ok, `channel became READY: ${ctx(ready)}`);
  const split = await client.send('tally:300:5', 60_000);
  const c1 = split.counts?.['v1'] ?? 0;
  const c2 = split.counts?.['v2'] ?? 0;
  assert.deepEqual(split.errors, {}, `no failed calls: ${ctx(split)}`);
  assert.equal(c1 + c2, 300, `every call answered by v1 or v2: ${ctx(split)}`);
  const share1 = c1 / 300;
  assert.ok(share1 > 0.7 && share1 < 0.9, `v1 share ${share1} should be about 0.8: ${ctx(split)}`);
  assert.ok(c2 > 0, 'v2 gets some traffic');
  t.diagnostic(`80/20 phase: ${JSON.stringify(split.counts)}`);

  // Phase 2: same process, same channel. Rewrite the VirtualService to 100% v2.
  const pushed = server.discovery.pushed();
  fs.writeFileSync(path.join(server.configDir, 'echo-vs.yaml'), echoSplitYaml(0, 100));
  await pushed;
  const moved = await client.send('until:v2:50:15', 20_000);
  assert.ok(moved.ok, `the last 50 calls all reached v2 within 15s: ${ctx(moved)}`);
  assert.deepEqual(moved.errors, {}, `no failed calls while converging: ${ctx(moved)}`);
  t.diagnostic(`converged to v2 after ${moved.calls} calls, ${moved.elapsed}s: ${JSON.stringify(moved.counts)}`);
  const after = await client.send('tally:100:5', 30_000);
  assert.deepEqual(after.counts, { v2: 100 }, `all calls reach v2 after the edit: ${ctx(after)}`);

  // C-core accepted every type we sent: ACKs seen, no NACK recorded anywhere.
  assert.deepEqual(nacks, [], 'no NACK from the C-core client');
  for (const type of [LDS, RDS, CDS, EDS]) assert.ok(acked.has(type), `C-core ACKed ${type}`);
  assert.ok(server.discovery.ads.connections.size > 0, 'the python client is connected');
  for (const c of server.discovery.ads.connections.values()) {
    for (const w of c.watches.values()) assert.equal(w.lastError, '', `no NACK for ${w.typeUrl}`);
  }
});
