/**
 * Debug views of the model and the caches, in the JSON shapes of Istio's pilot/pkg/xds/debug.go:
 * /debug/configz (Istio config objects, Kubernetes-shaped), /debug/registryz (model.Service
 * list), /debug/endpointShardz (service → namespace → EndpointShards), /debug/push_status (the
 * last push context's status), /debug/cachez (XDS cache: type URL → entries; ?sizes=true;
 * ?clear=true).
 */
import { createHash } from 'node:crypto';
import { K8sObject, splitApiVersion } from '../../shared/model/objects';
import { ServiceEntryInput, SnapshotInput } from '../../shared/model/service';
import { GenerationService } from '../push/generation-service';
import { HttpReply } from './http-server';

const json = (v: unknown, status = 200): HttpReply => ({ status, body: JSON.stringify(v, null, 2) + '\n' });

/** Istio config kinds (groups ending in istio.io), as Istio's ConfigStore lists them. */
export function configz(objects: Iterable<K8sObject>): HttpReply {
  const out = [...objects].filter((o) => splitApiVersion(o.apiVersion).group.endsWith('istio.io'));
  out.sort((a, b) => `${a.kind}/${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.namespace}/${b.metadata.name}`));
  return json(out);
}

/** model.Resolution as Istio's JSON prints it (an int enum). */
const RESOLUTION: Record<string, number> = { eds: 0, dns: 1, passthrough: 2, 'dns-round-robin': 3 };

export function registryz(snap: SnapshotInput | undefined): HttpReply {
  return json((snap?.services ?? []).map(({ service: s }) => ({
    Attributes: {
      ServiceRegistry: s.source === 'kubernetes' ? 'Kubernetes' : 'External',
      Name: s.name, Namespace: s.namespace, Labels: s.labels, ExportTo: s.exportTo.length > 0 ? Object.fromEntries(s.exportTo.map((e) => [e, true])) : undefined,
    },
    ports: s.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol })),
    hostname: s.hostname,
    clusterVIPs: { Addresses: { Kubernetes: s.addresses } },
    defaultAddress: s.addresses[0] ?? '0.0.0.0',
    Resolution: RESOLUTION[s.resolution] ?? 0,
    MeshExternal: s.meshExternal,
  })));
}

function shard(entry: ServiceEntryInput): Record<string, unknown> {
  const s = entry.service;
  const registry = s.source === 'kubernetes' ? 'Kubernetes' : 'External';
  const eps = entry.endpoints.flatMap((e) => s.ports.filter((p) => e.ports[p.name] !== undefined || s.source !== 'kubernetes').map((p) => ({
    Labels: e.labels, Address: e.address, ServicePortName: p.name, ServiceAccount: e.serviceAccount, Network: e.network,
    Locality: { Label: e.locality }, EndpointPort: e.ports[p.name] ?? p.targetPort ?? p.port, LbWeight: e.weight, TLSMode: e.tlsMode,
    HealthStatus: e.healthy ? 1 : 2,
  })));
  const accounts = Object.fromEntries([...new Set(entry.endpoints.map((e) => e.serviceAccount).filter(Boolean))].map((a) => [a, {}]));
  return { Shards: { [`${registry}/`]: eps }, ServiceAccounts: accounts };
}

/** Istio's EndpointIndex.Shardz(): hostname → namespace → {Shards: {"<registry>/<cluster>": [IstioEndpoint]}, ServiceAccounts}. */
export function endpointShardz(snap: SnapshotInput | undefined): HttpReply {
  const out: Record<string, Record<string, unknown>> = {};
  for (const e of snap?.services ?? []) (out[e.service.hostname] ??= {})[e.service.namespace] = shard(e);
  return json(out);
}

/**
 * The last push context's status: Istio's ProxyStatus map (metric → key → {proxy, message}),
 * here `pilot_eds_no_instances` (clusters with no endpoints) and `pilot_config_rejected` (files
 * rejected by validation, last good version kept), plus Start/End of the last push.
 */
export function pushStatus(snap: SnapshotInput | undefined, fileErrors: ReadonlyArray<{ file?: string; message?: string } | unknown>, last: { startedAt?: string; totalMs?: number; version?: number } | undefined): HttpReply {
  const noInstances: Record<string, { proxy: string; message: string }> = {};
  for (const { service: s, endpoints } of snap?.services ?? []) {
    if (endpoints.length > 0 || s.resolution !== 'eds') continue;
    for (const p of s.ports) noInstances[`outbound|${p.port}||${s.hostname}`] = { proxy: '', message: `${s.hostname} has no endpoints` };
  }
  const rejected: Record<string, { proxy: string; message: string }> = {};
  fileErrors.forEach((e, i) => {
    const fe = e as { file?: string; message?: string; reason?: string };
    rejected[fe.file ?? String(i)] = { proxy: '', message: fe.message ?? fe.reason ?? JSON.stringify(e) };
  });
  const ProxyStatus: Record<string, unknown> = {};
  if (Object.keys(noInstances).length > 0) ProxyStatus['pilot_eds_no_instances'] = noInstances;
  if (Object.keys(rejected).length > 0) ProxyStatus['pilot_config_rejected'] = rejected;
  const start = last?.startedAt;
  const end = start && last?.totalMs !== undefined ? new Date(Date.parse(start) + last.totalMs).toISOString() : undefined;
  return json({ ProxyStatus, Start: start, End: end, version: last?.version, services: snap?.services.length ?? 0, configs: snap?.configs.length ?? 0 });
}

/** Type URL of an encoded Any: field 1 (string), read without decoding the value. */
function anyTypeUrl(any: Uint8Array): string {
  if (any[0] !== 0x0a) return 'unknown';
  let len = 0, shift = 0, i = 1;
  for (; i < any.length; i++) { const b = any[i]!; len |= (b & 0x7f) << shift; shift += 7; if (!(b & 0x80)) { i++; break; } }
  return Buffer.from(any.subarray(i, i + len)).toString();
}

interface CacheEntryView { readonly genKey: string; readonly name: string; readonly value: { any: Uint8Array; name: string } | null | Map<string, { any: Uint8Array; name: string }> }

function byteCount(n: number): string {
  const u = ['B', 'kB', 'MB', 'GB'];
  let i = 0;
  let v = n;
  while (v >= 1000 && i < u.length - 1) { v /= 1000; i++; }
  return i === 0 ? `${n}B` : `${v.toFixed(1)}${u[i]}`;
}

/**
 * Istio's cachez: type URL → ["name/key"], ?sizes=true → type URL → size (and total),
 * ?clear=true → drop every cached resource (the next push regenerates). Keys are a short hash of our
 * generation key. Reads GenerationService's cache map directly (read-only; this is a debug view).
 */
export function cachez(gen: GenerationService, query: URLSearchParams): HttpReply {
  if (query.get('clear')) {
    gen.setSnapshot(gen.snapshotVersion, 'all');
    return { contentType: 'text/plain', body: 'Cache cleared\n' };
  }
  const cache = (gen as unknown as { cache: Map<string, Map<string, CacheEntryView>> }).cache;
  const names: Record<string, string[]> = {};
  const sizes: Record<string, number> = {};
  for (const [genKey, byName] of cache) {
    const key = createHash('sha1').update(genKey).digest('hex').slice(0, 12);
    for (const e of byName.values()) {
      const values = e.value === null ? [] : e.value instanceof Map ? [...e.value.values()] : [e.value];
      for (const r of values) {
        const t = anyTypeUrl(r.any);
        (names[t] ??= []).push(`${r.name}/${key}`);
        sizes[t] = (sizes[t] ?? 0) + r.any.length;
      }
    }
  }
  if (query.get('sizes')) {
    const total = Object.values(sizes).reduce((a, b) => a + b, 0);
    return json({ ...Object.fromEntries(Object.entries(sizes).map(([k, v]) => [k, byteCount(v)])), total: byteCount(total) });
  }
  return json(names);
}
