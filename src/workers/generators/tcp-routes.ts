/**
 * VirtualService `tcp` and `tls` routes → L4 targets for listeners (sidecar outbound listeners and
 * gateway servers both use these), after Istio's buildSidecarOutboundTCPTLSFilterChainOpts
 * (pilot/pkg/networking/core/tls.go) and matchTCP / matchTLS. A target is one filter chain: its
 * match (SNI hosts, destination subnets) and the clusters tcp_proxy sends to, weights summing to 100.
 *
 * Match attributes: `port` (the listener port), `sourceLabels` (opts.labels), `sourceNamespace`,
 * `gateways` (opts.gateway, `mesh` when undefined) must all hold; `destinationSubnets` become the
 * chain's prefix ranges.
 * - tcp: routes in order; within a route the matches with subnets are gathered into one target;
 *   a route without matches, or a matching clause without subnets, is a terminal catch-all target
 *   and nothing after it is returned.
 * - tls: every matching clause (sniHosts required) is one target with its SNI hosts (and subnets);
 *   a clause identical to an earlier one is skipped.
 * Destination hosts the proxy cannot see go to BlackHoleCluster.
 */
import { SnapshotView } from '../../shared/snapshot/snapshot-view';
import { ConfigModel } from '../../shared/model/service';
import { BLACKHOLE_CLUSTER, destinationClusterName, destinationWeight, normaliseWeights, RouteOptions } from './routes';
import { matchGatewaysAdmit } from './virtual-services';

export interface L4Target {
  readonly sniHosts?: readonly string[];
  readonly destinationSubnets?: readonly string[];
  readonly clusters: ReadonlyArray<{ name: string; weight: number }>;
}

/** Istio matchTCP / matchTLS (everything but SNI). */
function l4MatchApplies(m: any, vs: ConfigModel, namespace: string, port: number, opts: RouteOptions): boolean {
  if (!m) return true;
  if (!matchGatewaysAdmit(m.gateways, vs.namespace, opts.gateway)) return false;
  const labels = opts.labels ?? {};
  for (const [k, v] of Object.entries((m.sourceLabels ?? {}) as Record<string, string>)) if (labels[k] !== v) return false;
  if (m.port !== undefined && Number(m.port) !== 0 && Number(m.port) !== port) return false;
  return !m.sourceNamespace || m.sourceNamespace === namespace;
}

/** Route destinations → weighted clusters (weight-0 entries dropped when there are several). */
function l4Clusters(snap: SnapshotView, namespace: string, vs: ConfigModel, route: unknown, port: number): Array<{ name: string; weight: number }> {
  const dests = (Array.isArray(route) ? route : []) as any[];
  if (dests.length === 0) return [];
  if (dests.length === 1) return [{ name: destinationClusterName(snap, namespace, vs.namespace, dests[0]?.destination, port), weight: 100 }];
  const kept = dests.filter((d) => destinationWeight(d) !== 0);
  if (kept.length === 0) return [];
  const weights = normaliseWeights(kept.map(destinationWeight));
  return kept.map((d, i) => ({ name: destinationClusterName(snap, namespace, vs.namespace, d?.destination, port), weight: weights[i]! }));
}

function subnets(m: any): string[] {
  return Array.isArray(m?.destinationSubnets) ? m.destinationSubnets.map(String) : [];
}

/** Targets from `vs.spec.tcp` that apply to `port` (and opts.labels / opts.gateway), in order. */
export function tcpTargets(snap: SnapshotView, namespace: string, vs: ConfigModel, port: number, opts: RouteOptions = {}): L4Target[] {
  const out: L4Target[] = [];
  for (const tcp of (Array.isArray(vs.spec?.tcp) ? vs.spec.tcp : []) as any[]) {
    if (!tcp || typeof tcp !== 'object') continue;
    const clusters = l4Clusters(snap, namespace, vs, tcp.route, port);
    if (clusters.length === 0) continue;
    const matches = (Array.isArray(tcp.match) ? tcp.match : []) as any[];
    if (matches.length === 0) { out.push({ clusters }); return out; }
    const gathered: string[] = [];
    for (const m of matches) {
      if (!l4MatchApplies(m, vs, namespace, port, opts)) continue;
      const s = subnets(m);
      if (s.length === 0) {
        if (gathered.length > 0) out.push({ destinationSubnets: gathered, clusters });
        out.push({ clusters });
        return out;
      }
      gathered.push(...s);
    }
    if (gathered.length > 0) out.push({ destinationSubnets: [...new Set(gathered)], clusters });
  }
  return out;
}

/** Targets from `vs.spec.tls` (each with its sniHosts) that apply to `port`, in order. */
export function tlsTargets(snap: SnapshotView, namespace: string, vs: ConfigModel, port: number, opts: RouteOptions = {}): L4Target[] {
  const out: L4Target[] = [];
  const seen = new Set<string>();
  for (const tls of (Array.isArray(vs.spec?.tls) ? vs.spec.tls : []) as any[]) {
    if (!tls || typeof tls !== 'object') continue;
    const clusters = l4Clusters(snap, namespace, vs, tls.route, port);
    if (clusters.length === 0) continue;
    for (const m of (Array.isArray(tls.match) ? tls.match : []) as any[]) {
      const sni = Array.isArray(m?.sniHosts) ? m.sniHosts.map(String) : [];
      if (sni.length === 0 || !l4MatchApplies(m, vs, namespace, port, opts)) continue;
      const s = subnets(m);
      const key = JSON.stringify([[...sni].sort(), [...s].sort()]);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ sniHosts: sni, ...(s.length > 0 ? { destinationSubnets: s } : {}), clusters });
    }
  }
  return out;
}

export { BLACKHOLE_CLUSTER };
