/**
 * Which dependency keys (see DependencyKey in snapshot-view.ts) differ between two snapshot
 * inputs. Inputs reuse unchanged model objects, so the comparison is by identity and costs
 * O(services + configs) pointer compares, no serialisation.
 */
import { SnapshotInput } from '../model/service';
import { DependencyKey } from './snapshot-view';
import { ConfigModel } from '../model/service';
import { HOST_INDEXED_KINDS, configHosts, isWildcardHost } from '../istio/hosts';

function addConfigKeys(changed: Set<DependencyKey>, c: ConfigModel): void {
  changed.add(`cfg:${c.kind}`).add(`cfg:${c.kind}/${c.namespace}/${c.name}`);
  if (!HOST_INDEXED_KINDS.has(c.kind)) return;
  for (const h of configHosts(c.kind, c.namespace, c.spec)) changed.add(isWildcardHost(h) ? `cfg:${c.kind}@*` : `cfg:${c.kind}@${h}`);
}

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
  for (const [key, c] of ca) {
    const old = cb.get(key);
    if (old === c) continue;
    addConfigKeys(changed, c);
    if (old) addConfigKeys(changed, old); // hosts it no longer applies to
  }
  for (const [key, c] of cb) if (!ca.has(key)) addConfigKeys(changed, c);
  if (prev.mesh !== next.mesh) changed.add('mesh');
  return changed;
}
