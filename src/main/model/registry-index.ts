/**
 * The registry's incremental indices: Pods (by namespace/name and by IP), Nodes, EndpointSlices by
 * the Service they belong to, WorkloadEntries by namespace. They follow the store's change events
 * instead of being rebuilt from the whole store on every build, and each batch of changes says
 * which services it makes stale (`Stale`), so a build re-derives only those.
 *
 * Why: at 10,000 pods a build that re-indexed every Pod allocated several hash tables of 10,000
 * entries per push; V8 puts tables that large straight into the old generation, where only a major
 * GC frees them, so the server's heap (and RSS) grew by hundreds of MB between major GCs under
 * endpoint churn.
 */
import { K8sObject, ObjectKey, keyOf, objectKey } from '../../shared/model/objects';
import { ConfigChange, ModelStore } from './store';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** What a batch of store changes makes stale in the registry. */
export interface Stale {
  /** re-derive everything (the first build, or after the indices were reset) */
  readonly all: boolean;
  /** store keys of the Services and ServiceEntries that changed (a Service also when one of its EndpointSlices did) */
  readonly objects: ReadonlySet<ObjectKey>;
  /** references a built service may have read: `pod:ns/name`, `ip:address`, `node:name` (old and new values) */
  readonly refs: ReadonlySet<string>;
  /** namespaces in which a Pod changed (ServiceEntry workloadSelector reads a namespace's pods) */
  readonly podNamespaces: ReadonlySet<string>;
  /** namespaces in which a WorkloadEntry changed (Service selectors and ServiceEntry workloadSelectors read them) */
  readonly workloadEntryNamespaces: ReadonlySet<string>;
  /** some other kind changed: Istio config, Secrets, WorkloadGroups (the config half of a build) */
  readonly configs: boolean;
}

/** The references a built service records and a change names (see Stale.refs). */
export const podRef = (ns: string, name: string): string => `pod:${ns}/${name}`;
export const ipRef = (ip: string): string => `ip:${ip}`;
export const nodeRef = (name: string): string => `node:${name}`;

const podIp = (p: K8sObject | undefined): string | undefined => {
  const ip = (p as any)?.status?.podIP;
  return typeof ip === 'string' ? ip : undefined;
};
const nsOf = (o: K8sObject): string => o.metadata.namespace ?? 'default';
/** The store key of the Service a slice belongs to (same namespace as the slice). */
const sliceOwner = (s: K8sObject | undefined): ObjectKey | undefined => {
  const svc = s?.metadata.labels?.[SERVICE_NAME_LABEL];
  return s && svc ? objectKey('', 'Service', s.metadata.namespace, svc) : undefined;
};

export class RegistryIndex {
  /** namespace → name → pod */
  private readonly podsByNs = new Map<string, Map<string, K8sObject>>();
  /** ip → `ns/name` → pod; the most recently indexed pod at an IP answers podAtIp */
  private readonly podsAtIp = new Map<string, Map<string, K8sObject>>();
  private readonly nodeMap = new Map<string, K8sObject>();
  /** Service key → slice key → slice */
  private readonly slices = new Map<ObjectKey, Map<ObjectKey, K8sObject>>();
  /** slice key → the Service key it is indexed under */
  private readonly sliceOwners = new Map<ObjectKey, string>();
  /** namespace → key → WorkloadEntry */
  private readonly wes = new Map<string, Map<ObjectKey, K8sObject>>();
  private pending: ConfigChange[] = [];
  private loaded = false;

  constructor(private readonly store: ModelStore) {
    store.onChange((changes) => { if (this.loaded) for (const c of changes) this.pending.push(c); });
  }

  private pod(ns: string, name: string): K8sObject | undefined { return this.podsByNs.get(ns)?.get(name); }

  /**
   * The pod behind an EndpointSlice endpoint of namespace `ns`: its targetRef Pod, else the pod at
   * its first address. The reference looked up is added to `refs` (whether found or not), so a
   * pod that appears later makes the reader stale.
   */
  endpointPod(ns: string, e: any, refs?: string[]): K8sObject | undefined {
    if (e.targetRef?.kind === 'Pod') {
      refs?.push(podRef(ns, e.targetRef.name));
      return this.pod(ns, e.targetRef.name);
    }
    const ip = e.addresses?.[0];
    if (typeof ip !== 'string') return undefined;
    refs?.push(ipRef(ip));
    return this.podAtIp(ip);
  }

  private podAtIp(ip: string): K8sObject | undefined {
    let last: K8sObject | undefined;
    for (const p of this.podsAtIp.get(ip)?.values() ?? []) last = p;
    return last;
  }

  /** Pods of a namespace, in no particular order. */
  podsIn(ns: string): Iterable<K8sObject> { return this.podsByNs.get(ns)?.values() ?? []; }

  node(name: string): K8sObject | undefined { return this.nodeMap.get(name); }

  /** The EndpointSlices of a Service (its store key), sorted by name. */
  slicesOf(service: ObjectKey): K8sObject[] {
    return [...(this.slices.get(service)?.values() ?? [])].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  }

  workloadEntriesIn(ns: string): K8sObject[] { return [...(this.wes.get(ns)?.values() ?? [])]; }

  /**
   * Apply the changes seen since the last call and say what they make stale. `reset` (or the first
   * call) reloads every index from the store and returns `all`.
   */
  take(reset: boolean): Stale {
    if (reset || !this.loaded) {
      this.reload();
      return { all: true, objects: new Set(), refs: new Set(), podNamespaces: new Set(), workloadEntryNamespaces: new Set(), configs: true };
    }
    const changes = this.pending;
    this.pending = [];
    const objects = new Set<ObjectKey>(), refs = new Set<string>();
    const podNamespaces = new Set<string>(), workloadEntryNamespaces = new Set<string>();
    let configs = false;
    for (const c of changes) {
      const now = this.store.get(c.key);
      const ns = c.namespace || 'default';
      if (c.group === '' && c.kind === 'Pod') {
        const before = this.podsByNs.get(ns)?.get(c.name);
        for (const ip of [podIp(before), podIp(now)]) if (ip !== undefined) refs.add(ipRef(ip));
        refs.add(podRef(ns, c.name));
        podNamespaces.add(ns);
        this.setPod(ns, c.name, before, now);
      } else if (c.group === '' && c.kind === 'Node') {
        refs.add(nodeRef(c.name));
        if (now) this.nodeMap.set(c.name, now); else this.nodeMap.delete(c.name);
      } else if (c.group === 'discovery.k8s.io' && c.kind === 'EndpointSlice') {
        for (const owner of this.setSlice(c.key, now)) objects.add(owner);
      } else if ((c.group === '' && c.kind === 'Service') || (c.group === 'networking.istio.io' && c.kind === 'ServiceEntry')) {
        objects.add(c.key);
      } else if (c.group === 'networking.istio.io' && c.kind === 'WorkloadEntry') {
        workloadEntryNamespaces.add(ns);
        setIn(this.wes, ns, c.key, now);
      } else {
        configs = true;
      }
    }
    return { all: false, objects, refs, podNamespaces, workloadEntryNamespaces, configs };
  }

  private reload(): void {
    this.pending = [];
    this.podsByNs.clear(); this.podsAtIp.clear(); this.nodeMap.clear(); this.slices.clear(); this.sliceOwners.clear(); this.wes.clear();
    for (const p of this.store.list('Pod', '')) this.setPod(nsOf(p), p.metadata.name, undefined, p);
    for (const n of this.store.list('Node', '')) this.nodeMap.set(n.metadata.name, n);
    for (const s of this.store.list('EndpointSlice', 'discovery.k8s.io')) this.setSlice(keyOf(s), s);
    for (const we of this.store.list('WorkloadEntry', 'networking.istio.io')) setIn(this.wes, nsOf(we), keyOf(we), we);
    this.loaded = true;
  }

  private setPod(ns: string, name: string, before: K8sObject | undefined, now: K8sObject | undefined): void {
    const id = `${ns}/${name}`;
    const oldIp = podIp(before);
    if (oldIp !== undefined) {
      const at = this.podsAtIp.get(oldIp);
      at?.delete(id);
      if (at && at.size === 0) this.podsAtIp.delete(oldIp);
    }
    setIn(this.podsByNs, ns, name, now);
    const ip = podIp(now);
    if (now && ip !== undefined) {
      let at = this.podsAtIp.get(ip);
      if (!at) this.podsAtIp.set(ip, (at = new Map()));
      at.set(id, now);
    }
  }

  /** Index a slice under its Service (or drop it); returns the Services before and after. */
  private setSlice(key: ObjectKey, now: K8sObject | undefined): string[] {
    const owners: string[] = [];
    const before = this.sliceOwners.get(key);
    if (before !== undefined) {
      owners.push(before);
      setIn(this.slices, before, key, undefined);
      this.sliceOwners.delete(key);
    }
    const owner = sliceOwner(now);
    if (owner !== undefined) {
      setIn(this.slices, owner, key, now);
      this.sliceOwners.set(key, owner);
      if (owner !== before) owners.push(owner);
    }
    return owners;
  }
}

/** `outer[k1][k2] = v`, or delete it (and an emptied inner map) when v is undefined. */
function setIn<K1, K2, V>(outer: Map<K1, Map<K2, V>>, k1: K1, k2: K2, v: V | undefined): void {
  let inner = outer.get(k1);
  if (v === undefined) {
    inner?.delete(k2);
    if (inner && inner.size === 0) outer.delete(k1);
    return;
  }
  if (!inner) outer.set(k1, (inner = new Map()));
  inner.set(k2, v);
}

