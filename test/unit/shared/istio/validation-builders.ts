/** Builders and assertions shared by the per-kind validation tests (fixtures built in code). */
import assert from 'node:assert/strict';
import { ValidationIssue, formatIssue, formatPath, validateObjectIssues } from '../../../../src/shared/istio/validation';
import { K8sObject } from '../../../../src/shared/model/objects';

export const ISTIO = 'networking.istio.io/v1';
export type PathArg = (string | number)[];

export function object(apiVersion: string, kind: string, body: Record<string, unknown>, meta: Record<string, unknown> = {}): K8sObject {
  return { apiVersion, kind, metadata: { name: 'x', namespace: 'default', ...meta }, ...body } as K8sObject;
}
export const istio = (kind: string, spec: unknown, meta?: Record<string, unknown>): K8sObject => object(ISTIO, kind, { spec }, meta);
export const route = (host: string, weight?: number) => ({ destination: { host }, ...(weight === undefined ? {} : { weight }) });
/** A VirtualService for host "reviews" with the given http routes (and extra spec fields). */
export const vs = (http: unknown[], extra: Record<string, unknown> = {}): K8sObject => istio('VirtualService', { hosts: ['reviews'], http, ...extra });
/** One http route to "reviews" with extra route fields. */
export const vsRoute = (fields: Record<string, unknown>): K8sObject => vs([{ route: [route('reviews')], ...fields }]);
export const dr = (spec: Record<string, unknown>, meta?: Record<string, unknown>): K8sObject => istio('DestinationRule', { host: 'reviews.default.svc.cluster.local', ...spec }, meta);
export const gw = (servers: unknown, meta?: Record<string, unknown>): K8sObject => istio('Gateway', { selector: { istio: 'ingressgateway' }, servers }, meta);
export const se = (spec: Record<string, unknown>): K8sObject => istio('ServiceEntry', { hosts: ['api.example.com'], ports: [{ number: 443, name: 'https', protocol: 'HTTPS' }], ...spec });

function issuesAt(list: ValidationIssue[], path: PathArg): ValidationIssue[] {
  return list.filter((e) => formatPath(e.path) === formatPath(path));
}

/** Asserts that some error sits at `path` and its message matches `message`. */
export function assertError(obj: K8sObject, path: PathArg, message: RegExp): void {
  const { errors } = validateObjectIssues(obj);
  assert.ok(issuesAt(errors, path).some((e) => message.test(e.message)),
    `expected an error at ${formatPath(path)} matching ${message}, got ${JSON.stringify(errors.map(formatIssue))}`);
}

/** Asserts the object is valid; returns its warnings as "path: message". */
export function assertValid(obj: K8sObject): string[] {
  const { errors, warnings } = validateObjectIssues(obj);
  assert.deepEqual(errors.map(formatIssue), [], 'expected no errors');
  return warnings.map(formatIssue);
}

/** Asserts the object is valid with a warning at `path` matching `message`. */
export function assertWarning(obj: K8sObject, path: PathArg, message: RegExp): void {
  const { errors, warnings } = validateObjectIssues(obj);
  assert.deepEqual(errors.map(formatIssue), [], 'expected no errors');
  assert.ok(issuesAt(warnings, path).some((w) => message.test(w.message)),
    `expected a warning at ${formatPath(path)} matching ${message}, got ${JSON.stringify(warnings.map(formatIssue))}`);
}
