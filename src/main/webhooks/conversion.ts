/**
 * The CRD conversion webhook: ConversionReview (apiextensions.k8s.io/v1, also v1beta1) in, the
 * same objects in `desiredAPIVersion` out. Every served version of an Istio kind has the same
 * schema (src/shared/istio/istio-kinds.ts), so converting is rewriting apiVersion and nothing else; Kubernetes
 * requires metadata other than labels and annotations to come back unchanged, and it does.
 *
 * All or nothing, as Kubernetes requires: if any object cannot be converted (another group, a
 * kind that is not Istio's, a version its CRD does not serve, e.g. EnvoyFilter in v1), the
 * review fails with `result.status: Failure` and a message naming the object. Pure; never throws.
 */
import { splitApiVersion } from '../../shared/model/objects';
import { findIstioKind } from '../../shared/istio/istio-kinds';

export const CONVERSION_API_VERSIONS = ['apiextensions.k8s.io/v1', 'apiextensions.k8s.io/v1beta1'] as const;

export interface ConversionResponse {
  uid: string;
  convertedObjects: unknown[];
  result: { status: 'Success' } | { status: 'Failure'; message: string };
}

export interface ConversionReviewReply {
  apiVersion: string;
  kind: 'ConversionReview';
  response: ConversionResponse;
}

/** `ok: false` means the body is not a ConversionReview at all (the HTTP layer answers 400). */
export type ConversionOutcome = { ok: true; review: ConversionReviewReply } | { ok: false; message: string };

type Json = Record<string, unknown>;
const isJson = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export function reviewConversion(body: unknown): ConversionOutcome {
  if (!isJson(body)) return { ok: false, message: 'could not decode body: expected a JSON object (a ConversionReview)' };
  const apiVersion = typeof body.apiVersion === 'string' ? body.apiVersion : '';
  if (body.kind !== 'ConversionReview' || !(CONVERSION_API_VERSIONS as readonly string[]).includes(apiVersion)) {
    return { ok: false, message: `could not decode body: expected kind ConversionReview in ${CONVERSION_API_VERSIONS.join(' or ')}, got kind ${JSON.stringify(body.kind)} in ${JSON.stringify(body.apiVersion)}` };
  }
  const request = body.request;
  if (!isJson(request)) return { ok: false, message: 'could not decode body: ConversionReview.request is missing' };
  if (typeof request.uid !== 'string' || request.uid === '') return { ok: false, message: 'could not decode body: ConversionReview.request.uid is required' };
  const uid = request.uid;
  const reply = (response: Omit<ConversionResponse, 'uid'>): ConversionOutcome => ({ ok: true, review: { apiVersion, kind: 'ConversionReview', response: { uid, ...response } } });
  const failure = (message: string) => reply({ convertedObjects: [], result: { status: 'Failure', message } });

  const desired = request.desiredAPIVersion;
  if (typeof desired !== 'string' || !desired.includes('/')) {
    return failure(`desiredAPIVersion must be group/version, got ${JSON.stringify(desired)}`);
  }
  const objects = request.objects ?? [];
  if (!Array.isArray(objects)) return failure('request.objects must be a list');
  const target = splitApiVersion(desired);
  const converted: unknown[] = [];
  for (const [i, o] of objects.entries()) {
    const r = convertOne(o, target.group, target.version, desired);
    if (!r.ok) return failure(`objects[${i}]${r.what}: ${r.message}`);
    converted.push(r.object);
  }
  return reply({ convertedObjects: converted, result: { status: 'Success' } });
}

type OneResult = { ok: true; object: Json } | { ok: false; what: string; message: string };

function convertOne(o: unknown, group: string, version: string, desired: string): OneResult {
  if (!isJson(o)) return { ok: false, what: '', message: 'must be an object' };
  const kind = typeof o.kind === 'string' ? o.kind : '';
  const md = isJson(o.metadata) ? o.metadata : {};
  const name = typeof md.name === 'string' ? md.name : '';
  const ns = typeof md.namespace === 'string' ? md.namespace : '';
  const what = ` (${kind || 'no kind'} ${ns ? `${ns}/` : ''}${name})`;
  if (typeof o.apiVersion !== 'string' || kind === '') return { ok: false, what, message: 'apiVersion and kind are required' };
  const from = splitApiVersion(o.apiVersion);
  if (from.group !== group) return { ok: false, what, message: `cannot convert from group ${JSON.stringify(from.group)} to ${desired}: conversion never changes the group` };
  const info = findIstioKind(group, kind);
  if (!info) return { ok: false, what, message: `unrecognized type ${kind} in ${group}` };
  if (!info.versions.includes(version)) {
    return { ok: false, what, message: `${kind} is not served in ${desired} (served versions: ${info.versions.join(', ')})` };
  }
  return { ok: true, object: { ...o, apiVersion: desired } };
}
