/**
 * Kubernetes mode: informers that feed the model store exactly as file mode does. One Reflector
 * per watched kind (kinds.ts), one store origin per kind (`kube:<group>/<Kind>`), patched in
 * batches (a relist or a burst of events is one store change).
 *
 * - Istio kinds are validated with file mode's checkDocument; an invalid object keeps its last
 *   valid version (or is skipped) and is listed by errors().
 * - Pods and Nodes are projected to the fields the model reads, and updates that leave the
 *   projection unchanged (status churn) never reach the store.
 * - The mesh ConfigMap's `mesh` key, merged over --meshConfig, is handed to onMeshConfig on start
 *   and on every change; its discoverySelectors filter namespaced objects (discovery-selectors.ts),
 *   re-filtered live when a Namespace's labels or the selectors change.
 * - Istio kinds are watched in the version API discovery offers; a kind whose CRD is missing is
 *   skipped (one info log) and picked up by the next discovery check (every ~60 s).
 * - Outages: each reflector retries with backoff and keeps its last good objects; degraded()
 *   names what is failing and since when. Nothing needs a restart.
 *
 * Main thread only.
 */
import { KubeClient, KubeObject } from '../../kube/client';
import type { KubeConfig } from '../../config';
import { Logger, scope } from '../../log';
import { ModelStore } from '../../model/store';
import { K8sObject, ObjectKey, objectKey } from '../../../shared/model/objects';
import { checkDocument } from '../../../shared/istio/config-document';
import { formatIssue, formatPath } from '../../../shared/istio/validation';
import type { FileError } from '../file-source';
import { Backoff, BackoffOptions } from './backoff';
import { Reflector, ReflectorBatch, errText } from './reflector';
import {
  CORE_KINDS, ISTIO_KINDS, WatchedKind, apiVersionOf, cleanObject, collectionPath, discoverIstioKinds, isCredentialSecret,
  originOf, projectNode, projectPod,
} from './kinds';
import { DiscoveryNamespaces, LabelSelector, parseDiscoverySelectors } from './discovery-selectors';
import { mergeMesh, readMeshConfigMap } from './mesh-config-map';

export interface KubeSourceOptions {
  client: KubeClient;
  store: ModelStore;
  settings: KubeConfig;
  /** mesh config from --meshConfig (defaults applied); the ConfigMap's `mesh` is merged over it */
  meshBase: Record<string, unknown>;
  /** the effective mesh config: on start, then on every change */
  onMeshConfig(raw: Record<string, unknown>): void;
  log?: Logger;
  /** retry backoff of every list/watch/discovery (default 200 ms doubling to 30 s) */
  backoff?: BackoffOptions;
  /** how often API discovery is re-checked for Istio CRDs installed or removed later (default 60 s) */
  discoveryIntervalMs?: number;
  /** watch timeoutSeconds (default random 5–10 min) */
  watchTimeoutSeconds?: () => number;
}

/** Per watched kind, for /debug and tests. */
export interface KubeKindStats {
  /** `networking.istio.io/VirtualService`, `Pod` */
  kind: string;
  /** version watched; undefined while the kind is not installed */
  version?: string;
  installed: boolean;
  synced: boolean;
  healthy: boolean;
  /** objects in the store from this kind */
  objects: number;
  /** valid objects seen, including those outside the selected namespaces */
  known: number;
  invalid: number;
  relists: number;
  watchRestarts: number;
  lastError?: string;
  failingSinceMs?: number;
}

interface KindState {
  kind: WatchedKind;
  version: string;
  apiVersion: string;
  origin: string;
  reflector: Reflector;
  /** shaped, valid objects by store key, whatever their namespace's selection */
  candidates: Map<ObjectKey, K8sObject>;
  /** what this kind's origin holds in the store */
  applied: Map<ObjectKey, K8sObject>;
  problems: Map<ObjectKey, FileError>;
  /** Pods and Nodes: stored as projections without resourceVersion */
  projected: boolean;
}

type Shaped = { status: 'ok'; obj: K8sObject; warning?: FileError } | { status: 'skip' } | { status: 'invalid'; problem: FileError };

const DEFAULT_DISCOVERY_INTERVAL_MS = 60_000;

export class KubeSource {
  private readonly client: KubeClient;
  private readonly store: ModelStore;
  private readonly settings: KubeConfig;
  private readonly meshBase: Record<string, unknown>;
  private readonly onMeshConfig: (raw: Record<string, unknown>) => void;
  private readonly log: Logger;
  private readonly backoffOpts: BackoffOptions | undefined;
  private readonly discoveryIntervalMs: number;
  private readonly watchTimeoutSeconds: (() => number) | undefined;

  private state: 'new' | 'running' | 'stopped' = 'new';
  private isSynced = false;
  private readonly kinds = new Map<WatchedKind, KindState>();
  /** Istio kinds found missing, so the absence is logged once */
  private readonly missing = new Set<WatchedKind>();
  private meshReflector: Reflector | undefined;
  private readonly alwaysSelected = new Set<string>();
  private readonly namespaces: DiscoveryNamespaces;
  private selectorsJson = '[]';
  private meshProblems: FileError[] = [];
  private meshOverlay: Record<string, unknown> = {};
  private lastMeshJson: string | undefined;
  private discoveryTimer: NodeJS.Timeout | undefined;
  private discoveryFailingSince: number | undefined;
  private discoveryError: string | undefined;
  private discoveryRunning: Promise<void> = Promise.resolve();
  private readonly discoveryBackoff: Backoff;
  /** the mesh ConfigMap reflector has delivered its first list */
  private meshSeen = false;
  private wake: (() => void) | undefined;

  constructor(opts: KubeSourceOptions) {
    this.client = opts.client;
    this.store = opts.store;
    this.settings = opts.settings;
    this.meshBase = opts.meshBase;
    this.onMeshConfig = opts.onMeshConfig;
    this.log = opts.log ?? scope('kube');
    this.backoffOpts = opts.backoff;
    this.discoveryBackoff = new Backoff(opts.backoff); // also validates the options now, not on the first failure
    this.discoveryIntervalMs = opts.discoveryIntervalMs ?? DEFAULT_DISCOVERY_INTERVAL_MS;
    if (!(this.discoveryIntervalMs > 0)) throw new RangeError(`discoveryIntervalMs: expected a positive number, got ${opts.discoveryIntervalMs}`);
    this.watchTimeoutSeconds = opts.watchTimeoutSeconds;
    this.namespaces = new DiscoveryNamespaces(this.alwaysSelected);
    this.updateAlwaysSelected(this.meshBase);
  }

  /** True once every watched kind's initial list is in the store. */
  get synced(): boolean { return this.isSynced; }

  /**
   * Lists and watches everything; resolves once every initial list is applied. While the API
   * server is unreachable it keeps retrying (never rejects for that); rejects if stop() comes first.
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error('KubeSource can only be started once');
    this.state = 'running';
    const started = Date.now();
    // Namespaces and the mesh config first: they decide what the other kinds may put in the store.
    this.meshReflector = this.startMeshReflector();
    const ns = this.startKind(CORE_KINDS.find((k) => k.kind === 'Namespace')!, 'v1');
    await this.waitSynced([...(this.meshReflector ? [this.meshReflector] : []), ns.reflector]);
    if (!this.meshSeen) this.applyMesh(undefined);
    for (const k of CORE_KINDS) if (!this.kinds.has(k)) this.startKind(k, 'v1');
    await this.discoverUntilDone();
    await this.waitSynced([...this.kinds.values()].map((s) => s.reflector));
    this.isSynced = true;
    this.scheduleDiscovery();
    let objects = 0;
    for (const s of this.kinds.values()) objects += s.applied.size;
    this.log.info('kubernetes informers synced', { kinds: this.kinds.size, objects, ms: Date.now() - started });
  }

  /** Stops every watch and timer. The store keeps the last objects. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    clearTimeout(this.discoveryTimer);
    this.discoveryTimer = undefined;
    this.wake?.();
    await Promise.all([this.meshReflector?.stop(), ...[...this.kinds.values()].map((s) => s.reflector.stop())]);
    await this.discoveryRunning;
    // a discovery check that was mid-way may have started a kind meanwhile
    await Promise.all([...this.kinds.values()].map((s) => s.reflector.stop()));
  }

  /** What is failing right now, for /ready; empty when healthy. */
  degraded(): string[] {
    const out: string[] = [];
    const now = Date.now();
    const since = (t: number) => `${Math.max(0, Math.round((now - t) / 1000))}s`;
    if (this.discoveryFailingSince !== undefined) out.push(`kubernetes: API discovery failing since ${since(this.discoveryFailingSince)}: ${this.discoveryError}`);
    const reflectors = [...(this.meshReflector ? [this.meshReflector] : []), ...[...this.kinds.values()].map((s) => s.reflector)];
    for (const r of reflectors) {
      const h = r.health();
      if (h.healthy || h.failingSinceMs === undefined) continue;
      out.push(`kubernetes: ${h.failingOp ?? 'watch'} of ${r.name} failing since ${since(h.failingSinceMs)}: ${h.lastError}`);
    }
    return out;
  }

  /** Invalid objects and mesh config problems, sorted by `file` (kube:<Kind>/<ns>/<name>). */
  errors(): FileError[] {
    const out: FileError[] = [...this.meshProblems];
    for (const s of this.kinds.values()) out.push(...s.problems.values());
    return out.sort((a, b) => a.file.localeCompare(b.file));
  }

  stats(): KubeKindStats[] {
    const out: KubeKindStats[] = [];
    for (const k of [...CORE_KINDS, ...ISTIO_KINDS]) {
      const name = k.group ? `${k.group}/${k.kind}` : k.kind;
      const s = this.kinds.get(k);
      if (!s) {
        out.push({ kind: name, installed: false, synced: false, healthy: true, objects: 0, known: 0, invalid: 0, relists: 0, watchRestarts: 0 });
        continue;
      }
      const h = s.reflector.health();
      out.push({
        kind: name, version: s.version, installed: true, synced: h.synced, healthy: h.healthy, objects: s.applied.size,
        known: s.candidates.size, invalid: s.problems.size, relists: h.relists, watchRestarts: h.watchRestarts,
        ...(h.lastError !== undefined ? { lastError: h.lastError } : {}), ...(h.failingSinceMs !== undefined ? { failingSinceMs: h.failingSinceMs } : {}),
      });
    }
    return out;
  }

  // ---- reflectors ------------------------------------------------------------------------------

  private reflectorFor(path: string, name: string, handler: (b: ReflectorBatch) => void, query?: Record<string, string>, transform?: (o: KubeObject) => KubeObject): Reflector {
    return new Reflector({
      client: this.client, path, name, handler, query, log: this.log, ...(transform ? { transform } : {}),
      ...(this.backoffOpts ? { backoff: this.backoffOpts } : {}),
      ...(this.watchTimeoutSeconds ? { watchTimeoutSeconds: this.watchTimeoutSeconds } : {}),
    });
  }

  private startKind(kind: WatchedKind, version: string): KindState {
    const apiVersion = apiVersionOf(kind.group, version);
    const name = kind.group ? `${kind.plural}.${kind.group}` : kind.plural;
    const state = {
      kind, version, apiVersion, origin: originOf(kind), candidates: new Map(), applied: new Map(), problems: new Map(),
      projected: kind.group === '' && (kind.kind === 'Pod' || kind.kind === 'Node'),
    } as unknown as KindState;
    state.reflector = this.reflectorFor(collectionPath(kind, version), name, (b) => this.onBatch(state, b),
      kind.fieldSelector ? { fieldSelector: kind.fieldSelector } : undefined, (raw) => this.reduce(state, raw));
    this.kinds.set(kind, state);
    state.reflector.start();
    return state;
  }

  private async stopKind(state: KindState): Promise<void> {
    this.kinds.delete(state.kind);
    await state.reflector.stop();
    if (state.applied.size > 0) this.store.patchOrigin(state.origin, [], [...state.applied.keys()]);
  }

  private async waitSynced(reflectors: Reflector[]): Promise<void> {
    try {
      await Promise.all(reflectors.map((r) => r.whenSynced()));
    } catch {
      // only a stop() makes a reflector give up before its first list
    }
    if (this.state !== 'running') throw new Error('KubeSource stopped before its initial sync');
  }

  // ---- objects ---------------------------------------------------------------------------------

  private onBatch(state: KindState, batch: ReflectorBatch): void {
    const { kind } = state;
    const touched = new Set<ObjectKey>();
    for (const raw of batch.remove) {
      const key = objectKey(kind.group, kind.kind, kind.namespaced ? raw.metadata.namespace : undefined, raw.metadata.name);
      state.candidates.delete(key);
      state.problems.delete(key);
      touched.add(key);
    }
    for (const raw of batch.put) {
      const key = objectKey(kind.group, kind.kind, kind.namespaced ? raw.metadata.namespace : undefined, raw.metadata.name);
      const shaped = this.shape(state, raw);
      if (shaped.status === 'skip') {
        state.problems.delete(key);
        if (state.candidates.delete(key)) touched.add(key);
        continue;
      }
      if (shaped.status === 'invalid') {
        const had = state.candidates.has(key);
        const p = shaped.problem;
        if (state.problems.get(key)?.reason !== p.reason) {
          const { severity: _s, file, ...fields } = p;
          this.log.warn('invalid config object', { ...fields, source: file, action: had ? 'keeping the last valid version' : 'skipped' });
        }
        state.problems.set(key, p);
        continue;
      }
      if (shaped.warning) state.problems.set(key, shaped.warning); else state.problems.delete(key);
      const prev = state.candidates.get(key);
      // Projected kinds: an update whose projection is unchanged (status churn) is no change.
      // Other kinds always differ here (their resourceVersion moved), so they skip the compare.
      if (prev && state.projected && JSON.stringify(prev) === JSON.stringify(shaped.obj)) continue;
      state.candidates.set(key, shaped.obj);
      touched.add(key);
    }
    const changedNamespaces: string[] = [];
    if (kind.kind === 'Namespace' && kind.group === '') {
      for (const key of touched) {
        const name = key.slice(key.lastIndexOf('/') + 1);
        const obj = state.candidates.get(key);
        if (this.namespaces.setNamespace(name, obj ? (obj.metadata.labels ?? {}) : undefined)) changedNamespaces.push(name);
      }
    }
    this.apply(state, touched);
    if (changedNamespaces.length > 0) {
      this.log.info('discovery namespaces changed', { namespaces: changedNamespaces.map((n) => `${n}:${this.namespaces.selects(n) ? 'selected' : 'deselected'}`) });
      this.refilter(new Set(changedNamespaces));
    }
  }

  /**
   * What the reflector caches of a raw API object (client-go SetTransform): apiVersion/kind set,
   * managedFields and last-applied dropped, Pods and Nodes projected, Secrets that are not
   * credentials reduced to their name. resourceVersion stays (relists are diffed by it).
   */
  private reduce(state: KindState, raw: KubeObject): KubeObject {
    const { kind } = state;
    if (kind.group !== '') return cleanObject(raw, state.apiVersion, kind.kind) as KubeObject;
    const rv = raw.metadata.resourceVersion;
    const withRv = (o: K8sObject) => ({ ...o, metadata: { ...o.metadata, ...(rv !== undefined ? { resourceVersion: rv } : {}) } }) as KubeObject;
    switch (kind.kind) {
      case 'Secret':
        if (isCredentialSecret(raw)) return cleanObject(raw, state.apiVersion, kind.kind) as KubeObject;
        return { apiVersion: state.apiVersion, kind: kind.kind, type: raw.type, metadata: { name: raw.metadata.name, namespace: raw.metadata.namespace, resourceVersion: rv } };
      case 'Pod': return withRv(projectPod(cleanObject(raw, state.apiVersion, kind.kind)));
      case 'Node': return withRv(projectNode(cleanObject(raw, state.apiVersion, kind.kind)));
      default: return cleanObject(raw, state.apiVersion, kind.kind) as KubeObject;
    }
  }

  /** One cached object (see reduce) → the object to store, nothing (irrelevant), or a validation problem. */
  private shape(state: KindState, cached: KubeObject): Shaped {
    const { kind } = state;
    if (kind.kind === 'Secret' && kind.group === '' && !isCredentialSecret(cached)) return { status: 'skip' };
    let obj = cached as K8sObject;
    if (state.projected) {
      // resourceVersion moves with every status heartbeat: the stored projection leaves it out
      const { resourceVersion: _rv, ...metadata } = obj.metadata;
      obj = { ...obj, metadata } as K8sObject;
    }
    if (!kind.istio) return { status: 'ok', obj };
    const checked = checkDocument(obj);
    if (checked.status !== 'checked') return { status: 'ok', obj }; // a kind the model does not read (yet): kept as the API server has it
    const where = {
      file: `kube:${kind.kind}/${obj.metadata.namespace ?? ''}/${obj.metadata.name}`,
      kind: kind.kind, name: obj.metadata.name, namespace: obj.metadata.namespace,
    };
    if (checked.errors.length > 0) {
      const field = formatPath(checked.errors[0]!.path);
      return { status: 'invalid', problem: { ...where, ...(field ? { field } : {}), reason: checked.errors.map(formatIssue).join('; '), severity: 'error' } };
    }
    const warning: FileError | undefined = checked.warnings.length > 0
      ? { ...where, reason: checked.warnings.map(formatIssue).join('; '), severity: 'warning' } : undefined;
    return { status: 'ok', obj: checked.object, ...(warning ? { warning } : {}) };
  }

  /** Brings the store in line with the candidates for `keys` (selection applied); one patch. */
  private apply(state: KindState, keys: Iterable<ObjectKey>): void {
    const put: K8sObject[] = [];
    const remove: ObjectKey[] = [];
    for (const key of keys) {
      const c = state.candidates.get(key);
      const want = c !== undefined && (!state.kind.scoped || this.namespaces.selects(c.metadata.namespace ?? ''));
      const have = state.applied.get(key);
      if (want) {
        if (have !== c) { put.push(c); state.applied.set(key, c); }
      } else if (have) {
        remove.push(key);
        state.applied.delete(key);
      }
    }
    if (put.length === 0 && remove.length === 0) return;
    try {
      this.store.patchOrigin(state.origin, put, remove);
    } catch (err) {
      this.log.error('model store update failed', { origin: state.origin, reason: errText(err) });
    }
  }

  /** Re-applies the namespace selection to every scoped kind (all namespaces, or just `only`). */
  private refilter(only?: ReadonlySet<string>): void {
    for (const state of this.kinds.values()) {
      if (!state.kind.scoped) continue;
      const keys = new Set<ObjectKey>();
      for (const [key, o] of state.candidates) if (!only || only.has(o.metadata.namespace ?? '')) keys.add(key);
      for (const [key, o] of state.applied) if (!only || only.has(o.metadata.namespace ?? '')) keys.add(key);
      this.apply(state, keys);
    }
  }

  // ---- mesh config -----------------------------------------------------------------------------

  private startMeshReflector(): Reflector | undefined {
    const { podNamespace, meshConfigMap } = this.settings;
    if (!meshConfigMap) return undefined; // no mesh ConfigMap configured: --meshConfig alone
    const path = `/api/v1/namespaces/${encodeURIComponent(podNamespace)}/configmaps`;
    const r = this.reflectorFor(path, `configmaps (${podNamespace}/${meshConfigMap})`, (b) => {
      this.meshSeen = true;
      const cm = b.put.find((o) => o.metadata.name === meshConfigMap);
      if (cm) this.applyMesh(cm);
      else if (b.remove.some((o) => o.metadata.name === meshConfigMap) || b.initial) this.applyMesh(undefined);
    }, { fieldSelector: `metadata.name=${meshConfigMap}` });
    r.start();
    return r;
  }

  /** The ConfigMap changed (undefined: absent): recompute the effective mesh config. */
  private applyMesh(cm: KubeObject | undefined): void {
    const file = `kube:ConfigMap/${this.settings.podNamespace}/${this.settings.meshConfigMap}`;
    const problems: FileError[] = [];
    if (cm) {
      const overlay = readMeshConfigMap(cm);
      if (overlay.ok) this.meshOverlay = overlay.value;
      else {
        this.log.error('invalid mesh config in ConfigMap, keeping the previous mesh config', { configMap: file, reason: overlay.reason });
        problems.push({ file, kind: 'ConfigMap', name: this.settings.meshConfigMap, namespace: this.settings.podNamespace, field: 'data.mesh', reason: overlay.reason, severity: 'error' });
      }
    } else {
      this.meshOverlay = {};
    }
    const mesh = mergeMesh(this.meshBase, this.meshOverlay);
    const parsed = parseDiscoverySelectors(mesh['discoverySelectors']);
    let selectors: LabelSelector[] | undefined;
    if (parsed.ok) selectors = parsed.selectors;
    else {
      this.log.error('invalid discoverySelectors in mesh config, keeping the previous ones', { configMap: file, reason: parsed.reason });
      problems.push({ file, kind: 'ConfigMap', name: this.settings.meshConfigMap, namespace: this.settings.podNamespace, field: 'discoverySelectors', reason: parsed.reason, severity: 'error' });
    }
    this.meshProblems = problems;

    const json = JSON.stringify(mesh);
    if (json !== this.lastMeshJson) {
      this.lastMeshJson = json;
      try {
        this.onMeshConfig(mesh);
      } catch (err) {
        this.log.error('applying mesh config failed', { reason: errText(err) });
      }
    }
    const alwaysChanged = this.updateAlwaysSelected(mesh);
    const selJson = selectors ? JSON.stringify(selectors) : this.selectorsJson;
    if (selectors && selJson !== this.selectorsJson) {
      this.selectorsJson = selJson;
      this.namespaces.setSelectors(selectors);
      this.log.info('discoverySelectors changed', { selectors: selectors.length });
      this.refilter();
    } else if (alwaysChanged) {
      this.refilter();
    }
  }

  /** istiod's namespace and the mesh root namespace are always selected (see discovery-selectors.ts). */
  private updateAlwaysSelected(mesh: Record<string, unknown>): boolean {
    const next = [this.settings.podNamespace, typeof mesh['rootNamespace'] === 'string' ? mesh['rootNamespace'] : 'istio-system'];
    if (next.every((n) => this.alwaysSelected.has(n)) && this.alwaysSelected.size === new Set(next).size) return false;
    this.alwaysSelected.clear();
    for (const n of next) this.alwaysSelected.add(n);
    return true;
  }

  // ---- API discovery ---------------------------------------------------------------------------

  /** Discovery at start: retried with backoff until it answers (or stop()). */
  private async discoverUntilDone(): Promise<void> {
    const backoff = new Backoff(this.backoffOpts);
    while (this.state === 'running') {
      if (await this.discoverOnce()) return;
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { this.wake = undefined; resolve(); }, backoff.next());
        this.wake = () => { clearTimeout(t); this.wake = undefined; resolve(); };
      });
    }
    throw new Error('KubeSource stopped before its initial sync');
  }

  /** Checks which Istio kinds are served; starts watching new ones, stops watching removed ones. */
  private async discoverOnce(): Promise<boolean> {
    let found: Map<WatchedKind, string>;
    try {
      found = await discoverIstioKinds(this.client);
    } catch (err) {
      if (this.state !== 'running') return false;
      const reason = errText(err);
      if (this.discoveryFailingSince === undefined) {
        this.discoveryFailingSince = Date.now();
        this.log.warn('API discovery failed, retrying', { reason });
      }
      this.discoveryError = reason;
      return false;
    }
    if (this.state !== 'running') return false;
    if (this.discoveryFailingSince !== undefined) this.log.info('API discovery answers again', {});
    this.discoveryFailingSince = undefined;
    for (const k of ISTIO_KINDS) {
      if (this.state !== 'running') return false;
      const version = found.get(k);
      const state = this.kinds.get(k);
      if (version && !state) {
        if (this.missing.delete(k)) this.log.info('CRD installed, watching it now', { kind: `${k.group}/${k.kind}`, version });
        else this.log.debug('watching Istio kind', { kind: `${k.group}/${k.kind}`, version });
        this.startKind(k, version);
      } else if (!version && state) {
        this.log.info('CRD removed, no longer watching it', { kind: `${k.group}/${k.kind}` });
        this.missing.add(k);
        await this.stopKind(state);
      } else if (!version && !this.missing.has(k)) {
        this.missing.add(k);
        this.log.info('CRD not installed, skipping the kind (re-checked periodically)', { kind: `${k.group}/${k.kind}` });
      }
    }
    return true;
  }

  /**
   * The periodic discovery check: every discoveryIntervalMs; after a failure sooner, with
   * backoff, so a recovered API server clears the degraded report promptly.
   */
  private scheduleDiscovery(): void {
    if (this.state !== 'running') return;
    const delay = this.discoveryFailingSince === undefined ? (this.discoveryBackoff.reset(), this.discoveryIntervalMs)
      : Math.min(this.discoveryIntervalMs, this.discoveryBackoff.next());
    this.discoveryTimer = setTimeout(() => {
      this.discoveryTimer = undefined;
      this.discoveryRunning = this.discoverOnce().then(() => this.scheduleDiscovery(), (err: unknown) => {
        this.log.error('API discovery check failed', { reason: errText(err) });
        this.scheduleDiscovery();
      });
    }, delay);
  }
}
