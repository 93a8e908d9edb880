/**
 * Which DestinationRule applies to a service for a proxy, as Istio picks it (proxy namespace,
 * service namespace, root namespace; exact host before wildcard).
 */
import { SnapshotView } from '../../shared/snapshot/snapshot-view';
import { ConfigModel, ServiceModel } from '../../shared/model/service';
import { resolveHost } from './hosts';
import { exportedTo } from './scope';
import { ROOT_NAMESPACE } from './types';

/** The DestinationRule for `hostname` as Istio picks it: proxy namespace, service namespace, root namespace. */
export function destinationRuleFor(snap: SnapshotView, namespace: string, svc: ServiceModel): ConfigModel | undefined {
  const candidates = snap.configsForHost('DestinationRule', svc.hostname).filter((dr) =>
    exportedTo(dr.spec?.exportTo, dr.namespace, namespace) && !dr.spec?.workloadSelector);
  for (const ns of [namespace, svc.namespace, ROOT_NAMESPACE]) {
    const inNs = candidates.filter((c) => c.namespace === ns);
    if (inNs.length > 0) return mostSpecific(inNs, svc.hostname);
  }
  return candidates.length > 0 ? mostSpecific(candidates, svc.hostname) : undefined;
}

function mostSpecific(drs: ConfigModel[], hostname: string): ConfigModel {
  // exact host beats wildcard; then by name for determinism
  return [...drs].sort((a, b) => {
    const ae = resolveHost(a.spec.host, a.namespace) === hostname ? 0 : 1, be = resolveHost(b.spec.host, b.namespace) === hostname ? 0 : 1;
    return ae - be || (a.namespace + '/' + a.name).localeCompare(b.namespace + '/' + b.name);
  })[0]!;
}

