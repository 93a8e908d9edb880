/**
 * What a generator may read about the proxy, and therefore what its cache key holds.
 *
 * The main thread derives a GenContext from the proxy and the model (which Sidecar applies, which
 * services the proxy's own workload serves). The worker hands each generator only the fields the
 * generator declares in GENERATOR_INPUTS, projected out of the context; the same projection is the
 * generation key. A generator therefore cannot read an input its key misses (Istio shipped CVEs
 * from cache keys that missed inputs), and proxies with equal projections share one generation.
 */
import { XdsTypeUrl, CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL, SECRET_TYPE_URL } from './resources';
import { GeneratorKind, ProxyType } from './model/proxy';

/** A port of a service that the proxy's own workload serves (drives inbound config). */
export interface InboundPort {
  readonly hostname: string;
  readonly namespace: string;
  readonly name: string;
  readonly port: number;
  readonly targetPort: number;
  readonly protocol: string;
}

export interface GenContext {
  readonly generator: GeneratorKind;
  readonly proxyType: ProxyType;
  /** the proxy's config namespace: decides exportTo visibility */
  readonly namespace: string;
  /** `namespace/name` of the Sidecar resource that applies to the proxy, or '' */
  readonly sidecar: string;
  /** the proxy's own service ports, sorted (sidecar inbound) */
  readonly inbound: readonly InboundPort[];
  readonly interceptionMode: 'REDIRECT' | 'TPROXY' | 'NONE';
  /**
   * The proxy's workload labels restricted to the label keys some selector in the config reads
   * (VirtualService match sourceLabels, DestinationRule workloadSelector, Gateway selector), keys
   * sorted. Restricting keeps proxies that differ only in unrelated labels (pod-template-hash…)
   * on one generation.
   */
  readonly labels: Readonly<Record<string, string>>;
  /** `namespace/name` of the Gateway resources whose selector matches this proxy (router proxies), sorted. */
  readonly gateways: readonly string[];
  /**
   * The proxy's locality `region/zone/subzone` ('' when the node sends none). Only EDS reads it:
   * DestinationRule localityLbSetting (failover priorities, distribute weights) is relative to the
   * proxy's locality, so EDS generations are shared per namespace and locality (one per zone).
   */
  readonly locality?: string;
}

export type ContextField = keyof GenContext;

/** Fields each (generator, type) reads. Adding a read means adding it here. */
export const GENERATOR_INPUTS: Record<GeneratorKind, Partial<Record<XdsTypeUrl, readonly ContextField[]>>> = {
  grpc: {
    [LISTENER_TYPE_URL]: ['generator', 'namespace', 'sidecar'],
    [ROUTE_TYPE_URL]: ['generator', 'namespace', 'sidecar', 'labels'],
    [CLUSTER_TYPE_URL]: ['generator', 'namespace', 'sidecar', 'labels'],
    [ENDPOINT_TYPE_URL]: ['namespace', 'locality'],
  },
  sidecar: {
    [LISTENER_TYPE_URL]: ['generator', 'proxyType', 'namespace', 'sidecar', 'inbound', 'interceptionMode', 'labels'],
    [ROUTE_TYPE_URL]: ['generator', 'namespace', 'sidecar', 'labels'],
    [CLUSTER_TYPE_URL]: ['generator', 'namespace', 'sidecar', 'inbound', 'labels'],
    [ENDPOINT_TYPE_URL]: ['namespace', 'locality'],
    [SECRET_TYPE_URL]: [],
  },
  router: {
    [LISTENER_TYPE_URL]: ['generator', 'namespace', 'gateways', 'inbound', 'labels'],
    [ROUTE_TYPE_URL]: ['generator', 'namespace', 'gateways', 'labels'],
    [CLUSTER_TYPE_URL]: ['generator', 'namespace', 'gateways', 'labels'],
    [ENDPOINT_TYPE_URL]: ['namespace', 'locality'],
    // gateway credentials: Secrets of the proxy's own namespace, by the names it asks for
    [SECRET_TYPE_URL]: ['generator', 'namespace'],
  },
};

/** The context restricted to what (generator, type) reads. */
export function projectContext(ctx: GenContext, typeUrl: XdsTypeUrl): Partial<GenContext> {
  const fields = GENERATOR_INPUTS[ctx.generator][typeUrl] ?? [];
  const out: Record<string, unknown> = {};
  for (const f of fields) out[f] = ctx[f];
  return out as Partial<GenContext>;
}

/** Generation key: type + projected context. Equal keys ⇒ identical output for a snapshot version. */
export function generationKey(ctx: GenContext, typeUrl: XdsTypeUrl): string {
  // Contexts are immutable and a stream keeps its own between registry builds, so a push asks for
  // the same (context, type) key again and again: compute it once per context object.
  let perType = keysOf.get(ctx);
  if (!perType) keysOf.set(ctx, (perType = new Map()));
  let key = perType.get(typeUrl);
  if (key === undefined) perType.set(typeUrl, (key = computeGenerationKey(ctx, typeUrl)));
  return key;
}

const keysOf = new WeakMap<GenContext, Map<XdsTypeUrl, string>>();

function computeGenerationKey(ctx: GenContext, typeUrl: XdsTypeUrl): string {
  const p = projectContext(ctx, typeUrl) as Record<string, unknown>;
  // EDS output is the same for every generator family; keep the generator out so they share.
  const gen = typeUrl === ENDPOINT_TYPE_URL ? '*' : ctx.generator;
  let key = `${typeUrl}|${gen}`;
  for (const f of Object.keys(p).sort()) key += `|${f}=${JSON.stringify(p[f])}`;
  return key;
}

/**
 * Facets: a type whose output splits into parts with narrower inputs. Each facet is generated and
 * cached under its own key and the answer is their union, so a sidecar's outbound clusters and
 * listeners (the same for every proxy of a namespace/Sidecar scope) are built once per scope, and
 * only the small inbound part is built per workload. Facets of a type must produce disjoint names,
 * and their inputs together must be exactly GENERATOR_INPUTS of the type.
 */
export interface Facet { readonly name: string; readonly inputs: readonly ContextField[] }

export const GENERATOR_FACETS: Partial<Record<GeneratorKind, Partial<Record<XdsTypeUrl, readonly Facet[]>>>> = {
  sidecar: {
    [LISTENER_TYPE_URL]: [
      { name: 'outbound', inputs: ['generator', 'proxyType', 'namespace', 'sidecar', 'interceptionMode', 'labels'] },
      { name: 'inbound', inputs: ['generator', 'namespace', 'sidecar', 'inbound', 'interceptionMode', 'labels'] },
    ],
    [CLUSTER_TYPE_URL]: [
      { name: 'outbound', inputs: ['generator', 'namespace', 'sidecar', 'labels'] },
      { name: 'inbound', inputs: ['generator', 'sidecar', 'inbound'] },
    ],
  },
};

/** The facets of (generator, type): the declared ones, or one facet '' covering the whole type. */
export function facetsOf(generator: GeneratorKind, typeUrl: XdsTypeUrl): readonly Facet[] {
  return GENERATOR_FACETS[generator]?.[typeUrl] ?? [{ name: '', inputs: GENERATOR_INPUTS[generator][typeUrl] ?? [] }];
}

/** The context restricted to what one facet reads. */
export function projectFacet(ctx: GenContext, facet: Facet): Partial<GenContext> {
  const out: Record<string, unknown> = {};
  for (const f of facet.inputs) out[f] = ctx[f];
  return out as Partial<GenContext>;
}

/** Cache key of one facet: type + facet + its projected context. */
export function facetKey(ctx: GenContext, typeUrl: XdsTypeUrl, facet: Facet): string {
  const p = projectFacet(ctx, facet) as Record<string, unknown>;
  const gen = typeUrl === ENDPOINT_TYPE_URL ? '*' : ctx.generator;
  let key = `${typeUrl}|${gen}|${facet.name}`;
  for (const f of Object.keys(p).sort()) key += `|${f}=${JSON.stringify(p[f])}`;
  return key;
}

/** True when the generator family serves this type at all. */
export function generatorServes(generator: GeneratorKind, typeUrl: XdsTypeUrl): boolean {
  return GENERATOR_INPUTS[generator][typeUrl] !== undefined;
}
