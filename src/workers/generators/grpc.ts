/**
 * Proxyless gRPC generator (node metadata GENERATOR=grpc), after Istio's grpcgen:
 * - LDS: one api_listener per requested `host:port`, HttpConnectionManager → RDS
 *   `outbound|port||host` over ADS, with the fault and router filters (grpcgen's pair; C-core
 *   NACKs a listener without HTTP filters).
 * - RDS: one virtual host for that service port, routes from its VirtualService restricted to what
 *   gRPC implements (routes.ts, `proxyless`): header/path matching, weighted clusters, timeouts,
 *   retries, fault injection per route; match sourceLabels read the client's labels.
 * - CDS: EDS clusters, DestinationRule subsets, ROUND_ROBIN or RING_HASH.
 * gRPC clients request every type by name, wildcard included only for debugging tools.
 */
import { SnapshotView } from '../../shared/snapshot/snapshot-view';
import { GenContext } from '../../shared/generation';
import { ServiceModel } from '../../shared/model/service';
import { outboundClusterName, parseClusterName, resolveHost } from './hosts';
import { buildRoutes } from './routes';
import { outboundClustersFor } from './clusters';
import { serviceFor, sidecarConfig, visibleServices } from './scope';
import { virtualServiceFor } from './virtual-services';
import { Generated, Generator } from './types';
import { hcmConfig, rdsRouting } from './filters';

interface Target { svc: ServiceModel; port: number; name: string }

/** Resolve a listener name `host:port` (FQDN or short name relative to the proxy namespace). */
function resolveTarget(snap: SnapshotView, ctx: Partial<GenContext>, name: string): Target | undefined {
  const colon = name.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const port = Number(name.slice(colon + 1));
  if (!Number.isInteger(port)) return undefined;
  const namespace = ctx.namespace ?? 'default';
  const raw = name.slice(0, colon);
  const candidates = [resolveHost(raw, namespace)];
  if (!raw.includes('.svc.')) {
    const parts = raw.split('.');
    if (parts.length === 2) candidates.push(`${raw}.svc.cluster.local`);
    if (raw.endsWith('.svc')) candidates.push(`${raw}.cluster.local`);
  }
  const visible = new Set(visibleServices(snap, namespace, sidecarConfig(snap, ctx.sidecar)).map((s) => `${s.namespace}/${s.hostname}`));
  for (const host of candidates) {
    const svc = serviceFor(snap, namespace, host);
    if (svc && visible.has(`${svc.namespace}/${svc.hostname}`) && svc.ports.some((p) => p.port === port)) return { svc, port, name };
  }
  return undefined;
}

function allTargets(snap: SnapshotView, ctx: Partial<GenContext>): Target[] {
  const namespace = ctx.namespace ?? 'default';
  const out: Target[] = [];
  for (const svc of visibleServices(snap, namespace, sidecarConfig(snap, ctx.sidecar))) {
    for (const p of svc.ports) out.push({ svc, port: p.port, name: `${svc.hostname}:${p.port}` });
  }
  return out;
}

export const grpcListeners: Generator = (snap, ctx, names) => {
  const targets = names === null ? allTargets(snap, ctx) : names.map((n) => resolveTarget(snap, ctx, n)).filter((t): t is Target => !!t);
  return targets.map((t): Generated => ({
    name: t.name,
    resource: {
      name: t.name,
      api_listener: {
        api_listener: hcmConfig(t.name, rdsRouting(outboundClusterName(t.port, '', t.svc.hostname)), { proxyless: true }),
      },
    },
  }));
};

export const grpcRoutes: Generator = (snap, ctx, names) => {
  const namespace = ctx.namespace ?? 'default';
  const wanted = names ?? allTargets(snap, ctx).map((t) => outboundClusterName(t.port, '', t.svc.hostname));
  const out: Generated[] = [];
  for (const name of wanted) {
    const parsed = parseClusterName(name);
    if (!parsed) continue;
    const svc = serviceFor(snap, namespace, parsed.host);
    if (!svc || !svc.ports.some((p) => p.port === parsed.port)) continue;
    const vs = virtualServiceFor(snap, namespace, svc.hostname);
    out.push({
      name,
      resource: {
        name,
        virtual_hosts: [{
          name: `${svc.hostname}:${parsed.port}`,
          // One vhost per route configuration; the client reaches it through the listener of the
          // same name, whatever form of the host it dialled.
          domains: ['*'],
          routes: buildRoutes(snap, namespace, vs, svc, parsed.port, { labels: ctx.labels ?? {}, proxyless: true }),
        }],
      },
    });
  }
  return out;
};

export const grpcClusters: Generator = (snap, ctx, names) => {
  const namespace = ctx.namespace ?? 'default';
  const flavour = { proxyless: true, labels: ctx.labels ?? {} };
  if (names === null) {
    return allTargets(snap, ctx).flatMap((t) => outboundClustersFor(snap, namespace, t.svc, flavour, t.port));
  }
  const out: Generated[] = [];
  const byService = new Map<string, Map<string, Generated>>();
  for (const name of names) {
    const parsed = parseClusterName(name);
    if (!parsed || parsed.direction !== 'outbound') continue;
    const svc = serviceFor(snap, namespace, parsed.host);
    if (!svc) continue;
    const key = `${svc.namespace}/${svc.hostname}/${parsed.port}`;
    let all = byService.get(key);
    if (!all) {
      all = new Map(outboundClustersFor(snap, namespace, svc, flavour, parsed.port).map((c) => [c.name, c]));
      byService.set(key, all);
    }
    const c = all.get(name);
    if (c) out.push(c);
  }
  return out;
};
