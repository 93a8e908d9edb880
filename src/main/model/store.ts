/**
 * The authoritative model store: every config object the sources have delivered, by key.
 * Main thread only. Sources own disjoint "origins" (a file path, an informer) and replace the
 * whole set of objects of one origin at a time; the store diffs and reports what changed.
 *
 * Invariants:
 * - Objects handed to the store are treated as immutable (the store keeps the references).
 * - When two origins hold the same key, the origin that sorts first wins, deterministically; the
 *   conflict is reported once through `onConflict`.
 */
import { K8sObject, ObjectKey, keyOf, splitApiVersion } from '../../shared/model/objects';

export interface ConfigChange {
  key: ObjectKey;
  kind: string;
  group: string;
  namespace: string;
  name: string;
  event: 'add' | 'update' | 'delete';
}

export type ChangeListener = (changes: ConfigChange[]) => void;

export class ModelStore {
  /** origin → (key → object) */
  private readonly byOrigin = new Map<string, Map<ObjectKey, K8sObject>>();
  /** key → winning object */
  /** key → origins holding it (so resolving a key never scans every origin) */
  private readonly holders = new Map<ObjectKey, Set<string>>();
  private readonly current = new Map<ObjectKey, K8sObject>();
  /** kind → key → winning object (same order as `current`): list(kind) never walks other kinds */
  private readonly byKind = new Map<string, Map<ObjectKey, K8sObject>>();
  private readonly listeners: ChangeListener[] = [];
  private revision = 0;

  constructor(private readonly onConflict: (key: ObjectKey, origins: string[]) => void = () => {}) {}

  /** Monotonic counter, bumped on every effective change. */
  get storeRevision(): number { return this.revision; }

  onChange(listener: ChangeListener): void { this.listeners.push(listener); }

  /** Replace every object of `origin` (an empty list deletes the origin). Returns the changes. */
  replaceOrigin(origin: string, objects: readonly K8sObject[]): ConfigChange[] {
    const before = this.byOrigin.get(origin) ?? new Map<ObjectKey, K8sObject>();
    const after = new Map<ObjectKey, K8sObject>();
    for (const o of objects) after.set(keyOf(o), o);
    if (after.size === 0) this.byOrigin.delete(origin); else this.byOrigin.set(origin, after);
    for (const key of before.keys()) if (!after.has(key)) this.holders.get(key)?.delete(origin);
    for (const key of after.keys()) {
      let set = this.holders.get(key);
      if (!set) this.holders.set(key, (set = new Set()));
      set.add(origin);
    }

    return this.settle(new Set<ObjectKey>([...before.keys(), ...after.keys()]));
  }

  /** Re-resolves the winners of `touched` keys, records and announces the effective changes. */
  private settle(touched: Set<ObjectKey>): ConfigChange[] {
    const changes: ConfigChange[] = [];
    for (const key of touched) {
      const old = this.current.get(key);
      const winner = this.resolve(key);
      if (winner === old) continue;
      if (winner && old && sameContent(winner, old)) { this.put(key, winner); continue; }
      const ref = winner ?? old!;
      const { group } = splitApiVersion(ref.apiVersion);
      if (winner) this.put(key, winner); else this.remove(key, old!);
      changes.push({
        key, group, kind: ref.kind, namespace: ref.metadata.namespace ?? '', name: ref.metadata.name,
        event: !old ? 'add' : !winner ? 'delete' : 'update',
      });
    }
    if (changes.length > 0) {
      this.revision++;
      for (const l of this.listeners) l(changes);
    }
    return changes;
  }

  /**
   * Incremental form of replaceOrigin for sources that see one object at a time (informers):
   * upsert `put` and remove `remove` within `origin`, leaving its other objects alone. Cost grows
   * with the size of the patch, not of the origin. One call = one change notification.
   */
  patchOrigin(origin: string, put: readonly K8sObject[], remove: readonly ObjectKey[] = []): ConfigChange[] {
    let mine = this.byOrigin.get(origin);
    if (!mine) this.byOrigin.set(origin, (mine = new Map()));
    const touched = new Set<ObjectKey>();
    for (const key of remove) {
      if (!mine.delete(key)) continue;
      this.holders.get(key)?.delete(origin);
      touched.add(key);
    }
    for (const o of put) {
      const key = keyOf(o);
      mine.set(key, o);
      let set = this.holders.get(key);
      if (!set) this.holders.set(key, (set = new Set()));
      set.add(origin);
      touched.add(key);
    }
    if (mine.size === 0) this.byOrigin.delete(origin);
    return this.settle(touched);
  }

  /** Keys of the objects `origin` currently holds (a fresh array). */
  originKeys(origin: string): ObjectKey[] { return [...(this.byOrigin.get(origin)?.keys() ?? [])]; }

  get(key: ObjectKey): K8sObject | undefined { return this.current.get(key); }

  /** All current objects of a kind (optionally one group). The returned array is a fresh copy. */
  list(kind: string, group?: string): K8sObject[] {
    const out: K8sObject[] = [];
    for (const o of this.byKind.get(kind)?.values() ?? []) {
      if (group === undefined || splitApiVersion(o.apiVersion).group === group) out.push(o);
    }
    return out;
  }

  private put(key: ObjectKey, obj: K8sObject): void {
    const old = this.current.get(key);
    if (old && old.kind !== obj.kind) this.remove(key, old); // keys include the kind; defensive only
    this.current.set(key, obj);
    let m = this.byKind.get(obj.kind);
    if (!m) this.byKind.set(obj.kind, (m = new Map()));
    m.set(key, obj);
  }

  private remove(key: ObjectKey, old: K8sObject): void {
    this.current.delete(key);
    const m = this.byKind.get(old.kind);
    m?.delete(key);
    if (m && m.size === 0) this.byKind.delete(old.kind);
  }

  all(): IterableIterator<K8sObject> { return this.current.values(); }

  get size(): number { return this.current.size; }

  private resolve(key: ObjectKey): K8sObject | undefined {
    const set = this.holders.get(key);
    if (!set || set.size === 0) { this.holders.delete(key); return undefined; }
    const holders = [...set].sort();
    if (holders.length > 1) this.onConflict(key, holders);
    return this.byOrigin.get(holders[0]!)!.get(key);
  }
}

function sameContent(a: K8sObject, b: K8sObject): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
