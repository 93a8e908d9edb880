/**
 * EDS: ClusterLoadAssignment for `outbound|port|subset|host`, grouped by locality, after Istio's
 * EndpointBuilder (pilot/pkg/xds/endpoints) and loadbalancer.ApplyLocalityLoadBalancer.
 *
 * - A subset cluster holds the endpoints whose labels match the subset's labels.
 * - Every locality carries a load_balancing_weight: both gRPC clients silently drop a locality
 *   without one (REFERENCE §11), and every RPC then fails with UNAVAILABLE.
 * - Locality load balancing (DestinationRule localityLbSetting over the mesh's, enabled by
 *   default): `distribute` rewrites locality weights for proxies in a `from` locality; failover
 *   (only with outlierDetection, as in Istio) sets priorities relative to the proxy's locality
 *   (0 same subzone, 1 same zone, 2 same region, 3 elsewhere, 4 a region `failover` does not
 *   allow), and `failoverPriority` splits localities by label match first.
 *
 * - Endpoints of workloads with a sidecar (tlsMode `istio`, from the pod label
 *   security.istio.io/tlsMode) carry filter_metadata `envoy.transport_socket_match` {tlsMode:
 *   istio}, which auto-mTLS clusters match on (Istio mtlsChecker + AppendLbEndpointMetadata) —
 *   unless the DestinationRule's TLS mode for the port is set and not ISTIO_MUTUAL, or the
 *   workload's PeerAuthentication disables mTLS on the endpoint port.
 *
 * EDS is keyed by (namespace, locality) only, not by the proxy's labels, so:
 * - the subset is looked up in the catch-all DestinationRule first, then in rules with a
 *   workloadSelector (Istio picks by the proxy's labels);
 * - failoverPriority compares endpoint labels with the proxy's topology labels derived from its
 *   locality (topology.kubernetes.io/region, topology.kubernetes.io/zone,
 *   topology.istio.io/subzone) or with `label=value` overrides; other proxy labels are not
 *   known here and count as absent.
 */
import { SnapshotView } from '../../shared/snapshot/snapshot-view';
import { EndpointModel, ServiceModel } from '../../shared/model/service';
import { GenContext } from '../../shared/generation';
import { parseClusterName } from './hosts';
import { serviceFor } from './scope';
import { destinationRuleFor, destinationRuleWithSubset, subsetLabels, trafficPolicyFor } from './destination-rules';
import { localityLbSetting } from './clusters';
import { jsonToStruct } from '../../shared/envoy/struct';
import { composePeerAuthentication, mtlsModeForPort, MergedPeerAuthentication } from './security/peer-authentication';
import { Generated, Generator } from './types';

type Obj = Record<string, any>;

const REGION = 'topology.kubernetes.io/region';
const ZONE = 'topology.kubernetes.io/zone';
const SUBZONE = 'topology.istio.io/subzone';
/** Endpoint metadata key Envoy's transport_socket_matches read (Istio EnvoyTransportSocketMetadataKey). */
export const TRANSPORT_SOCKET_MATCH = 'envoy.transport_socket_match';

interface Loc { region: string; zone: string; subZone: string }
/** One LocalityLbEndpoints under construction, with the endpoint models behind its lb_endpoints. */
interface Group { loc: Loc; lb: Obj[]; eps: EndpointModel[]; weight: number; priority: number }

/** Every selector label is on the endpoint (no selector: every endpoint). */
export function labelsMatch(selector: Readonly<Record<string, string>> | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

function parseLocality(s: string | undefined): Loc {
  const [region = '', zone = '', subZone = ''] = (s ?? '').split('/');
  return { region, zone, subZone };
}

export function endpointPort(ep: EndpointModel, portName: string, fallback: number): number | undefined {
  const p = ep.ports[portName];
  if (p !== undefined) return p;
  // ServiceEntry endpoints without an override, and single-port slices with an unnamed port
  if (Object.keys(ep.ports).length === 0) return fallback;
  return ep.ports[''];
}

// ---------------------------------------------------------------- locality load balancing

/** util.LocalityMatch: does the locality match a `region/zone/subzone` rule (`*` wildcards)? */
function localityMatch(loc: Loc, rule: string): boolean {
  const r = parseLocality(rule);
  return (r.region === '*' || loc.region === r.region)
    && (r.zone === '*' || r.zone === '' || loc.zone === r.zone)
    && (r.subZone === '*' || r.subZone === '' || loc.subZone === r.subZone);
}

/** util.LbPriority: 0 same subzone, 1 same zone, 2 same region, 3 elsewhere. */
function lbPriority(proxy: Loc, ep: Loc): number {
  if (proxy.region !== ep.region) return 3;
  if (proxy.zone !== ep.zone) return 2;
  return proxy.subZone === ep.subZone ? 0 : 1;
}

/** Priorities must run 0..N without gaps: renumber in increasing order. */
function compactPriorities(groups: Group[]): void {
  const order = [...new Set(groups.map((g) => g.priority))].sort((a, b) => a - b);
  for (const g of groups) g.priority = order.indexOf(g.priority);
}

function applyDistribute(proxy: Loc, groups: Group[], distribute: any[]): void {
  for (const setting of distribute) {
    if (!setting || !localityMatch(proxy, String(setting.from ?? ''))) continue;
    const mismatched = new Set(groups.map((_, i) => i));
    for (const [to, weight] of Object.entries((setting.to ?? {}) as Record<string, number>)) {
      const matched: number[] = [];
      let total = 0;
      for (const i of [...mismatched]) {
        if (!localityMatch(groups[i]!.loc, to)) continue;
        mismatched.delete(i);
        matched.push(i);
        total += groups[i]!.weight;
      }
      for (const i of matched) {
        const w = (groups[i]!.weight * Number(weight)) / total;
        if (w > 0) groups[i]!.weight = Math.ceil(w);
      }
    }
    // localities the rule sends nothing to keep their entry, without endpoints
    for (const i of mismatched) { groups[i]!.lb = []; groups[i]!.eps = []; }
    return;
  }
}

function applyFailover(proxy: Loc, groups: Group[], failover: any[]): void {
  for (const g of groups) {
    let p = lbPriority(proxy, g.loc);
    if (p === 3) {
      const rule = failover.find((f) => f?.from === proxy.region);
      if (rule && g.loc.region !== rule.to) p = 4;
    }
    g.priority = g.priority * 5 + p;
  }
  compactPriorities(groups);
}

/** Istio augments endpoint and proxy labels with their topology. */
function topologyLabel(loc: Loc, key: string): string | undefined {
  const v = key === REGION ? loc.region : key === ZONE ? loc.zone : key === SUBZONE ? loc.subZone : undefined;
  return v === '' ? undefined : v;
}

/** applyFailoverPriorities: split each locality by how many leading failoverPriority labels match the proxy. */
function applyFailoverPriority(proxy: Loc, groups: Group[], failoverPriority: string[]): Group[] {
  const keys = failoverPriority.map((l) => { const eq = l.indexOf('='); return eq < 0 ? { key: l, value: undefined } : { key: l.slice(0, eq), value: l.slice(eq + 1) }; });
  const proxyValue = (k: { key: string; value: string | undefined }) => k.value ?? topologyLabel(proxy, k.key);
  if (keys.every((k) => proxyValue(k) === undefined)) return groups; // Istio: no proxy labels, nothing to compare
  const out: Group[] = [];
  for (const g of groups) {
    const byPriority = new Map<number, Group>();
    g.eps.forEach((ep, i) => {
      let priority = 0;
      for (let j = 0; j < keys.length; j++) {
        const epValue = ep.labels[keys[j]!.key] ?? topologyLabel(parseLocality(ep.locality), keys[j]!.key);
        if (proxyValue(keys[j]!) !== epValue) { priority = keys.length - j; break; }
      }
      let part = byPriority.get(priority);
      if (!part) { part = { loc: g.loc, lb: [], eps: [], weight: 0, priority }; byPriority.set(priority, part); }
      part.lb.push(g.lb[i]!);
      part.eps.push(ep);
      part.weight += g.lb[i]!.load_balancing_weight.value;
    });
    out.push(...[...byPriority.keys()].sort((a, b) => a - b).map((p) => byPriority.get(p)!));
  }
  compactPriorities(out);
  return out;
}

// ---------------------------------------------------------------- mTLS metadata

/** The endpoint metadata auto-mTLS clusters match (tlsMode-istio). */
export const ISTIO_TLS_MODE_METADATA = Object.freeze({ filter_metadata: { [TRANSPORT_SOCKET_MATCH]: jsonToStruct({ tlsMode: 'istio' }) } });

/**
 * Istio mtlsChecker.checkMtlsEnabled, for endpoints with a sidecar: the rule's TLS mode for the
 * port decides when set (ISTIO_MUTUAL); else the workload's PeerAuthentication for the endpoint
 * port must not be DISABLE. Endpoints without a sidecar never get the metadata.
 */
export function mtlsChecker(snap: SnapshotView, svc: ServiceModel, policy: { tls?: any } | undefined): (ep: EndpointModel, endpointPort: number) => boolean {
  const drTlsMode: string | undefined = policy?.tls?.mode;
  const peerByLabels = new Map<string, MergedPeerAuthentication>();
  return (ep, endpointPort) => {
    if (ep.tlsMode !== 'istio') return false;
    if (drTlsMode !== undefined) return drTlsMode === 'ISTIO_MUTUAL';
    const key = JSON.stringify(ep.labels);
    let merged = peerByLabels.get(key);
    if (!merged) { merged = composePeerAuthentication(snap, svc.namespace, ep.labels); peerByLabels.set(key, merged); }
    return mtlsModeForPort(merged, endpointPort) !== 'DISABLE';
  };
}

// ---------------------------------------------------------------- assignment

/** Build the assignment, or undefined when the name is not a cluster this snapshot knows. */
export function loadAssignment(snap: SnapshotView, namespace: string, clusterName: string, proxyLocality = ''): Obj | undefined {
  const parsed = parseClusterName(clusterName);
  if (!parsed || parsed.direction !== 'outbound') return undefined;
  const svc: ServiceModel | undefined = serviceFor(snap, namespace, parsed.host);
  const port = svc?.ports.find((p) => p.port === parsed.port);
  if (!svc || !port) return undefined;
  const dr = parsed.subset ? destinationRuleWithSubset(snap, namespace, svc, parsed.subset) : destinationRuleFor(snap, namespace, svc);
  // A subset cluster CDS sent must get an answer (empty if the subset is gone): Istio sets
  // initial_fetch_timeout 0 on EDS clusters, so an unanswered one would never warm.
  const selector = parsed.subset ? subsetLabels(dr, parsed.subset) : undefined;
  if (parsed.subset && !selector) return { cluster_name: clusterName, endpoints: [] };

  const policy = trafficPolicyFor(dr, port.port, parsed.subset);
  const mtlsEnabled = mtlsChecker(snap, svc, policy);
  const byLocality = new Map<string, Group>();
  for (const ep of snap.endpoints(svc.hostname, svc.namespace)) {
    if (!ep.healthy || !labelsMatch(selector, ep.labels)) continue;
    const portNumber = endpointPort(ep, port.name, port.targetPort || port.port);
    if (portNumber === undefined) continue;
    const weight = ep.weight > 0 ? ep.weight : 1;
    let g = byLocality.get(ep.locality);
    if (!g) { g = { loc: parseLocality(ep.locality), lb: [], eps: [], weight: 0, priority: 0 }; byLocality.set(ep.locality, g); }
    g.lb.push({
      endpoint: { address: { socket_address: { address: ep.address, port_value: portNumber } } }, health_status: 'HEALTHY',
      ...(mtlsEnabled(ep, portNumber) ? { metadata: ISTIO_TLS_MODE_METADATA } : {}),
      load_balancing_weight: { value: weight },
    });
    g.eps.push(ep);
    g.weight += weight;
  }
  let groups = [...byLocality.keys()].sort().map((k) => byLocality.get(k)!);

  const setting = dr ? localityLbSetting(snap.mesh(), policy) : undefined;
  if (setting) {
    const proxy = parseLocality(proxyLocality);
    const failoverEnabled = !!policy?.outlierDetection; // failover needs outlier detection to ever move traffic
    if (setting['distribute']?.length > 0) applyDistribute(proxy, groups, setting['distribute']);
    else if (failoverEnabled) {
      if (setting['failoverPriority']?.length > 0) {
        groups = applyFailoverPriority(proxy, groups, setting['failoverPriority']);
        if (setting['failover']?.length > 0) applyFailover(proxy, groups, setting['failover']);
      } else applyFailover(proxy, groups, setting['failover'] ?? []);
    }
  }

  const endpoints = groups.map((g) => ({
    locality: { region: g.loc.region, zone: g.loc.zone, sub_zone: g.loc.subZone },
    lb_endpoints: g.lb,
    load_balancing_weight: { value: g.weight },
    ...(g.priority > 0 ? { priority: g.priority } : {}),
  }));
  return { cluster_name: clusterName, endpoints };
}

/** EDS is never wildcard: clients name the clusters they want. */
export const generateEndpoints: Generator = (snap, ctx: Partial<GenContext>, names) => {
  const out: Generated[] = [];
  for (const name of names ?? []) {
    const cla = loadAssignment(snap, ctx.namespace ?? 'default', name, ctx.locality ?? '');
    if (cla) out.push({ name, resource: cla });
  }
  return out;
};
