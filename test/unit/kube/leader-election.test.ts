/**
 * Leader election on a coordination.k8s.io/v1 Lease against the Kubernetes API test server, with
 * the real @kubernetes/client-node transport: one leader among replicas, takeover after a dead
 * leader's lease expires, immediate takeover after a graceful release, a leader that cannot renew
 * stepping down within the renew deadline, and the duties (ConfigMaps) following the leadership.
 */
import { test, TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { kubeTestTarget, localTarget, startKubeTestServer, KubeTestServer, KubeTestTarget } from '../../helpers/kube-apiserver';
import { teardown } from '../../helpers/teardown';
import { waitFor, sleep } from '../../helpers/wait-for';
import { LeaderElector, microTime } from '../../../src/main/kube/leader-election';
import { LEADER_DUTIES_RBAC, LeaderDuties } from '../../../src/main/kube/leader-duties';
import { setLogSink } from '../../../src/main/log';

const LEASE_MS = 2000;
const LEASE = 'istio-namespace-controller-election';
type Obj = Record<string, any>;
const settings = (identity: string, ns: string, leaseDurationMs = LEASE_MS) => ({ leaseName: LEASE, leaseNamespace: ns, leaseDurationMs, identity });

interface Replica { elector: LeaderElector; events: Array<{ what: 'started' | 'stopped'; at: number }> }

function replica(env: Env, identity: string, leaseDurationMs = LEASE_MS): Replica {
  const events: Replica['events'] = [];
  const elector = new LeaderElector({
    client: env.target.client(),
    settings: settings(identity, env.ns, leaseDurationMs),
    onStartedLeading: () => events.push({ what: 'started', at: Date.now() }),
    onStoppedLeading: () => events.push({ what: 'stopped', at: Date.now() }),
  });
  return { elector, events };
}

interface Env { target: KubeTestTarget; ns: string; onClose: (fn: () => unknown) => void }

async function lease(env: Env): Promise<Obj | undefined> {
  return await env.target.get('coordination.k8s.io/v1', 'Lease', env.ns, LEASE) as Obj | undefined;
}

/** The local test server, or a real API server (KUBE_TEST_APISERVER + KUBECONFIG): the Lease lives in a fresh namespace. */
async function setup(t: TestContext): Promise<Env> {
  const restoreLog = setLogSink(() => {});
  const onClose = teardown(t);
  onClose(restoreLog);
  const target = await kubeTestTarget();
  onClose(() => target.close());
  const ns = `leader-test-${Math.random().toString(36).slice(2, 8)}`;
  await target.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  return { target, ns, onClose };
}

/** For tests that need the outage controls or write into every namespace: the local server only. */
async function setupLocal(t: TestContext): Promise<{ server: KubeTestServer; onClose: (fn: () => unknown) => void; env: Env }> {
  const restoreLog = setLogSink(() => {});
  const onClose = teardown(t);
  onClose(restoreLog);
  const server = await startKubeTestServer();
  onClose(() => server.close());
  server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } });
  return { server, onClose, env: { target: localTarget(server), ns: 'istio-system', onClose } };
}

test('microTime: RFC 3339 with six fractional digits', () => {
  assert.equal(microTime(Date.UTC(2026, 10, 27, 16, 0, 0, 123)), '2026-11-27T16:00:00.123000Z');
});

test('options are validated with the option named', () => {
  const client = {} as never;
  const cb = { onStartedLeading() {}, onStoppedLeading() {} };
  assert.throws(() => new LeaderElector({ client, settings: { ...settings('a', 'ns'), identity: '' }, ...cb }), /identity is empty/);
  assert.throws(() => new LeaderElector({ client, settings: { ...settings('a', 'ns'), leaseDurationMs: 10 }, ...cb }), /leaseDurationMs/);
});

test('two replicas: exactly one holds the lease; the record is client-go shaped', async (t) => {
  const env = await setup(t);
  const a = replica(env, 'istiod-a');
  const b = replica(env, 'istiod-b');
  env.onClose(() => a.elector.stop());
  env.onClose(() => b.elector.stop());
  a.elector.start();
  b.elector.start();
  await waitFor(() => a.elector.isLeader || b.elector.isLeader, 5000, 'a leader');
  // Several renew periods later there is still exactly one.
  await sleep(LEASE_MS);
  assert.equal(Number(a.elector.isLeader) + Number(b.elector.isLeader), 1);
  const leader = a.elector.isLeader ? a : b;
  const follower = leader === a ? b : a;
  assert.equal(follower.events.length, 0, 'the follower never started its duties');
  assert.equal(follower.elector.leader, leader.elector.identity);
  const spec = (await lease(env))!.spec;
  assert.equal(spec.holderIdentity, leader.elector.identity);
  assert.equal(spec.leaseDurationSeconds, 2);
  assert.equal(spec.leaseTransitions, 0);
  assert.match(spec.acquireTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  assert.match(spec.renewTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  // renewals move renewTime, never acquireTime
  const first = spec.renewTime;
  await waitFor(async () => (await lease(env))!.spec.renewTime !== first, 3000, 'a renewal');
  assert.equal((await lease(env))!.spec.acquireTime, spec.acquireTime);
  // Lease writes are updates (PUT with the resourceVersion read)
  if (env.target.requests) assert.ok(env.target.requests.some((r) => r.resource === 'leases' && r.verb === 'update'));
});

test('a dead leader (no release) is replaced after the lease duration; transitions count up', async (t) => {
  const env = await setup(t);
  const a = replica(env, 'istiod-a');
  env.onClose(() => a.elector.stop());
  a.elector.start();
  await waitFor(() => a.elector.isLeader, 5000, 'a leads');
  const b = replica(env, 'istiod-b');
  env.onClose(() => b.elector.stop());
  b.elector.start();
  await sleep(LEASE_MS / 2);
  assert.equal(b.elector.isLeader, false, 'b waits while a renews');

  const killedAt = Date.now();
  await a.elector.stop({ release: false }); // a crashed process: timers gone, lease left as it was
  assert.equal((await lease(env))!.spec.holderIdentity, 'istiod-a');
  await waitFor(() => b.elector.isLeader, LEASE_MS + b.elector.retryPeriodMs * 2 + 2000, 'b takes over');
  const tookOver = b.events.find((e) => e.what === 'started')!.at;
  // b measured the expiry with its own clock from when it last saw the record change (a's last
  // renewal, at most about one retry period before the kill)
  assert.ok(tookOver - killedAt >= LEASE_MS - 2 * b.elector.retryPeriodMs, `took over ${tookOver - killedAt} ms after the kill, before the lease could expire`);
  const spec = (await lease(env))!.spec;
  assert.equal(spec.holderIdentity, 'istiod-b');
  assert.equal(spec.leaseTransitions, 1);
});

test('expiry is measured with the local clock, never the remote timestamps (clock skew)', async (t) => {
  const env = await setup(t);
  for (const [holder, skewMs] of [['ghost-past', -3600_000], ['ghost-future', 3600_000]] as const) {
    const ns = env.ns;
    const existing = await lease(env);
    const spec = { holderIdentity: holder, leaseDurationSeconds: 2, acquireTime: microTime(Date.now() + skewMs), renewTime: microTime(Date.now() + skewMs), leaseTransitions: 3 };
    if (existing) await env.target.update({ ...existing, metadata: { ...existing.metadata, resourceVersion: undefined }, spec } as Obj);
    else await env.target.create({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: LEASE, namespace: ns }, spec } as Obj);
    const b = replica(env, `istiod-${holder}`);
    const started = Date.now();
    b.elector.start();
    await waitFor(() => b.elector.isLeader, 2000 + b.elector.retryPeriodMs * 2 + 2000, `takeover from ${holder}`);
    const waited = Date.now() - started;
    // an hour-old renewTime does not make the lease free at once; an hour-ahead one does not hold it for an hour
    assert.ok(waited >= 2000, `${holder}: took over after ${waited} ms, before 2 s of local time`);
    assert.equal((await lease(env))!.spec.leaseTransitions, 4);
    await b.elector.stop({ release: false });
  }
});

test('graceful stop releases the lease: the successor does not wait for it to expire', async (t) => {
  const env = await setup(t);
  const long = 8000;
  const a = replica(env, 'istiod-a', long);
  env.onClose(() => a.elector.stop());
  a.elector.start();
  await waitFor(() => a.elector.isLeader, 5000, 'a leads');
  const b = replica(env, 'istiod-b', long);
  env.onClose(() => b.elector.stop());
  b.elector.start();
  await sleep(500);
  assert.equal(b.elector.isLeader, false);

  const stoppedAt = Date.now();
  await a.elector.stop();
  assert.deepEqual(a.events.map((e) => e.what), ['started', 'stopped']);
  const released = (await lease(env))!.spec;
  assert.ok(!released.holderIdentity, 'holderIdentity cleared');
  assert.equal(released.leaseDurationSeconds, 1);
  await waitFor(() => b.elector.isLeader, long, 'b takes over');
  assert.ok(Date.now() - stoppedAt < long, 'b took over before the 8 s lease would have expired');
});

test('a leader that cannot renew (API server gone) stops its duties within the renew deadline', async (t) => {
  const { server, onClose, env } = await setupLocal(t);
  const a = replica(env, 'istiod-a');
  onClose(() => a.elector.stop({ release: false }));
  a.elector.start();
  await waitFor(() => a.elector.isLeader, 5000, 'a leads');
  const lastRenew = Date.parse((await lease(env))!.spec.renewTime);
  await server.stop();
  await waitFor(() => !a.elector.isLeader, a.elector.renewDeadlineMs + 2000, 'a steps down');
  const stopped = a.events.find((e) => e.what === 'stopped')!.at;
  assert.ok(stopped - lastRenew <= a.elector.renewDeadlineMs + a.elector.retryPeriodMs + 500, `stepped down ${stopped - lastRenew} ms after its last renewal`);
  assert.ok(stopped - lastRenew < a.elector.leaseDurationMs, 'stopped before any other replica could consider the lease expired');
  // The API server comes back: a campaigns again and, still named in the lease, leads again.
  await server.start();
  await waitFor(() => a.elector.isLeader, LEASE_MS * 3, 'a leads again');
  assert.deepEqual(a.events.map((e) => e.what), ['started', 'stopped', 'started']);
});

test('a leader that finds someone else in the lease steps down at once', async (t) => {
  const env = await setup(t);
  const a = replica(env, 'istiod-a');
  env.onClose(() => a.elector.stop());
  a.elector.start();
  await waitFor(() => a.elector.isLeader, 5000, 'a leads');
  const cur = (await lease(env))!;
  await env.target.update({ ...cur, metadata: { ...cur.metadata, resourceVersion: undefined }, spec: { ...cur.spec, holderIdentity: 'intruder', renewTime: microTime(Date.now()) } } as Obj);
  await waitFor(() => !a.elector.isLeader, a.elector.retryPeriodMs * 2 + 1000, 'a steps down');
  assert.equal(a.elector.leader, 'intruder');
});

test('two replicas with duties: the survivor of a killed leader keeps the CA root ConfigMaps current', async (t) => {
  const { server, onClose, env } = await setupLocal(t);
  server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'app-1' } });
  const mk = (identity: string) => new LeaderDuties({
    client: server.client(),
    settings: { ...settings(identity, env.ns), leaderElection: true, caCertConfigMap: 'istio-ca-root-cert', webhookConfigName: 'istio-validator-istio-system' },
    rootPem: 'ROOTS-1\n',
    webhookReady: () => true,
    retryMs: 100,
  });
  const a = mk('istiod-a');
  const b = mk('istiod-b');
  onClose(() => a.stop());
  onClose(() => b.stop());
  a.start();
  await waitFor(() => a.isLeader, 5000, 'a leads');
  b.start();
  const cm = (ns: string) => server.get('v1', 'ConfigMap', ns, 'istio-ca-root-cert') as Obj | undefined;
  await waitFor(() => cm('app-1'), 5000, 'ConfigMap in app-1');
  assert.equal(b.isLeader, false);
  assert.equal(b.namespaces.isRunning, false, 'the follower runs no duties');

  await a.stop({ release: false }); // kill the leader
  await waitFor(() => b.isLeader, LEASE_MS + 3000, 'b takes over');
  server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'app-2' } });
  await waitFor(() => cm('app-2'), 5000, 'ConfigMap in the namespace created after the takeover');
  assert.equal(cm('app-2')!.data['root-cert.pem'], 'ROOTS-1\n');
  b.setRoots('ROOTS-2\n');
  await waitFor(() => cm('app-1')?.data['root-cert.pem'] === 'ROOTS-2\n' && cm('app-2')?.data['root-cert.pem'] === 'ROOTS-2\n', 5000, 'rotated roots everywhere');
});

test('leader election off: the duties run at once, without a Lease', async (t) => {
  const { server, onClose, env } = await setupLocal(t);
  server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'app-1' } });
  const d = new LeaderDuties({
    client: server.client(),
    settings: { ...settings('istiod-a', env.ns), leaderElection: false, caCertConfigMap: 'istio-ca-root-cert', webhookConfigName: 'istio-validator-istio-system' },
    rootPem: 'ROOTS\n',
    webhookReady: () => true,
  });
  onClose(() => d.stop());
  d.start();
  assert.equal(d.isLeader, true);
  assert.equal(d.leader, 'istiod-a');
  await waitFor(() => server.get('v1', 'ConfigMap', 'app-1', 'istio-ca-root-cert'), 5000, 'ConfigMap');
  assert.equal(await lease(env), undefined);
  assert.ok(!server.requests.some((r) => r.resource === 'leases'));
});

test('the leader uses only the API access LEADER_DUTIES_RBAC documents', async (t) => {
  const { server, onClose, env } = await setupLocal(t);
  server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'app-1' } });
  server.create({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: 'istio-validator-istio-system' }, webhooks: [{ name: 'validation.istio.io', clientConfig: { service: { name: 'istiod', namespace: 'istio-system' } }, sideEffects: 'None', admissionReviewVersions: ['v1'], failurePolicy: 'Ignore' }] } as Obj);
  const d = new LeaderDuties({
    client: server.client(),
    settings: { ...settings('istiod-a', env.ns), leaderElection: true, caCertConfigMap: 'istio-ca-root-cert', webhookConfigName: 'istio-validator-istio-system' },
    rootPem: 'ROOTS\n',
    webhookReady: () => true,
  });
  onClose(() => d.stop());
  d.start();
  await waitFor(() => server.get('v1', 'ConfigMap', 'app-1', 'istio-ca-root-cert'), 5000, 'ConfigMap');
  const vwc = () => (server.get('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', undefined, 'istio-validator-istio-system') as Obj).webhooks[0];
  await waitFor(() => vwc().clientConfig.caBundle === Buffer.from('ROOTS\n').toString('base64'), 5000, 'caBundle patched');
  // the fail-close probe ran (a dry-run Gateway) and, with no istiod behind the Service, kept Ignore
  await waitFor(() => server.requests.some((r) => r.resource === 'gateways' && r.verb === 'create'), 5000, 'the dry-run probe');
  assert.equal(vwc().failurePolicy, 'Ignore');
  const cm = server.get('v1', 'ConfigMap', 'app-1', 'istio-ca-root-cert') as Obj;
  server.update({ ...cm, data: { 'root-cert.pem': 'x' } });
  await waitFor(() => (server.get('v1', 'ConfigMap', 'app-1', 'istio-ca-root-cert') as Obj).data['root-cert.pem'] === 'ROOTS\n', 5000, 'fixed');
  await d.stop();
  const allowed = new Set(LEADER_DUTIES_RBAC.flatMap((r) => r.verbs.map((v) => `${v} ${r.group}/${r.resource}`)));
  const used = new Set(server.requests.filter((r) => r.resource).map((r) => `${r.verb} ${r.group ?? ''}/${r.resource}`));
  assert.deepEqual([...used].filter((u) => !allowed.has(u)), [], 'requests outside the documented RBAC');
  for (const must of ['update coordination.k8s.io/leases', 'watch /namespaces', 'create /configmaps', 'update /configmaps', 'update admissionregistration.k8s.io/validatingwebhookconfigurations', 'create networking.istio.io/gateways']) assert.ok(used.has(must), must);
});
