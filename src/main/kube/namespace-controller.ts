/**
 * Istio's NamespaceController (pilot/pkg/serviceregistry/kube/controller/namespacecontroller.go):
 * while this replica leads, every namespace holds the ConfigMap `istio-ca-root-cert`
 * (PILOT_CA_CERT_CONFIGMAP) with key `root-cert.pem` = the mesh's trust bundle, labelled
 * `istio.io/config: "true"`. Missing ConfigMaps are created, edited data is put back, deleted ones
 * are recreated, and every one is rewritten when the roots change (setRoots, on rotation).
 *
 * As in Istio: namespaces being terminated are skipped, and so are kube-public, kube-node-lease
 * and local-path-storage (inject.IgnoredNamespaces minus kube-system, which is served so ztunnel
 * can run there). Only the `root-cert.pem` key is written; other keys and labels someone added
 * stay. Create failures for a vanished namespace (404) or without permission (403) are skipped as
 * Istio's InsertDataToConfigMap does; other failures are retried with a capped backoff.
 *
 * Namespaces and the ConfigMaps of that name are followed with the Kubernetes source's Reflector
 * (list+watch, 410 relist diff, backoff); a relist re-checks every namespace.
 */
import type { KubeClient, KubeObject } from './client';
import { isStatus } from './client';
import { Clock, systemClock } from './leader-election';
import { Reflector, ReflectorBatch } from '../sources/kube/reflector';
import { scope } from '../log';

const log = scope('namespacecontroller');

export const CA_ROOT_CERT_KEY = 'root-cert.pem';
export const CONFIG_MAP_LABELS: Readonly<Record<string, string>> = Object.freeze({ 'istio.io/config': 'true' });
/** Istio inject.IgnoredNamespaces without kube-system */
export const IGNORED_NAMESPACES: ReadonlySet<string> = new Set(['kube-public', 'kube-node-lease', 'local-path-storage']);

/** namespace/name (cluster-scoped: name) */
export function keyOfObject(o: KubeObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

/** Applies a reflector batch to an index of the objects, keyed by keyOfObject. */
export function applyBatch<T extends KubeObject>(index: Map<string, T>, batch: ReflectorBatch): void {
  for (const o of batch.remove) index.delete(keyOfObject(o));
  for (const o of batch.put) index.set(keyOfObject(o), o as T);
}

// ---- the controller ---------------------------------------------------------------------------

interface ConfigMap extends KubeObject { data?: Record<string, string> }
interface Namespace extends KubeObject { status?: { phase?: string } }

export interface NamespaceControllerOptions {
  readonly client: KubeClient;
  /** PILOT_CA_CERT_CONFIGMAP, default istio-ca-root-cert */
  readonly configMapName: string;
  /** the trust bundle PEM at start; setRoots() replaces it */
  readonly rootPem: string;
  readonly clock?: Clock;
  /** first retry delay of a failed namespace (doubles up to retryMaxMs) */
  readonly retryMs?: number;
  readonly retryMaxMs?: number;
}

export class NamespaceController {
  private roots: string;
  private running = false;
  private reflectors: Reflector[] = [];
  /** the initial list of each reflector has been applied (namespaces, configmaps) */
  private readonly synced = { namespaces: false, configMaps: false };
  private readonly namespaces = new Map<string, Namespace>();
  private readonly configMaps = new Map<string, ConfigMap>();
  private readonly queue = new Set<string>();
  private readonly retries = new Map<string, { attempts: number; timer: unknown }>();
  private draining = false;
  private readonly clock: Clock;

  constructor(private readonly o: NamespaceControllerOptions) {
    if (!o.configMapName) throw new TypeError('namespace controller: configMapName is empty');
    this.roots = o.rootPem;
    this.clock = o.clock ?? systemClock;
  }

  get isRunning(): boolean { return this.running; }

  /** Start reconciling (this replica leads). */
  start(): void {
    if (this.running) return;
    this.running = true;
    const backoff = { initialMs: this.o.retryMs ?? 200, maxMs: this.o.retryMaxMs ?? 30_000 };
    const namespaces = new Reflector({
      client: this.o.client, path: '/api/v1/namespaces', name: 'namespaces', backoff, log,
      handler: (batch) => {
        if (!this.running) return;
        applyBatch(this.namespaces, batch);
        if (batch.initial) this.synced.namespaces = true;
        if (batch.relist) this.enqueueAll();
        else for (const ns of batch.put) this.enqueue(ns.metadata.name);
      },
    });
    const configMaps = new Reflector({
      client: this.o.client, path: '/api/v1/configmaps', query: { fieldSelector: `metadata.name=${this.o.configMapName}` }, name: `configmaps ${this.o.configMapName}`, backoff, log,
      handler: (batch) => {
        if (!this.running) return;
        applyBatch(this.configMaps, batch);
        if (batch.initial) this.synced.configMaps = true;
        if (batch.relist) this.enqueueAll();
        else for (const cm of [...batch.put, ...batch.remove]) if (cm.metadata.namespace) this.enqueue(cm.metadata.namespace);
      },
    });
    this.reflectors = [namespaces, configMaps];
    for (const r of this.reflectors) r.start();
    log.info('namespace controller started', { configMap: this.o.configMapName });
  }

  /** Stop at once: no write is started after this returns. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    for (const r of this.reflectors.splice(0)) void r.stop();
    this.namespaces.clear();
    this.configMaps.clear();
    this.synced.namespaces = this.synced.configMaps = false;
    this.queue.clear();
    for (const r of this.retries.values()) this.clock.clearTimeout(r.timer);
    this.retries.clear();
    log.info('namespace controller stopped');
  }

  /** The trust bundle changed (root rotation): rewrite every ConfigMap. */
  setRoots(pem: string): void {
    if (pem === this.roots) return;
    this.roots = pem;
    this.enqueueAll();
  }

  get rootPem(): string { return this.roots; }

  private enqueueAll(): void {
    for (const ns of this.namespaces.values()) this.enqueue(ns.metadata.name);
  }

  private enqueue(ns: string): void {
    if (!this.running || IGNORED_NAMESPACES.has(ns)) return;
    this.queue.add(ns);
    void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.running && this.queue.size > 0 && this.synced.namespaces && this.synced.configMaps) {
        const ns = this.queue.values().next().value as string;
        this.queue.delete(ns);
        try {
          await this.reconcile(ns);
          this.clearRetry(ns);
        } catch (e) {
          this.retryLater(ns, e as Error);
        }
      }
    } finally {
      this.draining = false;
    }
  }

  private clearRetry(ns: string): void {
    const r = this.retries.get(ns);
    if (r) { this.clock.clearTimeout(r.timer); this.retries.delete(ns); }
  }

  private retryLater(ns: string, err: Error): void {
    if (!this.running) return;
    const prev = this.retries.get(ns);
    if (prev) this.clock.clearTimeout(prev.timer);
    const attempts = (prev?.attempts ?? 0) + 1;
    const delay = Math.min((this.o.retryMs ?? 500) * 2 ** (attempts - 1), this.o.retryMaxMs ?? 10_000);
    log.warn('failed to reconcile the CA root ConfigMap; retrying', { namespace: ns, configMap: this.o.configMapName, error: err.message, retryMs: delay });
    const timer = this.clock.setTimeout(() => { const r = this.retries.get(ns); if (r) r.timer = undefined; this.enqueue(ns); }, delay);
    this.retries.set(ns, { attempts, timer });
  }

  /** Istio reconcileCACert + InsertDataToConfigMap for one namespace. */
  private async reconcile(ns: string): Promise<void> {
    const namespace = this.namespaces.get(ns);
    if (!namespace || namespace.status?.phase === 'Terminating') return;
    const name = this.o.configMapName;
    const cm = this.configMaps.get(`${ns}/${name}`);
    const pem = this.roots;
    const base = `/api/v1/namespaces/${encodeURIComponent(ns)}/configmaps`;
    if (!cm) {
      const body: ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns, labels: { ...CONFIG_MAP_LABELS } }, data: { [CA_ROOT_CERT_KEY]: pem } };
      try {
        await this.o.client.request('POST', base, body);
        log.info('created the CA root ConfigMap', { namespace: ns, configMap: name });
      } catch (e) {
        // 409: it exists after all (our cache is behind): the watch brings it and we compare then.
        if (isStatus(e, 409) || isStatus(e, 404)) return;
        if (isStatus(e, 403)) { log.info(`skip writing ConfigMap ${ns}/${name} as we do not have permissions to do so (or the namespace is terminating)`); return; }
        throw e;
      }
      return;
    }
    if (cm.data?.[CA_ROOT_CERT_KEY] === pem) return;
    const updated: ConfigMap = { ...cm, apiVersion: 'v1', kind: 'ConfigMap', data: { ...(cm.data ?? {}), [CA_ROOT_CERT_KEY]: pem } };
    try {
      await this.o.client.request('PUT', `${base}/${encodeURIComponent(name)}`, updated);
      log.info('updated the CA root ConfigMap', { namespace: ns, configMap: name });
    } catch (e) {
      // 404: deleted meanwhile (the watch's DELETED event re-enqueues); 409: changed meanwhile (so does MODIFIED).
      if (isStatus(e, 404) || isStatus(e, 409)) return;
      throw e;
    }
  }
}
