/**
 * Which dependency keys (see DependencyKey in snapshot-view.ts) differ between two snapshot
 * inputs. Inputs reuse unchanged model objects, so the comparison is by identity and costs
 * O(services + configs) pointer compares, no serialisation.
 */
import { SnapshotInput } from '../model/service';
import { DependencyKey } from './snapshot-view';

export function changedDependencies(prev: SnapshotInput | undefined, next: SnapshotInput): Set<DependencyKey> | 'all' {
  if (!prev) return 'all';
  const changed = new Set<DependencyKey>();
  const index = (input: SnapshotInput) => new Map(input.services.map((e) => [`${e.service.hostname}/${e.service.namespace}`, e]));
  const before = index(prev);
  const after = index(next);
  for (const [key, a] of after) {
    const b = before.get(key);
    const host = a.service.hostname;
    if (!b) {
      changed.add('svc:*').add(`svc:${host}`).add(`ep:${key}`);
      continue;
    }
    if (a.service !== b.service) changed.add('svc:*').add(`svc:${host}`);
    if (a.endpoints !== b.endpoints) changed.add(`ep:${key}`);
  }
  for (const [key, b] of before) {
    if (!after.has(key)) changed.add('svc:*').add(`svc:${b.service.hostname}`).add(`ep:${key}`);
  }
  const configIndex = (input: SnapshotInput) => new Map(input.configs.map((c) => [`${c.kind}/${c.namespace}/${c.name}`, c]));
  const cb = configIndex(prev);
  const ca = configIndex(next);
  for (const [key, c] of ca) if (cb.get(key) !== c) changed.add(`cfg:${c.kind}`);
  for (const [key, c] of cb) if (!ca.has(key)) changed.add(`cfg:${c.kind}`);
  if (prev.mesh !== next.mesh) changed.add('mesh');
  return changed;
}
