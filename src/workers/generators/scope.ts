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

/** A service's exportTo, or MeshConfig.defaultServiceExportTo when it sets none (Istio). */
export function serviceExportedTo(snap: SnapshotView, svc: ServiceModel, namespace: string): boolean {
  if (svc.exportTo.length > 0) return exportedTo(svc.exportTo, svc.namespace, namespace);
  const dflt = snap.mesh()?.['defaultServiceExportTo'];
  return exportedTo(Array.isArray(dflt) ? dflt.map(String) : undefined, svc.namespace, namespace);
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

/**
 * Does an egress `hosts` list import `hostname` of namespace `svcNs`? Entries are `ns/host`:
 * ns `*` (any), `.` (the proxy's namespace — also for the root-namespace default Sidecar, as
 * Istio's convertIstioListenerToWrapper uses the proxy's config namespace), `~` (none) or a
 * namespace name; host `*`, `*.suffix` or an FQDN. A bare host means any namespace.
 */
export function egressMatches(hosts: readonly string[], proxyNs: string, svcNs: string, hostname: string): boolean {
  for (const h of hosts) {
    const slash = h.indexOf('/');
    const nsPart = slash < 0 ? '*' : h.slice(0, slash);
    const hostPart = slash < 0 ? h : h.slice(slash + 1);
    if (nsPart === '~') continue;
    const nsOk = nsPart === '*' || (nsPart === '.' ? svcNs === proxyNs : nsPart === svcNs);
    if (nsOk && hostMatches(hostPart, hostname)) return true;
  }
  return false;
}

/**
 * The egress listeners of a proxy's scope: the Sidecar's, or Istio's default scope (one catch-all
 * listener importing every service exported to the namespace) when no Sidecar applies.
 */
export function egressListenersOf(sidecar: ConfigModel | undefined): EgressListener[] {
  if (!sidecar) return [{ hosts: ['*/*'] }];
  const list = (sidecar.spec?.egress ?? []) as EgressListener[];
  // A Sidecar without egress imports everything, like the default scope (Istio adds a wildcard import).
  return list.length > 0 ? list : [{ hosts: ['*/*'] }];
}

/**
 * Services the proxy can reach, optionally restricted to one egress listener's hosts: exported to
 * the proxy's namespace and imported by the Sidecar. One service per hostname, as Istio's
 * SidecarScope keeps: the one in the proxy's namespace, else the first in registry order (the
 * registry orders a hostname's services oldest first).
 */
export function visibleServices(snap: SnapshotView, namespace: string, sidecar: ConfigModel | undefined, egress?: EgressListener): ServiceModel[] {
  const out: ServiceModel[] = [];
  const index = new Map<string, number>();
  const listeners: EgressListener[] = egress ? [egress] : egressListenersOf(sidecar);
  for (const svc of snap.services()) {
    if (!serviceExportedTo(snap, svc, namespace)) continue;
    if (!listeners.some((l) => egressMatches(l.hosts ?? [], namespace, svc.namespace, svc.hostname))) continue;
    const at = index.get(svc.hostname);
    if (at === undefined) { index.set(svc.hostname, out.length); out.push(svc); continue; }
    if (svc.namespace === namespace && out[at]!.namespace !== namespace) out[at] = svc;
  }
  return out;
}

/** Service with `hostname` visible from `namespace` (own namespace preferred). */
export function serviceFor(snap: SnapshotView, namespace: string, hostname: string): ServiceModel | undefined {
  const list = snap.servicesByHost(hostname).filter((s) => serviceExportedTo(snap, s, namespace));
  return list.find((s) => s.namespace === namespace) ?? list[0];
}
