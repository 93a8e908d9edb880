/**
 * Object writes through the Kubernetes API for the load tester: create-or-replace (idempotent),
 * replace with the resourceVersion of our last write (one GET and a retry on 409 Conflict),
 * delete, pod status, all over KubeClient (the real client-node transport). Transient failures
 * (no connection, 429, 5xx) are retried with backoff; anything else is an error naming the object.
 * Every written object is remembered so cleanup can undo exactly what the run did.
 */
import { KubeClient, KubeObject, KubeStatusError, isStatus } from '../../src/main/kube/client';
import { MeshObject } from '../scenario/render';

/** URL plural of each kind the renderer produces. */
const PLURALS: Readonly<Record<string, string>> = {
  Namespace: 'namespaces', Service: 'services', Pod: 'pods', EndpointSlice: 'endpointslices',
  VirtualService: 'virtualservices', DestinationRule: 'destinationrules', Sidecar: 'sidecars', ServiceEntry: 'serviceentries',
};

export interface WriteCounts { created: number; replaced: number; updated: number; deleted: number; requests: number; retries: number }

export interface ObjectRef { apiVersion: string; kind: string; namespace?: string; name: string }

export function refOf(o: MeshObject): ObjectRef {
  return { apiVersion: o.apiVersion, kind: o.kind, namespace: o.metadata.namespace, name: o.metadata.name };
}

export function keyOfRef(r: ObjectRef): string {
  return `${r.kind}/${r.namespace ?? ''}/${r.name}`;
}

/** `/api/v1/namespaces/ns/pods` (collection) or with the name (object). */
export function apiPath(r: Omit<ObjectRef, 'name'> & { name?: string }): string {
  const plural = PLURALS[r.kind];
  if (!plural) throw new Error(`load-test: no API path known for kind ${r.kind}`);
  const base = r.apiVersion.includes('/') ? `/apis/${r.apiVersion}` : `/api/${r.apiVersion}`;
  const ns = r.kind === 'Namespace' || !r.namespace ? '' : `/namespaces/${encodeURIComponent(r.namespace)}`;
  return `${base}${ns}/${plural}${r.name ? `/${encodeURIComponent(r.name)}` : ''}`;
}

const TRANSIENT = (e: unknown) => {
  const code = (e as KubeStatusError).statusCode;
  return code === 0 || code === 429 || code === 500 || code === 502 || code === 503 || code === 504;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` over `items`, at most `limit` at a time; rejects with the first error (after the in-flight ones settle). */
export async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const lane = async () => {
    while (failed === undefined && next < items.length) {
      const item = items[next++]!;
      try { await fn(item); } catch (e) { failed ??= e; }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  if (failed !== undefined) throw failed;
}

export class ApiWriter {
  readonly counts: WriteCounts = { created: 0, replaced: 0, updated: 0, deleted: 0, requests: 0, retries: 0 };
  /** every object this run wrote (key → ref), in first-write order */
  readonly written = new Map<string, ObjectRef>();
  private readonly rv = new Map<string, string>();
  /** set by stop(): requests fail at once (an interrupted setup), until resume() (cleanup) */
  private stopped = false;

  constructor(readonly client: KubeClient, private readonly attempts = 5) {}

  stop(): void { this.stopped = true; }
  resume(): void { this.stopped = false; }

  /** One request, retried on transient failures; errors name the object. */
  async call<T = KubeObject>(method: string, path: string, what: string, body?: unknown, contentType?: string): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      if (this.stopped) throw new Error(`${what}: interrupted`);
      this.counts.requests++;
      try {
        return await this.client.request<T>(method, path, body, contentType);
      } catch (e) {
        if (attempt < this.attempts && TRANSIENT(e)) {
          this.counts.retries++;
          await sleep(100 * 2 ** attempt);
          continue;
        }
        const err = e as KubeStatusError;
        err.message = `${what}: ${err.message}`;
        throw err;
      }
    }
  }

  /** Creates the object, or replaces it when it exists (Pods: deleted and created again, their spec is immutable). */
  async apply(obj: MeshObject): Promise<KubeObject> {
    const ref = refOf(obj);
    const what = `${obj.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
    this.written.set(keyOfRef(ref), ref);
    try {
      const created = await this.call('POST', apiPath({ ...ref, name: undefined }), `create ${what}`, obj);
      this.counts.created++;
      this.remember(ref, created);
      return created;
    } catch (e) {
      if (!isStatus(e, 409)) throw e;
    }
    if (obj.kind === 'Pod') {
      await this.delete(ref, true);
      const created = await this.call('POST', apiPath({ ...ref, name: undefined }), `create ${what}`, obj);
      this.counts.replaced++;
      this.remember(ref, created);
      return created;
    }
    return this.replace(obj, 'replaced');
  }

  /**
   * Replaces the object with `obj` (PUT), preconditioned on the resourceVersion of our last write;
   * a Conflict re-reads it and tries again, NotFound creates it. `counter`: which count a
   * successful PUT adds to (`replaced`: it was there before the run).
   */
  async replace(obj: MeshObject, counter: 'updated' | 'replaced' = 'updated'): Promise<KubeObject> {
    const ref = refOf(obj);
    const key = keyOfRef(ref);
    const what = `${obj.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
    this.written.set(key, ref);
    for (let attempt = 1; ; attempt++) {
      let rv = this.rv.get(key);
      if (rv === undefined) {
        try {
          rv = (await this.call('GET', apiPath(ref), `read ${what}`)).metadata.resourceVersion ?? '';
        } catch (e) {
          if (!isStatus(e, 404)) throw e;
          const created = await this.call('POST', apiPath({ ...ref, name: undefined }), `create ${what}`, obj);
          this.counts.created++;
          this.remember(ref, created);
          return created;
        }
      }
      try {
        const body = { ...obj, metadata: { ...obj.metadata, resourceVersion: rv } };
        const updated = await this.call('PUT', apiPath(ref), `replace ${what}`, body);
        this.counts[counter]++;
        this.remember(ref, updated);
        return updated;
      } catch (e) {
        this.rv.delete(key);
        if (attempt >= this.attempts || !(isStatus(e, 409) || isStatus(e, 404))) throw e;
      }
    }
  }

  /** Writes `status` through the status subresource (merge patch): the API server drops status on create. */
  async patchStatus(ref: ObjectRef, status: unknown): Promise<void> {
    const what = `status of ${ref.kind} ${ref.namespace}/${ref.name}`;
    const res = await this.call(`PATCH`, `${apiPath(ref)}/status`, `write ${what}`, { status }, 'application/merge-patch+json');
    this.remember(ref, res);
  }

  /** Deletes the object; a missing one is fine. `now`: grace period 0 (Pods). */
  async delete(ref: ObjectRef, now = false): Promise<void> {
    const what = `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
    try {
      await this.call('DELETE', apiPath(ref), `delete ${what}`, now ? { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0 } : undefined);
      this.counts.deleted++;
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
    }
    this.rv.delete(keyOfRef(ref));
  }

  /** Forget an object deleted on purpose (churn): cleanup need not delete it again. */
  forget(ref: ObjectRef): void {
    this.written.delete(keyOfRef(ref));
  }

  private remember(ref: ObjectRef, stored: KubeObject | undefined): void {
    const rv = stored?.metadata?.resourceVersion;
    if (rv) this.rv.set(keyOfRef(ref), rv); else this.rv.delete(keyOfRef(ref));
  }
}
