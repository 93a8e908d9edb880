/**
 * The structural validator: for each check, a resource Envoy would NACK and the smallest change
 * that makes it acceptable, then the generators' own output for the rich test mesh.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ResourceSet, pgvCoverage, validateResource, validateResources } from '../../../src/shared/envoy/validate';
import { GENERATORS } from '../../../src/workers/generators/index';
import { projectContext } from '../../../src/shared/generation';
import { GeneratorKind } from '../../../src/shared/model/proxy';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL, XdsTypeUrl } from '../../../src/shared/resources';
import { RICH_MESH_NAMESPACES, RICH_MESH_SIDECARS, fqdn, genContext, inboundPort, publishSnapshot, richMesh } from '../../helpers/fixtures';

type Obj = Record<string, any>;

const T = 'type.googleapis.com/';
const HCM = `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`;
const TCP_PROXY = `${T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`;
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': `${T}envoy.extensions.filters.http.router.v3.Router` } };
const ADS = { ads: {}, resource_api_version: 'V3' };

// ---- builders ----------------------------------------------------------------------------------

function cluster(name: string, extra: Obj = {}): Obj {
  return { name, type: 'EDS', connect_timeout: { seconds: 10, nanos: 0 }, lb_policy: 'ROUND_ROBIN', eds_cluster_config: { service_name: name, eds_config: ADS }, ...extra };
}
function cla(name: string): Obj {
  return { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 80 } } } }] }] };
}
function hcm(routing: Obj): Obj {
  return { '@type': HCM, stat_prefix: 'p', http_filters: [ROUTER], ...routing };
}
function rds(name: string): Obj { return hcm({ rds: { config_source: ADS, route_config_name: name } }); }
function listener(name: string, port: number, chains: Obj[], extra: Obj = {}): Obj {
  return { name, address: { socket_address: { address: '0.0.0.0', port_value: port } }, filter_chains: chains, ...extra };
}
const chain = (filterConfig: Obj, match?: Obj): Obj => ({ ...(match ? { filter_chain_match: match } : {}), filters: [{ name: 'f', typed_config: filterConfig }] });
function vhost(name: string, domains: string[], routes: Obj[] = [{ match: { prefix: '/' }, route: { cluster: 'c' } }]): Obj {
  return { name, domains, routes };
}
const routeConfig = (name: string, ...vhosts: Obj[]): Obj => ({ name, virtual_hosts: vhosts });

const ofCluster = (c: Obj): string[] => validateResource(CLUSTER_TYPE_URL, c);
const ofListener = (l: Obj): string[] => validateResource(LISTENER_TYPE_URL, l);
const ofRoute = (r: Obj): string[] => validateResource(ROUTE_TYPE_URL, r);

/** Exactly one problem, matching `re`. */
function one(problems: string[], re: RegExp): void {
  assert.equal(problems.length, 1, `expected one problem, got:\n${problems.join('\n')}`);
  assert.match(problems[0]!, re);
}

// ---- shape -------------------------------------------------------------------------------------

describe('shape: what protobufjs would silently drop or mangle', () => {
  test('accepts a well-formed EDS cluster, listener and route table', () => {
    assert.deepEqual(ofCluster(cluster('c')), []);
    assert.deepEqual(ofListener(listener('l', 80, [chain(rds('80'))])), []);
    assert.deepEqual(ofRoute(routeConfig('80', vhost('v', ['example.com']))), []);
  });

  test('reports an unknown field with the resource and the path', () => {
    one(ofCluster(cluster('c', { conect_timeout: { seconds: 1 } })), /^Cluster 'c': conect_timeout: .*has no field 'conect_timeout'/);
  });

  test('reports values of the wrong JS type, also inside wrappers', () => {
    one(ofCluster(cluster('c', { per_connection_buffer_limit_bytes: { value: '1024' } })), /per_connection_buffer_limit_bytes\.value: expected an integer/);
    one(ofCluster(cluster('c', { per_connection_buffer_limit_bytes: 1024 })), /per_connection_buffer_limit_bytes: expected a google.protobuf.UInt32Value object/);
    one(ofCluster(cluster('c', { per_connection_buffer_limit_bytes: { value: -1 } })), /out of uint32 range/);
    one(ofRoute(routeConfig('r', { ...vhost('v', ['a']), domains: 'a' })), /virtual_hosts\[0\]\.domains: repeated field given "a"/);
  });

  test('reports an unknown enum name', () => {
    one(ofCluster(cluster('c', { lb_policy: 'ROUND_ROBBIN' })), /lb_policy: 'ROUND_ROBBIN' is not a LbPolicy value/);
  });

  test('reports two members of one oneof', () => {
    one(ofRoute(routeConfig('r', vhost('v', ['a'], [{ match: { prefix: '/', path: '/x' }, route: { cluster: 'c' } }]))),
      /routes\[0\]\.match: oneof path_specifier has prefix and path set/);
  });

  test('reports an unknown @type and recurses into known Any payloads', () => {
    one(ofListener(listener('l', 80, [chain({ '@type': `${T}envoy.extensions.filters.network.nope.v3.Nope` })])),
      /filter_chains\[0\]\.filters\[0\]\.typed_config\.@type: '.*nope.v3.Nope' is not a type in the Envoy descriptor/);
    // typed_per_filter_config is a map of Any
    const perFilter = routeConfig('r', { ...vhost('v', ['a']), typed_per_filter_config: { 'envoy.filters.http.x': { '@type': `${T}udpa.type.v1.TypedStruct` } } });
    one(ofRoute(perFilter), /typed_per_filter_config\["envoy.filters.http.x"\]\.@type: .* is not a type/);
    // a misspelt field two Any levels down: listener → HCM → inline route config → router filter
    const deep = listener('l', 80, [chain(hcm({ route_config: routeConfig('inline', vhost('v', ['a'])), http_filters: [{ ...ROUTER, typed_config: { ...ROUTER.typed_config, dynamic_statz: {} } }] }))]);
    one(ofListener(deep), /filter_chains\[0\]\.filters\[0\]\.typed_config\.http_filters\[0\]\.typed_config\.dynamic_statz: .*Router has no field/);
    one(ofListener(listener('l', 80, [chain({})])), /typed_config: Any without '@type'/);
  });

  test('reports a type URL that is not a message', () => {
    one(validateResource(`${T}envoy.config.cluster.v3.Klaster`, {}), /not a message type/);
  });
});

// ---- PGV rules ---------------------------------------------------------------------------------

describe('protoc-gen-validate rules from the descriptor', () => {
  test('every rule key in the descriptor is checked or deliberately skipped', () => {
    const cov = pgvCoverage();
    assert.deepEqual(cov.unhandled, []);
    assert.ok(cov.checked.includes('string.min_len') && cov.checked.includes('(validate.required)'));
    assert.ok(cov.skipped.every((k) => /(^|\.)in$/.test(k)), `skipped: ${cov.skipped.join(', ')}`);
  });

  test('string.min_len (Cluster.name), also when the field is absent', () => {
    one(ofCluster(cluster('')), /^Cluster '': name: must be at least 1 characters long/);
    one(ofRoute(routeConfig('r', { domains: ['a'], routes: [] })), /virtual_hosts\[0\]\.name: must be at least 1 characters/);
  });

  test('string.max_bytes (UpstreamTlsContext.sni, inside transport_socket Any)', () => {
    const tls = (sni: string): Obj => cluster('c', { transport_socket: { name: 'tls', typed_config: { '@type': `${T}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`, sni } } });
    one(ofCluster(tls('a'.repeat(256))), /transport_socket\.typed_config\.sni: must be at most 255 bytes long/);
    assert.deepEqual(ofCluster(tls('a'.repeat(255))), []);
  });

  test('string.well_known_regex: strict header name with ignore_empty, loose header value', () => {
    const sniHeader = (h: string): Obj => cluster('c', {
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': `${T}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
          explicit_http_config: { http2_protocol_options: {} }, upstream_http_protocol_options: { override_auto_sni_header: h },
        },
      },
    });
    one(ofCluster(sniHeader('x host')), /override_auto_sni_header: must be a valid HTTP header name, got "x host"/);
    assert.deepEqual(ofCluster(sniHeader('x-host')), []);
    assert.deepEqual(ofCluster(sniHeader('')), [], 'ignore_empty');
    // VirtualHost.domains items: HTTP_HEADER_VALUE with strict: false (only NUL, CR, LF rejected)
    one(ofRoute(routeConfig('r', vhost('v', ['a\nb']))), /virtual_hosts\[0\]\.domains\[0\]: must be a valid HTTP header value \(no NUL, CR or LF\)/);
    assert.deepEqual(ofRoute(routeConfig('r', vhost('v', ['a b']))), []);
  });

  test('string.pattern (RouteMatch.path_separated_prefix)', () => {
    const r = (p: string): Obj => routeConfig('r', vhost('v', ['a'], [{ match: { path_separated_prefix: p }, route: { cluster: 'c' } }]));
    one(ofRoute(r('/api/')), /path_separated_prefix: must match/);
    assert.deepEqual(ofRoute(r('/api')), []);
  });

  test('bytes.max_len (HeaderValue.raw_value)', () => {
    const r = (n: number): Obj => routeConfig('r', { ...vhost('v', ['a']), request_headers_to_add: [{ header: { key: 'x', raw_value: new Uint8Array(n) } }] });
    one(ofRoute(r(16385)), /raw_value: must be at most 16384 bytes long/);
    assert.deepEqual(ofRoute(r(16384)), []);
  });

  test('uint32.gte / lt on a plain field (DirectResponseAction.status) and on a wrapper (LbEndpoint weight)', () => {
    const direct = (status: number): Obj => routeConfig('r', vhost('v', ['a'], [{ match: { prefix: '/' }, direct_response: { status } }]));
    one(ofRoute(direct(600)), /direct_response\.status: must be >= 200 and < 600, got 600/);
    one(ofRoute(direct(0)), /must be >= 200 and < 600, got 0/);
    assert.deepEqual(ofRoute(direct(404)), []);
    const weighted = (w: number): Obj => ({ ...cla('c'), endpoints: [{ lb_endpoints: [{ endpoint: {}, load_balancing_weight: { value: w } }] }] });
    one(validateResource(ENDPOINT_TYPE_URL, weighted(0)), /^ClusterLoadAssignment 'c': endpoints\[0\]\.lb_endpoints\[0\]\.load_balancing_weight\.value: must be >= 1, got 0/);
    assert.deepEqual(validateResource(ENDPOINT_TYPE_URL, weighted(3)), []);
  });

  test('uint64.lte on a wrapper (RingHashLbConfig.minimum_ring_size) and double range (Percent)', () => {
    one(ofCluster(cluster('c', { lb_policy: 'RING_HASH', ring_hash_lb_config: { minimum_ring_size: { value: 8388609 } } })), /minimum_ring_size\.value: must be <= 8388608/);
    assert.deepEqual(ofCluster(cluster('c', { lb_policy: 'RING_HASH', ring_hash_lb_config: { minimum_ring_size: { value: '1024' } } })), []);
    const panic = (value: number): Obj => cluster('c', { common_lb_config: { healthy_panic_threshold: { value } } });
    one(ofCluster(panic(101)), /healthy_panic_threshold\.value: must be >= 0 and <= 100, got 101/);
    assert.deepEqual(ofCluster(panic(50)), []);
  });

  test('duration.gt and the Envoy-wide positive-duration rule', () => {
    one(ofCluster(cluster('c', { dns_refresh_rate: { seconds: 0, nanos: 1_000_000 } })), /dns_refresh_rate: must be > 1ms, got 1ms/);
    assert.deepEqual(ofCluster(cluster('c', { dns_refresh_rate: { seconds: 5, nanos: 0 } })), []);
    one(ofCluster(cluster('c', { connect_timeout: { seconds: -1, nanos: 0 } })), /connect_timeout: negative duration/);
    one(ofCluster(cluster('c', { connect_timeout: { seconds: 1, nanos: 1_000_000_000 } })), /connect_timeout: duration out of range/);
  });

  test('message.required, duration.required and oneof (validate.required)', () => {
    one(ofRoute(routeConfig('r', vhost('v', ['a'], [{ route: { cluster: 'c' } }]))), /routes\[0\]\.match: is required/);
    const hc = (extra: Obj): Obj => cluster('c', { health_checks: [{ interval: { seconds: 1 }, unhealthy_threshold: { value: 1 }, healthy_threshold: { value: 1 }, tcp_health_check: {}, ...extra }] });
    one(ofCluster(hc({})), /health_checks\[0\]\.timeout: is required/);
    assert.deepEqual(ofCluster(hc({ timeout: { seconds: 1 } })), []);
    one(ofRoute(routeConfig('r', vhost('v', ['a'], [{ match: { prefix: '/' }, route: { timeout: { seconds: 1 } } }]))),
      /routes\[0\]\.route: oneof cluster_specifier is required/);
    one(ofRoute(routeConfig('r', vhost('v', ['a'], [{ match: {}, route: { cluster: 'c' } }]))), /routes\[0\]\.match: oneof path_specifier is required/);
  });

  test('any.required (TypedExtensionConfig.typed_config)', () => {
    const lb = (policy: Obj): Obj => cluster('c', { load_balancing_policy: { policies: [{ typed_extension_config: policy }] } });
    one(ofCluster(lb({ name: 'rr' })), /typed_extension_config\.typed_config: is required/);
    assert.deepEqual(ofCluster(lb({ name: 'rr', typed_config: { '@type': `${T}envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin` } })), []);
  });

  test('enum.defined_only and enum.not_in', () => {
    one(ofCluster(cluster('c', { type: 42 })), /^Cluster 'c': type: 42 is not a defined DiscoveryType value/);
    assert.deepEqual(ofCluster(cluster('c', { type: 3 })), []);
    const httpCheck = (method: string): Obj => cluster('c', {
      health_checks: [{ timeout: { seconds: 1 }, interval: { seconds: 1 }, unhealthy_threshold: { value: 1 }, healthy_threshold: { value: 1 }, http_health_check: { path: '/h', method } }],
    });
    one(ofCluster(httpCheck('CONNECT')), /http_health_check\.method: must not be CONNECT/);
    assert.deepEqual(ofCluster(httpCheck('GET')), []);
  });

  test('repeated.min_items, max_items, unique and items rules', () => {
    one(ofRoute(routeConfig('r', vhost('v', []))), /virtual_hosts\[0\]\.domains: needs at least 1 item/);
    const codes = (c: number[]): Obj => routeConfig('r', vhost('v', ['a'], [{ match: { prefix: '/' }, route: { cluster: 'c', internal_redirect_policy: { redirect_response_codes: c } } }]));
    one(ofRoute(codes([301, 302, 303, 307, 308, 301])), /redirect_response_codes: allows at most 5 items, got 6/);
    assert.deepEqual(ofRoute(codes([301, 302])), []);
    const copy = (h: string[]): Obj => routeConfig('r', vhost('v', ['a'], [{ match: { prefix: '/' }, route: { cluster: 'c', internal_redirect_policy: { response_headers_to_copy: h } } }]));
    one(ofRoute(copy(['x-a', 'x-a'])), /response_headers_to_copy: items must be unique/);
    assert.deepEqual(ofRoute(copy(['x-a', 'x-b'])), []);
    const ports = (p: number[]): Obj => listener('l', 80, [chain(rds('80'), { source_ports: p })]);
    one(ofListener(ports([0])), /source_ports\[0\]: must be >= 1 and <= 65535, got 0/);
    assert.deepEqual(ofListener(ports([1234])), []);
  });

  test('map.keys.string.min_len and map.min_pairs', () => {
    one(ofCluster(cluster('c', { metadata: { filter_metadata: { '': { fields: {} } } } })), /metadata\.filter_metadata\[""\]: must be at least 1 characters/);
    assert.deepEqual(ofCluster(cluster('c', { metadata: { filter_metadata: { istio: { fields: { x: { stringValue: 'y' } } } } } })), []);
    const matchMap = `${T}xds.type.matcher.v3.Matcher.MatcherTree.MatchMap`;
    one(validateResource(matchMap, { map: {} }), /map: needs at least 1 entr/);
    assert.deepEqual(validateResource(matchMap, { map: { k: { action: { name: 'a', typed_config: { '@type': `${T}envoy.extensions.filters.http.router.v3.Router` } } } } }), []);
  });

  test('bool.const (ListenerFilterChainMatchPredicate.any_match must be true)', () => {
    const lf = (anyMatch: boolean): Obj => listener('l', 80, [chain(rds('80'))], {
      listener_filters: [{ name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': `${T}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector` }, filter_disabled: { any_match: anyMatch } }],
    });
    one(ofListener(lf(false)), /filter_disabled\.any_match: must be true/);
    assert.deepEqual(ofListener(lf(true)), []);
  });
});

// ---- Envoy checks outside PGV ------------------------------------------------------------------

describe('listener checks outside PGV', () => {
  test('a listener needs an address unless it is an API listener', () => {
    one(ofListener({ name: 'l', filter_chains: [chain(rds('80'))] }), /^Listener 'l': address: is required/);
    assert.deepEqual(ofListener({ name: 'api', api_listener: { api_listener: rds('80') } }), []);
  });

  test('address_suffix and suffix_len are rejected', () => {
    one(ofListener(listener('l', 80, [chain(rds('80'), { suffix_len: { value: 1 } })])), /filter_chain_match: address_suffix \/ suffix_len are unimplemented/);
  });
});

// ---- across a set ------------------------------------------------------------------------------

describe('references and uniqueness across a set', () => {
  const complete = (): ResourceSet => ({
    clusters: [cluster('c'), cluster('tcp')],
    endpoints: [cla('c'), cla('tcp')],
    listeners: [listener('http', 80, [chain(rds('80'))]), listener('tcp', 9000, [chain({ '@type': TCP_PROXY, stat_prefix: 't', cluster: 'tcp' })])],
    routes: [routeConfig('80', vhost('v', ['a']))],
  });

  test('accepts a complete set', () => {
    assert.deepEqual(validateResources(complete()), []);
  });

  test('reports a missing RDS route configuration, also from an api_listener', () => {
    const set = complete();
    set.routes = [];
    one(validateResources(set), /^Listener 'http': filter_chains\[0\]\.filters\[0\]\.typed_config\.rds\.route_config_name: route configuration '80' is not in the set/);
    set.listeners = [{ name: 'grpc', api_listener: { api_listener: rds('grpc-route') } }];
    one(validateResources(set), /api_listener\.api_listener\.rds\.route_config_name: route configuration 'grpc-route'/);
    assert.deepEqual(validateResources(set, { requireReferences: false }), []);
  });

  test('reports clusters a route, a weighted route, a mirror or tcp_proxy names but the set lacks', () => {
    const set = complete();
    set.routes = [routeConfig('80', vhost('v', ['a'], [
      { match: { prefix: '/a' }, route: { cluster: 'gone', request_mirror_policies: [{ cluster: 'mirror' }] } },
      { match: { prefix: '/' }, route: { weighted_clusters: { clusters: [{ name: 'c', weight: { value: 50 } }, { name: 'w', weight: { value: 50 } }] } } },
    ]))];
    set.listeners!.push(listener('tcp2', 9001, [chain({ '@type': TCP_PROXY, stat_prefix: 't', weighted_clusters: { clusters: [{ name: 'tw', weight: 1 }] } })]));
    const p = validateResources(set);
    assert.deepEqual(p.map((x) => x.replace(/^.*: cluster '([^']+)'.*$/, '$1')).sort(), ['gone', 'mirror', 'tw', 'w']);
  });

  test('reports an EDS cluster without a ClusterLoadAssignment only when endpoints are given', () => {
    const set = complete();
    set.endpoints = [cla('c')];
    one(validateResources(set), /^Cluster 'tcp': eds_cluster_config\.service_name: no ClusterLoadAssignment 'tcp'/);
    delete set.endpoints;
    assert.deepEqual(validateResources(set), []);
  });

  test('reports duplicate names and two listeners bound to one address', () => {
    const set = complete();
    set.clusters!.push(cluster('c'));
    set.routes!.push(routeConfig('80', vhost('v', ['b'])));
    set.listeners!.push(listener('http', 81, [chain(rds('80'))]), listener('other', 80, [chain(rds('80'))]));
    const p = validateResources(set);
    assert.equal(p.length, 4, p.join('\n'));
    assert.ok(p.some((x) => /^Cluster 'c': name: duplicate Cluster name/.test(x)));
    assert.ok(p.some((x) => /^RouteConfiguration '80': name: duplicate/.test(x)));
    assert.ok(p.some((x) => /^Listener 'http': name: duplicate/.test(x)));
    assert.ok(p.some((x) => /^Listener 'other': address: TCP 0\.0\.0\.0:80 is already bound by listener 'http'/.test(x)));
    // a listener that does not bind may share the address (Istio's virtual outbound listeners)
    set.listeners = [listener('a', 80, [chain(rds('80'))]), listener('b', 80, [chain(rds('80'))], { bind_to_port: { value: false } })];
    set.clusters!.pop();
    set.routes!.pop();
    assert.deepEqual(validateResources(set), []);
  });

  test('reports filter chains with the same match; an absent match equals an empty one', () => {
    const l = listener('l', 80, [chain(rds('80')), chain(rds('80'), {}), chain(rds('80'), { destination_port: { value: 80 } })]);
    one(validateResources({ listeners: [l] }), /^Listener 'l': filter_chains\[1\]\.filter_chain_match: same matching rules as filter_chains\[0\]/);
    const tls = listener('l', 80, [chain(rds('80'), { transport_protocol: '' }), chain(rds('80'), { transport_protocol: 'tls' })]);
    assert.deepEqual(validateResources({ listeners: [tls] }), []);
  });

  test('reports filter chains whose matches overlap in a repeated field', () => {
    const l = listener('l', 80, [chain(rds('80'), { server_names: ['a.com', 'b.com'] }), chain(rds('80'), { server_names: ['b.com'] })]);
    one(validateResources({ listeners: [l] }), /filter_chains\[1\]\.filter_chain_match: overlaps filter_chains\[0\] \(both match server_names=b\.com\)/);
    const disjoint = listener('l', 80, [chain(rds('80'), { server_names: ['a.com'] }), chain(rds('80'), { server_names: ['b.com'] })]);
    assert.deepEqual(validateResources({ listeners: [disjoint] }), []);
  });

  test('reports a virtual host name or a domain listed twice in one route table, case-insensitively', () => {
    const p = validateResources({ routes: [routeConfig('r', vhost('v', ['a.com']), vhost('v', ['b.com']), vhost('w', ['A.com', '*']), vhost('x', ['*']))] });
    assert.equal(p.length, 3, p.join('\n'));
    assert.match(p[0]!, /virtual_hosts\[1\]\.name: virtual host name 'v' repeats virtual_hosts\[0\]/);
    assert.match(p[1]!, /virtual_hosts\[2\]\.domains\[0\]: domain 'A.com' is already listed in virtual host 'v'/);
    assert.match(p[2]!, /virtual_hosts\[3\]\.domains\[0\]: domain '\*' is already listed in virtual host 'w'/);
    // the same domain in two route tables is fine
    assert.deepEqual(validateResources({ routes: [routeConfig('r1', vhost('v', ['a.com'])), routeConfig('r2', vhost('v', ['a.com']))] }), []);
  });

  test('checks an inline route_config of an HCM like an RDS one', () => {
    const l = listener('l', 80, [chain(hcm({ route_config: routeConfig('inline', vhost('v', ['a']), vhost('w', ['a'])) }))]);
    one(validateResources({ listeners: [l], clusters: [cluster('c')] }), /typed_config\.route_config\.virtual_hosts\[1\]\.domains\[0\]: domain 'a'/);
  });
});

// ---- the generators' output ---------------------------------------------------------------------

/** Route names the listeners ask RDS for. */
function rdsNames(listeners: Obj[]): string[] {
  const names = new Set<string>();
  JSON.stringify(listeners, (k, v) => { if (k === 'route_config_name') names.add(v); return v; });
  return [...names];
}

/**
 * Each proxy context of the rich mesh (every generator family) as one set: wildcard CDS and LDS, RDS for the names the
 * listeners reference, EDS for the EDS clusters, exactly what a connected proxy would hold.
 */
function richMeshSets(): Array<{ where: string; set: ResourceSet }> {
  const snap = publishSnapshot(richMesh());
  const reviews = snap.view.servicesByHost(fqdn('reviews', 'bookinfo'))[0]!;
  const cart = snap.view.servicesByHost(fqdn('cart', 'shop'))[0]!;
  const inbound = [[], [inboundPort(reviews, 'http'), inboundPort(reviews, 'grpc-admin')], [inboundPort(cart, 'grpc'), inboundPort(cart, 'tcp')]];
  const out: Array<{ where: string; set: ResourceSet }> = [];
  for (const generator of Object.keys(GENERATORS) as GeneratorKind[]) for (const namespace of RICH_MESH_NAMESPACES) for (const sidecar of RICH_MESH_SIDECARS)
    for (const [i, interceptionMode] of (['REDIRECT', 'NONE'] as const).entries()) {
      const ctx = genContext({
        generator, proxyType: generator === 'router' ? 'router' : 'sidecar', namespace, sidecar, interceptionMode, inbound: inbound[(i + sidecar.length) % inbound.length]!,
      });
      const gen = (url: XdsTypeUrl, names: readonly string[] | null): Obj[] => GENERATORS[generator][url]!(snap.view, projectContext(ctx, url), names).map((g) => g.resource);
      const clusters = gen(CLUSTER_TYPE_URL, null);
      const listeners = gen(LISTENER_TYPE_URL, null);
      const routes = gen(ROUTE_TYPE_URL, rdsNames(listeners));
      const eds = clusters.filter((c) => c['type'] === 'EDS').map((c) => c['eds_cluster_config']?.['service_name'] || c['name']);
      out.push({ where: `${generator}/${namespace}/${sidecar || '-'}/${interceptionMode}`, set: { clusters, listeners, routes, endpoints: gen(ENDPOINT_TYPE_URL, eds) } });
    }
  return out;
}

describe('generator output for the rich mesh', () => {
  test('has no problem Envoy would NACK', () => {
    const first = new Map<string, string>(); // problem pattern → first example
    let resources = 0;
    for (const { where, set } of richMeshSets()) {
      resources += Object.values(set).reduce((n, l: object[]) => n + l.length, 0);
      for (const p of validateResources(set)) {
        const pattern = p.replace(/\[\d+\]/g, '[]').replace(/'[^']*'/g, "''");
        if (!first.has(pattern)) first.set(pattern, `${where}: ${p}`);
      }
    }
    assert.ok(resources > 2000, `only ${resources} resources`);
    assert.deepEqual([...first.values()], []);
  });
});
