/**
 * The operations servers, started first by the composition root (so /ready answers 503 while the
 * sources sync): --httpAddr (health + debug) and --monitoringAddr (health + debug + /metrics +
 * dashboard). Everything they show is read through `discovery()` at request time.
 */
import type { Config } from '../config';
import type { Discovery } from '../index';
import { Lifecycle } from '../lifecycle';
import { PUSH_ORDER, SHORT_NAME } from '../../shared/resources';
import { HttpListener, listenHttp } from './http-server';
import { httpOptions, monitoringOptions, OpsDeps } from './debug';
import { debugAuthorizer } from './debug-auth';
import { Dashboard } from './dashboard';
import { PushTracer } from './push-trace';
import { XdsConnection } from '../xds/connection';
import { Metrics } from './metrics';

export interface OpsServers {
  readonly dashboard: Dashboard;
  close(): void;
}

/** SYNCED / STALE / NOT SENT per type, as istioctl proxy-status derives them from syncz. */
export function syncState(c: XdsConnection): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of PUSH_ORDER) {
    const w = c.watches.get(t);
    out[SHORT_NAME[t]] = !w || !w.nonceSent ? 'NOT SENT' : w.nonceSent === w.nonceAcked ? 'SYNCED' : 'STALE';
  }
  return out;
}

/** Why a running instance is Degraded (empty: Running). */
export function degradedReasons(d: Discovery, recentJobFailures: number): string[] {
  const reasons: string[] = [];
  const rejected = d.fileErrors().filter((e) => e.severity === 'error').length;
  if (rejected > 0) reasons.push(`config: ${rejected} object(s) or file(s) rejected; the last good version stays in force (/debug/config_errors)`);
  if (recentJobFailures > 0) reasons.push(`config pool: ${recentJobFailures} generation job(s) failed in the last minute (/debug/workers)`);
  if (d.pool.stats().threads === 0) reasons.push('config pool: no worker threads');
  reasons.push(...d.sourceDegraded());
  return reasons;
}

export async function startOpsServers(opts: {
  config: Config;
  version: string;
  lifecycle: Lifecycle;
  pushTrace: PushTracer;
  metrics: Metrics;
  discovery: () => Discovery | undefined;
  ports: { http: number; monitoring: number };
}): Promise<OpsServers> {
  const { config, lifecycle } = opts;
  const deps: OpsDeps = {
    version: opts.version,
    lifecycle,
    metrics: opts.metrics,
    discovery: opts.discovery,
    authorize: debugAuthorizer({ enabled: config.enableDebugEndpointAuth, authenticators: () => opts.discovery()?.ca?.authenticators }),
  };
  // Generation-job failures in a sliding minute (sampled on evaluation) make the instance Degraded.
  const failures: Array<{ at: number; total: number }> = [];
  lifecycle.watchDegraded(() => {
    const d = opts.discovery();
    if (!d) return [];
    const now = Date.now();
    failures.push({ at: now, total: d.generation.stats.jobFailures });
    while (failures.length > 1 && failures[0]!.at < now - 60_000) failures.shift();
    return degradedReasons(d, d.generation.stats.jobFailures - failures[0]!.total);
  });
  const dashboard = new Dashboard({
    lifecycle: () => lifecycle.report().state,
    version: opts.version,
    snapshotVersion: () => opts.discovery()?.writer.latestVersion ?? 0,
    proxies: () => [...(opts.discovery()?.ads.connections.values() ?? [])].filter((c) => c.initialized && !c.closed)
      .map((c) => ({ id: c.proxy.podId, kind: c.kind, generator: c.proxy.generator, connectedAt: c.connectedAt, types: syncState(c) })),
    pushes: () => opts.pushTrace.list(),
    convergence: async () => {
      const m = await opts.metrics.convergence.get();
      const buckets = m.values.filter((v) => v.metricName?.endsWith('_bucket')).map((v) => ({ le: String(v.labels['le']), count: v.value }));
      const count = m.values.find((v) => v.metricName?.endsWith('_count'))?.value ?? 0;
      const sum = m.values.find((v) => v.metricName?.endsWith('_sum'))?.value ?? 0;
      return { buckets, count, sum };
    },
    pools: () => {
      const d = opts.discovery();
      if (!d) return {};
      return { config: d.pool.stats(), ...(d.ca ? { ca: d.ca.pool.stats() } : {}) };
    },
  });
  opts.pushTrace.onDone(() => void dashboard.broadcast());
  const listeners: HttpListener[] = [];
  try {
    if (config.httpAddr) {
      const l = await listenHttp('http', config.httpAddr.host, config.httpAddr.port, httpOptions(deps));
      listeners.push(l);
      opts.ports.http = l.port;
    }
    if (config.monitoringAddr) {
      const l = await listenHttp('monitoring', config.monitoringAddr.host, config.monitoringAddr.port, monitoringOptions(deps, dashboard));
      listeners.push(l);
      opts.ports.monitoring = l.port;
    }
  } catch (e) {
    for (const l of listeners) l.close();
    throw e;
  }
  return {
    dashboard,
    close: () => {
      dashboard.stop();
      for (const l of listeners) l.close();
    },
  };
}
