/**
 * Request handling of the Kubernetes API test server: authentication, the request log, URL
 * parsing as the API server's RequestInfo does, discovery, and the verbs
 * (get/list/watch/create/update/patch/delete/deletecollection) over the store.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as YAML from 'yaml';
import { admit } from './kube-apiserver-admission';
import { Authenticator } from './kube-apiserver-auth';
import { authorize } from './kube-apiserver-rbac';
import { ApiError } from './kube-apiserver-errors';
import { jsonPatch, mergePatch } from './kube-apiserver-patch';
import {
  ResourceDef, Served, apiGroupList, apiResourceList, apiVersionOf, apiVersions, findByResource, groupVersions,
} from './kube-apiserver-resources';
import { fieldMatcher, labelMatcher } from './kube-apiserver-select';
import { listBody } from './kube-apiserver-encode';
import { KubeStore, Obj, present, rfc3339 } from './kube-apiserver-store';
import { serveWatch } from './kube-apiserver-watch';

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

export interface KubeRequest {
  /** Kubernetes verb; for non-resource URLs (discovery, /version) the lower-case HTTP method */
  verb: Verb | string;
  method: string;
  /** URL path with the query string */
  path: string;
  /** API group ('' for core); undefined for non-resource URLs */
  group?: string;
  version?: string;
  /** plural resource ('' for non-resource URLs) */
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  /** the authenticated user ('' when the request was rejected or needs none) */
  user: string;
  /** the authenticated user's groups */
  groups?: string[];
  /** HTTP status sent (for watches: 200 once the stream opened) */
  code?: number;
}

export interface ServerContext {
  store: KubeStore;
  auth: Authenticator;
  requests: KubeRequest[];
  openWatches: Set<() => void>;
  bookmarkIntervalMs: number;
  /** resource versions this server serves */
  served: Served;
  address(): string;
}

const PUBLIC = new Set(['/healthz', '/readyz', '/livez', '/version']);

function send(res: ServerResponse, code: number, body: unknown): void {
  if (res.headersSent) { res.destroy(); return; }
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseBody(text: string, contentType: string, accepted: string[], kind = 'the resource'): any {
  const ct = contentType.split(';')[0].trim().toLowerCase();
  if (!accepted.includes(ct)) throw ApiError.unsupportedMediaType(ct, accepted);
  if (text.trim() === '') throw ApiError.badRequest('the request body is empty');
  try {
    return ct.endsWith('yaml') ? YAML.parse(text) : JSON.parse(text);
  } catch (e) {
    throw ApiError.badRequest(`the object provided is unrecognized (must be of type ${kind}): couldn't get version/kind; ${ct.endsWith('yaml') ? 'yaml' : 'json'} parse error: ${(e as Error).message} (${text.slice(0, 50)})`);
  }
}

interface Target { group: string; version: string; rest: string[] }

function parsePath(parts: string[]): Target | undefined {
  if (parts[0] === 'api' && parts[1] === 'v1') return { group: '', version: 'v1', rest: parts.slice(2) };
  if (parts[0] === 'apis' && parts.length >= 3) return { group: parts[1], version: parts[2], rest: parts.slice(3) };
  return undefined;
}

/** Handles one request; never throws. */
export async function handle(ctx: ServerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const method = (req.method ?? 'GET').toUpperCase();
  const entry: KubeRequest = { verb: method.toLowerCase(), method, path: url.pathname + url.search, resource: '', user: '' };
  try {
    if (PUBLIC.has(url.pathname)) {
      ctx.requests.push(entry);
      entry.code = 200;
      if (url.pathname === '/version') {
        send(res, 200, { major: '1', minor: '37', emulationMajor: '1', emulationMinor: '37', minCompatibilityMajor: '1', minCompatibilityMinor: '36', gitVersion: 'v1.37.2', gitCommit: 'kube-test-server', gitTreeState: 'clean', buildDate: '2026-01-01T00:00:00Z', goVersion: 'go1.25', compiler: 'gc', platform: 'linux/amd64' });
      } else {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('ok');
      }
      return;
    }
    await route(ctx, req, res, url, method, entry);
  } catch (e) {
    const err = e instanceof ApiError ? e : new ApiError(500, 'InternalError', `Internal error occurred: ${(e as Error).message}`);
    entry.code = err.code;
    send(res, err.code, err.status());
  }
}

async function route(ctx: ServerContext, req: IncomingMessage, res: ServerResponse, url: URL, method: string, entry: KubeRequest): Promise<void> {
  const parts = url.pathname.split('/').filter((p) => p !== '').map(decodeURIComponent);
  const t = parsePath(parts);
  if (t) { entry.group = t.group; entry.version = t.version; }
  ctx.requests.push(entry);
  // authentication comes first (401 before anything else); the log entry is filled before it
  const authenticate = (): void => {
    const u = ctx.auth.authenticateRequest(req.headers.authorization);
    entry.user = u.username;
    entry.groups = u.groups ?? ['system:authenticated'];
  };

  // Discovery
  const discovery = url.pathname === '/api' || url.pathname === '/api/' || url.pathname === '/apis' || url.pathname === '/apis/' || (parts[0] === 'apis' && parts.length === 2) || !t || t.rest.length === 0;
  if (discovery) {
    entry.verb = method.toLowerCase();
    authenticate();
    if (method !== 'GET' && method !== 'HEAD') throw ApiError.methodNotAllowed(method, url.pathname);
  }
  const plain404 = (): void => {
    entry.code = 404;
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
    res.end('404 page not found\n');
  };
  if (url.pathname === '/api' || url.pathname === '/api/') { entry.verb = 'get'; return send(res, (entry.code = 200), apiVersions(ctx.address())); }
  if (url.pathname === '/apis' || url.pathname === '/apis/') { entry.verb = 'get'; return send(res, (entry.code = 200), apiGroupList(ctx.served)); }
  if (parts[0] === 'apis' && parts.length === 2) {
    entry.verb = 'get';
    const versions = groupVersions(parts[1], ctx.served);
    if (versions.length === 0) return plain404();
    const vs = versions.map((version) => ({ groupVersion: `${parts[1]}/${version}`, version }));
    return send(res, (entry.code = 200), { kind: 'APIGroup', apiVersion: 'v1', name: parts[1], versions: vs, preferredVersion: vs[0] });
  }
  if (!t) return plain404();
  if (t.group !== '' && !groupVersions(t.group, ctx.served).includes(t.version)) return plain404();
  if (t.rest.length === 0) {
    entry.verb = 'get';
    const doc = apiResourceList(t.group, t.version, ctx.served);
    if (!doc) throw ApiError.noResource();
    return send(res, (entry.code = 200), doc);
  }

  // RequestInfo: [namespaces/<ns>/]<resource>[/<name>[/<subresource>]]
  let rest = t.rest;
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length > 1) {
    namespace = rest[1];
    if (rest.length > 2 && rest[2] !== 'status' && rest[2] !== 'finalize') rest = rest.slice(2);
  }
  const [resource, name, subresource, ...extra] = rest;
  entry.resource = resource;
  if (namespace !== undefined && resource !== 'namespaces') entry.namespace = namespace;
  if (name !== undefined) entry.name = name;
  if (subresource !== undefined) entry.subresource = subresource;
  const q = url.searchParams;
  const isWatch = q.get('watch') === 'true' || q.get('watch') === '1';
  const verb: Verb = method === 'GET' ? (name !== undefined ? (isWatch ? 'watch' : 'get') : isWatch ? 'watch' : 'list')
    : method === 'POST' ? 'create' : method === 'PUT' ? 'update' : method === 'PATCH' ? 'patch'
      : method === 'DELETE' ? (name !== undefined ? 'delete' : 'deletecollection') : ('' as Verb);
  entry.verb = verb || method.toLowerCase();
  authenticate();

  const d = findByResource(t.group, t.version, resource, ctx.served);
  if (!d || extra.length > 0) throw ApiError.noResource();
  if (resource === 'namespaces') namespace = undefined;
  if (!d.namespaced && namespace !== undefined) throw ApiError.noResource();
  if (subresource !== undefined && !(subresource === 'status' && d.status) && !(subresource === 'token' && d.resource === 'serviceaccounts')) throw ApiError.noResource();

  if (!verb || !d.verbs.includes(verb) || (name === undefined && ['update', 'patch', 'delete'].includes(verb)) || (name !== undefined && verb === 'create' && subresource !== 'token')) {
    throw ApiError.methodNotAllowed(method, url.pathname);
  }
  if (d.namespaced && namespace === undefined && !['list', 'watch', 'deletecollection'].includes(verb) && d.resource !== 'tokenreviews') throw ApiError.noResource();

  authorize(ctx.store, userOf(entry), {
    verb, group: d.group, resource: d.resource, subresource, name: name ?? listedName(verb, q),
    namespace: d.resource === 'namespaces' ? name : namespace,
  });

  if (d.resource === 'tokenreviews') return tokenReview(ctx, req, res, entry);
  if (subresource === 'token') {
    if (verb !== 'create') throw ApiError.methodNotAllowed(method, url.pathname);
    const body = parseBody(await readBody(req), req.headers['content-type'] ?? '', ['application/json', 'application/yaml']);
    return send(res, (entry.code = 201), ctx.auth.tokenRequest(namespace!, name!, body));
  }

  const ver = t.version;
  const store = ctx.store;
  switch (verb) {
    case 'get': {
      const o = store.get(d, namespace, name!);
      if (!o) throw ApiError.notFound(d, name!);
      return send(res, (entry.code = 200), present(d, o, ver));
    }
    case 'list': case 'watch': {
      checkListOptions(q);
      const labels = labelMatcher(q.get('labelSelector'));
      const fields = fieldMatcher(q.get('fieldSelector'), d);
      if (verb === 'watch') {
        const timeout = q.get('timeoutSeconds');
        serveWatch(store, res, {
          d, version: ver, namespace, name, labels, fields,
          resourceVersion: q.get('resourceVersion'),
          bookmarks: q.get('allowWatchBookmarks') === 'true',
          bookmarkIntervalMs: ctx.bookmarkIntervalMs,
          timeoutSeconds: timeout ? Number(timeout) : undefined,
          sendInitialEvents: q.has('sendInitialEvents') ? q.get('sendInitialEvents') === 'true' : undefined,
        }, ctx.openWatches);
        entry.code = 200;
        return;
      }
      const limit = Number(q.get('limit') ?? 0);
      const page = store.page(() => store.listRaw(d, namespace).filter((o) => labels(o) && fields(o)), limit, q.get('continue'));
      return send(res, (entry.code = 200), listBody(d, ver, page.items, {
        resourceVersion: String(page.rv),
        ...(page.continue ? { continue: page.continue } : {}),
        ...(page.remaining !== undefined ? { remainingItemCount: page.remaining } : {}),
      }));
    }
    case 'create': {
      const body = parseBody(await readBody(req), req.headers['content-type'] ?? '', ['application/json', 'application/yaml'], d.kind);
      checkTypeMeta(d, body, ver);
      body.metadata ??= {};
      if (d.namespaced) {
        if (body.metadata.namespace && body.metadata.namespace !== namespace) throw ApiError.badRequest('the namespace of the provided object does not match the namespace sent on the request');
        body.metadata.namespace = namespace;
      }
      const dryRun = q.get('dryRun') === 'All';
      await admit(store, { d, version: ver, operation: 'CREATE', namespace, name: body.metadata.name ?? '', object: present(d, body, ver), dryRun, user: userOf(entry) });
      if (dryRun) {
        if (body.metadata.name && store.get(d, namespace, body.metadata.name)) throw ApiError.alreadyExists(d, body.metadata.name);
        return send(res, (entry.code = 201), present(d, body, ver));
      }
      const created = store.create(d, body, { http: true, manager: managerOf(req, q, 'Update', d, ver) });
      entry.name = created.metadata.name;
      return send(res, (entry.code = 201), present(d, created, ver));
    }
    case 'update': {
      const body = parseBody(await readBody(req), req.headers['content-type'] ?? '', ['application/json', 'application/yaml'], d.kind);
      checkTypeMeta(d, body, ver);
      body.metadata ??= {};
      if (body.metadata.name !== name) throw ApiError.badRequest(`the name of the object (${body.metadata.name ?? ''}) does not match the name on the URL (${name})`);
      if (d.namespaced) {
        if (body.metadata.namespace && body.metadata.namespace !== namespace) throw ApiError.badRequest('the namespace of the provided object does not match the namespace sent on the request');
        body.metadata.namespace = namespace;
      }
      const old = store.get(d, namespace, name!);
      if (!old) throw ApiError.notFound(d, name!);
      const dryRun = q.get('dryRun') === 'All';
      await admit(store, { d, version: ver, operation: 'UPDATE', subresource, namespace, name: name!, object: present(d, body, ver), oldObject: present(d, old, ver), dryRun, user: userOf(entry) });
      if (dryRun) return send(res, (entry.code = 200), present(d, body, ver));
      const updated = store.update(d, body, { http: true, statusOnly: subresource === 'status', manager: managerOf(req, q, 'Update', d, ver) });
      return send(res, (entry.code = 200), present(d, updated, ver));
    }
    case 'patch': return patch(ctx, req, res, entry, d, ver, namespace, name!, subresource, q);
    case 'delete': {
      const text = await readBody(req);
      let opts: { preconditions?: { resourceVersion?: string; uid?: string } } = {};
      if (text.trim()) { try { opts = JSON.parse(text); } catch { throw ApiError.badRequest('the DeleteOptions body could not be decoded as JSON'); } }
      if (d.resource === 'namespaces') return send(res, (entry.code = 200), present(d, store.deleteNamespace(name!, opts.preconditions), ver));
      const gone = store.delete(d, namespace, name!, opts.preconditions);
      if (!d.deleteReturnsObject) {
        return send(res, (entry.code = 200), {
          kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success',
          details: { name: gone.metadata.name, ...(d.group ? { group: d.group } : {}), kind: d.resource, uid: gone.metadata.uid },
        });
      }
      // what the API server answers at the start of a graceful deletion
      const last = structuredClone(gone);
      if (d.resource === 'pods' || d.resource === 'customresourcedefinitions') last.metadata.deletionTimestamp = rfc3339();
      if (d.resource === 'pods') last.metadata.deletionGracePeriodSeconds = 0;
      return send(res, (entry.code = 200), present(d, last, ver));
    }
    case 'deletecollection': {
      const labels = labelMatcher(q.get('labelSelector'));
      const fields = fieldMatcher(q.get('fieldSelector'), d);
      const items = store.listRaw(d, namespace).filter((o) => labels(o) && fields(o))
        .map((o) => store.delete(d, o.metadata.namespace, o.metadata.name))
        .map((o) => present(d, o, ver));
      return send(res, (entry.code = 200), { apiVersion: apiVersionOf(d.group, ver), kind: `${d.kind}List`, metadata: { resourceVersion: String(store.rv) }, items });
    }
  }
}

/** ListOptions validation of the API server (422 Invalid / 400 for unparsable numbers). */
function checkListOptions(q: URLSearchParams): void {
  const invalid = (field: string, reason: string, message: string) => new ApiError(422, 'Invalid', `ListOptions.meta.k8s.io "" is invalid: ${field}: ${message}`, {
    group: 'meta.k8s.io', kind: 'ListOptions', causes: [{ reason, message, field }],
  });
  const match = q.get('resourceVersionMatch') ?? '';
  const sendInitial = q.get('sendInitialEvents') === 'true';
  if (!['', 'Exact', 'NotOlderThan'].includes(match)) {
    throw invalid('resourceVersionMatch', 'FieldValueNotSupported', `Unsupported value: "${match}": supported values: "Exact", "NotOlderThan", ""`);
  }
  if (sendInitial && match !== 'NotOlderThan') {
    throw invalid('resourceVersionMatch', 'FieldValueForbidden', 'Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan');
  }
  if (match && !q.get('resourceVersion') && !sendInitial) {
    throw invalid('resourceVersionMatch', 'FieldValueForbidden', 'Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided');
  }
  for (const f of ['timeoutSeconds', 'limit']) {
    const v = q.get(f);
    if (v !== null && v !== '' && !/^-?\d+$/.test(v)) throw ApiError.badRequest(`strconv.ParseInt: parsing "${v}": invalid syntax`);
  }
}

/**
 * kube-apiserver's RequestInfo: a list or watch whose field selector requires metadata.name=X is
 * authorized as a request for X, so RBAC resourceNames can grant it.
 */
export function listedName(verb: string, q: URLSearchParams): string | undefined {
  if (verb !== 'list' && verb !== 'watch') return undefined;
  for (const term of (q.get('fieldSelector') ?? '').split(',')) {
    const m = /^metadata\.name==?(.+)$/.exec(term.trim());
    if (m) return m[1];
  }
  return undefined;
}

function userOf(entry: KubeRequest): { username: string; groups?: string[] } {
  return { username: entry.user, groups: entry.groups };
}

/** The field manager of a write: ?fieldManager, else the User-Agent's product (what the API server does). */
function managerOf(req: IncomingMessage, q: URLSearchParams, operation: 'Update' | 'Apply', d: ResourceDef, version: string) {
  const ua = (req.headers['user-agent'] ?? '').split('/')[0].trim();
  return { name: q.get('fieldManager') || ua || 'unknown', operation, apiVersion: apiVersionOf(d.group, version) };
}

/** What decoding into ObjectMeta would refuse (400, with Go's unmarshal message). */
function checkObjectMeta(d: ResourceDef, meta: unknown): void {
  const typeName = (v: unknown) => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v === 'object' ? 'object' : typeof v);
  const bad = (field: string, v: unknown, want: string) => ApiError.badRequest(
    `${d.kind} in version "v1" cannot be handled as a ${d.kind}: json: cannot unmarshal ${typeName(v)} into Go struct field ${field} of type ${want}`);
  if (meta === undefined || meta === null) return;
  if (typeof meta !== 'object' || Array.isArray(meta)) throw bad(`${d.kind}.metadata`, meta, 'v1.ObjectMeta');
  const m = meta as Obj;
  for (const f of ['name', 'generateName', 'namespace', 'resourceVersion', 'uid']) {
    if (m[f] !== undefined && m[f] !== null && typeof m[f] !== 'string') throw bad(`ObjectMeta.metadata.${f}`, m[f], 'string');
  }
  for (const f of ['labels', 'annotations']) {
    const v = m[f];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'object' || Array.isArray(v)) throw bad(`ObjectMeta.metadata.${f}`, v, 'map[string]string');
    for (const x of Object.values(v)) if (typeof x !== 'string') throw bad(`ObjectMeta.metadata.${f}`, x, 'string');
  }
}

function checkTypeMeta(d: ResourceDef, body: Obj, version: string): void {
  const expected = apiVersionOf(d.group, version);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw ApiError.badRequest('the request body must be a JSON object');
  if (d.crd) {
    // unstructured decoding needs both (typed kinds take them from the URL)
    for (const f of ['kind', 'apiVersion']) {
      if (!body[f]) {
        const text = JSON.stringify(body);
        throw ApiError.badRequest(`the object provided is unrecognized (must be of type ${d.kind}): Object '${f === 'kind' ? 'Kind' : f}' is missing in '${text}' (${text.slice(0, 50)} ...)`);
      }
    }
  }
  if (body.kind !== undefined && body.kind !== d.kind) throw ApiError.badRequest(`${body.kind} in version "${body.apiVersion ?? expected}" cannot be handled as a ${d.kind}: converting to ${d.kind}: unknown conversion`);
  checkObjectMeta(d, body.metadata);
  if (body.apiVersion !== undefined && body.apiVersion !== expected) {
    throw ApiError.badRequest(`the API version in the data (${body.apiVersion}) does not match the expected API version (${expected})`);
  }
}

const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];

async function patch(ctx: ServerContext, req: IncomingMessage, res: ServerResponse, entry: KubeRequest, d: ResourceDef, ver: string,
  namespace: string | undefined, name: string, subresource: string | undefined, q: URLSearchParams): Promise<void> {
  // Custom resources have no strategic-merge patch (no Go struct tags); the API server answers 415.
  const accepted = d.crd ? PATCH_TYPES.filter((t) => !t.startsWith('application/strategic')) : PATCH_TYPES;
  const ct = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  const body = parseBody(await readBody(req), ct, accepted);
  const store = ctx.store;
  const cur = store.get(d, namespace, name);
  if (ct === 'application/apply-patch+yaml') {
    if (!q.get('fieldManager')) {
      throw new ApiError(422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch', {
        group: 'meta.k8s.io', kind: 'PatchOptions', causes: [{ reason: 'FieldValueRequired', message: 'Required value: is required for apply patch', field: 'fieldManager' }],
      });
    }
    if (!cur) {
      checkTypeMeta(d, body, ver);
      body.metadata = { ...(body.metadata ?? {}), name, ...(d.namespaced ? { namespace } : {}) };
      await admit(store, { d, version: ver, operation: 'CREATE', namespace, name, object: present(d, body, ver), dryRun: q.get('dryRun') === 'All', user: userOf(entry) });
      if (q.get('dryRun') === 'All') return send(res, (entry.code = 201), present(d, body, ver));
      const created = store.create(d, body, { http: true, manager: managerOf(req, q, 'Apply', d, ver) });
      return send(res, (entry.code = 201), present(d, created, ver));
    }
  }
  if (!cur) throw ApiError.notFound(d, name);
  const before = present(d, cur, ver);
  const after = ct === 'application/json-patch+json' ? jsonPatch(before, body) : mergePatch(before, body);
  if (typeof after !== 'object' || after === null || Array.isArray(after)) throw ApiError.badRequest('the patched object is not a JSON object');
  after.metadata = { ...(after.metadata ?? {}) };
  if (after.metadata.name !== name) throw ApiError.badRequest(`the name of the object (${after.metadata.name ?? ''}) does not match the name on the URL (${name})`);
  if (d.namespaced) after.metadata.namespace = namespace;
  const operation = ct === 'application/apply-patch+yaml' ? 'Apply' : 'Update';
  const dryRun = q.get('dryRun') === 'All';
  await admit(store, { d, version: ver, operation: 'UPDATE', subresource, namespace, name, object: after, oldObject: before, dryRun, user: userOf(entry) });
  if (dryRun) return send(res, (entry.code = 200), after);
  const updated = store.update(d, after, { http: true, patch: true, statusOnly: subresource === 'status', manager: managerOf(req, q, operation, d, ver) });
  return send(res, (entry.code = 200), present(d, updated, ver));
}

async function tokenReview(ctx: ServerContext, req: IncomingMessage, res: ServerResponse, entry: KubeRequest): Promise<void> {
  const body = parseBody(await readBody(req), req.headers['content-type'] ?? '', ['application/json', 'application/yaml']);
  const spec = body?.spec ?? {};
  if (typeof spec.token !== 'string' || spec.token === '') throw ApiError.badRequest('token is required for TokenReview in authentication');
  send(res, (entry.code = 201), {
    kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1',
    metadata: {}, spec, status: ctx.auth.review(spec),
  });
}
