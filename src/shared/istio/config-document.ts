/**
 * One decoded config document → what the control plane makes of it. The single place where file
 * mode (src/main/sources/file-source.ts) and `istiod-ts validate` decide whether a document is a
 * kind we understand, default its namespace and validate it, so both always agree. Pure, no I/O.
 */
import { K8sObject, KindInfo, findKind, splitApiVersion } from '../model/objects';
import { ValidationIssue, validateObjectIssues } from './validation';

/** Namespace of namespaced objects that name none, as `kubectl apply` without -n. */
export const DEFAULT_NAMESPACE = 'default';

export type DocumentCheck =
  /** A scalar or a list where an object was expected. */
  | { status: 'not-object' }
  /** apiVersion/kind missing, or a kind (or version) the model does not understand. */
  | { status: 'unsupported'; apiVersion?: string; kind?: string; reason: string; info?: KindInfo }
  /** Validated. `object` is the caller's value with its namespace defaulted (mutated in place). */
  | { status: 'checked'; object: K8sObject; info: KindInfo; errors: ValidationIssue[]; warnings: ValidationIssue[] };

/**
 * Classifies and validates `value`. Namespace defaulting happens before validation: a namespaced
 * object without one gets `defaultNamespace`, a cluster-scoped one loses any it names.
 */
export function checkDocument(value: unknown, defaultNamespace: string = DEFAULT_NAMESPACE): DocumentCheck {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { status: 'not-object' };
  const o = value as K8sObject;
  const apiVersion = typeof o.apiVersion === 'string' && o.apiVersion !== '' ? o.apiVersion : undefined;
  const kind = typeof o.kind === 'string' && o.kind !== '' ? o.kind : undefined;
  if (apiVersion === undefined || kind === undefined) {
    return { status: 'unsupported', apiVersion, kind, reason: `${apiVersion === undefined ? 'apiVersion' : 'kind'} is required` };
  }
  const info = findKind(apiVersion, kind);
  if (!info) return { status: 'unsupported', apiVersion, kind, reason: `unsupported kind ${kind} in ${apiVersion}` };
  if (!info.versions.includes(splitApiVersion(apiVersion).version)) {
    return { status: 'unsupported', apiVersion, kind, info, reason: `unsupported version ${apiVersion} of ${kind} (supported: ${info.versions.join(', ')})` };
  }
  const md: unknown = o.metadata;
  if (typeof md === 'object' && md !== null && !Array.isArray(md)) {
    const meta = md as Record<string, unknown>;
    if (!info.namespaced) delete meta.namespace;
    else if (meta.namespace === undefined || meta.namespace === null || meta.namespace === '') meta.namespace = defaultNamespace;
  }
  const { errors, warnings } = validateObjectIssues(o);
  return { status: 'checked', object: o, info, errors, warnings };
}
