/**
 * Issue 8 acceptance, two replicas: two istiod-ts processes against one API server. Exactly one
 * holds the Lease and runs the singleton duties; SIGKILL it (no release, as a crashed pod) and the
 * other takes over within the lease duration (+ one retry period) and keeps istio-ca-root-cert
 * current, with the root both replicas agreed on through istio-ca-secret.
 */
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { KubeTestTarget, kubeTestTarget } from '../helpers/kube-apiserver';
import { freePort, tempDir } from '../helpers/server';
import { waitFor } from '../helpers/wait-for';
import { REPO_ROOT } from '../helpers/run-cli';

const LEASE_S = 3;
const NS = 'istio-system';

interface Replica { name: string; child: ChildProcess; http: number; monitoring: number; stderr: string }

async function startReplica(name: string, kubeconfig: string): Promise<Replica> {
  const [http, monitoring] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'istiod-ts.js'), 'discovery',
    '--configDir', '', '--kubeconfig', kubeconfig, '--stateDir', tempDir(`istiod-ts-${name}-`),
    '--grpcAddr', '127.0.0.1:0', '--secureGRPCAddr', '127.0.0.1:0', '--httpsAddr', '127.0.0.1:0',
    '--httpAddr', `127.0.0.1:${http}`, '--monitoringAddr', `127.0.0.1:${monitoring}`, '--log_output_level', 'default:warn,leader:info'],
  { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, POD_NAME: name, ISTIOD_LEADER_ELECTION_LEASE_DURATION: `${LEASE_S}s`, ISTIOD_CONFIG_WORKERS: '1', ISTIOD_CA_WORKERS: '1', ENABLE_DEBUG_ENDPOINT_AUTH: 'false' } });
  const r: Replica = { name, child, http, monitoring, stderr: '' };
  child.stderr!.on('data', (d) => { r.stderr += d; });
  await waitFor(async () => (await fetch(`http://127.0.0.1:${http}/ready`).catch(() => undefined))?.status === 200, 30_000, `${name} ready`, 100)
    .catch((e) => { throw new Error(`${(e as Error).message}\n${r.stderr}`); });
  return r;
}

/** istiod_ts_leader from the replica's /metrics: 1 while it runs the duties. */
async function leads(r: Replica): Promise<boolean> {
  const text = await (await fetch(`http://127.0.0.1:${r.monitoring}/metrics`)).text();
  return /^istiod_ts_leader\{[^}]*\} 1$/m.test(text);
}

describe('two replicas, one leader', () => {
  let target: KubeTestTarget;
  const replicas: Replica[] = [];

  before(async () => {
    target = await kubeTestTarget();
    if (!(await target.get('v1', 'Namespace', undefined, NS))) await target.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    replicas.push(...await Promise.all(['istiod-a', 'istiod-b'].map((n) => startReplica(n, target.kubeconfigPath))));
  });
  after(async () => {
    const running = replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null);
    const exited = running.map((r) => new Promise((res) => r.child.once('exit', res)));
    for (const r of running) r.child.kill('SIGTERM');
    await Promise.all(exited);
    await target?.close();
  });

  it('exactly one holds the Lease; killed, the other takes over within the lease duration and keeps the ConfigMaps current', { timeout: 90_000 }, async (t) => {
    const lease = async () => (await target.get('coordination.k8s.io/v1', 'Lease', NS, 'istio-namespace-controller-election')) as any;
    const holder = await waitFor(async () => (await lease())?.spec?.holderIdentity as string | undefined, 15_000, 'a Lease holder');
    assert.ok(['istiod-a', 'istiod-b'].includes(holder));
    // exactly one replica runs the duties, and it is the holder — checked over a few renew periods
    for (let i = 0; i < 4; i++) {
      const states = await Promise.all(replicas.map(leads));
      assert.deepEqual(states, replicas.map((r) => r.name === holder), `only ${holder} leads`);
      await new Promise((r) => setTimeout(r, (LEASE_S * 1000) / 4));
    }
    const [a, b] = await Promise.all(replicas.map((r) => fetch(`http://127.0.0.1:${r.monitoring}/debug/mesh`).then((x) => x.status)));
    assert.deepEqual([a, b], [200, 200]);

    const root = ((await target.get('v1', 'ConfigMap', 'default', 'istio-ca-root-cert')) as any)?.data?.['root-cert.pem'];
    assert.match(String(root), /BEGIN CERTIFICATE/, 'the leader wrote the trust bundle');

    const leader = replicas.find((r) => r.name === holder)!;
    const survivor = replicas.find((r) => r.name !== holder)!;
    const killedAt = Date.now();
    leader.child.kill('SIGKILL');
    await waitFor(async () => (await lease())?.spec?.holderIdentity === survivor.name, 20_000, 'the survivor takes the Lease', 50);
    const tookMs = Date.now() - killedAt;
    assert.ok(tookMs <= (LEASE_S * 1.25 + 2) * 1000, `takeover in ${tookMs} ms (lease ${LEASE_S}s)`);
    t.diagnostic(`takeover ${tookMs} ms after SIGKILL (lease ${LEASE_S}s)`);
    await waitFor(() => leads(survivor), 5_000, 'the survivor runs the duties');

    // The survivor keeps every namespace's ConfigMap current, with the shared root.
    await target.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'after-failover' } });
    const cm = await waitFor(() => target.get('v1', 'ConfigMap', 'after-failover', 'istio-ca-root-cert'), 10_000, 'ConfigMap in the new namespace') as any;
    assert.equal(cm.data['root-cert.pem'], root, 'both replicas share one root (istio-ca-secret)');
  });
});
