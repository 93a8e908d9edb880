/**
 * Visibility: which services, VirtualServices and DestinationRules a proxy in `namespace` with
 * Sidecar `sidecar` sees (exportTo + Sidecar egress hosts), as Istio's SidecarScope computes it.
 */
import { SnapshotView } from '../../shared/snapshot/snapshot-view';
import { ConfigModel, ServiceModel } from '../../shared/model/service';
import { hostMatches } from './hosts';

export function exportedTo(exportTo: readonly string[] | undefined, ownerNs: string, ns: string): boolean {
  if (!exportTo || exportTo.length === 0) return true;
  for (const e of exportTo) {
    if (e === '*') return true;
    if (e === '.' && ownerNs === ns) return true;
    if (e === ns) return true;
  }
  return false;
}

export interface EgressListener {
  port?: { number: number; protocol?: string; name?: string };
  bind?: string;
  captureMode?: string;
  hosts: string[];
}

export function sidecarConfig(snap: SnapshotView, sidecar: string | undefined): ConfigModel | undefined {
  if (!sidecar) return undefined;
  const slash = sidecar.indexOf('/');
  return snap.config('Sidecar', sidecar.slice(0, slash), sidecar.slice(slash + 1));
}

function egressMatches(hosts: readonly string[], proxyNs: string, svcNs: string, hostname: string): boolean {
  for (const h of hosts) {
    const slash = h.indexOf('/');
    const nsPart = slash < 0 ? '*' : h.slice(0, slash);
    const hostPart = slash < 0 ? h : h.slice(slash + 1);
    const nsOk = nsPart === '*' || (nsPart === '.' ? svcNs === proxyNs : nsPart === svcNs);
    if (nsOk && hostMatches(hostPart, hostname)) return true;
  }
  return false;
}

/** Services the proxy can reach, optionally restricted to one egress listener's hosts. */
export function visibleServices(snap: SnapshotView, namespace: string, sidecar: ConfigModel | undefined, egress?: EgressListener): ServiceModel[] {
  const out: ServiceModel[] = [];
  const listeners: EgressListener[] = egress ? [egress] : (sidecar?.spec?.egress as EgressListener[] | undefined) ?? [];
  for (const svc of snap.services()) {
    if (!exportedTo(svc.exportTo, svc.namespace, namespace)) continue;
    // "." in egress hosts is the proxy's namespace, also for the root-namespace default Sidecar (Istio
    // convertIstioListenerToWrapper replaces it with the configNamespace).
    if (sidecar && !listeners.some((l) => egressMatches(l.hosts ?? [], namespace, svc.namespace, svc.hostname))) continue;
    out.push(svc);
  }
  return out;
}

/** Service with `hostname` visible from `namespace` (own namespace preferred). */
export function serviceFor(snap: SnapshotView, namespace: string, hostname: string): ServiceModel | undefined {
  const list = snap.servicesByHost(hostname).filter((s) => exportedTo(s.exportTo, s.namespace, namespace));
  return list.find((s) => s.namespace === namespace) ?? list[0];
}
