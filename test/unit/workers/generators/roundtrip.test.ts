/**
 * Every resource every generator builds for a rich mesh survives encode → decode with no field
 * lost. protobufjs `fromObject` silently drops field names the message does not have, so a
 * misspelt or misplaced field would otherwise reach Envoy as "not configured" without any error.
 * The comparison walks the generator's plain object with the protobuf schema beside it: unknown
 * names, dropped values, oneof clashes and wrong JS types all show up as a path.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as protobuf from 'protobufjs';
import { GENERATORS } from '../../../../src/workers/generators/index';
import { decodeAny, encodeAny, envoyRoot, messageType } from '../../../../src/shared/envoy/proto';
import { GenContext, projectContext } from '../../../../src/shared/generation';
import { MESSAGE_OF, SHORT_NAME, XdsTypeUrl } from '../../../../src/shared/resources';
import { GeneratorKind } from '../../../../src/shared/model/proxy';
import {
  RICH_MESH_NAMESPACES, RICH_MESH_SIDECARS, TestSnapshot, fqdn, genContext, inboundPort, publishSnapshot, richMesh,
} from '../../../helpers/fixtures';

type Obj = Record<string, unknown>;

// ---- schema-aware comparison -------------------------------------------------------------------

const ANY = '.google.protobuf.Any';

function isObj(v: unknown): v is Obj { return v !== null && typeof v === 'object' && !Array.isArray(v); }

/** Differences between what a generator built (`expected`) and what came back from the wire. */
function diffMessage(type: protobuf.Type, expected: Obj, actual: unknown, path: string, out: string[]): void {
  if (!isObj(actual)) { out.push(`${path}: ${type.name} lost (decoded ${JSON.stringify(actual)})`); return; }
  if (type.fullName === ANY) {
    const url = expected['@type'];
    if (typeof url !== 'string') { out.push(`${path}: Any without '@type'`); return; }
    if (actual['@type'] !== url) out.push(`${path}['@type']: ${url} decoded as ${String(actual['@type'])}`);
    const inner = envoyRoot().lookupType(url.slice(url.lastIndexOf('/') + 1));
    const { '@type': _e, ...e } = expected;
    const { '@type': _a, ...a } = actual;
    diffMessage(inner, e, a, path, out);
    return;
  }
  // protobufjs keeps every member of a oneof it is given; Envoy's parser keeps only the last.
  for (const oneof of type.oneofsArray) {
    const set = oneof.oneof.filter((name) => expected[name] !== undefined);
    if (set.length > 1) out.push(`${path}: oneof ${oneof.name} has ${set.join(' and ')}; only one reaches Envoy`);
  }
  for (const [key, value] of Object.entries(expected)) {
    if (value === undefined) continue;
    const field = type.fields[key];
    if (!field) { out.push(`${path}.${key}: ${type.fullName.slice(1)} has no field '${key}' (dropped by fromObject)`); continue; }
    diffField(field.resolve(), value, actual[key], `${path}.${key}`, out);
  }
  for (const key of Object.keys(actual)) {
    if (!(key in expected)) out.push(`${path}.${key}: decoded ${JSON.stringify(actual[key])} that the generator did not set`);
  }
}

function diffField(field: protobuf.Field, value: unknown, actual: unknown, path: string, out: string[]): void {
  if (field.map) {
    if (!isObj(value)) { out.push(`${path}: map field given ${JSON.stringify(value)}`); return; }
    for (const [k, v] of Object.entries(value)) diffValue(field, v, isObj(actual) ? actual[k] : undefined, `${path}[${JSON.stringify(k)}]`, out);
    return;
  }
  if (field.repeated) {
    if (!Array.isArray(value)) { out.push(`${path}: repeated field given ${JSON.stringify(value)}`); return; }
    const got = actual === undefined ? [] : actual;
    if (!Array.isArray(got) || got.length !== value.length) { out.push(`${path}: ${value.length} items decoded as ${JSON.stringify(actual)}`); return; }
    value.forEach((v, i) => diffValue(field, v, got[i], `${path}[${i}]`, out));
    return;
  }
  diffValue(field, value, actual, path, out);
}

function diffValue(field: protobuf.Field, value: unknown, actual: unknown, path: string, out: string[]): void {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Type) {
    if (!isObj(value)) { out.push(`${path}: ${rt.name} message given ${JSON.stringify(value)}`); return; }
    diffMessage(rt, value, actual, path, out);
    return;
  }
  if (rt instanceof protobuf.Enum) {
    const num = typeof value === 'number' ? value : rt.values[String(value)];
    if (num === undefined) { out.push(`${path}: '${String(value)}' is not a ${rt.name} value`); return; }
    if (num === 0 && actual === undefined) return;
    if (actual !== rt.valuesById[num]) out.push(`${path}: ${String(value)} decoded as ${JSON.stringify(actual)}`);
    return;
  }
  const isDefault = value === 0 || value === '' || value === false;
  if (isDefault && actual === undefined) return;
  if (typeof value !== typeof actual || value !== actual) {
    out.push(`${path}: ${field.type} ${JSON.stringify(value)} (${typeof value}) decoded as ${JSON.stringify(actual)} (${typeof actual})`);
  }
}

// ---- the generated corpus ----------------------------------------------------------------------

interface Produced { where: string; typeUrl: XdsTypeUrl; name: string; resource: Obj }

const CLUSTERS = [
  `outbound|9080||${fqdn('reviews', 'bookinfo')}`, `outbound|9080|v1|${fqdn('reviews', 'bookinfo')}`, `outbound|9080|v2|${fqdn('reviews', 'bookinfo')}`,
  `outbound|9090||${fqdn('reviews', 'bookinfo')}`, `outbound|7070||${fqdn('cart', 'shop')}`, `outbound|9000||${fqdn('cart', 'shop')}`,
  'outbound|8080||api.internal', 'outbound|80||httpbin.org', 'outbound|443||httpbin.org', `outbound|3306||${fqdn('db', 'legacy')}`,
];

function contexts(snapshot: TestSnapshot): GenContext[] {
  const reviews = snapshot.view.servicesByHost(fqdn('reviews', 'bookinfo'))[0]!;
  const cart = snapshot.view.servicesByHost(fqdn('cart', 'shop'))[0]!;
  const inbound = [[], [inboundPort(reviews, 'http'), inboundPort(reviews, 'grpc-admin')], [inboundPort(cart, 'grpc'), inboundPort(cart, 'tcp')]];
  const out: GenContext[] = [];
  for (const generator of ['sidecar', 'grpc'] as GeneratorKind[]) for (const namespace of RICH_MESH_NAMESPACES) for (const sidecar of RICH_MESH_SIDECARS)
    for (const [i, interceptionMode] of (['REDIRECT', 'NONE'] as const).entries()) {
      out.push(genContext({ generator, namespace, sidecar, interceptionMode, inbound: inbound[(i + sidecar.length) % inbound.length]! }));
    }
  return out;
}

function namesFor(generator: GeneratorKind, typeUrl: XdsTypeUrl, wildcard: Produced[]): readonly string[] | null {
  switch (SHORT_NAME[typeUrl]) {
    case 'eds': return CLUSTERS;
    case 'rds': return generator === 'sidecar' ? ['9080', '7070', '80', '8080', '3306', '443'] : wildcard.map((p) => p.name);
    default: return null;
  }
}

/** Everything the generators build for every context: wildcard, and the names clients ask for. */
function produceAll(snapshot: TestSnapshot): Produced[] {
  const out: Produced[] = [];
  for (const ctx of contexts(snapshot)) {
    const table = GENERATORS[ctx.generator];
    const wildcardRoutes: Produced[] = [];
    for (const typeUrl of Object.keys(table) as XdsTypeUrl[]) {
      const gen = table[typeUrl]!;
      const where = `${ctx.generator}/${ctx.namespace}/${ctx.sidecar || '-'}/${ctx.interceptionMode}`;
      const wildcard = gen(snapshot.view, projectContext(ctx, typeUrl), null).map((g) => ({ where, typeUrl, name: g.name, resource: g.resource }));
      if (SHORT_NAME[typeUrl] === 'rds') wildcardRoutes.push(...wildcard);
      out.push(...wildcard);
      const names = namesFor(ctx.generator, typeUrl, wildcardRoutes);
      if (names) out.push(...gen(snapshot.view, projectContext(ctx, typeUrl), names).map((g) => ({ where, typeUrl, name: g.name, resource: g.resource })));
    }
  }
  return out;
}

/** Every field path (indices dropped) present in the generated objects, e.g. `route.retry_policy.num_retries`. */
function fieldPaths(v: unknown, prefix: string, into: Set<string>): void {
  if (Array.isArray(v)) { for (const x of v) fieldPaths(x, prefix, into); return; }
  if (!isObj(v)) return;
  for (const [k, x] of Object.entries(v)) {
    const p = prefix ? `${prefix}.${k}` : k;
    into.add(p);
    fieldPaths(x, p, into);
  }
}

// ---- tests -------------------------------------------------------------------------------------

describe('generator output survives encode → decode', () => {
  let produced: Produced[];

  before(() => {
    produced = produceAll(publishSnapshot(richMesh()));
  });

  it('exercises every translated feature of the rich mesh', () => {
    const paths = new Set<string>();
    for (const p of produced) fieldPaths(p.resource, SHORT_NAME[p.typeUrl], paths);
    const expected = [
      // RDS: VirtualService translation
      'rds.virtual_hosts.routes.match.headers.string_match.exact', 'rds.virtual_hosts.routes.match.headers.string_match.prefix',
      'rds.virtual_hosts.routes.match.headers.present_match', 'rds.virtual_hosts.routes.match.headers.invert_match',
      'rds.virtual_hosts.routes.match.case_sensitive', 'rds.virtual_hosts.routes.match.path', 'rds.virtual_hosts.routes.match.safe_regex.regex',
      'rds.virtual_hosts.routes.match.query_parameters.string_match.exact', 'rds.virtual_hosts.routes.match.query_parameters.present_match',
      'rds.virtual_hosts.routes.route.retry_policy.num_retries', 'rds.virtual_hosts.routes.route.retry_policy.per_try_timeout',
      'rds.virtual_hosts.routes.route.retry_policy.retry_on', 'rds.virtual_hosts.routes.route.timeout',
      'rds.virtual_hosts.routes.route.weighted_clusters.clusters.weight', 'rds.virtual_hosts.routes.redirect.path_redirect',
      'rds.virtual_hosts.routes.redirect.host_redirect', 'rds.virtual_hosts.routes.direct_response.body.inline_string',
      'rds.virtual_hosts.routes.direct_response.status', 'rds.validate_clusters',
      // CDS: DestinationRule translation and resolutions
      'cds.ring_hash_lb_config.minimum_ring_size', 'cds.circuit_breakers.thresholds.max_connections', 'cds.circuit_breakers.thresholds.max_requests',
      'cds.circuit_breakers.thresholds.max_pending_requests', 'cds.circuit_breakers.thresholds.max_retries', 'cds.eds_cluster_config.eds_config.ads',
      'cds.load_assignment.endpoints.lb_endpoints.endpoint.address.socket_address.port_value', 'cds.dns_lookup_family',
      'cds.typed_extension_protocol_options', 'cds.lb_policy',
      // EDS
      'eds.endpoints.locality.zone', 'eds.endpoints.lb_endpoints.load_balancing_weight', 'eds.endpoints.load_balancing_weight',
      // LDS: sidecar egress/ingress and proxyless api listeners
      'lds.api_listener.api_listener.rds.route_config_name', 'lds.filter_chains.filters.typed_config.route_config.virtual_hosts.routes.route.cluster',
      'lds.filter_chains.filters.typed_config.cluster', 'lds.filter_chains.filter_chain_match.destination_port', 'lds.bind_to_port',
      'lds.use_original_dst', 'lds.listener_filters.typed_config', 'lds.traffic_direction',
    ];
    assert.deepEqual(expected.filter((p) => !paths.has(p)), [], 'the fixture no longer produces these fields');
    assert.ok(produced.length > 1000, `only ${produced.length} resources`);
  });

  it('loses no field of any resource', () => {
    const failures = new Map<string, string>(); // path pattern → first example
    for (const p of produced) {
      const diffs: string[] = [];
      let decoded: { typeUrl: string; value: Obj };
      try {
        decoded = decodeAny(encodeAny(p.typeUrl, p.resource));
      } catch (e) {
        failures.set(`${SHORT_NAME[p.typeUrl]} encode`, `${p.where} ${p.name}: ${e instanceof Error ? e.message : String(e)}`);
        continue;
      }
      assert.equal(decoded.typeUrl, p.typeUrl);
      diffMessage(messageType(MESSAGE_OF[p.typeUrl]), p.resource, decoded.value, SHORT_NAME[p.typeUrl], diffs);
      for (const d of diffs) {
        const pattern = d.replace(/\[\d+\]/g, '[]').replace(/:.*$/, '');
        if (!failures.has(pattern)) failures.set(pattern, `${p.where} ${p.name}: ${d}`);
      }
    }
    assert.deepEqual([...failures.values()], []);
  });
});

describe('the round-trip comparison itself', () => {
  const check = (typeUrl: XdsTypeUrl, resource: Obj): string[] => {
    const out: string[] = [];
    diffMessage(messageType(MESSAGE_OF[typeUrl]), resource, decodeAny(encodeAny(typeUrl, resource)).value, 'r', out);
    return out;
  };
  const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster' as const;
  const RDS = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration' as const;

  it('accepts default values that the decoder leaves out', () => {
    assert.deepEqual(check(CDS, { name: 'c', type: 'STATIC', lb_policy: 'ROUND_ROBIN', connect_timeout: { seconds: 0, nanos: 0 } }), []);
  });

  it('reports a misspelt field, also inside a nested Any', () => {
    assert.deepEqual(check(CDS, { name: 'c', conect_timeout: { seconds: 1 } }), ["r.conect_timeout: envoy.config.cluster.v3.Cluster has no field 'conect_timeout' (dropped by fromObject)"]);
    const nested = check(CDS, {
      name: 'c',
      typed_extension_protocol_options: { x: { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicit_http_config: { http2_options: {} } } },
    });
    assert.equal(nested.length, 1);
    assert.match(nested[0]!, /explicit_http_config\.http2_options: .*has no field/);
  });

  it('reports two members of one oneof, of which only one survives', () => {
    const diffs = check(RDS, { name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/', path: '/x' }, route: { cluster: 'c' } }] }] });
    assert.equal(diffs.length, 1, diffs.join('\n'));
  });

  it('reports a value of the wrong JS type', () => {
    assert.equal(check(CDS, { name: 'c', per_connection_buffer_limit_bytes: { value: '1024' } }).length, 1);
  });
});
