/**
 * AuthorizationPolicy on the sidecar's inbound chains, as Istio's authz builder generates it:
 * CUSTOM (shadow rbac + ext_authz), then AUDIT, DENY, ALLOW rbac filters after jwt_authn on HTTP
 * chains, network rbac (stat_prefix tcp.) before tcp_proxy on TCP chains; HTTP-only fields drop an
 * ALLOW rule and widen a DENY rule to the whole TCP port; allow-nothing denies everything.
 * Every scene is structurally valid and ACKed by a real Envoy.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertGolden } from '../../../helpers/golden';
import { ENVOY_SKIP } from '../../../helpers/envoy-ack';
import { assertEnvoyAcks, assertValid, dumpNames, generate } from './golden-sidecar-common';
import { ALLOW_NOTHING, authzFilters, CUSTOM_BAD, CUSTOM_GRPC, CUSTOM_HTTP, CUSTOM_MESH, DENY_AND_ALLOW, FULL_RULE, scene, SELECTION } from './golden-authorization-scenes';

const names = (fs: unknown[]): string[] => fs.map((f: any) => `${f.name}:${f.typed_config.rules?.action ?? (f.typed_config.shadow_rules ? 'shadow' : '-')}`);

test('golden authorization/allow-nothing: an ALLOW policy without rules denies every request and connection', () => {
  const set = generate(scene(ALLOW_NOTHING));
  assertValid(set);
  const f = authzFilters(set);
  assert.deepEqual(names(f.http), ['envoy.filters.http.rbac:ALLOW']);
  assert.deepEqual(names(f.tcp), ['envoy.filters.network.rbac:ALLOW']);
  assertGolden('authorization/allow-nothing', f);
});

test('golden authorization/deny-and-allow: DENY before ALLOW; HTTP-only fields deny the TCP port (DENY) or drop the rule (ALLOW)', () => {
  const set = generate(scene(DENY_AND_ALLOW));
  assertValid(set);
  const f = authzFilters(set);
  assert.deepEqual(names(f.http), ['envoy.filters.http.rbac:DENY', 'envoy.filters.http.rbac:ALLOW']);
  assert.deepEqual(names(f.tcp), ['envoy.filters.network.rbac:DENY', 'envoy.filters.network.rbac:ALLOW']);
  const tcp = f.tcp as any[];
  // the DENY rule lost its paths: it matches every connection on the TCP port
  assert.deepEqual(tcp[0].typed_config.rules.policies['ns[foo]-policy[deny-admin]-rule[0]'].permissions, [{ and_rules: { rules: [{ any: true }] } }]);
  // the ALLOW rule (methods only) cannot be expressed on TCP: no policy, so nothing is allowed
  assert.equal(Object.keys(tcp[1].typed_config.rules.policies ?? {}).length, 0);
  assertGolden('authorization/deny-and-allow', f);
});

test('golden authorization/full-rule: every source, operation and when field with their not-forms', () => {
  const set = generate(scene(FULL_RULE, { trustDomain: 'td-new', trustDomainAliases: ['td-old'] }));
  assertValid(set);
  const f = authzFilters(set);
  const http = (f.http as any[])[0].typed_config.rules.policies;
  assert.deepEqual(Object.keys(http).sort(), ['ns[foo]-policy[full]-rule[0]', 'ns[foo]-policy[full]-rule[1]']);
  // TCP keeps only the port-and-namespace rule (rule 0 has HTTP-only fields: an ALLOW drops it)
  assert.deepEqual(Object.keys((f.tcp as any[])[0].typed_config.rules.policies), ['ns[foo]-policy[full]-rule[1]']);
  assertGolden('authorization/full-rule', f);
});

test('golden authorization/selection: root namespace, namespace-wide and selected policies; targetRef, other selectors and namespaces skipped', () => {
  const set = generate(scene(SELECTION));
  assertValid(set);
  const f = authzFilters(set);
  assert.deepEqual(names(f.http), ['envoy.filters.http.rbac:LOG', 'envoy.filters.http.rbac:DENY', 'envoy.filters.http.rbac:ALLOW']);
  const deny = (f.http as any[])[1].typed_config.rules.policies;
  assert.deepEqual(Object.keys(deny), ['ns[istio-system]-policy[mesh-deny]-rule[0]', 'ns[foo]-policy[deny-none]-rule[0]']);
  assertGolden('authorization/selection', f);
});

test('golden authorization/custom: CUSTOM with an HTTP provider (HTTP chains), a gRPC provider (also TCP), an unknown provider (deny all)', () => {
  const http = authzFilters(generate(scene(CUSTOM_HTTP, CUSTOM_MESH)));
  assert.deepEqual(names(http.http), ['envoy.filters.http.rbac:shadow', 'envoy.filters.http.ext_authz:-']);
  assert.deepEqual(http.tcp, []);
  const grpcSet = generate(scene(CUSTOM_GRPC, CUSTOM_MESH));
  assertValid(grpcSet);
  const grpc = authzFilters(grpcSet);
  assert.deepEqual(names(grpc.tcp), ['envoy.filters.network.rbac:shadow', 'envoy.filters.network.ext_authz:-']);
  const bad = authzFilters(generate(scene(CUSTOM_BAD, CUSTOM_MESH)));
  assert.deepEqual(names(bad.http), ['envoy.filters.http.rbac:DENY']);
  assertGolden('authorization/custom', { http, grpc, bad });
});

test('no AuthorizationPolicy: no authorization filters at all', () => {
  const f = authzFilters(generate(scene('apiVersion: v1\nkind: Namespace\nmetadata: {name: bar}\n')));
  assert.deepEqual(f, { http: [], tcp: [] });
});

for (const [what, yaml, mesh] of [
  ['allow-nothing', ALLOW_NOTHING, undefined], ['deny-and-allow', DENY_AND_ALLOW, undefined], ['full-rule', FULL_RULE, { trustDomain: 'td-new', trustDomainAliases: ['td-old'] }],
  ['selection', SELECTION, undefined], ['custom http', CUSTOM_HTTP, CUSTOM_MESH], ['custom grpc', CUSTOM_GRPC, CUSTOM_MESH], ['custom bad provider', CUSTOM_BAD, CUSTOM_MESH],
] as const) {
  test(`authorization ${what}: a real Envoy ACKs the inbound listener`, { skip: ENVOY_SKIP }, async () => {
    const dump = await assertEnvoyAcks(scene(yaml, mesh as Record<string, unknown> | undefined));
    assert.ok(dumpNames(dump, 'ListenersConfigDump', 'dynamic_listeners').includes('virtualInbound'));
  });
}
