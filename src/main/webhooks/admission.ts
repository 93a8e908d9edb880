/**
 * The validating admission webhook's decision (Istio pkg/webhooks/validation/server/server.go,
 * `validate`): one decoded AdmissionReview in, the AdmissionReview to answer out. Pure apart from
 * the metrics it counts; never throws on any input.
 *
 * - admission.k8s.io/v1 and v1beta1 reviews are accepted and answered in the same apiVersion.
 * - Operations other than CREATE and UPDATE are allowed (counted as `unsupported_operation`).
 * - The object's kind is looked up by group + kind, ignoring the version; a kind (or version) no
 *   Istio CRD serves in an Istio group is denied as `unrecognized type <gvk>`. Objects of other
 *   groups are allowed: the webhook is only registered for Istio's groups.
 * - Kinds the model understands get exactly the validation of file mode and `istiod-ts validate`
 *   (checkDocument), unknown fields included. Denials read `configuration is invalid: ...`, with
 *   several errors in Istio's multierror layout; warnings of a valid object are returned.
 * - Every Istio kind also gets Istio's top-level field check (`unknown field "x" on Kind resource
 *   ns/name`), which Istio runs after validation and reports without the prefix.
 */
import { checkDocument, DEFAULT_NAMESPACE } from '../../shared/istio/config-document';
import { ValidationIssue, formatIssue } from '../../shared/istio/validation';
import { findKind, splitApiVersion } from '../../shared/model/objects';
import { ISTIO_GROUPS, findIstioKind, gvkString } from '../../shared/istio/istio-kinds';
import { FailureReason, REASON, ResourceLabels, WebhookMetrics } from './webhook-metrics';
import { scope } from '../log';

const log = scope('validationServer');

export const ADMISSION_API_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;

/** Top-level fields Istio accepts on its custom resources (server.go validFields). */
const VALID_TOP_LEVEL_FIELDS = new Set(['apiVersion', 'kind', 'metadata', 'spec', 'status']);

/** AdmissionResponse as Kubernetes reads it (field `status` is Go's `Result`). */
export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { metadata: Record<string, never>; message: string };
  warnings?: string[];
}

export interface AdmissionReviewReply {
  apiVersion: string;
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

/** `ok: false` means the body is not an AdmissionReview at all (the HTTP layer answers 400). */
export type AdmissionOutcome = { ok: true; review: AdmissionReviewReply } | { ok: false; message: string };

type Json = Record<string, unknown>;
const isJson = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Decides one AdmissionReview (already JSON-decoded). */
export function reviewAdmission(body: unknown, metrics?: WebhookMetrics): AdmissionOutcome {
  if (!isJson(body)) return { ok: false, message: 'could not decode body: expected a JSON object (an AdmissionReview)' };
  const apiVersion = str(body.apiVersion);
  if (body.kind !== 'AdmissionReview' || !(ADMISSION_API_VERSIONS as readonly string[]).includes(apiVersion)) {
    return { ok: false, message: `could not decode body: expected kind AdmissionReview in ${ADMISSION_API_VERSIONS.join(' or ')}, got kind ${JSON.stringify(body.kind)} in ${JSON.stringify(body.apiVersion)}` };
  }
  if (!isJson(body.request)) return { ok: false, message: 'could not decode body: AdmissionReview.request is missing' };
  const request = body.request;
  const response = decide(request, metrics);
  response.uid = str(request.uid);
  return { ok: true, review: { apiVersion, kind: 'AdmissionReview', response } };
}

function decide(request: Json, metrics: WebhookMetrics | undefined): AdmissionResponse {
  const res = isJson(request.resource) ? request.resource : {};
  const labels: ResourceLabels = { group: str(res.group), version: str(res.version), resource: str(res.resource) };
  const fail = (reason: FailureReason, message: string): AdmissionResponse => {
    metrics?.validationFailed(labels, reason);
    log.info(message, { resource: labels, name: str(request.name), namespace: str(request.namespace) });
    return { uid: '', allowed: false, status: { metadata: {}, message } };
  };

  const operation = str(request.operation);
  if (operation !== 'CREATE' && operation !== 'UPDATE') {
    log.warn('Unsupported webhook operation', { operation });
    metrics?.validationFailed(labels, REASON.unsupportedOperation);
    return { uid: '', allowed: true };
  }

  const obj = request.object;
  if (!isJson(obj)) {
    return fail(REASON.yamlDecodeError, `cannot decode configuration: request.object must be a JSON object, got ${obj === null || obj === undefined ? 'nothing' : Array.isArray(obj) ? 'a list' : typeof obj}`);
  }
  const objApiVersion = str(obj.apiVersion);
  const objKind = str(obj.kind);
  const { group, version } = splitApiVersion(objApiVersion);
  if (!ISTIO_GROUPS.has(group)) {
    // Only Istio's groups are routed here by the webhook configuration; others are not ours to judge.
    log.debug('allowed an object outside the Istio groups', { apiVersion: objApiVersion, kind: objKind });
    return { uid: '', allowed: true };
  }
  const istioKind = findIstioKind(group, objKind);
  if (!istioKind || !istioKind.versions.includes(version)) {
    return fail(REASON.unknownType, `unrecognized type ${gvkString(group, version, objKind)}`);
  }

  const md = isJson(obj.metadata) ? obj.metadata : {};
  let warnings: string[] = [];
  if (findKind(objApiVersion, objKind)) {
    const check = checkDocument(obj, str(request.namespace) || DEFAULT_NAMESPACE);
    if (check.status !== 'checked') return fail(REASON.unknownType, `unrecognized type ${gvkString(group, version, objKind)}`);
    const errors = check.errors.filter((e) => !isTopLevelUnknownField(e));
    if (errors.length > 0) return fail(REASON.invalidConfig, `configuration is invalid: ${formatErrors(errors.map(formatIssue))}`);
    warnings = check.warnings.map(formatIssue);
  }
  // Istio's checkFields, after validation: the first top-level field outside the CRD envelope.
  const extra = Object.keys(obj).find((k) => !VALID_TOP_LEVEL_FIELDS.has(k));
  if (extra !== undefined) {
    const namespace = str(request.namespace) || str(md.namespace);
    return fail(REASON.invalidConfig, `unknown field ${JSON.stringify(extra)} on ${str((request.kind as Json | undefined)?.kind) || objKind} resource ${namespace}/${str(md.name) || str(request.name)}`);
  }

  metrics?.validationPassed(labels);
  return warnings.length > 0 ? { uid: '', allowed: true, warnings } : { uid: '', allowed: true };
}

function isTopLevelUnknownField(e: ValidationIssue): boolean {
  return e.path.length === 1 && !VALID_TOP_LEVEL_FIELDS.has(String(e.path[0])) && e.message.startsWith('unknown field');
}

/** hashicorp/go-multierror's layout, which Istio's messages carry: one error plain, several listed. */
export function formatErrors(messages: readonly string[]): string {
  if (messages.length === 1) return messages[0]!;
  return `${messages.length} errors occurred:\n${messages.map((m) => `\t* ${m}`).join('\n')}\n\n`;
}
