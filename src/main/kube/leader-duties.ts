/**
 * The singleton duties of Kubernetes mode and who runs them: the `istio-ca-root-cert` ConfigMaps
 * (NamespaceController) and the validation webhook's caBundle/failurePolicy (WebhookPatcher) run
 * on the replica holding the leader-election Lease, and stop the moment it loses it. With
 * PILOT_ENABLE_LEADER_ELECTION=false there is no Lease and this replica runs them
 * unconditionally, as Istio does.
 *
 * (The CA root Secret is not leader-bound: every replica reads or creates it before its CA
 * starts, see ca-secret.ts, as every istiod does.)
 *
 * Composition root:
 *   const duties = new LeaderDuties({ client, settings: config.kube, rootPem: ca.bundle.rootBundlePem, webhookReady: () => webhookServing });
 *   duties.start();
 *   ca.onChange((m) => duties.setRoots(m.rootBundlePem));
 *   metrics gauge ← duties.isLeader;   shutdown: await duties.stop();
 */
import type { KubeConfig as KubeSettings } from '../config';
import type { KubeClient } from './client';
import { Clock, LeaderElector } from './leader-election';
import { NamespaceController } from './namespace-controller';
import { WebhookPatcher } from './webhook-patcher';
import { scope } from '../log';

const log = scope('leader');

/**
 * The API access the singleton duties need (for istiod's ClusterRole/Role): group, resource,
 * verbs. The CA Secret is read and written by every replica before its CA starts (ca-secret.ts).
 */
export const LEADER_DUTIES_RBAC: ReadonlyArray<{ group: string; resource: string; verbs: readonly string[] }> = [
  { group: 'coordination.k8s.io', resource: 'leases', verbs: ['get', 'create', 'update'] },
  { group: '', resource: 'namespaces', verbs: ['list', 'watch'] },
  { group: '', resource: 'configmaps', verbs: ['list', 'watch', 'create', 'update'] },
  { group: 'admissionregistration.k8s.io', resource: 'validatingwebhookconfigurations', verbs: ['list', 'watch', 'update'] },
  { group: '', resource: 'secrets', verbs: ['get', 'create', 'update'] },
  // the webhook's fail-close probe: a dry-run create (and update, if the name exists) of an invalid Gateway
  { group: 'networking.istio.io', resource: 'gateways', verbs: ['create', 'update'] },
];

export interface LeaderDutiesOptions {
  readonly client: KubeClient;
  readonly settings: Pick<KubeSettings, 'leaderElection' | 'leaseName' | 'leaseNamespace' | 'leaseDurationMs' | 'identity' | 'caCertConfigMap' | 'webhookConfigName'> & { podNamespace?: string };
  /** the trust bundle now (root-cert.pem); setRoots() on rotation */
  readonly rootPem: string;
  /** true once the validation webhook server serves (failurePolicy → Fail) */
  webhookReady(): boolean;
  readonly clock?: Clock;
  /** told on every change of whether this replica runs the duties */
  onLeadershipChange?(leading: boolean): void;
  /** retry delays of the controllers (tests shorten them) */
  readonly retryMs?: number;
}

export class LeaderDuties {
  readonly elector?: LeaderElector;
  readonly namespaces: NamespaceController;
  readonly webhook: WebhookPatcher;
  private leading = false;
  private started = false;

  constructor(private readonly o: LeaderDutiesOptions) {
    const s = o.settings;
    this.namespaces = new NamespaceController({ client: o.client, configMapName: s.caCertConfigMap, rootPem: o.rootPem, clock: o.clock, retryMs: o.retryMs });
    this.webhook = new WebhookPatcher({ client: o.client, configName: s.webhookConfigName, rootPem: o.rootPem, ready: () => o.webhookReady(), probeNamespace: s.podNamespace, clock: o.clock, retryMs: o.retryMs });
    if (s.leaderElection) {
      this.elector = new LeaderElector({
        client: o.client, settings: s, clock: o.clock,
        onStartedLeading: () => this.startDuties(),
        onStoppedLeading: () => this.stopDuties(),
      });
    }
  }

  /** This replica runs the duties now (the leader, or leader election is off). For a gauge. */
  get isLeader(): boolean { return this.leading; }

  /** The holder of the Lease as last seen (our identity when election is off and we run). */
  get leader(): string | undefined {
    return this.elector ? this.elector.leader : this.leading ? this.o.settings.identity : undefined;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    if (this.elector) this.elector.start();
    else {
      log.info('leader election disabled (PILOT_ENABLE_LEADER_ELECTION=false): running the singleton duties on this replica');
      this.startDuties();
    }
  }

  /** Stop the duties, then release the Lease (unless `release` is false: as a crashed process). */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    if (!this.started) return;
    this.started = false;
    if (this.elector) await this.elector.stop(opts);
    this.stopDuties();
  }

  /** The trust bundle changed (root rotation). Kept even while not leading, for when we lead. */
  setRoots(pem: string): void {
    this.namespaces.setRoots(pem);
    this.webhook.setRoots(pem);
  }

  /** Ask the webhook patcher to re-check readiness now (e.g. the HTTPS server just started). */
  webhookReadyChanged(): void { this.webhook.kick(); }

  private startDuties(): void {
    if (this.leading) return;
    this.leading = true;
    this.namespaces.start();
    this.webhook.start();
    this.notify(true);
  }

  private stopDuties(): void {
    if (!this.leading) return;
    this.leading = false;
    this.namespaces.stop();
    this.webhook.stop();
    this.notify(false);
  }

  private notify(leading: boolean): void {
    try { this.o.onLeadershipChange?.(leading); } catch (e) { log.error('leadership listener failed', { error: (e as Error).message }); }
  }
}
