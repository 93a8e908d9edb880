/**
 * Which VirtualService applies: for sidecars and proxyless clients (bound to `mesh`), and the
 * delegate/merge rules of Istio's VirtualService handling.
 */
import { SnapshotView } from '../../shared/snapshot/snapshot-view';
import { ConfigModel } from '../../shared/model/service';
import { exportedTo } from './scope';

/** The first VirtualService (proxy namespace first, then by namespace/name) bound to `mesh` for `hostname`. */
export function virtualServiceFor(snap: SnapshotView, namespace: string, hostname: string): ConfigModel | undefined {
  const candidates = snap.configsForHost('VirtualService', hostname).filter((vs) => {
    const gateways: string[] = vs.spec?.gateways ?? [];
    if (gateways.length > 0 && !gateways.includes('mesh')) return false;
    return exportedTo(vs.spec?.exportTo, vs.namespace, namespace);
  });
  return pickByNamespace(candidates, namespace);
}

export function pickByNamespace(list: ConfigModel[], namespace: string): ConfigModel | undefined {
  if (list.length === 0) return undefined;
  return [...list].sort((a, b) => {
    const an = a.namespace === namespace ? 0 : 1, bn = b.namespace === namespace ? 0 : 1;
    return an - bn || (a.namespace + '/' + a.name).localeCompare(b.namespace + '/' + b.name);
  })[0];
}

