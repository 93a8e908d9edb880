/**
 * A Kubernetes API test server on 127.0.0.1 (plain node:http) speaking the real wire protocol, as
 * kube-apiserver v1.37 does (checked request by request against scripts/kube-apiserver):
 * discovery, typed paths, list with selectors and consistent limit/continue pages, chunked watch
 * streams (resourceVersion replay, bookmarks, 410 Expired ERROR events), create/update (optimistic
 * concurrency)/patch/delete with the server's defaults, field order, managedFields and Status
 * errors; bearer-token authentication, TokenReview and TokenRequest, RBAC authorization, and
 * validating admission webhooks. Tests drive it with the real @kubernetes/client-node through
 * `client()` / `clientAs(token)`.
 *
 * Test controls: direct state edits (`create/update/remove/get/list`, which emit watch events like
 * the HTTP API but skip admission), `compact()` (drop watch history), `stop()`/`start()` (outage:
 * every connection dropped, state kept, same port), `requests` (every API call seen, with verb,
 * group, resource, subresource, namespace, name, user, groups, code: for RBAC), `addToken()`,
 * `serviceAccountToken()`, `freshNamespace()`.
 *
 * `kubeTestTarget()` returns the common surface (KubeTestTarget) backed by a real API server when
 * KUBE_TEST_APISERVER and KUBECONFIG are set (kube-apiserver-remote.ts), else by this server.
 *
 * Pieces: -resources.ts (resource table, discovery), -store.ts (storage, resourceVersion, history,
 * namespaces, Service defaults), -encode.ts (serialisation), -watch.ts, -http.ts (routing, verbs),
 * -select.ts, -patch.ts, -auth.ts (tokens), -rbac.ts, -admission.ts, -errors.ts (metav1.Status).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { Socket } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { KubeClient, KubeObject, loadKubeConfig } from '../../src/main/kube/client';
import { Authenticator, UserInfo } from './kube-apiserver-auth';
import { KubeRequest, ServerContext, handle } from './kube-apiserver-http';
import { ResourceDef, findByKind, servedExcept, splitApiVersion } from './kube-apiserver-resources';
import { KubeStore, Obj, present } from './kube-apiserver-store';

export type { KubeRequest } from './kube-apiserver-http';
export type { UserInfo } from './kube-apiserver-auth';
export { API_AUDIENCES } from './kube-apiserver-auth';
export { RESOURCES, findByKind } from './kube-apiserver-resources';

export interface KubeTestServerOptions {
  /** 0 (default) = any free port */
  port?: number;
  /** the bearer token the kubeconfig carries and the server requires (default 'test-token') */
  token?: string;
  /** interval of BOOKMARK events on watches that allow them (default 1000) */
  bookmarkIntervalMs?: number;
  /** watch events kept (at least) for resuming watches (default 10000); older resourceVersions get 410 Expired */
  historyLimit?: number;
  /**
   * How long a Namespace deleted over HTTP stays Terminating (creates in it: 403 Forbidden) before
   * its content and itself are deleted. Default 0: at once. A real cluster takes seconds.
   */
  namespaceTerminationMs?: number;
  /**
   * Resources not served, as in a cluster where those CRDs (or versions) are not installed:
   * `group` (e.g. 'telemetry.istio.io'), `group/resource` or `group/version/resource`
   * (e.g. 'networking.istio.io/v1/virtualservices'; the core group is 'core'). Discovery leaves
   * them out and their URLs answer 404; direct create() of such a kind throws.
   */
  omitResources?: string[];
}

/**
 * What tests can rely on whether the API server is the local test server or a real one.
 * The outage controls are only there for the local server (`local: true`).
 */
export interface KubeTestTarget {
  readonly local: boolean;
  readonly url: string;
  readonly kubeconfigPath: string;
  client(): KubeClient;
  /** A client of the same server authenticating with `token` (e.g. from serviceAccountToken(); RBAC applies). */
  clientAs(token: string): KubeClient;
  /** Creates the object (and its namespace when missing). Returns it as stored. */
  create(obj: Obj): Promise<KubeObject>;
  /** Replaces the object; a stale metadata.resourceVersion is a Conflict, none = unconditional. */
  update(obj: Obj): Promise<KubeObject>;
  /** Deletes it; resolves to the deleted object, or undefined when it did not exist. */
  remove(apiVersion: string, kind: string, namespace: string | undefined, name: string): Promise<KubeObject | undefined>;
  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): Promise<KubeObject | undefined>;
  /** Every object of the kind, all namespaces, sorted by namespace/name. */
  list(apiVersion: string, kind: string): Promise<KubeObject[]>;
  /** Creates a namespace with a fresh random name (`<prefix>-xxxxxx`); returns the name. Removed on close() on a real server. */
  freshNamespace(prefix?: string): Promise<string>;
  /** A ServiceAccount token from TokenRequest (the ServiceAccount is created when missing). */
  serviceAccountToken(namespace: string, name: string, audiences?: string[], expirationSeconds?: number): Promise<string>;
  close(): Promise<void>;
  /** local only */
  readonly server?: KubeTestServer;
  stop?(): Promise<void>;
  start?(): Promise<void>;
  compact?(): void;
  readonly requests?: KubeRequest[];
}

export const DEFAULT_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

/** A few of the API server's bootstrap ClusterRoles, for RoleBindings in tests (as on any cluster). */
const BOOTSTRAP_CLUSTER_ROLES = [
  { metadata: { name: 'cluster-admin', labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' } }, rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }, { nonResourceURLs: ['*'], verbs: ['*'] }] },
  { metadata: { name: 'system:auth-delegator', labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' } }, rules: [
    { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
    { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
  ] },
];

export class KubeTestServer {
  /** every API call seen (discovery and health included; `verb` is the Kubernetes verb) */
  readonly requests: KubeRequest[] = [];
  readonly kubeconfigPath: string;
  private readonly store: KubeStore;
  private readonly ctx: ServerContext;
  private readonly sockets = new Set<Socket>();
  private server?: http.Server;
  private readonly dir: string;
  private _port: number;
  private readonly token: string;

  constructor(opts: KubeTestServerOptions = {}) {
    this._port = opts.port ?? 0;
    this.token = opts.token ?? 'test-token';
    this.store = new KubeStore(opts.historyLimit ?? 10_000);
    this.store.namespaceTerminationMs = opts.namespaceTerminationMs ?? 0;
    this.ctx = {
      store: this.store,
      auth: new Authenticator(this.store),
      requests: this.requests,
      openWatches: new Set(),
      bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 1000,
      served: servedExcept(opts.omitResources ?? []),
      address: () => `127.0.0.1:${this._port}`,
    };
    this.ctx.auth.add(this.token, { user: { username: 'kube-test-admin', groups: ['system:masters', 'system:authenticated'] } });
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube-test-'));
    this.kubeconfigPath = path.join(this.dir, 'kubeconfig');
    for (const name of DEFAULT_NAMESPACES) this.store.create(findByKind('v1', 'Namespace'), { metadata: { name } });
    for (const role of BOOTSTRAP_CLUSTER_ROLES) this.store.create(findByKind('rbac.authorization.k8s.io/v1', 'ClusterRole'), role);
  }

  get port(): number { return this._port; }
  get url(): string { return `http://127.0.0.1:${this._port}`; }
  /** the current (latest) resourceVersion */
  get resourceVersion(): string { return String(this.store.rv); }
  /** number of open watch streams */
  get watchCount(): number { return this.ctx.openWatches.size; }
  get running(): boolean { return this.server !== undefined; }

  /** Starts listening (again, on the same port after stop()). */
  async start(): Promise<void> {
    if (this.server) return;
    const server = http.createServer((req, res) => { void handle(this.ctx, req, res); });
    server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this._port, '127.0.0.1', () => { server.off('error', reject); resolve(); });
    });
    this._port = (server.address() as { port: number }).port;
    this.server = server;
    this.writeKubeconfig();
  }

  /** Outage: closes the listener and destroys every open connection (watch streams end abruptly). State is kept. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const close of [...this.ctx.openWatches]) close();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await closed;
  }

  /** stop() and remove the kubeconfig directory. */
  async close(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** A KubeClient (real client-node transport) for this server. */
  client(): KubeClient {
    return new KubeClient(loadKubeConfig({ kubeconfig: this.kubeconfigPath }));
  }

  /** A KubeClient authenticating with `token` instead (RBAC applies unless it is in system:masters). */
  clientAs(token: string): KubeClient {
    return clientWithToken(this.kubeconfigPath, token);
  }

  /**
   * A token TokenReview accepts for `audiences` (default: the API server's, API_AUDIENCES). It
   * authenticates API requests too when its audiences include the API server's.
   */
  addToken(token: string, user: UserInfo, audiences?: string[]): void {
    this.ctx.auth.add(token, { user, ...(audiences ? { audiences } : {}) });
  }

  /**
   * Issues a ServiceAccount token as TokenRequest does (creating the ServiceAccount, and its
   * namespace, when missing): a JWT bound to the ServiceAccount, valid for TokenReview with
   * `audiences` until it expires or the ServiceAccount is deleted.
   */
  serviceAccountToken(namespace: string, name: string, audiences?: string[], expirationSeconds?: number): string {
    if (!this.get('v1', 'ServiceAccount', namespace, name)) this.create({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } });
    return this.ctx.auth.issue(namespace, name, { audiences, expirationSeconds }).token;
  }

  /** Creates a namespace with a fresh random name (`<prefix>-xxxxxx`) and returns its name. */
  freshNamespace(prefix = 'kt'): string {
    const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
    this.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    return name;
  }

  /** Drops the watch history: a watch from any older resourceVersion gets a 410 Expired ERROR event. */
  compact(): void { this.store.compact(); }

  /**
   * Creates an object directly (emits ADDED). Keeps a given creationTimestamp and uid; creates a
   * missing namespace. Throws an ApiError (409 AlreadyExists, 422 Invalid, ...) as the API would.
   */
  create<T = KubeObject>(obj: Obj): T {
    const d = this.servedKind(obj.apiVersion, obj.kind);
    const stored = this.store.create(d, obj, { autoNamespace: true });
    return present(d, stored, splitApiVersion(obj.apiVersion).version) as T;
  }

  /** Replaces an object directly (emits MODIFIED unless nothing changed). A stale resourceVersion throws 409 Conflict. */
  update<T = KubeObject>(obj: Obj): T {
    const d = this.servedKind(obj.apiVersion, obj.kind);
    const input = structuredClone(obj) as Obj;
    if (!d.namespaced) delete input.metadata?.namespace;
    const stored = this.store.update(d, input);
    return present(d, stored, splitApiVersion(obj.apiVersion).version) as T;
  }

  /** Deletes directly (emits DELETED); returns the deleted object or undefined if absent. */
  remove(apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const d = findByKind(apiVersion, kind);
    if (!this.store.get(d, namespace, name)) return undefined;
    return present(d, this.store.delete(d, namespace, name), splitApiVersion(apiVersion).version) as KubeObject;
  }

  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const d = findByKind(apiVersion, kind);
    const o = this.store.get(d, namespace, name);
    return o && (present(d, o, splitApiVersion(apiVersion).version) as KubeObject);
  }

  /** All objects of the kind (all namespaces, or one), sorted by namespace/name. */
  list(apiVersion: string, kind: string, namespace?: string): KubeObject[] {
    const d = findByKind(apiVersion, kind);
    return this.store.listRaw(d, namespace).map((o) => present(d, o, splitApiVersion(apiVersion).version) as KubeObject);
  }

  private servedKind(apiVersion: string, kind: string): ResourceDef {
    const d = findByKind(apiVersion, kind);
    if (!this.ctx.served(d, splitApiVersion(apiVersion).version)) throw new Error(`kube test server: ${kind} ${apiVersion} is not served here (omitResources)`);
    return d;
  }

  private writeKubeconfig(): void {
    const cfg = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'kube-test', cluster: { server: this.url, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'kube-test-admin', user: { token: this.token } }],
      contexts: [{ name: 'kube-test', context: { cluster: 'kube-test', user: 'kube-test-admin', namespace: 'default' } }],
      'current-context': 'kube-test',
    };
    fs.writeFileSync(this.kubeconfigPath, JSON.stringify(cfg, null, 2) + '\n', { mode: 0o600 });
  }
}

export async function startKubeTestServer(opts: KubeTestServerOptions = {}): Promise<KubeTestServer> {
  const s = new KubeTestServer(opts);
  try {
    await s.start();
  } catch (e) {
    await s.close();
    throw e;
  }
  return s;
}

/** A KubeClient from a kubeconfig whose current user's credentials are replaced by `token`. */
export function clientWithToken(kubeconfigPath: string, token: string): KubeClient {
  const base = loadKubeConfig({ kubeconfig: kubeconfigPath });
  const kc = new k8s.KubeConfig();
  const ctx = base.getContextObject(base.getCurrentContext())!;
  kc.loadFromOptions({
    clusters: base.clusters,
    users: [{ name: 'token-user', token }],
    contexts: [{ ...ctx, name: 'token-context', user: 'token-user' }],
    currentContext: 'token-context',
  });
  return new KubeClient(kc);
}

/** The local server behind the KubeTestTarget surface. */
export function localTarget(server: KubeTestServer): KubeTestTarget {
  return {
    local: true,
    server,
    get url() { return server.url; },
    kubeconfigPath: server.kubeconfigPath,
    requests: server.requests,
    client: () => server.client(),
    clientAs: (token) => server.clientAs(token),
    create: async (obj) => server.create<KubeObject>(obj),
    update: async (obj) => server.update<KubeObject>(obj),
    remove: async (a, k, ns, n) => server.remove(a, k, ns, n),
    get: async (a, k, ns, n) => server.get(a, k, ns, n),
    list: async (a, k) => server.list(a, k),
    freshNamespace: async (prefix) => server.freshNamespace(prefix),
    serviceAccountToken: async (ns, name, aud, exp) => server.serviceAccountToken(ns, name, aud, exp),
    close: () => server.close(),
    stop: () => server.stop(),
    start: () => server.start(),
    compact: () => server.compact(),
  };
}

/**
 * A real API server when KUBE_TEST_APISERVER and KUBECONFIG are set (objects it creates are
 * deleted on close()), else a fresh local test server.
 */
export async function kubeTestTarget(opts: KubeTestServerOptions = {}): Promise<KubeTestTarget> {
  if (process.env.KUBE_TEST_APISERVER && process.env.KUBECONFIG) {
    const { remoteTarget } = await import('./kube-apiserver-remote');
    return remoteTarget(process.env.KUBECONFIG, process.env.KUBE_TEST_APISERVER);
  }
  return localTarget(await startKubeTestServer(opts));
}
