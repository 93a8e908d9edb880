/**
 * Configuration conflicts the registry resolves the way Istio does, and reports for
 * /debug/push_status: duplicate hosts, several Sidecars or mesh VirtualServices for one scope,
 * and listener conflicts. Pure functions of the registry's inputs.
 */
import { K8sObject } from '../../shared/model/objects';
import { ServiceEntryInput, UNSUPPORTED_PROTOCOL } from '../../shared/model/service';

/**
 * A configuration conflict the registry resolved the way Istio does, for /debug/push_status
 * (Istio reports these as pilot_conflict_* / pilot_duplicate_* push-status metrics).
 */
export interface ConfigConflict {
  /**
   * DuplicateServiceHost: two Services/ServiceEntries with one hostname in one namespace;
   * VirtualServiceHost: several mesh VirtualServices for one host; OutboundListener: one
   * listener address:port wanted with different protocols (or twice by TCP services);
   * InboundListener: two services of one workload on one target port with different protocols;
   * Sidecar: several Sidecars without workloadSelector in one namespace (the oldest applies).
   */
  readonly kind: 'DuplicateServiceHost' | 'VirtualServiceHost' | 'OutboundListener' | 'InboundListener' | 'Sidecar';
  /** the listener, host or port the conflict is about */
  readonly key: string;
  /** the objects involved, `Kind namespace/name` (or hostnames for listeners), the winner first */
  readonly objects: readonly string[];
  readonly reason: string;
}

const HTTP_PROTOCOLS = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB']);
/**
 * Istio's listener protocol class of a port protocol (ModelProtocolToListenerProtocol): HTTP, TCP,
 * UNKNOWN (undeclared: sniffed; Istio's push-status name for it), or undefined (UDP: no listener).
 */
export function listenerClass(protocol: string): 'HTTP' | 'TCP' | 'UNKNOWN' | undefined {
  if (protocol === UNSUPPORTED_PROTOCOL) return 'UNKNOWN';
  const p = protocol.toUpperCase();
  if (p === 'UDP') return undefined;
  return HTTP_PROTOCOLS.has(p) ? 'HTTP' : 'TCP';
}

/** creationTimestamp as sortable text; objects without one sort last (Istio: zero time sorts first, but files rarely carry it). */
export function createdOf(obj: K8sObject | undefined): string {
  const t = obj?.metadata.creationTimestamp;
  if (typeof t !== 'string' || t === '') return '~';
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? '~' : new Date(ms).toISOString();
}

export const describe = (o: K8sObject) => `${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** Several Sidecars without workloadSelector in one namespace: every proxy there gets the oldest. */
export function sidecarConflicts(sidecars: readonly K8sObject[], conflicts: ConfigConflict[]): void {
  const byNs = new Map<string, K8sObject[]>();
  for (const sc of sidecars) {
    if (sc.spec?.workloadSelector) continue;
    const ns = sc.metadata.namespace ?? 'default';
    const list = byNs.get(ns);
    if (list) list.push(sc); else byNs.set(ns, [sc]);
  }
  for (const ns of [...byNs.keys()].sort()) {
    const list = byNs.get(ns)!;
    if (list.length < 2) continue;
    conflicts.push({
      kind: 'Sidecar', key: ns, objects: list.map(describe),
      reason: `${list.length} Sidecars without workloadSelector in namespace ${ns}; its proxies use the oldest (${describe(list[0]!)})`,
    });
  }
}

/** Several mesh-bound VirtualServices for one host: sidecars use the oldest (Istio does not merge them for sidecars). */
export function virtualServiceConflicts(virtualServices: readonly K8sObject[], domainSuffix: string, conflicts: ConfigConflict[]): void {
  const byHost = new Map<string, K8sObject[]>();
  for (const vs of virtualServices) {
    const gateways = (vs.spec?.gateways ?? []) as unknown[];
    if (gateways.length > 0 && !gateways.includes('mesh')) continue;
    const ns = vs.metadata.namespace ?? 'default';
    for (const h of new Set(((vs.spec?.hosts ?? []) as unknown[]).filter((x): x is string => typeof x === 'string').map((x) => (x.includes('.') || x.startsWith('*') ? x : `${x}.${ns}.svc.${domainSuffix}`)))) {
      const list = byHost.get(h);
      if (list) list.push(vs); else byHost.set(h, [vs]);
    }
  }
  for (const host of [...byHost.keys()].sort()) {
    const list = byHost.get(host)!;
    if (list.length < 2) continue;
    list.sort((a, b) => createdOf(a).localeCompare(createdOf(b)) || (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') || a.metadata.name.localeCompare(b.metadata.name));
    conflicts.push({
      kind: 'VirtualServiceHost', key: host, objects: list.map(describe),
      reason: `${list.length} VirtualServices bound to mesh define host ${host}; sidecars use the first by creationTimestamp (${describe(list[0]!)}) and ignore the rest`,
    });
  }
}

/**
 * Listener conflicts Istio reports while building sidecar listeners, computed when a service is
 * added, removed or changed, from the whole registry (each proxy sees a subset, so a conflict here may not affect every proxy):
 * - outbound: HTTP and TCP services on one `0.0.0.0_port` (Istio merges them behind protocol
 *   sniffing, except MONGO/MYSQL ports where the first wins), and two TCP services on one
 *   `address_port` without distinguishing SNI (the first wins);
 * (inbound: two services of one workload on one target port with different protocols, the first
 * wins, are kept per IP by Registry.updateInboundConflicts).
 */
export function outboundListenerConflicts(services: readonly ServiceEntryInput[]): ConfigConflict[] {
  const conflicts: ConfigConflict[] = [];
  interface Slot { cls: 'HTTP' | 'TCP' | 'UNKNOWN'; protocol: string; host: string; sni: boolean }
  const slots = new Map<string, Slot[]>();
  for (const { service } of services) {
    for (const p of service.ports) {
      const cls = listenerClass(p.protocol);
      if (!cls) continue;
      const vip = service.addresses.find((a) => !a.includes('/'));
      const cidr = service.addresses.some((a) => a.includes('/'));
      const bind = cls === 'HTTP' || !vip ? '0.0.0.0' : vip;
      const tls = p.protocol === 'TLS' || p.protocol === 'HTTPS';
      const key = `${bind}_${p.port}`;
      const list = slots.get(key) ?? [];
      list.push({ cls, protocol: p.protocol, host: service.hostname, sni: tls && (bind === '0.0.0.0' || cidr) });
      slots.set(key, list);
    }
  }
  for (const key of [...slots.keys()].sort()) {
    const list = slots.get(key)!;
    const first = list[0]!;
    for (const s of list.slice(1)) {
      if (s.host === first.host) continue;
      const wellKnown = (s.protocol !== first.protocol) && ['MONGO', 'MYSQL'].some((w) => w === s.protocol || w === first.protocol);
      if (s.cls !== first.cls) {
        conflicts.push({ kind: 'OutboundListener', key, objects: [first.host, s.host],
          reason: `Listener=${key} Accepted=${first.cls} Rejected=${s.cls} (${s.host}): ` + (wellKnown
            ? `${s.protocol === 'MONGO' || s.protocol === 'MYSQL' ? s.protocol : first.protocol} is server-first and cannot share a port with another protocol; the first service keeps the listener`
            : first.cls === 'HTTP' && s.cls === 'UNKNOWN' ? 'the sniffed service replaces the HTTP listener (protocol sniffing)'
            : first.cls === 'UNKNOWN' && s.cls === 'HTTP' ? 'the port is already sniffed; the HTTP service is reached through its route configuration'
            : 'HTTP and TCP services share the port; the listener uses protocol sniffing (HTTP filter chain by ALPN, TCP otherwise)') });
      } else if (s.cls !== 'HTTP' && !(s.sni && first.sni)) {
        conflicts.push({ kind: 'OutboundListener', key, objects: [first.host, s.host],
          reason: `Listener=${key} Accepted=${first.cls} Rejected=${s.cls} (${s.host}): both services match every connection on ${key}; the first keeps the filter chain` });
      }
    }
  }
  return conflicts;
}
