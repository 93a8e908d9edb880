/**
 * How the Kubernetes API test server serialises objects, as kube-apiserver does:
 * built-in kinds in Go struct field order (kind, apiVersion, metadata in ObjectMeta order, ...),
 * custom resources as unstructured JSON (every map's keys sorted). Lists likewise; custom
 * resource lists carry `metadata.continue: ""` and apiVersion/kind on each item.
 */
import { ResourceDef, apiVersionOf } from './kube-apiserver-resources';

type Obj = Record<string, any>;

/** ObjectMeta field order */
const META_ORDER = ['name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation', 'creationTimestamp',
  'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields'];
/** ServiceSpec and ServicePort field order (the Service is the one built-in kind the server fills in) */
const SERVICE_SPEC_ORDER = ['ports', 'selector', 'clusterIP', 'clusterIPs', 'type', 'externalIPs', 'sessionAffinity', 'loadBalancerIP',
  'loadBalancerSourceRanges', 'externalName', 'externalTrafficPolicy', 'healthCheckNodePort', 'publishNotReadyAddresses',
  'sessionAffinityConfig', 'ipFamilies', 'ipFamilyPolicy', 'allocateLoadBalancerNodePorts', 'loadBalancerClass', 'internalTrafficPolicy', 'trafficDistribution'];
const SERVICE_PORT_ORDER = ['name', 'protocol', 'appProtocol', 'port', 'targetPort', 'nodePort'];

function ordered(o: Obj, order: string[]): Obj {
  const out: Obj = {};
  for (const k of order) if (k in o) out[k] = o[k];
  for (const k of Object.keys(o)) if (!(k in out)) out[k] = o[k];
  return out;
}

export function sortKeysDeep(v: unknown): any {
  if (Array.isArray(v)) return v.map(sortKeysDeep);
  if (v && typeof v === 'object') {
    const out: Obj = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeysDeep((v as Obj)[k]);
    return out;
  }
  return v;
}

/** The object as the API server sends it in `version` (objects are stored without apiVersion). */
export function present(d: ResourceDef, obj: Obj, version: string): Obj {
  const { apiVersion: _a, kind: _k, metadata, ...rest } = structuredClone(obj);
  const body: Obj = { kind: d.kind, apiVersion: apiVersionOf(d.group, version), metadata: ordered(metadata ?? {}, META_ORDER), ...rest };
  if (d.crd) return sortKeysDeep(body);
  if (d.resource === 'services' && body.spec) {
    body.spec = ordered(body.spec, SERVICE_SPEC_ORDER);
    if (Array.isArray(body.spec.ports)) body.spec.ports = body.spec.ports.map((p: Obj) => ordered(p, SERVICE_PORT_ORDER));
  }
  return body;
}

/** A list body: typed lists omit apiVersion/kind on items, custom resource lists keep them. */
export function listBody(d: ResourceDef, version: string, items: Obj[], meta: { resourceVersion: string; continue?: string; remainingItemCount?: number }): Obj {
  const apiVersion = apiVersionOf(d.group, version);
  if (d.crd) {
    return sortKeysDeep({ apiVersion, items: items.map((o) => present(d, o, version)), kind: `${d.kind}List`, metadata: { continue: meta.continue ?? '', resourceVersion: meta.resourceVersion, ...(meta.remainingItemCount !== undefined ? { remainingItemCount: meta.remainingItemCount } : {}) } });
  }
  return {
    kind: `${d.kind}List`,
    apiVersion,
    metadata: { resourceVersion: meta.resourceVersion, ...(meta.continue ? { continue: meta.continue } : {}), ...(meta.remainingItemCount !== undefined ? { remainingItemCount: meta.remainingItemCount } : {}) },
    items: items.map((o) => { const { kind: _k, apiVersion: _a, ...p } = present(d, o, version); return p; }),
  };
}
