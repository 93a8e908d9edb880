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
 * Namespaces and the ConfigMaps of that name are followed with list+watch (`Reflector` below); a
 * relist (after a watch error, 410 Gone or an outage) re-checks every namespace.
 */
import type { KubeClient, KubeObject } from './client';
import { isStatus } from './client';
import { Clock, systemClock } from './leader-election';
import { Logger, scope } from '../log';

const log = scope('namespacecontroller');

export const CA_ROOT_CERT_KEY = 'root-cert.pem';
export const CONFIG_MAP_LABELS: Readonly<Record<string, string>> = Object.freeze({ 'istio.io/config': 'true' });
/** Istio inject.IgnoredNamespaces without kube-system */
export const IGNORED_NAMESPACES: ReadonlySet<string> = new Set(['kube-public', 'kube-node-lease', 'local-path-storage']);

// ---- Reflector: list, then watch from the list's resourceVersion; relist on errors -------------

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ReflectorOptions<T extends KubeObject> {
  readonly client: KubeClient;
  /** collection path, e.g. /api/v1/namespaces */
  readonly path: string;
  /** extra list/watch parameters (fieldSelector, labelSelector) */
  readonly query?: Record<string, string>;
  /** what is watched, for logs */
  readonly what: string;
  readonly log: Logger;
  readonly clock?: Clock;
  /** delay before a relist after a failure (doubles up to retryMaxMs) */
  readonly retryMs?: number;
  readonly retryMaxMs?: number;
  onChange(type: WatchEventType, obj: T): void;
  /** after every complete list (the first one and each relist) */
  onSynced?(): void;
}

/**
 * A minimal informer for the leader's controllers: the objects of one collection, kept current by
 * list+watch through KubeClient (client-node's Watch), with bookmarks. A relist diffs against
 * what was known and reports the differences as events, so nothing that happened during an outage
 * is missed.
 */
export class Reflector<T extends KubeObject> {
  readonly items = new Map<string, T>();
  private running = false;
  private runId = 0;
  private synced = false;
  private abort?: AbortController;
  private wake?: () => void;
  private readonly clock: Clock;

  constructor(private readonly o: ReflectorOptions<T>) {
    this.clock = o.clock ?? systemClock;
  }

  get hasSynced(): boolean { return this.synced; }

  start(): void {
    if (this.running) return;
    this.running = true;
    const id = ++this.runId;
    void this.loop(id);
  }

  stop(): void {
    this.running = false;
    this.runId++;
    this.synced = false;
    this.items.clear();
    this.abort?.abort();
    this.abort = undefined;
    this.wake?.();
  }

  private live(id: number): boolean { return this.running && id === this.runId; }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = this.clock.setTimeout(() => { this.wake = undefined; resolve(); }, ms);
      this.wake = () => { this.clock.clearTimeout(t); this.wake = undefined; resolve(); };
    });
  }

  private async loop(id: number): Promise<void> {
    const base = this.o.retryMs ?? 500;
    let backoff = base;
    while (this.live(id)) {
      let rv: string;
      try {
        const list = await this.o.client.list<T>(this.o.path, this.o.query ?? {});
        if (!this.live(id)) return;
        this.replace(list.items);
        rv = list.metadata.resourceVersion ?? '';
        this.synced = true;
        this.o.onSynced?.();
      } catch (e) {
        if (!this.live(id)) return;
        this.o.log.warn(`failed to list ${this.o.what}; retrying`, { error: (e as Error).message, retryMs: backoff });
        await this.sleep(backoff);
        backoff = Math.min(backoff * 2, this.o.retryMaxMs ?? 10_000);
        continue;
      }
      // Watch from rv until the watch fails; a clean close re-watches from the newest rv seen.
      for (;;) {
        const began = this.clock.now();
        const r = await this.watchOnce(id, rv);
        if (!this.live(id)) return;
        rv = r.rv;
        if (r.relist) break;
        backoff = base;
        if (this.clock.now() - began < 1000) await this.sleep(base); // a server closing at once: don't spin
        if (!this.live(id)) return;
      }
      this.o.log.info(`relisting ${this.o.what}`);
      await this.sleep(backoff);
      backoff = Math.min(backoff * 2, this.o.retryMaxMs ?? 10_000);
    }
  }

  private watchOnce(id: number, fromRv: string): Promise<{ rv: string; relist: boolean }> {
    let rv = fromRv;
    return new Promise((resolve) => {
      let settled = false;
      let abort: AbortController | undefined;
      const finish = (relist: boolean) => { if (!settled) { settled = true; resolve({ rv, relist }); } };
      const query = { ...(this.o.query ?? {}), resourceVersion: fromRv, allowWatchBookmarks: true };
      this.o.client.watch.watch(this.o.path, query, (type: string, obj: T) => {
        if (!this.live(id) || settled) return;
        if (type === 'BOOKMARK') { rv = obj?.metadata?.resourceVersion ?? rv; return; }
        if (type === 'ERROR') {
          this.o.log.info(`watch of ${this.o.what} ended with an error event; relisting`, { status: obj });
          finish(true);
          abort?.abort();
          return;
        }
        if (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED') return;
        if (!obj?.metadata?.name) return;
        rv = obj.metadata.resourceVersion ?? rv;
        const key = keyOfObject(obj);
        if (type === 'DELETED') this.items.delete(key); else this.items.set(key, obj);
        this.o.onChange(type, obj);
      }, (err: unknown) => {
        if (err && this.live(id)) this.o.log.info(`watch of ${this.o.what} failed`, { error: (err as Error).message ?? String(err) });
        finish(Boolean(err));
      }).then((ctl) => {
        abort = ctl;
        if (!this.live(id) || settled) ctl.abort(); else this.abort = ctl;
      }, (err: unknown) => {
        this.o.log.info(`watch of ${this.o.what} could not start`, { error: (err as Error).message });
        finish(true);
      });
    });
  }

  private replace(objs: T[]): void {
    const seen = new Set<string>();
    for (const obj of objs) {
      const key = keyOfObject(obj);
      seen.add(key);
      const prev = this.items.get(key);
      this.items.set(key, obj);
      if (!prev) this.o.onChange('ADDED', obj);
      else if (prev.metadata.resourceVersion !== obj.metadata.resourceVersion) this.o.onChange('MODIFIED', obj);
    }
    for (const [key, obj] of [...this.items]) {
      if (seen.has(key)) continue;
      this.items.delete(key);
      this.o.onChange('DELETED', obj);
    }
  }
}

export function keyOfObject(o: KubeObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
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
  private namespaces?: Reflector<Namespace>;
  private configMaps?: Reflector<ConfigMap>;
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
    const common = { client: this.o.client, log, clock: this.o.clock, retryMs: this.o.retryMs, retryMaxMs: this.o.retryMaxMs };
    this.namespaces = new Reflector<Namespace>({
      ...common, path: '/api/v1/namespaces', what: 'namespaces',
      onChange: (type, ns) => { if (type !== 'DELETED') this.enqueue(ns.metadata.name); },
      onSynced: () => this.enqueueAll(),
    });
    this.configMaps = new Reflector<ConfigMap>({
      ...common, path: '/api/v1/configmaps', query: { fieldSelector: `metadata.name=${this.o.configMapName}` }, what: `configmaps ${this.o.configMapName}`,
      onChange: (_type, cm) => { if (cm.metadata.namespace) this.enqueue(cm.metadata.namespace); },
      onSynced: () => this.enqueueAll(),
    });
    this.namespaces.start();
    this.configMaps.start();
    log.info('namespace controller started', { configMap: this.o.configMapName });
  }

  /** Stop at once: no write is started after this returns. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.namespaces?.stop();
    this.configMaps?.stop();
    this.namespaces = this.configMaps = undefined;
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
    for (const ns of this.namespaces?.items.values() ?? []) this.enqueue(ns.metadata.name);
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
      while (this.running && this.queue.size > 0 && this.namespaces?.hasSynced && this.configMaps?.hasSynced) {
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
    const namespace = this.namespaces?.items.get(ns);
    if (!namespace || namespace.status?.phase === 'Terminating') return;
    const name = this.o.configMapName;
    const cm = this.configMaps?.items.get(`${ns}/${name}`);
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
