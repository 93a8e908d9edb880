/**
 * Istio's validation webhook controller (pkg/webhooks/validation/controller/controller.go): while
 * this replica leads, the ValidatingWebhookConfiguration `istio-validator-<ns>` carries our
 * trust bundle as `clientConfig.caBundle` of every webhook, and `failurePolicy` is `Ignore` until
 * the webhook server is known to work, then `Fail`. As in Istio, every webhook of that
 * configuration is patched (Istio selects configurations by revision label and patches all their
 * webhooks), and once the server has been seen ready the switch to `Fail` is permanent for this
 * patcher (Istio's dryRunOfInvalidConfigRejected). While it is not ready, readiness is re-checked
 * every `retryMs`.
 *
 * The configuration is watched, so an edit that reverts caBundle or failurePolicy is patched
 * again; setRoots() re-patches on rotation. An absent configuration is logged (Istio: "Skip
 * patching webhook, webhook %q not found") and patched as soon as it appears. Writes are PUTs
 * with the resourceVersion read; a conflict re-reads.
 */
import type { KubeClient, KubeObject } from './client';
import { isStatus, KubeStatusError } from './client';
import { Clock, systemClock } from './leader-election';
import { Reflector } from '../sources/kube/reflector';
import { scope } from '../log';

const log = scope('validationController');

const VWC_PATH = '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations';

export interface Webhook {
  name?: string;
  clientConfig?: { caBundle?: string; service?: { name?: string; namespace?: string; path?: string; port?: number }; url?: string };
  failurePolicy?: 'Ignore' | 'Fail' | string;
  [k: string]: unknown;
}

export interface ValidatingWebhookConfiguration extends KubeObject {
  webhooks?: Webhook[];
}

export interface WebhookPatcherOptions {
  readonly client: KubeClient;
  /** the configuration's name (istio-validator-<podNamespace>) */
  readonly configName: string;
  /** trust bundle PEM at start; setRoots() replaces it */
  readonly rootPem: string;
  /** true once our /validate endpoint serves (then the dry-run probe runs; see probeRejected) */
  ready(): boolean;
  /** namespace of the dry-run probe Gateway (istiod's namespace) */
  readonly probeNamespace?: string;
  /** the fail-close probe (default: probeRejected, a dry-run invalid Gateway through the API server) */
  readonly probe?: () => Promise<{ rejected: boolean; reason: string }>;
  readonly clock?: Clock;
  /** readiness re-check and failure retry delay */
  readonly retryMs?: number;
  readonly retryMaxMs?: number;
}

export class WebhookPatcher {
  private roots: string;
  private running = false;
  private reflector?: Reflector;
  /** the configuration as last seen (undefined: absent), once the first list arrived */
  private current?: ValidatingWebhookConfiguration;
  private synced = false;
  private readyLatched = false;
  private busy = false;
  private again = false;
  private timer?: unknown;
  private failures = 0;
  private reportedMissing = false;
  private reportedNotReady = false;
  private lastNotReady = '';
  private readonly clock: Clock;

  constructor(private readonly o: WebhookPatcherOptions) {
    if (!o.configName) throw new TypeError('webhook patcher: configName is empty');
    this.roots = o.rootPem;
    this.clock = o.clock ?? systemClock;
  }

  get isRunning(): boolean { return this.running; }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.reportedMissing = false;
    this.current = undefined;
    this.synced = false;
    this.reflector = new Reflector({
      client: this.o.client, path: VWC_PATH, query: { fieldSelector: `metadata.name=${this.o.configName}` },
      name: `validatingwebhookconfiguration ${this.o.configName}`, log,
      backoff: { initialMs: this.o.retryMs ?? 1000, maxMs: this.o.retryMaxMs ?? 30_000 },
      handler: (batch) => {
        if (!this.running) return;
        if (batch.remove.some((o) => o.metadata.name === this.o.configName)) this.current = undefined;
        const put = batch.put.find((o) => o.metadata.name === this.o.configName);
        if (put) this.current = put as ValidatingWebhookConfiguration;
        this.synced = true;
        this.kick();
      },
    });
    this.reflector.start();
  }

  /** Stop at once: no write is started after this returns. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    void this.reflector?.stop();
    this.reflector = undefined;
    this.current = undefined;
    this.synced = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  setRoots(pem: string): void {
    if (pem === this.roots) return;
    this.roots = pem;
    this.kick();
  }

  /** Re-check now (e.g. the webhook server just became ready). */
  kick(): void {
    if (!this.running) return;
    if (this.busy) { this.again = true; return; }
    void this.run();
  }

  private later(ms: number): void {
    if (!this.running) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(() => { this.timer = undefined; this.kick(); }, ms);
  }

  private async run(): Promise<void> {
    this.busy = true;
    try {
      do {
        this.again = false;
        if (!this.running || !this.synced) return;
        try {
          await this.reconcile();
          this.failures = 0;
        } catch (e) {
          this.failures++;
          const delay = Math.min((this.o.retryMs ?? 1000) * 2 ** (this.failures - 1), this.o.retryMaxMs ?? 30_000);
          log.error(`Failed to update validatingwebhookconfiguration ${this.o.configName}`, { error: (e as Error).message, retryMs: delay });
          this.later(delay);
        }
      } while (this.again && this.running);
    } finally {
      this.busy = false;
    }
  }

  /**
   * Istio's readiness for fail-close: our server serves, the configuration already carries our
   * caBundle, and a dry-run create of an invalid Gateway THROUGH THE API SERVER is denied by the
   * webhook — proof the API server reaches us and trusts our certificate. Switching to Fail any
   * earlier would make every Istio write fail while the API server cannot call us.
   */
  private async isReady(current: ValidatingWebhookConfiguration, caBundle: string): Promise<boolean> {
    if (this.readyLatched) return true;
    let ok = false;
    try { ok = this.o.ready(); } catch (e) { log.warn('webhook readiness check failed', { error: (e as Error).message }); }
    if (!ok) return this.notReady('the webhook server is not serving yet');
    if ((current.webhooks ?? []).some((w) => w.clientConfig?.caBundle !== caBundle)) return this.notReady('the caBundle is not in the configuration yet');
    const probe = await (this.o.probe ?? (() => probeRejected(this.o.client, this.o.probeNamespace ?? 'istio-system')))();
    if (!probe.rejected) return this.notReady(probe.reason);
    this.readyLatched = true;
    log.info('Endpoint successfully rejects invalid config. Switching to fail-close.', probe.reason ? { note: probe.reason } : {});
    return true;
  }

  private notReady(reason: string): false {
    if (!this.reportedNotReady || reason !== this.lastNotReady) log.info('Not ready to switch validation to fail-closed', { reason });
    this.reportedNotReady = true;
    this.lastNotReady = reason;
    return false;
  }

  private async reconcile(): Promise<void> {
    const current = this.current;
    if (!current) {
      if (!this.reportedMissing) log.info(`Skip patching webhook, webhook "${this.o.configName}" not found`);
      this.reportedMissing = true;
      return;
    }
    this.reportedMissing = false;
    const caBundle = Buffer.from(this.roots, 'utf8').toString('base64');
    const ready = await this.isReady(current, caBundle);
    if (!ready) this.later(this.o.retryMs ?? 1000);
    const policy = ready ? 'Fail' : 'Ignore';
    const updated = patched(current, caBundle, policy);
    if (!updated) {
      log.debug(`validatingwebhookconfiguration ${this.o.configName} (failurePolicy=${policy}, resourceVersion=${current.metadata.resourceVersion}) is up-to-date. No change required.`);
      return;
    }
    try {
      const latest = await this.o.client.request<ValidatingWebhookConfiguration>('PUT', `${VWC_PATH}/${encodeURIComponent(this.o.configName)}`, updated);
      log.info(`Successfully updated validatingwebhookconfiguration ${this.o.configName} (failurePolicy=${policy},resourceVersion=${latest?.metadata?.resourceVersion})`);
    } catch (e) {
      if (isStatus(e, 404)) return; // deleted meanwhile; patched when it comes back
      if (!isStatus(e, 409)) throw e;
      // Someone else wrote it: the watch delivers their version and kicks a reconcile of it (no
      // GET, so the RBAC needs none); the timer is the fallback should that event be slow.
      log.debug(`validatingwebhookconfiguration ${this.o.configName} changed meanwhile; patching the newer version`);
      this.later(this.o.retryMs ?? 1000);
    }
  }
}

/** The configuration with caBundle and failurePolicy set on every webhook, or undefined when nothing changes. */
export function patched(cfg: ValidatingWebhookConfiguration, caBundle: string, failurePolicy: 'Fail' | 'Ignore'): ValidatingWebhookConfiguration | undefined {
  const webhooks = cfg.webhooks ?? [];
  const dirty = webhooks.some((w) => w.clientConfig?.caBundle !== caBundle || w.failurePolicy !== failurePolicy);
  if (!dirty) return undefined;
  return {
    ...cfg,
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    webhooks: webhooks.map((w) => ({ ...w, clientConfig: { ...(w.clientConfig ?? {}), caBundle }, failurePolicy })),
  };
}

/**
 * Istio's dry-run probe (isDryRunOfInvalidConfigRejected): create an invalid Gateway with
 * dryRun=All through the API server. Denied by the webhook ("denied the request") = ready; created
 * = the webhook was not called (or failed open) = not ready; the Gateway kind missing = ready (no
 * way to check, as Istio).
 */
export async function probeRejected(client: KubeClient, namespace: string): Promise<{ rejected: boolean; reason: string }> {
  const gw = { apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'invalid-gateway', namespace }, spec: {} };
  const path = `/apis/networking.istio.io/v1/namespaces/${encodeURIComponent(namespace)}/gateways`;
  try {
    try {
      await client.request('POST', `${path}?dryRun=All`, gw);
    } catch (e) {
      if (!isStatus(e, 409)) throw e;
      await client.request('PUT', `${path}/invalid-gateway?dryRun=All`, gw);
    }
    return { rejected: false, reason: 'dummy invalid config not rejected (the API server did not call the webhook)' };
  } catch (e) {
    const msg = (e as Error).message;
    if (msg.includes('denied the request')) return { rejected: true, reason: '' };
    // A 404 without a Status body: the Gateway resource itself is missing (not, e.g., the namespace).
    if (isStatus(e, 404) && !(e as KubeStatusError).reason) return { rejected: true, reason: 'Missing Gateway CRD, cannot perform validation check. Assuming validation is ready' };
    return { rejected: false, reason: `dummy invalid config rejected for the wrong reason: ${msg}` };
  }
}
