/**
 * The route tables of the two HTTP ports (REFERENCE §3): health (/ready, /healthz), /metrics,
 * /version, Istio's debug endpoints (pilot/pkg/xds/debug.go names and shapes) and ours
 * (/debug/push_trace, /debug/workers, /debug/config_errors), the log scope API (scopez.ts) and,
 * on the monitoring port, the dashboard. The same debug table is served on --httpAddr and
 * --monitoringAddr, as Istio does; every /debug/* route is protected (debug-auth.ts).
 *
 * The servers start before the sources sync (so /ready can say 503 while they do); until the
 * discovery is built the debug routes answer 503.
 */
import * as os from 'node:os';
import type { Discovery } from '../index';
import { Lifecycle } from '../lifecycle';
import { HttpReply, HttpRoute, ListenOptions, Routes, Authorize } from './http-server';
import { adsz, configDumpReply, syncz } from './debug-xds';
import { cachez, configz, endpointShardz, pushStatus, registryz } from './debug-model';
import { scopeRoutes } from './scopez';
import { Dashboard } from './dashboard';
import { Metrics } from './metrics';

const json = (v: unknown, status = 200): HttpReply => ({ status, body: JSON.stringify(v, null, 2) + '\n' });

export interface OpsDeps {
  version: string;
  lifecycle: Lifecycle;
  metrics: Metrics;
  /** undefined until startDiscovery has built everything */
  discovery(): Discovery | undefined;
  authorize: Authorize;
}

/** path → help, the /debug/list and the table below */
const HELP: Record<string, string> = {
  '/debug/syncz': 'Synchronization status of all Envoys connected to this Pilot instance',
  '/debug/adsz': 'Status and debug interface for ADS',
  '/debug/adsz?push=true': 'Initiates push of the current state to all connected endpoints',
  '/debug/connections': 'Info about the connected XDS clients',
  '/debug/config_dump': 'ConfigDump in the form of the Envoy admin config dump API for passed in proxyID',
  '/debug/configz': 'Debug support for config',
  '/debug/registryz': 'Debug support for registry',
  '/debug/endpointShardz': 'Info about the endpoint shards',
  '/debug/endpointz': 'Obsolete alias of /debug/endpointShardz',
  '/debug/push_status': 'Last PushContext Details',
  '/debug/cachez': 'Info about the internal XDS caches',
  '/debug/cachez?sizes=true': 'Info about the size of the internal XDS caches',
  '/debug/cachez?clear=true': 'Clear the XDS caches',
  '/debug/mesh': 'Active mesh config',
  '/debug/list': 'List all supported debug commands in json',
  '/debug/push_trace': '(istiod-ts) Recent pushes: trigger, affected proxies, bytes, per-stage durations',
  '/debug/workers': '(istiod-ts) Worker pools, generation cache and snapshot arena',
  '/debug/config_errors': '(istiod-ts) Config files rejected by validation (the last good version stays in force)',
  '/debug/scopez': '(istiod-ts) Log scopes and levels (alias of GET /scopej; PUT /scopej/<scope> changes a level)',
};

export function debugRoutes(deps: OpsDeps): Routes {
  const withD = (fn: (d: Discovery, q: URLSearchParams) => HttpReply | Promise<HttpReply>): HttpRoute => ({
    protected: true,
    handler: (q) => {
      const d = deps.discovery();
      return d ? fn(d, q) : json({ error: `not serving yet (${deps.lifecycle.state})` }, 503);
    },
  });
  const lastPush = (d: Discovery) => d.pushTrace.list(1)[0];
  return {
    '/ready': () => {
      const r = deps.lifecycle.report();
      return json(r, r.ready ? 200 : 503);
    },
    '/healthz': () => json({ state: deps.lifecycle.state }),
    '/version': () => json({ version: deps.version, name: 'istiod-ts', hostname: os.hostname() }),
    '/metrics': async () => ({ contentType: deps.metrics.registry.contentType, body: await deps.metrics.registry.metrics() }),
    '/debug/syncz': withD((d) => syncz(d.ads.connections.values())),
    '/debug/adsz': withD((d, q) => {
      if (q.get('push')) {
        const n = d.ads.connections.size;
        d.forcePush('debug');
        return { contentType: 'text/plain', body: `Pushed to ${n} servers\n` };
      }
      return adsz(d.ads.connections.values(), q, true);
    }),
    '/debug/connections': withD((d, q) => adsz(d.ads.connections.values(), q, false)),
    '/debug/config_dump': withD((d, q) => configDumpReply(d.ads.connections.values(), q)),
    '/debug/configz': withD((d) => configz(d.store.all())),
    '/debug/registryz': withD((d) => registryz(d.registry.current)),
    '/debug/endpointShardz': withD((d) => endpointShardz(d.registry.current)),
    '/debug/endpointz': withD((d) => endpointShardz(d.registry.current)),
    '/debug/push_status': withD((d) => pushStatus(d.registry.current, d.fileErrors(), lastPush(d))),
    '/debug/cachez': withD((d, q) => cachez(d.generation, q)),
    '/debug/mesh': withD((d) => json(d.registry.current?.mesh ?? {})),
    '/debug/push_trace': withD((d, q) => json(d.pushTrace.list(Number(q.get('limit') ?? 100) || 100))),
    '/debug/workers': withD((d) => json({
      config: { ...d.pool.stats(), generation: d.generation.stats },
      ...(d.ca ? { ca: d.ca.pool.stats() } : {}),
      snapshot: { version: d.writer.latestVersion, live: d.writer.liveVersions(), arena: d.writer.arena.stats() },
      push: { active: d.ads.activePushes, pending: d.ads.queue.pendingSize, processing: d.ads.queue.processingSize, throttle: d.config.pushThrottle },
      mainThreadEncodes: d.mainThreadEncodes(),
    })),
    '/debug/config_errors': withD((d) => json(d.fileErrors())),
    '/debug/list': { protected: true, handler: () => json(Object.keys(HELP).sort()) },
    ...scopeRoutes(),
  };
}

/** --httpAddr: health + debug. */
export function httpOptions(deps: OpsDeps): ListenOptions {
  return { routes: debugRoutes(deps), authorize: deps.authorize };
}

/** --monitoringAddr: health + debug + /metrics + the dashboard and its WebSocket. */
export function monitoringOptions(deps: OpsDeps, dashboard: Dashboard): ListenOptions {
  return {
    routes: { ...debugRoutes(deps), '/dashboard': { protected: true, handler: () => dashboard.page() }, '/favicon.ico': () => ({ status: 204, contentType: 'image/x-icon', body: '' }) },
    websockets: { '/dashboard/ws': dashboard.websocket() },
    authorize: deps.authorize,
  };
}

export { HELP as DEBUG_HELP };
