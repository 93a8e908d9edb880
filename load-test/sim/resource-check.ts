/**
 * Validation of received resources, as Envoy does before it ACKs: every resource must decode as
 * the message its type URL names, carry the response's type, have a name, and appear once per
 * response (Delta: the wrapper's name must be the resource's name). The facts the simulator needs
 * next (a cluster's EDS service name, a listener's RDS route names) are read from the decoded
 * message.
 *
 * Decoding is the costliest thing a simulated Envoy does, and thousands of proxies receive the
 * same bytes, so results are cached at two levels by content hash: whole responses (the
 * resources part, without version and nonce), and single resources (most resources of a new
 * response are unchanged). Identical bytes decode identically, so a hit gives exactly the answer
 * a fresh decode would. The caches are per worker thread and bounded.
 */
import * as crypto from 'node:crypto';
import * as protobuf from 'protobufjs';
import { messageType } from '../../src/shared/envoy/proto';
import { ResponseFrame, parseAny, parseDeltaEntry } from './xds-codec';

const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const CLUSTER_DISCOVERY_EDS = 3; // envoy.config.cluster.v3.Cluster.DiscoveryType.EDS

/** What one valid resource tells the simulator. Shared between proxies: never mutate. */
export interface ResourceFacts {
  readonly name: string;
  /** the resource's type URL (from its Any) */
  readonly typeUrl: string;
  /** CDS: the EDS resource name of an EDS cluster (service_name, else the cluster name) */
  readonly eds?: string;
  /**
   * CDS, EDS clusters: how long the cluster waits for its ClusterLoadAssignment before it warms
   * anyway (eds_config.initial_fetch_timeout; Envoy's default 15 s when unset; 0 = forever)
   */
  readonly edsFetchTimeoutMs?: number;
  /** CDS: digest of the cluster's bytes (Envoy re-creates, and re-warms, a cluster whose config changed) */
  readonly digest?: string;
  /**
   * CDS: the cluster's TLS needs secrets from the node agent over SDS (auto mTLS, ISTIO_MUTUAL):
   * Envoy warms it only once they arrive, so its first LDS request follows the EDS ACK.
   */
  readonly sds?: boolean;
  /** LDS: RDS route configuration names referenced by HttpConnectionManagers */
  readonly routes?: readonly string[];
}

/** Result for a whole response. Shared between proxies: never mutate. */
export type CheckResult =
  | { readonly ok: true; readonly facts: readonly ResourceFacts[]; readonly deltaVersions?: readonly string[]; readonly withBody?: readonly boolean[] }
  | { readonly ok: false; readonly error: string };

interface Invalid { readonly invalid: string }
type Entry = ResourceFacts | Invalid;

export interface ResourceCheckStats { decodes: number; cacheHits: number; responseHits: number }

class BoundedCache<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(k: string): V | undefined { return this.map.get(k); }
  set(k: string, v: V): void {
    if (this.map.size >= this.max) {
      // drop the oldest half (a Map iterates in insertion order)
      let drop = this.map.size >> 1;
      for (const key of this.map.keys()) { if (drop-- <= 0) break; this.map.delete(key); }
    }
    this.map.set(k, v);
  }
}

export class ResourceChecker {
  private readonly resources: BoundedCache<Entry>;
  private readonly responses: BoundedCache<CheckResult>;
  private decodes = 0;
  private hits = 0;
  private responseHits = 0;

  constructor(maxResources = 200_000, maxResponses = 5_000) {
    if (!Number.isInteger(maxResources) || maxResources < 1) throw new RangeError(`maxResources: expected a positive integer, got ${maxResources}`);
    if (!Number.isInteger(maxResponses) || maxResponses < 1) throw new RangeError(`maxResponses: expected a positive integer, got ${maxResponses}`);
    this.resources = new BoundedCache(maxResources);
    this.responses = new BoundedCache(maxResponses);
  }

  get stats(): ResourceCheckStats {
    return { decodes: this.decodes, cacheHits: this.hits, responseHits: this.responseHits };
  }

  /** Check every resource of a response; `raw` is the response the frame was parsed from. */
  check(frame: ResponseFrame, raw: Buffer): CheckResult {
    const ranges = frame.resourceRanges;
    if (ranges.length === 0) return EMPTY;
    const h = crypto.createHash('sha1');
    let contiguous = true;
    for (let i = 2; i < ranges.length; i += 2) if (ranges[i]! - ranges[i - 1]! > 6) { contiguous = false; break; }
    if (contiguous) {
      // the usual layout: resources back to back, only field headers (tag + length) between them,
      // so hashing the whole run also covers where each resource starts and ends
      h.update(raw.subarray(ranges[0]!, ranges[ranges.length - 1]!));
    } else {
      for (let i = 0; i < ranges.length; i += 2) h.update(`${ranges[i + 1]! - ranges[i]!}:`).update(raw.subarray(ranges[i]!, ranges[i + 1]!));
    }
    const key = `${frame.delta ? 'd' : 's'}${contiguous ? 'c' : 'p'}${frame.typeUrl}|${ranges.length}|${h.digest('base64')}`;
    const hit = this.responses.get(key);
    if (hit) {
      this.responseHits++;
      return hit;
    }
    const result = frame.delta ? this.checkDelta(frame, raw) : this.checkSotw(frame, raw);
    this.responses.set(key, result);
    return result;
  }

  private checkSotw(frame: ResponseFrame, raw: Buffer): CheckResult {
    const r = frame.resourceRanges;
    const facts: ResourceFacts[] = [];
    for (let i = 0; i < r.length; i += 2) facts.push(this.entryOrThrow(raw.subarray(r[i]!, r[i + 1]!)) as ResourceFacts);
    return finish(frame.typeUrl, facts);
  }

  private checkDelta(frame: ResponseFrame, raw: Buffer): CheckResult {
    const r = frame.resourceRanges;
    const facts: ResourceFacts[] = [];
    const versions: string[] = [];
    const withBody: boolean[] = [];
    for (let i = 0; i < r.length; i += 2) {
      const e = parseDeltaEntry(raw.subarray(r[i]!, r[i + 1]!));
      if (!e.any) {
        // a resource without a body only refreshes its TTL or version: the name must be given
        if (!e.name) return { ok: false, error: 'Delta resource without a name or a body' };
        facts.push(Object.freeze({ name: e.name, typeUrl: frame.typeUrl }));
        versions.push(e.version);
        withBody.push(false);
        continue;
      }
      const f = this.entryOrThrow(e.any);
      if ('invalid' in f) return { ok: false, error: f.invalid };
      if (e.name !== f.name) return { ok: false, error: `Delta resource wrapper name '${e.name}' does not match the decoded name '${f.name}'` };
      facts.push(f);
      versions.push(e.version);
      withBody.push(true);
    }
    const res = finish(frame.typeUrl, facts);
    return res.ok ? Object.freeze({ ok: true as const, facts: res.facts, deltaVersions: Object.freeze(versions), withBody: Object.freeze(withBody) }) : res;
  }

  private entryOrThrow(any: Buffer): Entry {
    const key = crypto.hash('sha1', any, 'base64');
    const hit = this.resources.get(key);
    if (hit) {
      this.hits++;
      return hit;
    }
    this.decodes++;
    const e = decodeFacts(any, key);
    this.resources.set(key, e);
    return e;
  }
}

const EMPTY: CheckResult = Object.freeze({ ok: true, facts: Object.freeze([]), deltaVersions: Object.freeze([]), withBody: Object.freeze([]) });

function finish(typeUrl: string, entries: readonly Entry[]): CheckResult {
  const seen = new Set<string>();
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if ('invalid' in e) return { ok: false, error: e.invalid };
    if (!e.name) return { ok: false, error: `${shortType(typeUrl)} resource ${i} has no name` };
    if (e.typeUrl !== typeUrl) return { ok: false, error: `resource '${e.name}' has type ${e.typeUrl}, the response's type is ${typeUrl}` };
    if (seen.has(e.name)) return { ok: false, error: `duplicate ${shortType(typeUrl)} resource name '${e.name}' in one response` };
    seen.add(e.name);
  }
  return Object.freeze({ ok: true as const, facts: Object.freeze(entries as ResourceFacts[]) });
}

function shortType(url: string): string {
  return url.slice(url.lastIndexOf('.') + 1);
}

/** Decode one Any fully (protobufjs) and extract the facts, or say why it is invalid. */
function decodeFacts(any: Buffer, digest: string): Entry {
  let typeUrl = '';
  try {
    const parsed = parseAny(any);
    typeUrl = parsed.typeUrl;
    const msgName = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
    let type: protobuf.Type;
    try {
      type = messageType(msgName);
    } catch {
      return { invalid: `unknown resource type ${typeUrl}` };
    }
    const m = type.decode(parsed.value) as unknown as Record<string, any>;
    switch (msgName) {
      case 'envoy.config.cluster.v3.Cluster':
        return Object.freeze(clusterFacts(m, typeUrl, digest));
      case 'envoy.config.listener.v3.Listener':
        return Object.freeze(listenerFacts(m, typeUrl));
      case 'envoy.config.endpoint.v3.ClusterLoadAssignment':
        return Object.freeze({ name: String(m['cluster_name'] ?? ''), typeUrl });
      default:
        return Object.freeze({ name: String(m['name'] ?? ''), typeUrl });
    }
  } catch (e) {
    return { invalid: `cannot decode ${typeUrl || 'resource'}: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** Envoy's ConfigSource.initial_fetch_timeout default */
const DEFAULT_INITIAL_FETCH_TIMEOUT_MS = 15_000;

const UPSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

/** True when a transport socket of the cluster takes certificates or trust from SDS. */
function usesSds(m: Record<string, any>): boolean {
  const sockets = [m['transport_socket'], ...((m['transport_socket_matches'] ?? []) as any[]).map((x) => x?.['transport_socket'])];
  for (const ts of sockets) {
    const typed = ts?.['typed_config'];
    if (!typed || typed.type_url !== UPSTREAM_TLS_TYPE || !typed.value) continue;
    const tls = messageType(UPSTREAM_TLS_TYPE.slice(UPSTREAM_TLS_TYPE.lastIndexOf('/') + 1)).decode(typed.value) as unknown as Record<string, any>;
    const c = tls['common_tls_context'] ?? {};
    if ((c['tls_certificate_sds_secret_configs'] ?? []).length > 0 || c['validation_context_sds_secret_config']
      || c['combined_validation_context']?.['validation_context_sds_secret_config']) return true;
  }
  return false;
}

function clusterFacts(m: Record<string, any>, typeUrl: string, digest: string): ResourceFacts {
  const name = String(m['name'] ?? '');
  const isEds = !m['cluster_type'] && m['type'] === CLUSTER_DISCOVERY_EDS;
  const sds = usesSds(m) ? { sds: true } : {};
  if (!isEds) return { name, typeUrl, digest, ...sds };
  const serviceName = m['eds_cluster_config']?.['service_name'];
  const timeout = m['eds_cluster_config']?.['eds_config']?.['initial_fetch_timeout'];
  const edsFetchTimeoutMs = timeout ? Number(timeout['seconds'] ?? 0) * 1000 + Math.round(Number(timeout['nanos'] ?? 0) / 1e6) : DEFAULT_INITIAL_FETCH_TIMEOUT_MS;
  return { name, typeUrl, digest, eds: serviceName ? String(serviceName) : name, edsFetchTimeoutMs, ...sds };
}

function listenerFacts(m: Record<string, any>, typeUrl: string): ResourceFacts {
  const routes = new Set<string>();
  const visitHcm = (typed: { type_url?: string; value?: Uint8Array } | undefined) => {
    if (!typed || typed.type_url !== HCM_TYPE || !typed.value) return;
    const hcm = messageType(HCM_TYPE.slice(HCM_TYPE.lastIndexOf('/') + 1)).decode(typed.value) as unknown as Record<string, any>;
    const rds = hcm['rds'];
    if (rds) {
      if (!rds['route_config_name']) throw new Error('HttpConnectionManager rds without route_config_name');
      routes.add(String(rds['route_config_name']));
    }
  };
  const chains: any[] = [...(m['filter_chains'] ?? [])];
  if (m['default_filter_chain']) chains.push(m['default_filter_chain']);
  for (const chain of chains) for (const f of chain['filters'] ?? []) visitHcm(f['typed_config']);
  visitHcm(m['api_listener']?.['api_listener']);
  return { name: String(m['name'] ?? ''), typeUrl, routes: Object.freeze([...routes]) };
}
