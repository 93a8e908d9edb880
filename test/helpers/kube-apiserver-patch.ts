/**
 * PATCH bodies of the Kubernetes API test server: JSON merge patch (RFC 7386, also used for
 * strategic-merge patches, whose list merge keys are not modelled: lists are replaced) and JSON
 * patch (RFC 6902). Failures throw ApiError with the API server's reasons.
 */
import { ApiError } from './kube-apiserver-errors';

type Json = any;

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, Json> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function unescape(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

function parsePointer(path: unknown, op: number): string[] {
  if (typeof path !== 'string' || (path !== '' && !path.startsWith('/'))) {
    throw new ApiError(422, 'Invalid', `json patch operation ${op}: path ${JSON.stringify(path)} is not a JSON pointer`);
  }
  return path === '' ? [] : path.slice(1).split('/').map(unescape);
}

function parentOf(doc: Json, tokens: string[], op: number, path: string): { parent: Json; key: string } {
  let cur = doc;
  for (const t of tokens.slice(0, -1)) {
    cur = Array.isArray(cur) ? cur[Number(t)] : isObject(cur) ? cur[t] : undefined;
    if (cur === undefined) throw new ApiError(422, 'Invalid', `json patch operation ${op}: doc is missing path: "${path}"`);
  }
  return { parent: cur, key: tokens[tokens.length - 1] };
}

function getAt(doc: Json, tokens: string[], op: number, path: string): Json {
  if (tokens.length === 0) return doc;
  const { parent, key } = parentOf(doc, tokens, op, path);
  const v = Array.isArray(parent) ? parent[Number(key)] : isObject(parent) ? parent[key] : undefined;
  if (v === undefined) throw new ApiError(422, 'Invalid', `json patch operation ${op}: doc is missing path: "${path}"`);
  return v;
}

function removeAt(doc: Json, tokens: string[], op: number, path: string): Json {
  const { parent, key } = parentOf(doc, tokens, op, path);
  if (Array.isArray(parent)) {
    const i = Number(key);
    if (!Number.isInteger(i) || i < 0 || i >= parent.length) throw new ApiError(422, 'Invalid', `json patch operation ${op}: remove index out of bounds: "${path}"`);
    return parent.splice(i, 1)[0];
  }
  if (!isObject(parent) || !(key in parent)) throw new ApiError(422, 'Invalid', `json patch operation ${op}: doc is missing path: "${path}"`);
  const v = parent[key];
  delete parent[key];
  return v;
}

function addAt(doc: Json, tokens: string[], value: Json, op: number, path: string, replace: boolean): Json {
  if (tokens.length === 0) return value;
  const { parent, key } = parentOf(doc, tokens, op, path);
  if (Array.isArray(parent)) {
    const i = key === '-' ? parent.length : Number(key);
    if (!Number.isInteger(i) || i < 0 || i > parent.length - (replace ? 1 : 0)) throw new ApiError(422, 'Invalid', `json patch operation ${op}: index out of bounds: "${path}"`);
    if (replace) parent[i] = value; else parent.splice(i, 0, value);
  } else if (isObject(parent)) {
    if (replace && !(key in parent)) throw new ApiError(422, 'Invalid', `json patch operation ${op}: doc is missing key: "${path}"`);
    parent[key] = value;
  } else {
    throw new ApiError(422, 'Invalid', `json patch operation ${op}: doc is missing path: "${path}"`);
  }
  return doc;
}

export function jsonPatch(target: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw ApiError.badRequest('json patch: the body must be a JSON array of operations');
  let doc = structuredClone(target);
  ops.forEach((o: Json, i: number) => {
    if (!isObject(o)) throw ApiError.badRequest(`json patch operation ${i}: not an object`);
    const path = o.path as string;
    const tokens = parsePointer(path, i);
    switch (o.op) {
      case 'add': doc = addAt(doc, tokens, structuredClone(o.value), i, path, false); break;
      case 'replace': doc = addAt(doc, tokens, structuredClone(o.value), i, path, true); break;
      case 'remove': removeAt(doc, tokens, i, path); break;
      case 'test':
        if (JSON.stringify(getAt(doc, tokens, i, path)) !== JSON.stringify(o.value)) {
          throw new ApiError(422, 'Invalid', `json patch operation ${i}: testing value ${path} failed: test failed`);
        }
        break;
      case 'copy':
      case 'move': {
        const fromTokens = parsePointer(o.from, i);
        const v = o.op === 'move' ? removeAt(doc, fromTokens, i, o.from) : structuredClone(getAt(doc, fromTokens, i, o.from));
        doc = addAt(doc, tokens, v, i, path, false);
        break;
      }
      default:
        throw ApiError.badRequest(`json patch operation ${i}: unexpected op ${JSON.stringify(o.op)}`);
    }
  });
  return doc;
}
