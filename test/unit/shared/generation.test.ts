/**
 * Key completeness. src/shared/generation.ts promises that a generator only sees the projected
 * context and that the generation key is that projection, so proxies with equal keys may share one
 * generation. A key that misses an input is the cache-key CVE class Istio shipped; these tests run
 * the real generators over many contexts and prove the promise instead of trusting it.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  GENERATOR_INPUTS, GenContext, InboundPort, generationKey, generatorServes, projectContext,
} from '../../../src/shared/generation';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL, SECRET_TYPE_URL, SHORT_NAME, XdsTypeUrl } from '../../../src/shared/resources';
import { GeneratorKind, ProxyType } from '../../../src/shared/model/proxy';
import { ConfigModel, SnapshotInput } from '../../../src/shared/model/service';
import { SnapshotReader } from '../../../src/shared/snapshot/snapshot-view';
import { SegmentRef } from '../../../src/shared/snapshot/layout';
import { encodeAny } from '../../../src/shared/envoy/proto';
import { contentHash } from '../../../src/shared/hash';
import { toErrorData } from '../../../src/shared/errors';
import { runGeneration } from '../../../src/workers/run-generation';
import {
  RICH_MESH_NAMESPACES, RICH_MESH_SIDECARS, TestSnapshot, fqdn, genContext, inboundPort, publishSnapshot, richMesh,
} from '../../helpers/fixtures';

// ---- fixtures ------------------------------------------------------------------------------------

const TYPES: readonly XdsTypeUrl[] = [CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL, SECRET_TYPE_URL];
const GENERATOR_KINDS: readonly GeneratorKind[] = ['grpc', 'sidecar', 'router'];
const PROXY_TYPES: readonly ProxyType[] = ['sidecar', 'router'];
const MODES: readonly GenContext['interceptionMode'][] = ['REDIRECT', 'TPROXY', 'NONE'];

const REVIEWS = fqdn('reviews', 'bookinfo');
const CART = fqdn('cart', 'shop');
const CLUSTER_NAMES = [
  `outbound|9080||${REVIEWS}`, `outbound|9080|v1|${REVIEWS}`, `outbound|9080|v2|${REVIEWS}`, `outbound|9090||${REVIEWS}`,
  `outbound|9080||${fqdn('ratings', 'bookinfo')}`, `outbound|7070||${CART}`, `outbound|9000||${CART}`, 'outbound|8080||api.internal',
  'outbound|80||httpbin.org', `outbound|8080||${fqdn('hidden', 'legacy')}`, `outbound|3306||${fqdn('db', 'legacy')}`, 'inbound|9080||', 'PassthroughCluster',
];

/** Explicit names per type: names for both generator families (each ignores the other's). */
const EXPLICIT_NAMES: Record<XdsTypeUrl, readonly string[]> = {
  [CLUSTER_TYPE_URL]: CLUSTER_NAMES,
  [ENDPOINT_TYPE_URL]: CLUSTER_NAMES,
  [LISTENER_TYPE_URL]: [
    `${REVIEWS}:9080`, 'reviews:9080', 'reviews.bookinfo:9080', 'ratings.bookinfo.svc:9080', `${CART}:7070`, 'cart.shop:9000',
    'api.internal:8080', 'httpbin.org:80', `${fqdn('hidden', 'legacy')}:8080`, 'virtualOutbound', '0.0.0.0_9080', '0.0.0.0_8080', '0.0.0.0_9000',
  ],
  [ROUTE_TYPE_URL]: ['9080', '7070', '80', '8080', '3306', 'http.8080', `outbound|9080||${REVIEWS}`, `outbound|7070||${CART}`, 'outbound|80||httpbin.org', 'outbound|8080||api.internal'],
  // router SDS: an own-namespace credential first (each namespace holds different bytes under that
  // name), its -cacert, another namespace's (always refused), and the agent's names
  [SECRET_TYPE_URL]: ['kubernetes://gw-cert', 'kubernetes://gw-cert-cacert', 'kubernetes://bookinfo/gw-cert', 'default', 'ROOTCA'],
};

/**
 * Gateway credentials for router SDS: a Secret `gw-cert` in every rich-mesh namespace with
 * different bytes, so SDS output depends on the proxy's namespace and the enumeration can prove it.
 */
function withGatewaySecrets(input: SnapshotInput): SnapshotInput {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const secrets: ConfigModel[] = RICH_MESH_NAMESPACES.map((ns) => Object.freeze({
    group: '', kind: 'Secret', namespace: ns, name: 'gw-cert', revision: '1', labels: Object.freeze({}),
    spec: Object.freeze({ type: 'kubernetes.io/tls', data: Object.freeze({ 'tls.crt': b64(`cert of ${ns}`), 'tls.key': b64(`key of ${ns}`), 'ca.crt': b64(`ca of ${ns}`) }) }),
  }));
  return { ...input, configs: [...input.configs, ...secrets] };
}

/**
 * A root-namespace AuthorizationPolicy selecting `version: v2` workloads, gateways included
 * (Istio applies selector-matched policies to gateway pods too): router LDS then depends on the
 * proxy's labels, so the enumeration can prove `labels` necessary in that key.
 */
function withGatewayAuthorization(input: SnapshotInput): SnapshotInput {
  const policy: ConfigModel = Object.freeze({
    group: 'security.istio.io', kind: 'AuthorizationPolicy', namespace: 'istio-system', name: 'deny-admin-v2', revision: '1', labels: Object.freeze({}),
    spec: Object.freeze({ selector: { matchLabels: { version: 'v2' } }, action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin'] } }] }] }),
  });
  return { ...input, configs: [...input.configs, policy] };
}

/** The name sets every (context, type) is generated for: wildcard, every explicit name, one of them. */
function nameSets(typeUrl: XdsTypeUrl): Array<{ label: string; names: readonly string[] | null }> {
  return [
    { label: 'wildcard', names: null },
    { label: 'explicit', names: EXPLICIT_NAMES[typeUrl] },
    { label: 'first', names: EXPLICIT_NAMES[typeUrl].slice(0, 1) },
  ];
}

function inboundSets(snapshot: TestSnapshot): ReadonlyArray<readonly InboundPort[]> {
  const reviews = snapshot.view.servicesByHost(REVIEWS)[0]!;
  const cart = snapshot.view.servicesByHost(CART)[0]!;
  return [[], [inboundPort(reviews, 'http')], [inboundPort(cart, 'grpc'), inboundPort(cart, 'tcp')]];
}

/** Proxy-specific fields (labels, gateways, locality): a base, then each varied alone, then labels on a gateway. */
const PROXY_VARIANTS: ReadonlyArray<Pick<GenContext, 'labels' | 'gateways' | 'locality'>> = [
  { labels: {}, gateways: [], locality: '' },
  { labels: { version: 'v2' }, gateways: [], locality: '' },
  { labels: {}, gateways: ['istio-system/ingress'], locality: '' },
  { labels: {}, gateways: [], locality: 'eu-west/eu-west-1b/r2' },
  // a gateway proxy's labels only matter once it serves a Gateway
  { labels: { version: 'v2' }, gateways: ['istio-system/ingress'], locality: '' },
];

/**
 * Every combination of the structural fields (3 x 2 x 4 x 6 x 3 x 3 = 1296) with the base
 * variant, plus each other proxy variant over the combinations in REDIRECT mode, with every inbound
 * set for the variants with Gateways (a gateway listens on its Service's target ports) and none
 * for the others (2 x 144 + 2 x 432): 2448 contexts.
 */
function allContexts(snapshot: TestSnapshot): GenContext[] {
  const out: GenContext[] = [];
  const inbounds = inboundSets(snapshot);
  for (const [vi, variant] of PROXY_VARIANTS.entries()) {
    for (const generator of GENERATOR_KINDS) for (const proxyType of PROXY_TYPES) for (const namespace of RICH_MESH_NAMESPACES)
      for (const sidecar of RICH_MESH_SIDECARS) for (const inbound of vi === 0 || variant.gateways.length > 0 ? inbounds : inbounds.slice(0, 1)) for (const interceptionMode of vi === 0 ? MODES : MODES.slice(0, 1)) {
        out.push(genContext({ generator, proxyType, namespace, sidecar, inbound, interceptionMode, ...variant }));
      }
  }
  return out;
}

/** The projection behind a Proxy that throws on any read of a field the projection leaves out. */
function guarded(projection: Partial<GenContext>, label: string): Partial<GenContext> {
  const allowed = new Set(Object.keys(projection));
  const check = (p: string | symbol): void => {
    if (typeof p === 'string' && !allowed.has(p)) throw new Error(`${label} read ctx.${p}, which is not in its projection [${[...allowed].join(', ')}]`);
  };
  return new Proxy(projection, {
    get(target, p, receiver) { check(p); return Reflect.get(target, p, receiver); },
    has(target, p) { check(p); return Reflect.has(target, p); },
    getOwnPropertyDescriptor(target, p) { check(p); return Reflect.getOwnPropertyDescriptor(target, p); },
  });
}

let jobId = 0;

/** Run the real worker job body and reduce its answer to what a cache keyed by generationKey stores. */
function generate(reader: SnapshotReader, root: SegmentRef, version: number, generator: GeneratorKind, typeUrl: XdsTypeUrl, context: Partial<GenContext>, names: readonly string[] | null): string {
  const res = runGeneration(reader, { id: ++jobId, snapshotVersion: version, root, typeUrl, context, generator, names }, encodeAny, contentHash, toErrorData);
  const { id: _id, workerEncodeCount: _count, buffer, ...rest } = res as unknown as Record<string, unknown> & { buffer: ArrayBuffer };
  return createHash('sha256').update(new Uint8Array(buffer)).update(JSON.stringify(rest)).digest('hex');
}

/** Resource names and hashes, for readable failure messages and output comparisons. */
function summary(reader: SnapshotReader, root: SegmentRef, ctx: GenContext, typeUrl: XdsTypeUrl, names: readonly string[] | null): string[] {
  const res = runGeneration(reader, { id: ++jobId, snapshotVersion: 1, root, typeUrl, context: projectContext(ctx, typeUrl), generator: ctx.generator, names }, encodeAny, contentHash, toErrorData);
  assert.deepEqual(res.errors, [], `generation errors for ${SHORT_NAME[typeUrl]}`);
  return res.resources.map((r) => `${r.name}#${r.hash}`);
}

interface Run { ctx: GenContext; typeUrl: XdsTypeUrl; names: readonly string[] | null; nameLabel: string; key: string; output: string }

// ---- the runs ----------------------------------------------------------------------------------

describe('generation keys are complete', () => {
  let snapshot: TestSnapshot;
  let contexts: GenContext[];
  const runs: Run[] = [];
  const guardFailures: string[] = [];

  before(() => {
    snapshot = publishSnapshot(withGatewayAuthorization(withGatewaySecrets(richMesh())));
    contexts = allContexts(snapshot);
    const { reader, published } = snapshot;
    for (const ctx of contexts) {
      for (const typeUrl of TYPES) {
        if (!generatorServes(ctx.generator, typeUrl)) continue;
        for (const { label, names } of nameSets(typeUrl)) {
          const where = `${ctx.generator} ${SHORT_NAME[typeUrl]} (${label})`;
          try {
            const output = generate(reader, published.root, published.version, ctx.generator, typeUrl, guarded(projectContext(ctx, typeUrl), where), names);
            runs.push({ ctx, typeUrl, names, nameLabel: label, key: generationKey(ctx, typeUrl), output });
          } catch (e) {
            guardFailures.push(`${where}: ${e instanceof Error ? e.message : String(e)}`);
          }
        }
      }
    }
  });

  it('covers every generator family and type with many contexts', () => {
    assert.equal(contexts.length, 2448);
    for (const generator of GENERATOR_KINDS) {
      for (const typeUrl of TYPES) {
        if (!generatorServes(generator, typeUrl)) continue;
        const n = runs.filter((r) => r.ctx.generator === generator && r.typeUrl === typeUrl).length;
        assert.equal(n, (contexts.length / GENERATOR_KINDS.length) * 3, `${generator} ${SHORT_NAME[typeUrl]}`);
      }
    }
  });

  it('generators read no context field outside their projection', () => {
    assert.deepEqual([...new Set(guardFailures)], []);
  });

  it('contexts with equal generation keys produce byte-identical output', () => {
    const byKey = new Map<string, Run>();
    const mismatches: string[] = [];
    let shared = 0;
    for (const run of runs) {
      const k = `${run.key}|${run.nameLabel}`;
      const first = byKey.get(k);
      if (!first) { byKey.set(k, run); continue; }
      shared++;
      if (first.output !== run.output) mismatches.push(`${k}\n  ${JSON.stringify(first.ctx)}\n  ${JSON.stringify(run.ctx)}`);
    }
    assert.deepEqual(mismatches.slice(0, 5), []);
    assert.ok(shared > runs.length / 2, `only ${shared} of ${runs.length} runs shared a key: the enumeration does not exercise sharing`);
  });

  it('the full context gives the same bytes as the projection, from a fresh reader too', () => {
    const fresh = new SnapshotReader(snapshot.arena);
    const seen = new Set<string>();
    const mismatches: string[] = [];
    for (const run of runs) {
      const k = `${run.key}|${run.nameLabel}`;
      if (seen.has(k)) continue;
      seen.add(k);
      const full = generate(fresh, snapshot.published.root, snapshot.published.version, run.ctx.generator, run.typeUrl, run.ctx, run.names);
      if (full !== run.output) mismatches.push(`${k}: ${JSON.stringify(run.ctx)}`);
    }
    assert.deepEqual(mismatches.slice(0, 5), []);
  });

  it('every key field except the generator family is an input some context change proves necessary', () => {
    // Drop one field from the key at a time: the equal-key check above must then fail somewhere,
    // otherwise this enumeration could not catch a key that misses that field.
    const undetected: string[] = [];
    for (const generator of GENERATOR_KINDS) {
      for (const typeUrl of TYPES) {
        for (const field of GENERATOR_INPUTS[generator][typeUrl] ?? []) {
          if (field === 'generator') continue; // the family is in the key prefix anyway
          const coarse = new Map<string, string>();
          let caught = false;
          for (const run of runs) {
            if (run.ctx.generator !== generator || run.typeUrl !== typeUrl) continue;
            const p = projectContext(run.ctx, typeUrl) as Record<string, unknown>;
            delete p[field];
            // (a replacer array would also filter nested keys such as label names: spell the fields out)
            const k = `${run.nameLabel}|${Object.keys(p).sort().map((f) => `${f}=${JSON.stringify(p[f])}`).join('|')}`;
            const first = coarse.get(k);
            if (first === undefined) coarse.set(k, run.output);
            else if (first !== run.output) { caught = true; break; }
          }
          if (!caught) undetected.push(`${generator} ${SHORT_NAME[typeUrl]} ${field}`);
        }
      }
    }
    // proxyType is in the sidecar LDS key but no generator reads it (a sidecar-generator proxy is
    // always of type sidecar): harmless extra precision, listed so a change here is noticed.
    assert.deepEqual(undetected, ['sidecar lds proxyType']);
  });

  it('the generator family is part of every key but EDS, which all families share', () => {
    const ctx = (generator: GeneratorKind) => genContext({ generator, namespace: 'bookinfo' });
    for (const typeUrl of [CLUSTER_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL]) {
      assert.notEqual(generationKey(ctx('grpc'), typeUrl), generationKey(ctx('sidecar'), typeUrl), SHORT_NAME[typeUrl]);
    }
    assert.equal(generationKey(ctx('grpc'), ENDPOINT_TYPE_URL), generationKey(ctx('sidecar'), ENDPOINT_TYPE_URL));
    assert.equal(generationKey(ctx('router'), ENDPOINT_TYPE_URL), generationKey(ctx('sidecar'), ENDPOINT_TYPE_URL));
  });

  it('keys and output differ for namespaces that see different services', () => {
    const { reader, published } = snapshot;
    const bookinfo = genContext({ namespace: 'bookinfo' });
    const shop = genContext({ namespace: 'shop' });
    assert.notEqual(generationKey(bookinfo, CLUSTER_TYPE_URL), generationKey(shop, CLUSTER_TYPE_URL));
    const b = summary(reader, published.root, bookinfo, CLUSTER_TYPE_URL, null);
    const s = summary(reader, published.root, shop, CLUSTER_TYPE_URL, null);
    assert.ok(b.some((n) => n.startsWith(`outbound|9080||${fqdn('ratings', 'bookinfo')}#`)), 'ratings is exported to bookinfo only');
    assert.ok(!s.some((n) => n.includes(fqdn('ratings', 'bookinfo'))));
    assert.ok(s.some((n) => n.startsWith(`outbound|7070||${CART}#`)) && !b.some((n) => n.includes(CART)), 'cart is exported to shop and team-a');
  });

  it('keys and output differ for namespaces that see different VirtualServices and DestinationRules', () => {
    const { reader, published } = snapshot;
    const route = `outbound|9080||${REVIEWS}`;
    const grpc = (namespace: string) => genContext({ generator: 'grpc', namespace });
    assert.notEqual(generationKey(grpc('bookinfo'), ROUTE_TYPE_URL), generationKey(grpc('shop'), ROUTE_TYPE_URL));
    assert.notDeepEqual(summary(reader, published.root, grpc('bookinfo'), ROUTE_TYPE_URL, [route]), summary(reader, published.root, grpc('shop'), ROUTE_TYPE_URL, [route]));
    // team-a's own DestinationRule for reviews has one subset and RANDOM; legacy sees bookinfo's
    const cds = (namespace: string) => summary(reader, published.root, grpc(namespace), CLUSTER_TYPE_URL, [`outbound|9080||${REVIEWS}`, `outbound|9080|v2|${REVIEWS}`]);
    assert.equal(cds('team-a').length, 1);
    assert.equal(cds('legacy').length, 2);
    assert.notEqual(cds('team-a')[0], cds('legacy')[0]);
  });

  it('a root-namespace Sidecar with "./*" scopes each proxy to its own namespace', () => {
    const { reader, published } = snapshot;
    const ctx = (namespace: string) => genContext({ namespace, sidecar: 'istio-system/default' });
    const names = (namespace: string) => summary(reader, published.root, ctx(namespace), CLUSTER_TYPE_URL, null).map((n) => n.split('#')[0]!);
    assert.notEqual(generationKey(ctx('bookinfo'), CLUSTER_TYPE_URL), generationKey(ctx('legacy'), CLUSTER_TYPE_URL));
    const bookinfo = names('bookinfo'), legacy = names('legacy');
    assert.ok(bookinfo.includes(`outbound|9080||${REVIEWS}`) && !bookinfo.includes(`outbound|3306||${fqdn('db', 'legacy')}`), bookinfo.join('\n'));
    assert.ok(legacy.includes(`outbound|3306||${fqdn('db', 'legacy')}`) && !legacy.includes(`outbound|9080||${REVIEWS}`), legacy.join('\n'));
    assert.ok(bookinfo.includes('outbound|80||httpbin.org') && legacy.includes('outbound|80||httpbin.org'), 'istio-system/* is seen by both');
  });

  it('generation leaves the snapshot it read unchanged', () => {
    const input = richMesh();
    const view = new SnapshotReader(snapshot.arena).open(snapshot.published.root);
    for (const kind of ['VirtualService', 'DestinationRule', 'Sidecar']) {
      assert.deepEqual(snapshot.view.configs(kind), input.configs.filter((c) => c.kind === kind), `${kind} specs were mutated by a generator`);
      assert.deepEqual(view.configs(kind), snapshot.view.configs(kind));
    }
    assert.deepEqual(snapshot.view.services(), input.services.map((e) => e.service));
  });
});
