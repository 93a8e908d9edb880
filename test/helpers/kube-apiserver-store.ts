/**
 * Storage of the Kubernetes API test server: one map per group+resource, a global monotonically
 * increasing resourceVersion, the watch history (bounded by `historyLimit`, dropped by
 * `compact()`), and consistent snapshots for paginated lists.
 *
 * Semantics follow the API server: uid/creationTimestamp (and generation, for the kinds that have
 * one) are set on create and kept on update; a stale `metadata.resourceVersion` on update is a 409 Conflict; an update that changes
 * nothing does not bump the resourceVersion (no watch event); generation moves when anything but
 * metadata and status changes; deleting a namespace deletes what it contains.
 */
import { randomUUID, randomBytes } from 'node:crypto';
import { applyCreateDefaults, applyStatusDefaults, applyUpdateDefaults, applyWriteDefaults } from './kube-apiserver-defaults';
import { ApiError } from './kube-apiserver-errors';
import { ResourceDef, RESOURCES, qualifiedResource, storeKey } from './kube-apiserver-resources';

export type Obj = Record<string, any>;
export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoredEvent {
  rv: number;
  key: string;
  type: EventType;
  /** the new state (DELETED: the last state, with the deletion's resourceVersion) */
  obj: Obj;
  /** the state before (MODIFIED and DELETED) */
  prev?: Obj;
}

export interface WriteOptions {
  /** HTTP semantics: the server sets creationTimestamp and drops status where a status subresource exists */
  http?: boolean;
  /** create the namespace of a namespaced object if missing (direct test edits) */
  autoNamespace?: boolean;
  /** write only .status (the /status subresource) */
  statusOnly?: boolean;
  /** the update comes from a PATCH (no resourceVersion needed) */
  patch?: boolean;
  /** HTTP writes: the field manager recorded in metadata.managedFields */
  manager?: { name: string; operation: 'Update' | 'Apply'; apiVersion: string };
}

const NS_DEF = RESOURCES.find((d) => d.resource === 'namespaces')!;
const SA_DEF = RESOURCES.find((d) => d.resource === 'serviceaccounts')!;

/** RFC3339 with seconds precision, as metav1.Time serialises. */
export function rfc3339(d = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function nsName(ns: string | undefined, name: string): string {
  return `${ns ?? ''}/${name}`;
}

/** Content comparison that ignores what the server itself maintains. */
function sameContent(a: Obj, b: Obj): boolean {
  const strip = (o: Obj) => ({ ...o, metadata: { ...o.metadata, resourceVersion: undefined, generation: undefined, managedFields: undefined } });
  return JSON.stringify(strip(a)) === JSON.stringify(strip(b));
}

function specChanged(a: Obj, b: Obj): boolean {
  const strip = (o: Obj) => ({ ...o, metadata: undefined, status: undefined });
  return JSON.stringify(strip(a)) !== JSON.stringify(strip(b));
}

export { present } from './kube-apiserver-encode';

/** FieldsV1 of an object (simplified: every map key; lists as leaves). */
function fieldsOf(v: unknown): Obj {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return {};
  const out: Obj = {};
  for (const [k, x] of Object.entries(v as Obj)) {
    const sub = fieldsOf(x);
    out[`f:${k}`] = Object.keys(sub).length > 0 ? { '.': {}, ...sub } : {};
  }
  return out;
}

/** Adds (or refreshes) the writer's metadata.managedFields entry, as server-side field tracking does. */
function recordManager(obj: Obj, cur: Obj | undefined, opts: WriteOptions): void {
  const m = opts.manager;
  if (!m) return;
  const { apiVersion: _a, kind: _k, metadata, status, ...rest } = obj;
  const tracked: Obj = opts.statusOnly ? { status } : { ...rest };
  const metaFields: Obj = {};
  for (const f of ['labels', 'annotations', 'finalizers', 'ownerReferences']) if (metadata?.[f] !== undefined) metaFields[f] = metadata[f];
  if (!opts.statusOnly && Object.keys(metaFields).length > 0) tracked.metadata = metaFields;
  const sub = opts.statusOnly ? 'status' : undefined;
  const prev: Obj[] = (cur?.metadata?.managedFields ?? obj.metadata.managedFields ?? [])
    .filter((e: Obj) => !(e.manager === m.name && e.operation === m.operation && e.subresource === sub));
  const fieldsV1 = fieldsOf(tracked);
  if (fieldsV1['f:metadata']) delete fieldsV1['f:metadata']['.']; // metadata itself is nobody's
  obj.metadata.managedFields = [...prev, {
    manager: m.name, operation: m.operation, apiVersion: m.apiVersion, time: rfc3339(), fieldsType: 'FieldsV1', fieldsV1, ...(sub ? { subresource: sub } : {}),
  }];
}

const LABEL_1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** metadata.name validation of the API server (DNS-1035 label for Services, RFC 1123 label for Namespaces, subdomain elsewhere). */
function checkName(d: ResourceDef, name: string): void {
  const bad = (why: string) => new ApiError(422, 'Invalid', `${d.kind} "${name}" is invalid: metadata.name: Invalid value: "${name}": ${why}`,
    { name, group: d.group || undefined, kind: d.kind, causes: [{ reason: 'FieldValueInvalid', message: `Invalid value: "${name}": ${why}`, field: 'metadata.name' }] });
  if (d.group === 'rbac.authorization.k8s.io') {
    // path segment names (system:auth-delegator is one)
    if (name === '.' || name === '..') throw bad(`may not be '${name}'`);
    for (const ch of ['/', '%']) if (name.includes(ch)) throw bad(`may not contain '${ch}'`);
  } else if (d.resource === 'services') {
    if (name.length > 63 || !LABEL_1035.test(name)) throw bad("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')");
  } else if (d.resource === 'namespaces') {
    if (name.length > 63 || !LABEL_1123.test(name)) throw bad("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')");
  } else if (name.length > 253 || !SUBDOMAIN.test(name)) {
    throw bad("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
  }
}

interface Snapshot { rv: number; items: Obj[] }

export class KubeStore {
  rv = 0;
  /** watch events with resourceVersion <= compactedRv are gone */
  compactedRv = 0;
  private readonly data = new Map<string, Map<string, Obj>>();
  private history: StoredEvent[] = [];
  private readonly subscribers = new Set<(ev: StoredEvent) => void>();
  private readonly snapshots = new Map<string, Snapshot>();

  /**
   * How long a deleted Namespace stays Terminating before its content and itself are deleted
   * (HTTP DELETE only; 0 = at once). kube-apiserver with its namespace controller takes ~5 s.
   */
  namespaceTerminationMs = 0;

  constructor(private readonly historyLimit: number) {}

  /**
   * DELETE of a Namespace over HTTP: at once, or (namespaceTerminationMs > 0) marked Terminating
   * (MODIFIED: deletionTimestamp, status.phase) and emptied and removed later, as the namespace
   * controller does. Returns the Namespace as the API server answers it.
   */
  deleteNamespace(name: string, preconditions?: { resourceVersion?: string; uid?: string }): Obj {
    const cur = this.table(NS_DEF).get(nsName(undefined, name));
    if (!cur) throw ApiError.notFound(NS_DEF, name);
    if (this.namespaceTerminationMs <= 0) {
      const gone = this.delete(NS_DEF, undefined, name, preconditions);
      gone.metadata.deletionTimestamp = rfc3339();
      gone.status = { ...(gone.status ?? {}), phase: 'Terminating' };
      return gone;
    }
    if (cur.metadata.deletionTimestamp) return structuredClone(cur);
    const terminating = structuredClone(cur);
    terminating.metadata.deletionTimestamp = rfc3339();
    terminating.status = { ...(terminating.status ?? {}), phase: 'Terminating' };
    const out = this.update(NS_DEF, terminating, {});
    const uid = cur.metadata.uid;
    setTimeout(() => {
      const now = this.table(NS_DEF).get(nsName(undefined, name));
      if (now && now.metadata.uid === uid) this.delete(NS_DEF, undefined, name);
    }, this.namespaceTerminationMs).unref();
    return out;
  }

  private table(d: ResourceDef): Map<string, Obj> {
    const k = storeKey(d);
    let t = this.data.get(k);
    if (!t) this.data.set(k, (t = new Map()));
    return t;
  }

  get(d: ResourceDef, ns: string | undefined, name: string): Obj | undefined {
    const o = this.table(d).get(nsName(d.namespaced ? ns : undefined, name));
    return o && structuredClone(o);
  }

  /** Sorted by namespace then name; all namespaces when `ns` is undefined. Not cloned. */
  listRaw(d: ResourceDef, ns?: string): Obj[] {
    const out: Obj[] = [];
    for (const o of this.table(d).values()) if (ns === undefined || o.metadata.namespace === ns) out.push(o);
    return out.sort((a, b) => (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') || a.metadata.name.localeCompare(b.metadata.name));
  }

  subscribe(fn: (ev: StoredEvent) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  /** Events after `rv` for a group/resource, or 'expired' when the history no longer reaches back. */
  since(key: string, rv: number): StoredEvent[] | 'expired' {
    if (rv < this.compactedRv) return 'expired';
    // first event after rv (binary search: rvs increase along the history)
    let lo = 0;
    let hi = this.history.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (this.history[mid]!.rv <= rv) lo = mid + 1; else hi = mid; }
    const out: StoredEvent[] = [];
    for (let i = lo; i < this.history.length; i++) if (this.history[i]!.key === key) out.push(this.history[i]!);
    return out;
  }

  compact(): void {
    this.history = [];
    this.compactedRv = this.rv;
    this.snapshots.clear();
  }

  private emit(d: ResourceDef, type: EventType, obj: Obj, prev?: Obj): void {
    const ev: StoredEvent = { rv: this.rv, key: storeKey(d), type, obj: structuredClone(obj), ...(prev ? { prev } : {}) };
    this.history.push(ev);
    // trimmed in batches (a shift per write would be O(history)); a little more history is harmless
    if (this.history.length > this.historyLimit + Math.max(64, this.historyLimit >> 4)) {
      const drop = this.history.length - this.historyLimit;
      this.compactedRv = this.history[drop - 1]!.rv;
      this.history.splice(0, drop);
    }
    for (const fn of [...this.subscribers]) fn(ev);
  }

  create(d: ResourceDef, input: Obj, opts: WriteOptions = {}): Obj {
    const obj = structuredClone(input);
    delete obj.apiVersion;
    const meta: Obj = (obj.metadata = { ...(obj.metadata ?? {}) });
    if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${randomBytes(3).toString('hex').slice(0, 5)}`;
    if (!meta.name) throw ApiError.invalid(d, '', 'metadata.name', 'Required value: name or generateName is required');
    checkName(d, meta.name);
    if (d.namespaced) {
      if (!meta.namespace) throw ApiError.invalid(d, meta.name, 'metadata.namespace', 'Required value');
      const nsObj = this.table(NS_DEF).get(nsName(undefined, meta.namespace));
      if (!nsObj) {
        if (!opts.autoNamespace) throw ApiError.namespaceNotFound(meta.namespace);
        this.create(NS_DEF, { metadata: { name: meta.namespace } }, opts);
      } else if (nsObj.metadata.deletionTimestamp) {
        throw new ApiError(403, 'Forbidden', `${qualifiedResource(d)} "${meta.name}" is forbidden: unable to create new content in namespace ${meta.namespace} because it is being terminated`, {
          name: meta.name, group: d.group || undefined, kind: d.resource,
          causes: [{ reason: 'NamespaceTerminating', message: `namespace ${meta.namespace} is being terminated`, field: 'metadata.namespace' }],
        });
      }
    } else {
      delete meta.namespace;
    }
    const t = this.table(d);
    const k = nsName(meta.namespace, meta.name);
    if (t.has(k)) throw ApiError.alreadyExists(d, meta.name);
    obj.kind = d.kind;
    meta.uid = opts.http || !meta.uid ? randomUUID() : meta.uid;
    meta.creationTimestamp = opts.http || !meta.creationTimestamp ? rfc3339() : meta.creationTimestamp;
    if (d.generation === 'none') delete meta.generation; else meta.generation = 1;
    delete meta.deletionTimestamp;
    delete meta.selfLink;
    if (opts.http && d.status) delete obj.status;
    if (opts.http) applyCreateDefaults(d, obj, () => this.allocateClusterIp());
    applyWriteDefaults(d, obj);
    if (d.resource === 'namespaces') {
      meta.labels = { ...(meta.labels ?? {}), 'kubernetes.io/metadata.name': meta.name };
      obj.spec = { finalizers: ['kubernetes'], ...(obj.spec ?? {}) };
      obj.status = { phase: 'Active', ...(obj.status ?? {}) };
    }
    delete meta.managedFields;
    recordManager(obj, undefined, opts);
    meta.resourceVersion = String(++this.rv);
    t.set(k, obj);
    this.emit(d, 'ADDED', obj);
    // what the serviceaccount controller does for every namespace
    if (d.resource === 'namespaces' && !this.table(SA_DEF).has(nsName(meta.name, 'default'))) {
      this.create(SA_DEF, { metadata: { name: 'default', namespace: meta.name } });
    }
    return structuredClone(obj);
  }

  update(d: ResourceDef, input: Obj, opts: WriteOptions = {}): Obj {
    const meta = input.metadata ?? {};
    if (!meta.name) throw ApiError.invalid(d, '', 'metadata.name', 'Required value: name is required');
    const ns = d.namespaced ? meta.namespace : undefined;
    const t = this.table(d);
    const k = nsName(ns, meta.name);
    const cur = t.get(k);
    if (!cur) throw ApiError.notFound(d, meta.name);
    const hasRv = meta.resourceVersion !== undefined && meta.resourceVersion !== null && meta.resourceVersion !== '';
    if (!hasRv && opts.http && !d.unconditionalUpdate && !opts.patch) {
      throw new ApiError(422, 'Invalid', `${qualifiedResource(d)} "${meta.name}" is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update`, {
        name: meta.name, group: d.group || undefined, kind: d.resource, causes: [{ reason: 'FieldValueInvalid', message: 'Invalid value: 0: must be specified for an update', field: 'metadata.resourceVersion' }],
      });
    }
    if (hasRv && String(meta.resourceVersion) !== cur.metadata.resourceVersion) {
      throw ApiError.conflict(d, meta.name);
    }
    if (meta.uid && meta.uid !== cur.metadata.uid) {
      throw ApiError.conflict(d, meta.name, `Precondition failed: UID in precondition: ${meta.uid}, UID in object meta: ${cur.metadata.uid}`);
    }
    let next: Obj;
    if (opts.statusOnly) {
      next = { ...structuredClone(cur), status: structuredClone(input.status) };
      if (next.status === undefined) delete next.status;
      if (opts.http) applyStatusDefaults(d, next, cur);
    } else {
      next = structuredClone(input);
      delete next.apiVersion;
      next.kind = d.kind;
      if (opts.http && d.status) {
        if (cur.status === undefined) delete next.status; else next.status = structuredClone(cur.status);
      }
      next.metadata = {
        ...next.metadata,
        ...(ns !== undefined ? { namespace: ns } : {}),
        uid: cur.metadata.uid,
        creationTimestamp: cur.metadata.creationTimestamp,
      };
      if (cur.metadata.generation === undefined) delete next.metadata.generation; else next.metadata.generation = cur.metadata.generation;
      if (ns === undefined) delete next.metadata.namespace;
      if (d.resource === 'namespaces') next.metadata.labels = { ...(next.metadata.labels ?? {}), 'kubernetes.io/metadata.name': meta.name };
      if (opts.http) applyUpdateDefaults(d, next);
      applyWriteDefaults(d, next);
    }
    next.metadata.resourceVersion = cur.metadata.resourceVersion;
    if (sameContent(cur, next)) return structuredClone(cur);
    if (d.generation !== 'none' && (specChanged(cur, next) || (d.generation === 'spec+labels' && JSON.stringify(cur.metadata.labels ?? {}) !== JSON.stringify(next.metadata.labels ?? {})))) {
      next.metadata.generation = (cur.metadata.generation ?? 0) + 1;
    }
    if (cur.metadata.managedFields) next.metadata.managedFields = structuredClone(cur.metadata.managedFields); else delete next.metadata.managedFields;
    recordManager(next, cur, opts);
    next.metadata.resourceVersion = String(++this.rv);
    t.set(k, next);
    this.emit(d, 'MODIFIED', next, cur);
    return structuredClone(next);
  }

  delete(d: ResourceDef, ns: string | undefined, name: string, preconditions?: { resourceVersion?: string; uid?: string }): Obj {
    const t = this.table(d);
    const k = nsName(d.namespaced ? ns : undefined, name);
    const cur = t.get(k);
    if (!cur) throw ApiError.notFound(d, name);
    if (preconditions?.resourceVersion && preconditions.resourceVersion !== cur.metadata.resourceVersion) {
      throw ApiError.conflict(d, name, `Precondition failed: ResourceVersion in precondition: ${preconditions.resourceVersion}, ResourceVersion in object meta: ${cur.metadata.resourceVersion}`);
    }
    if (preconditions?.uid && preconditions.uid !== cur.metadata.uid) {
      throw ApiError.conflict(d, name, `Precondition failed: UID in precondition: ${preconditions.uid}, UID in object meta: ${cur.metadata.uid}`);
    }
    if (d.resource === 'namespaces') {
      for (const rd of RESOURCES) {
        if (!rd.namespaced) continue;
        for (const o of this.listRaw(rd, name)) this.delete(rd, name, o.metadata.name);
      }
    }
    t.delete(k);
    const gone = structuredClone(cur);
    gone.metadata.resourceVersion = String(++this.rv);
    this.emit(d, 'DELETED', gone, cur);
    return structuredClone(gone);
  }

  private nextIp = 10;

  /** A free ClusterIP from 10.96.0.0/16. */
  private allocateClusterIp(): string {
    const used = new Set(this.listRaw(RESOURCES.find((d) => d.resource === 'services')!).map((o) => o.spec?.clusterIP));
    let ip: string;
    do { const n = this.nextIp++; ip = `10.96.${(n >> 8) & 255}.${n & 255}`; } while (used.has(ip) || ip.endsWith('.0') || ip.endsWith('.255'));
    return ip;
  }

  /** A consistent page of `items` (already filtered); `token` continues an earlier page. */
  page(items: () => Obj[], limit: number, token: string | null): { items: Obj[]; rv: number; continue?: string; remaining?: number } {
    let snap: Snapshot;
    let offset = 0;
    let id: string;
    if (token) {
      let parsed: { id?: string; offset?: number };
      try { parsed = JSON.parse(Buffer.from(token, 'base64url').toString()); } catch { throw ApiError.badRequest(`invalid continue token: continue key is not valid: ${token}`); }
      const s = parsed.id ? this.snapshots.get(parsed.id) : undefined;
      if (!s || s.rv < this.compactedRv) {
        throw ApiError.expired('The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.');
      }
      snap = s;
      id = parsed.id!;
      offset = parsed.offset ?? 0;
    } else {
      snap = { rv: this.rv, items: items().map((o) => structuredClone(o)) };
      id = randomUUID();
    }
    if (!limit || limit <= 0) return { items: snap.items.slice(offset), rv: snap.rv };
    const end = offset + limit;
    const out = snap.items.slice(offset, end);
    if (end >= snap.items.length) {
      this.snapshots.delete(id);
      return { items: out, rv: snap.rv };
    }
    this.snapshots.set(id, snap);
    while (this.snapshots.size > 64) this.snapshots.delete(this.snapshots.keys().next().value!);
    return { items: out, rv: snap.rv, continue: Buffer.from(JSON.stringify({ id, offset: end })).toString('base64url'), remaining: snap.items.length - end };
  }
}
