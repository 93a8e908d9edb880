/**
 * Debug views of the xDS connections, in the JSON shapes of Istio's pilot/pkg/xds/debug.go:
 * /debug/syncz (SyncStatus per proxy, read by `istiod-ts proxy-status`), /debug/adsz and
 * /debug/connections (AdsClients), /debug/config_dump?proxyID= (an envoy.admin.v3.ConfigDump of
 * what this instance last sent that proxy, decoded to JSON).
 *
 * config_dump decodes the bytes we sent (the watch's last answer) rather than generating anew as
 * Istio does: it shows exactly what the proxy was given, and decoding on the main thread is a
 * debug-time cost that never touches the push path.
 */
import { decodeAny, messageType } from '../../shared/envoy/proto';
import { canonicalJson } from './proto-json';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL, SECRET_TYPE_URL, XdsTypeUrl } from '../../shared/resources';
import { XdsConnection } from '../xds/connection';
import { HttpReply } from './http-server';
import { ADMIN } from '../sre-tables';


const json = (v: unknown, status = 200): HttpReply => ({ status, body: JSON.stringify(v, null, 2) + '\n' });

/** Istio's getDebugConnection: `proxyID` names a proxy by `pod.namespace`, full node ID or connection ID. */
export function findConnection(conns: Iterable<XdsConnection>, proxyID: string): XdsConnection | undefined {
  let found: XdsConnection | undefined;
  for (const c of conns) {
    if (c.closed) continue;
    if (c.proxy.podId === proxyID || c.proxy.id === proxyID || c.conId === proxyID || c.proxy.podName === proxyID) {
      if (!found || c.connectedAt >= found.connectedAt) found = c; // the newest stream of a reconnecting proxy
    }
  }
  return found;
}

/** Istio's errorHandler for endpoints taking ?proxyID=. */
export function proxyError(proxyID: string): HttpReply {
  if (!proxyID) return { status: 400, contentType: 'text/plain', body: 'You must provide a proxyID in the query string\n' };
  return { status: 404, contentType: 'text/plain', body: 'Proxy not connected to this Pilot instance. It may be connected to another instance.\n' };
}

function peerOf(c: XdsConnection): string {
  // The grpc-js call behind the connection (protected on XdsConnection: read-only use here).
  const call = (c as unknown as { stream: { getPeer?: () => string } }).stream;
  try { return call.getPeer?.() ?? ''; } catch { return ''; }
}

/** SyncStatus (omitempty fields left out, as Istio's JSON), plus our per-type `resources`. */
export function syncStatus(c: XdsConnection): Record<string, unknown> {
  const w = (t: XdsTypeUrl) => c.watches.get(t);
  const out: Record<string, unknown> = {
    cluster_id: c.proxy.clusterId, proxy: c.proxy.podId, proxy_type: c.proxy.type,
    proxy_version: str(c.proxy.metadata['ISTIO_PROXY_SHA'] ?? c.proxy.metadata['ISTIO_VERSION']),
    istio_version: c.proxy.istioVersion,
  };
  const put = (prefix: string, t: XdsTypeUrl) => { out[`${prefix}_sent`] = w(t)?.nonceSent ?? ''; out[`${prefix}_acked`] = w(t)?.nonceAcked ?? ''; };
  put('cluster', CLUSTER_TYPE_URL);
  put('listener', LISTENER_TYPE_URL);
  put('route', ROUTE_TYPE_URL);
  put('endpoint', ENDPOINT_TYPE_URL);
  for (const [k, v] of Object.entries(out)) if (v === '' || v === undefined) delete out[k];
  // ours: node ID, connection, and per type what the client did with it
  out['node_id'] = c.proxy.id;
  out['connection_id'] = c.conId;
  out['resources'] = Object.fromEntries([...c.watches.values()].map((x) => [x.typeUrl, {
    sent: x.nonceSent, acked: x.nonceAcked, version_sent: x.versionSent, version_acked: x.versionAcked,
    sentTime: x.sentAt ? new Date(x.sentAt).toISOString() : '', lastError: x.lastError,
  }]));
  return out;
}

export function syncz(conns: Iterable<XdsConnection>): HttpReply {
  return json([...conns].filter((c) => !c.closed && c.initialized).map(syncStatus));
}

function adsClient(c: XdsConnection, full: boolean): Record<string, unknown> {
  const base: Record<string, unknown> = { connectionId: c.conId, connectedAt: new Date(c.connectedAt).toISOString(), address: peerOf(c) };
  if (!full) return base;
  return {
    ...base,
    labels: c.proxy.labels,
    metadata: c.proxy.metadata,
    watches: Object.fromEntries([...c.watches.values()].map((w) => [w.typeUrl, [...w.names]])),
    // ours
    proxy: c.proxy.podId, kind: c.kind, generator: c.proxy.generator,
    wildcard: [...c.watches.values()].filter((w) => w.wildcard).map((w) => w.typeUrl),
  };
}

/** AdsClients: {totalClients, clients}; `?proxyID=` narrows to one proxy (404 when not here). */
export function adsz(conns: Iterable<XdsConnection>, query: URLSearchParams, full: boolean): HttpReply {
  const proxyID = query.get('proxyID') ?? '';
  let list = [...conns].filter((c) => !c.closed && c.initialized);
  if (proxyID) {
    const c = findConnection(list, proxyID);
    if (!c) return proxyError(proxyID);
    list = [c];
  }
  list.sort((a, b) => (a.conId < b.conId ? -1 : a.conId > b.conId ? 1 : 0));
  const clients = list.map((c) => adsClient(c, full));
  return json(clients.length > 0 ? { totalClients: clients.length, clients } : { totalClients: 0 });
}

function decoded(bytes: Uint8Array): Record<string, unknown> {
  const { typeUrl, value } = decodeAny(bytes);
  return { '@type': typeUrl, ...canonicalJson(messageType(typeUrl.slice(typeUrl.lastIndexOf('/') + 1)), value) };
}

function lastSent(c: XdsConnection, type: XdsTypeUrl): { version: string; resources: Array<{ name: string; value: Record<string, unknown> }> } | undefined {
  const w = c.watches.get(type);
  const res = w?.lastResolved;
  if (!w || !res) return undefined;
  const names = [...res.resources.keys()].sort();
  return { version: w.versionSent, resources: names.map((n) => ({ name: n, value: decoded(res.resources.get(n)!.any) })) };
}

/**
 * envoy.admin.v3.ConfigDump of what was last sent to the proxy, in Envoy's section order:
 * Bootstrap, Clusters, [Endpoints with ?include_eds=true], Listeners, ScopedRoutes, Routes, Secrets.
 * Secrets carry no private key material (ours only hold validation contexts); any
 * `tls_certificate.private_key` is redacted anyway, as Istio does.
 */
export function configDump(c: XdsConnection, includeEds: boolean): Record<string, unknown> {
  const at = (t: XdsTypeUrl) => lastSent(c, t);
  const stamp = (t: XdsTypeUrl) => { const w = c.watches.get(t); return w?.sentAt ? new Date(w.sentAt).toISOString() : undefined; };
  const clusters = at(CLUSTER_TYPE_URL);
  const listeners = at(LISTENER_TYPE_URL);
  const routes = at(ROUTE_TYPE_URL);
  const endpoints = at(ENDPOINT_TYPE_URL);
  const secrets = at(SECRET_TYPE_URL);
  const configs: Array<Record<string, unknown>> = [
    { '@type': ADMIN + 'BootstrapConfigDump' },
    {
      '@type': ADMIN + 'ClustersConfigDump', version_info: clusters?.version ?? '',
      dynamic_active_clusters: (clusters?.resources ?? []).map((r) => ({ version_info: clusters!.version, cluster: r.value, last_updated: stamp(CLUSTER_TYPE_URL) })),
    },
  ];
  if (includeEds) {
    configs.push({
      '@type': ADMIN + 'EndpointsConfigDump',
      dynamic_endpoint_configs: (endpoints?.resources ?? []).map((r) => ({ version_info: endpoints!.version, endpoint_config: r.value, last_updated: stamp(ENDPOINT_TYPE_URL) })),
    });
  }
  configs.push(
    {
      '@type': ADMIN + 'ListenersConfigDump', version_info: listeners?.version ?? '',
      dynamic_listeners: (listeners?.resources ?? []).map((r) => ({ name: r.name, active_state: { version_info: listeners!.version, listener: r.value, last_updated: stamp(LISTENER_TYPE_URL) } })),
    },
    { '@type': ADMIN + 'ScopedRoutesConfigDump' },
    {
      '@type': ADMIN + 'RoutesConfigDump',
      dynamic_route_configs: (routes?.resources ?? []).map((r) => ({ version_info: routes!.version, route_config: r.value, last_updated: stamp(ROUTE_TYPE_URL) })),
    },
    {
      '@type': ADMIN + 'SecretsConfigDump',
      dynamic_active_secrets: (secrets?.resources ?? []).map((r) => ({ name: r.name, version_info: secrets!.version, secret: redact(r.value), last_updated: stamp(SECRET_TYPE_URL) })),
    },
  );
  return { configs };
}

function redact(secret: Record<string, unknown>): Record<string, unknown> {
  const tc = secret['tls_certificate'] as Record<string, unknown> | undefined;
  if (!tc || !tc['private_key']) return secret;
  return { ...secret, tls_certificate: { ...tc, private_key: { inline_bytes: Buffer.from('[redacted]').toString('base64') } } };
}

export function configDumpReply(conns: Iterable<XdsConnection>, query: URLSearchParams): HttpReply {
  const proxyID = query.get('proxyID') ?? '';
  const c = proxyID ? findConnection(conns, proxyID) : undefined;
  if (!c) return proxyError(proxyID);
  return json(configDump(c, query.get('include_eds') === 'true'));
}

function str(v: unknown): string | undefined { return typeof v === 'string' ? v : undefined; }
