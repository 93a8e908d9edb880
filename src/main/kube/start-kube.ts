/**
 * Kubernetes mode, composed (the composition root calls these in order):
 *
 *   1. `startKubeSource`: the API client and the informers feeding the model store; resolves once
 *      every initial list is in the store (Ready only after that, as Istio). The `istio`
 *      ConfigMap's mesh config reaches `onMesh` first, before anything reads the mesh.
 *   2. `kubeCaOptions`: what the CA needs from the cluster: the root persisted in the
 *      `istio-ca-secret` Secret (replicas share one root), and TokenReview authentication.
 *   3. `startLeaderDuties`: the singleton duties behind the Lease: `istio-ca-root-cert`
 *      ConfigMaps in every namespace and the validating webhook's caBundle/failurePolicy, kept
 *      current on root rotation.
 *
 * Failures of the API server never stop the process once it runs: the informers retry with
 * backoff and the instance reports Degraded (/ready) while the last good model stays in force.
 */
import * as client from 'prom-client';
import { Config } from '../config';
import { ModelStore, ConfigChange } from '../model/store';
import { KubeClient, loadKubeConfig } from './client';
import { KubeSource } from '../sources/kube/kube-source';
import { BackoffOptions } from '../sources/kube/backoff';
import { LeaderDuties } from './leader-duties';
import { secretRootStore } from './ca-secret';
import { RootStore, CertificateAuthority } from '../ca/certificate-authority';
import { kubeJwtAuthenticator } from '../ca/kube-authenticator';
import { AsyncAuthenticator } from '../ca/authenticate';
import { KINDS } from '../../shared/model/objects';
import { scope } from '../log';

const log = scope('kube');

export interface KubeRuntime {
  readonly client: KubeClient;
  readonly source: KubeSource;
}

export async function startKubeSource(opts: {
  config: Config;
  store: ModelStore;
  meshBase: Record<string, unknown>;
  onMesh(raw: Record<string, unknown>): void;
  registry: client.Registry;
  backoff?: BackoffOptions;
}): Promise<KubeRuntime> {
  const kc = loadKubeConfig(opts.config.kube);
  const kubeClient = new KubeClient(kc);
  log.info('Kubernetes mode', { server: kubeClient.server, kubeconfig: opts.config.kube.kubeconfig || 'in-cluster', clusterId: opts.config.kube.clusterId });
  const source = new KubeSource({ client: kubeClient, store: opts.store, settings: opts.config.kube, meshBase: opts.meshBase, onMeshConfig: opts.onMesh, backoff: opts.backoff });
  countEvents(opts.store, opts.registry);
  await source.start();
  return { client: kubeClient, source };
}

/** Istio's informer event counters: pilot_k8s_cfg_events (Istio config) and pilot_k8s_reg_events (registry kinds). */
function countEvents(store: ModelStore, registry: client.Registry): void {
  const cfg = new client.Counter({ name: 'pilot_k8s_cfg_events', help: 'Events from k8s config.', labelNames: ['type', 'event'], registers: [registry] });
  const reg = new client.Counter({ name: 'pilot_k8s_reg_events', help: 'Events from k8s registry.', labelNames: ['type', 'event'], registers: [registry] });
  const REG_TYPE: Record<string, string> = { Service: 'Services', EndpointSlice: 'EndpointSlice', Pod: 'Pods', Node: 'Nodes', Namespace: 'Namespaces' };
  store.onChange((changes: ConfigChange[]) => {
    for (const c of changes) {
      const registryKind = KINDS.find((k) => k.group === c.group && k.kind === c.kind)?.registry ?? false;
      if (c.group.endsWith('istio.io') && !registryKind) cfg.inc({ type: c.kind, event: c.event });
      else reg.inc({ type: REG_TYPE[c.kind] ?? c.kind, event: c.event });
    }
  });
}

/** What startCa takes in Kubernetes mode. */
export function kubeCaOptions(kube: KubeRuntime, config: Config, trustDomain: () => string): { rootStore?: RootStore; extraAuthenticators: AsyncAuthenticator[] } {
  return {
    // A plug-in CA (ROOT_CA_DIR) is never written to the Secret; Istio leaves istio-ca-secret alone then.
    rootStore: secretRootStore(kube.client, config.kube.podNamespace),
    extraAuthenticators: [kubeJwtAuthenticator({ client: kube.client, audiences: config.ca.tokenAudiences, trustDomain, clusterId: config.kube.clusterId })],
  };
}

export function startLeaderDuties(opts: {
  kube: KubeRuntime;
  config: Config;
  ca: CertificateAuthority;
  webhookReady(): boolean;
  registry: client.Registry;
}): LeaderDuties {
  const duties = new LeaderDuties({
    client: opts.kube.client, settings: opts.config.kube, rootPem: opts.ca.bundle.rootBundlePem,
    webhookReady: opts.webhookReady,
    onLeadershipChange: (leading) => log.info(leading ? 'running the singleton duties (leader)' : 'stopped the singleton duties', { lease: `${opts.config.kube.leaseNamespace}/${opts.config.kube.leaseName}`, identity: opts.config.kube.identity }),
  });
  opts.ca.onChange(() => duties.setRoots(opts.ca.bundle.rootBundlePem));
  new client.Gauge({
    name: 'istiod_ts_leader', help: '(istiod-ts) 1 while this replica holds the leader-election Lease and runs the singleton duties.',
    labelNames: ['lease'], registers: [opts.registry],
    collect() { this.set({ lease: opts.config.kube.leaseName }, duties.isLeader ? 1 : 0); },
  });
  duties.start();
  return duties;
}
