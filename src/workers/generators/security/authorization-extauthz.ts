/**
 * CUSTOM AuthorizationPolicies: external authorization through a MeshConfig extension provider
 * (`envoyExtAuthzHttp` / `envoyExtAuthzGrpc`), after Istio's authz builder (extauthz.go):
 *
 * - An RBAC filter in shadow mode evaluates the CUSTOM rules (DENY semantics, policy names
 *   prefixed `istio-ext-authz-`, shadow_rules_stat_prefix `istio_ext_authz_`) without enforcing
 *   them; it records the matching policy in dynamic metadata.
 * - The ext_authz filter that follows runs only when that metadata says a CUSTOM rule matched
 *   (`filter_enabled_metadata`: `istio_ext_authz_shadow_effective_policy_id` prefix
 *   `istio-ext-authz`), and calls the provider's cluster `outbound|<port>||<host>`.
 * - TCP chains get the network pair for gRPC providers only (an HTTP provider cannot check a TCP
 *   connection and is ignored there, as in Istio).
 * - A workload's CUSTOM policies must all name one provider; a missing, unknown or invalid
 *   provider yields an RBAC filter that denies everything
 *   (`default-deny-all-due-to-bad-CUSTOM-action`), never an open door.
 */
import { SnapshotView } from '../../../shared/snapshot/snapshot-view';
import { ConfigModel } from '../../../shared/model/service';
import { parseGoDuration } from '../../../shared/duration';
import { outboundClusterName } from '../hosts';
import { duration } from '../types';
import { buildRules, RBAC_HTTP_FILTER, RBAC_HTTP_TYPE, RBAC_NETWORK_FILTER, RBAC_NETWORK_TYPE, RBAC_TCP_STAT_PREFIX } from './authorization-rules';

type Obj = Record<string, unknown>;

export const EXT_AUTHZ_HTTP_FILTER = 'envoy.filters.http.ext_authz';
export const EXT_AUTHZ_NETWORK_FILTER = 'envoy.filters.network.ext_authz';
export const EXT_AUTHZ_HTTP_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
export const EXT_AUTHZ_NETWORK_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.ext_authz.v3.ExtAuthz';
const MATCH_PREFIX = 'istio-ext-authz';
const SHADOW_STAT_PREFIX = 'istio_ext_authz_';
const DEFAULT_TIMEOUT_MS = 600_000;

interface BuiltExtAuthz { http: Obj; tcp?: Obj }

const DENY_ALL: Obj = {
  action: 'DENY',
  policies: { 'default-deny-all-due-to-bad-CUSTOM-action': { permissions: [{ any: true }], principals: [{ any: true }] } },
};

function filterEnabled(filter: string): Obj {
  return { filter, path: [{ key: `${SHADOW_STAT_PREFIX}shadow_effective_policy_id` }], value: { string_match: { prefix: MATCH_PREFIX } } };
}

/** Istio extensionproviders.LookupCluster: `<ns>/<hostname>` or a hostname unique in the registry. */
function lookupCluster(snap: SnapshotView, service: unknown, port: number): { hostname: string; cluster: string } {
  if (typeof service !== 'string' || service === '') throw new Error('service must not be empty');
  const parts = service.split('/');
  const candidates = parts.length === 2
    ? snap.servicesByHost(parts[1]!).filter((s) => s.namespace === parts[0])
    : snap.servicesByHost(service);
  const namespaces = [...new Set(candidates.map((s) => s.namespace))];
  if (parts.length !== 2 && namespaces.length > 1) {
    throw new Error(`found ${service} in multiple namespaces ${namespaces.join(', ')}, specify the namespace explicitly in the format of <Namespace>/<Hostname>`);
  }
  const svc = candidates[0];
  if (!svc) throw new Error(`could not find service ${service} in Istio service registry`);
  return { hostname: svc.hostname, cluster: outboundClusterName(port, '', svc.hostname) };
}

function portOf(v: unknown): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`port must be in the range [1, 65535], found: ${String(v)}`);
  return n;
}

/** Envoy's type.v3.StatusCode values (Istio parseStatusOnError accepts only these). */
const STATUS_CODES = new Set([100, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402, 403, 404,
  405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 421, 422, 423, 424, 426, 428, 429, 431, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511]);

function statusOnError(v: unknown): Obj | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const code = Number(v);
  if (!Number.isInteger(code) || !STATUS_CODES.has(code)) throw new Error(`unsupported statusOnError ${String(v)}`);
  return { status_on_error: { code } };
}

function timeout(v: unknown): Obj {
  const ms = typeof v === 'string' ? parseGoDuration(v) : undefined;
  return duration(ms !== undefined && ms >= 0 ? ms : DEFAULT_TIMEOUT_MS);
}

/** Istio generateHeaders: exact, or prefix/suffix for a trailing/leading `*`; case-insensitive. */
function headerList(v: unknown): Obj | undefined {
  const hs = Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  if (hs.length === 0) return undefined;
  return {
    patterns: hs.map((h) => {
      if (h === '*') throw new Error('a single wildcard ("*") is not supported, change it to either prefix or suffix match');
      if (h.startsWith('*')) return { suffix: h.slice(1), ignore_case: true };
      if (h.endsWith('*')) return { prefix: h.slice(0, -1), ignore_case: true };
      return { exact: h, ignore_case: true };
    }),
  };
}

function withBody(v: unknown): Obj {
  if (!v || typeof v !== 'object') return {};
  const b = v as Obj;
  return { with_request_body: { max_request_bytes: Number(b['maxRequestBytes'] ?? 0), allow_partial_message: b['allowPartialMessage'] === true, pack_as_bytes: b['packAsBytes'] === true } };
}

function buildHttpProvider(snap: SnapshotView, p: Obj): BuiltExtAuthz {
  const port = portOf(p['port']);
  const { hostname, cluster } = lookupCluster(snap, p['service'], port);
  const pathPrefix = typeof p['pathPrefix'] === 'string' ? p['pathPrefix'] : '';
  if (pathPrefix !== '' && !pathPrefix.startsWith('/')) throw new Error(`pathPrefix must begin with \`/\`, found: "${pathPrefix}"`);
  const service: Obj = {
    server_uri: { uri: `http://${hostname}`, cluster, timeout: timeout(p['timeout']) },
    ...(pathPrefix ? { path_prefix: pathPrefix } : {}),
  };
  const allowed = headerList(p['includeRequestHeadersInCheck']) ?? headerList(p['includeHeadersInCheck']);
  const extra = p['includeAdditionalHeadersInCheck'] && typeof p['includeAdditionalHeadersInCheck'] === 'object' ? p['includeAdditionalHeadersInCheck'] as Record<string, unknown> : {};
  const toAdd = Object.keys(extra).sort().map((key) => ({ key, value: String(extra[key]) }));
  if (allowed || toAdd.length > 0) service['authorization_request'] = { ...(allowed ? { allowed_headers: allowed } : {}), ...(toAdd.length > 0 ? { headers_to_add: toAdd } : {}) };
  const up = headerList(p['headersToUpstreamOnAllow']);
  const denyDown = headerList(p['headersToDownstreamOnDeny']);
  const allowDown = headerList(p['headersToDownstreamOnAllow']);
  if (up || denyDown || allowDown) {
    service['authorization_response'] = {
      ...(up ? { allowed_upstream_headers: up } : {}), ...(denyDown ? { allowed_client_headers: denyDown } : {}),
      ...(allowDown ? { allowed_client_headers_on_success: allowDown } : {}),
    };
  }
  return {
    http: {
      '@type': EXT_AUTHZ_HTTP_TYPE, ...statusOnError(p['statusOnError']), failure_mode_allow: p['failOpen'] === true,
      transport_api_version: 'V3', http_service: service, filter_enabled_metadata: filterEnabled(RBAC_HTTP_FILTER), ...withBody(p['includeRequestBodyInCheck']),
    },
  };
}

function buildGrpcProvider(snap: SnapshotView, p: Obj): BuiltExtAuthz {
  const port = portOf(p['port']);
  const { cluster } = lookupCluster(snap, p['service'], port);
  // `|` is not valid in a gRPC authority (Istio replaces it the same way)
  const grpc = { envoy_grpc: { cluster_name: cluster, authority: cluster.replace(/\|/g, '_.') }, timeout: timeout(p['timeout']) };
  const failOpen = p['failOpen'] === true;
  return {
    http: {
      '@type': EXT_AUTHZ_HTTP_TYPE, ...statusOnError(p['statusOnError']), failure_mode_allow: failOpen, grpc_service: grpc,
      filter_enabled_metadata: filterEnabled(RBAC_HTTP_FILTER), transport_api_version: 'V3', ...withBody(p['includeRequestBodyInCheck']),
    },
    tcp: {
      '@type': EXT_AUTHZ_NETWORK_TYPE, stat_prefix: RBAC_TCP_STAT_PREFIX, failure_mode_allow: failOpen, transport_api_version: 'V3',
      grpc_service: grpc, filter_enabled_metadata: filterEnabled(RBAC_NETWORK_FILTER),
    },
  };
}

/** The provider all CUSTOM policies of the workload name, built; throws with Istio's reasons otherwise. */
function providerFor(snap: SnapshotView, custom: readonly ConfigModel[]): BuiltExtAuthz {
  const names = custom.map((c) => String((c.spec?.provider as Obj | undefined)?.['name'] ?? ''));
  if (names.some((n) => n === '')) throw new Error('no provider specified in authorization policy');
  if (new Set(names).size > 1) throw new Error(`only 1 provider can be used per workload, found multiple providers: ${names.join(', ')}`);
  const providers = Array.isArray(snap.mesh()['extensionProviders']) ? (snap.mesh()['extensionProviders'] as Obj[]) : [];
  const matches = providers.filter((p) => p && p['name'] === names[0]);
  if (matches.length === 0) throw new Error(`available providers are [${providers.map((p) => p?.['name']).join(', ')}] but found "${names[0]}"`);
  if (matches.length > 1) throw new Error(`extension provider name must be unique, found duplicate: ${names[0]}`);
  const p = matches[0]!;
  if (p['envoyExtAuthzHttp'] && typeof p['envoyExtAuthzHttp'] === 'object') return buildHttpProvider(snap, p['envoyExtAuthzHttp'] as Obj);
  if (p['envoyExtAuthzGrpc'] && typeof p['envoyExtAuthzGrpc'] === 'object') return buildGrpcProvider(snap, p['envoyExtAuthzGrpc'] as Obj);
  throw new Error(`unsupported extension provider: ${names[0]}`);
}

function customRules(custom: readonly ConfigModel[], tds: readonly string[], forTCP: boolean): Obj | undefined {
  return buildRules(custom, 'DENY', tds, { forTCP, namePrefix: `${MATCH_PREFIX}-` });
}

/** HTTP filters of the workload's CUSTOM policies: shadow RBAC + ext_authz, or deny-all when the provider is bad. */
export function customHttpFilters(snap: SnapshotView, custom: readonly ConfigModel[], tds: readonly string[]): Obj[] {
  if (custom.length === 0) return [];
  let built: BuiltExtAuthz;
  try {
    built = providerFor(snap, custom);
  } catch {
    return [{ name: RBAC_HTTP_FILTER, typed_config: { '@type': RBAC_HTTP_TYPE, rules: DENY_ALL } }];
  }
  const shadow = customRules(custom, tds, false)!;
  return [
    { name: RBAC_HTTP_FILTER, typed_config: { '@type': RBAC_HTTP_TYPE, shadow_rules: shadow, shadow_rules_stat_prefix: SHADOW_STAT_PREFIX } },
    { name: EXT_AUTHZ_HTTP_FILTER, typed_config: built.http },
  ];
}

/** Network filters of the workload's CUSTOM policies (gRPC providers only). */
export function customNetworkFilters(snap: SnapshotView, custom: readonly ConfigModel[], tds: readonly string[]): Obj[] {
  if (custom.length === 0) return [];
  let built: BuiltExtAuthz;
  try {
    built = providerFor(snap, custom);
  } catch {
    return [{ name: RBAC_NETWORK_FILTER, typed_config: { '@type': RBAC_NETWORK_TYPE, rules: DENY_ALL, stat_prefix: RBAC_TCP_STAT_PREFIX } }];
  }
  if (!built.tcp) return [];
  const shadow = customRules(custom, tds, true)!;
  return [
    { name: RBAC_NETWORK_FILTER, typed_config: { '@type': RBAC_NETWORK_TYPE, shadow_rules: shadow, stat_prefix: RBAC_TCP_STAT_PREFIX, shadow_rules_stat_prefix: SHADOW_STAT_PREFIX } },
    { name: EXT_AUTHZ_NETWORK_FILTER, typed_config: built.tcp },
  ];
}
