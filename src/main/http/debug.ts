/**
 * Debug and health routes shared by --httpAddr and --monitoringAddr. The operations issue grows
 * this into Istio's full debug surface; these are the ones the core needs to be observable.
 */
import type { Discovery } from '../index';
import { HttpHandler } from './http-server';
import { SHORT_NAME, CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL } from '../../shared/resources';

const json = (v: unknown) => ({ body: JSON.stringify(v, null, 2) });

export function debugRoutes(get: () => Discovery, info: { version: string; fileErrors: () => unknown[] }): Record<string, HttpHandler> {
  const d = new Proxy({} as Discovery, { get: (_t, k) => (get() as any)[k] });
  return {
    '/ready': () => ({ contentType: 'text/plain', body: 'ready\n' }),
    '/version': () => json({ version: info.version, name: 'istiod-ts' }),
    '/metrics': async () => ({ contentType: d.metrics.registry.contentType, body: await d.metrics.registry.metrics() }),
    '/debug/syncz': () => json([...d.ads.connections.values()].map((c) => {
      const w = (t: string) => c.watches.get(t as never);
      const st = (t: string) => ({ sent: w(t)?.nonceSent ?? '', acked: w(t)?.nonceAcked ?? '' });
      return {
        cluster_id: c.proxy.clusterId, proxy: c.proxy.id, proxy_type: c.proxy.type, istio_version: c.proxy.istioVersion,
        cluster_sent: st(CLUSTER_TYPE_URL).sent, cluster_acked: st(CLUSTER_TYPE_URL).acked,
        listener_sent: st(LISTENER_TYPE_URL).sent, listener_acked: st(LISTENER_TYPE_URL).acked,
        route_sent: st(ROUTE_TYPE_URL).sent, route_acked: st(ROUTE_TYPE_URL).acked,
        endpoint_sent: st(ENDPOINT_TYPE_URL).sent, endpoint_acked: st(ENDPOINT_TYPE_URL).acked,
        resources: Object.fromEntries([...c.watches.values()].map((x) => [x.typeUrl, { sent: x.nonceSent, acked: x.nonceAcked, lastError: x.lastError }])),
      };
    })),
    '/debug/adsz': () => json([...d.ads.connections.values()].map((c) => ({
      conId: c.conId, kind: c.kind, proxy: c.proxy.id, generator: c.proxy.generator, connectedAt: new Date(c.connectedAt).toISOString(),
      watches: Object.fromEntries([...c.watches.values()].map((x) => [SHORT_NAME[x.typeUrl], { wildcard: x.wildcard, names: [...x.names], versionSent: x.versionSent, versionAcked: x.versionAcked, lastError: x.lastError }])),
    }))),
    '/debug/configz': () => json([...d.store.all()]),
    '/debug/workers': () => json({ pool: d.pool.stats(), generation: d.generation.stats, snapshot: { version: d.writer.latestVersion, live: d.writer.liveVersions(), arena: d.writer.arena.stats() }, mainThreadEncodes: d.mainThreadEncodes() }),
    '/debug/config_errors': () => json(info.fileErrors()),
  };
}
