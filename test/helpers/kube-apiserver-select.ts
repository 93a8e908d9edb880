/**
 * Label and field selectors of the Kubernetes API test server, parsed like the API server does
 * (k8s.io/apimachinery/pkg/labels and fields): `a=b`, `a==b`, `a!=b`, `a in (x,y)`,
 * `a notin (x)`, `a`, `!a`, joined by commas. A bad selector throws an ApiError 400 BadRequest.
 */
import { ApiError } from './kube-apiserver-errors';
import type { ResourceDef } from './kube-apiserver-resources';

type Obj = Record<string, any>;
export type Matcher = (obj: Obj) => boolean;

/** Splits on commas outside parentheses. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) { out.push(cur); cur = ''; continue; }
    cur += ch;
  }
  out.push(cur);
  return out.map((p) => p.trim()).filter((p) => p !== '');
}

const KEY_RE = /^([a-z0-9A-Z]([-a-z0-9A-Z.]*[a-z0-9A-Z])?\/)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$/;

function checkKey(key: string, sel: string): void {
  if (!KEY_RE.test(key)) throw ApiError.badRequest(`unable to parse requirement: invalid label key "${key}" in selector "${sel}"`);
}

export function labelMatcher(selector: string | null): Matcher {
  if (!selector) return () => true;
  const reqs: Matcher[] = [];
  for (const part of splitTop(selector)) {
    let m: RegExpExecArray | null;
    if ((m = /^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(part))) {
      const [, key, op, list] = m;
      checkKey(key, selector);
      const values = new Set(list.split(',').map((v) => v.trim()).filter((v) => v !== ''));
      reqs.push(op === 'in'
        ? (o) => o.metadata?.labels?.[key] !== undefined && values.has(o.metadata.labels[key])
        : (o) => o.metadata?.labels?.[key] === undefined || !values.has(o.metadata.labels[key]));
    } else if ((m = /^(\S+)\s+(in|notin)\s+([^(\s]\S*)/.exec(part))) {
      throw ApiError.badRequest(`unable to parse requirement: found '${m[3]}' expected: '('`);
    } else if ((m = /^([^=!\s]+)\s*(==|=|!=)\s*([^=!\s]*)$/.exec(part))) {
      const [, key, op, value] = m;
      checkKey(key, selector);
      reqs.push(op === '!='
        ? (o) => o.metadata?.labels?.[key] !== value
        : (o) => o.metadata?.labels?.[key] === value);
    } else if ((m = /^!\s*(\S+)$/.exec(part))) {
      const key = m[1];
      checkKey(key, selector);
      reqs.push((o) => o.metadata?.labels?.[key] === undefined);
    } else if (/^\S+$/.test(part)) {
      checkKey(part, selector);
      reqs.push((o) => o.metadata?.labels?.[part] !== undefined);
    } else {
      throw ApiError.badRequest(`unable to parse requirement: "${part}" in label selector "${selector}"`);
    }
  }
  return (o) => reqs.every((r) => r(o));
}

/** Field labels the API server accepts, per resource (metadata.name and metadata.namespace everywhere). */
const FIELDS: Record<string, string[]> = {
  services: ['spec.clusterIP', 'spec.type'],
  pods: ['spec.nodeName', 'spec.serviceAccountName', 'spec.hostNetwork', 'status.phase', 'status.podIP', 'status.nominatedNodeName'],
  secrets: ['type'],
  events: ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'reason', 'type', 'source'],
  namespaces: ['status.phase'],
  nodes: ['spec.unschedulable'],
};

function fieldValue(o: Obj, path: string): string {
  let v: any = o;
  for (const p of path.split('.')) v = v?.[p];
  return v === undefined || v === null ? '' : String(v);
}

export function fieldMatcher(selector: string | null, d: ResourceDef): Matcher {
  if (!selector) return () => true;
  const reqs: Matcher[] = [];
  for (const part of splitTop(selector)) {
    const m = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(part);
    if (!m) throw ApiError.badRequest(`invalid selector: '${selector}'; can't understand '${part}'`);
    const [, field, op, value] = m;
    if (field !== 'metadata.name' && field !== 'metadata.namespace' && !(FIELDS[d.resource] ?? []).includes(field)) {
      throw ApiError.badRequest(FIELDS[d.resource] ? `field label not supported: ${field}` : `"${field}" is not a known field selector: only "metadata.name", "metadata.namespace"`);
    }
    reqs.push(op === '!=' ? (o) => fieldValue(o, field) !== value : (o) => fieldValue(o, field) === value);
  }
  return (o) => reqs.every((r) => r(o));
}
