/**
 * Facets (GENERATOR_FACETS): each facet generator reads only its facet's inputs, facets produce
 * disjoint names, and their union is exactly the whole-type output — so composing cached facets
 * gives every proxy the same bytes the whole-type generator would.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { GENERATOR_FACETS, GENERATOR_INPUTS, GenContext, facetKey, facetsOf, projectContext, projectFacet } from '../../../src/shared/generation';
import { CLUSTER_TYPE_URL, LISTENER_TYPE_URL, SHORT_NAME, XdsTypeUrl } from '../../../src/shared/resources';
import { GeneratorKind } from '../../../src/shared/model/proxy';
import { FACET_GENERATORS, GENERATORS } from '../../../src/workers/generators/index';
import { RICH_MESH_NAMESPACES, RICH_MESH_SIDECARS, fqdn, genContext, inboundPort, publishSnapshot, richMesh } from '../../helpers/fixtures';

/** Throws on reading any context field outside `allowed`. */
function guarded(projection: Partial<GenContext>, allowed: readonly string[], label: string): Partial<GenContext> {
  const ok = new Set(allowed);
  const check = (p: string | symbol) => { if (typeof p === 'string' && !ok.has(p)) throw new Error(`${label} read ctx.${p}`); };
  return new Proxy(projection, {
    get(t, p, r) { check(p); return Reflect.get(t, p, r); },
    has(t, p) { check(p); return Reflect.has(t, p); },
  });
}

const facetTypes = Object.entries(GENERATOR_FACETS).flatMap(([gen, byType]) =>
  Object.keys(byType ?? {}).map((t) => ({ gen: gen as GeneratorKind, typeUrl: t as XdsTypeUrl })));

test('facet inputs together are exactly the type inputs, and every facet has a generator', () => {
  assert.ok(facetTypes.length > 0);
  for (const { gen, typeUrl } of facetTypes) {
    const union = new Set(facetsOf(gen, typeUrl).flatMap((f) => f.inputs));
    assert.deepEqual([...union].sort(), [...(GENERATOR_INPUTS[gen][typeUrl] ?? [])].sort(), `${gen} ${SHORT_NAME[typeUrl]}`);
    for (const f of facetsOf(gen, typeUrl)) assert.ok(FACET_GENERATORS[gen]?.[typeUrl]?.[f.name], `${gen} ${SHORT_NAME[typeUrl]} facet ${f.name}`);
  }
});

test('facets read only their inputs, are disjoint, and compose to the whole-type output', () => {
  const snap = publishSnapshot(richMesh());
  const reviews = snap.view.servicesByHost(fqdn('reviews', 'bookinfo'))[0]!;
  const cart = snap.view.servicesByHost(fqdn('cart', 'shop'))[0]!;
  const inbounds = [[], [inboundPort(reviews, 'http')], [inboundPort(cart, 'grpc'), inboundPort(cart, 'tcp')]];
  let checked = 0;
  for (const { gen, typeUrl } of facetTypes) {
    for (const namespace of RICH_MESH_NAMESPACES) for (const sidecar of RICH_MESH_SIDECARS) for (const inbound of inbounds) for (const interceptionMode of ['REDIRECT', 'NONE'] as const) {
      const ctx = genContext({ generator: gen, namespace, sidecar, inbound, interceptionMode });
      const where = `${gen} ${SHORT_NAME[typeUrl]} ns=${namespace} sidecar=${sidecar} inbound=${inbound.length} ${interceptionMode}`;
      const parts = facetsOf(gen, typeUrl).map((f) =>
        FACET_GENERATORS[gen]![typeUrl]![f.name]!(snap.view, guarded(projectFacet(ctx, f), f.inputs, `${where} facet ${f.name}`), null));
      const names = parts.flat().map((g) => g.name);
      assert.equal(new Set(names).size, names.length, `${where}: facets produce disjoint names`);
      const whole = GENERATORS[gen][typeUrl]!(snap.view, projectContext(ctx, typeUrl), null);
      const byName = (list: typeof whole) => JSON.stringify([...list].sort((a, b) => a.name.localeCompare(b.name)));
      assert.equal(byName(parts.flat()), byName(whole), `${where}: facets compose to the whole type`);
      checked++;
    }
  }
  assert.ok(checked >= 2 * 4 * 6 * 3 * 2);
});

test('the outbound facet key ignores the workload, so one scope shares it', () => {
  const a = genContext({ namespace: 'bookinfo', inbound: [] });
  const snap = publishSnapshot(richMesh());
  const reviews = snap.view.servicesByHost(fqdn('reviews', 'bookinfo'))[0]!;
  const b = genContext({ namespace: 'bookinfo', inbound: [inboundPort(reviews, 'http')] });
  for (const typeUrl of [CLUSTER_TYPE_URL, LISTENER_TYPE_URL]) {
    const [outbound, inbound] = facetsOf('sidecar', typeUrl);
    assert.equal(facetKey(a, typeUrl, outbound!), facetKey(b, typeUrl, outbound!));
    assert.notEqual(facetKey(a, typeUrl, inbound!), facetKey(b, typeUrl, inbound!));
  }
});
