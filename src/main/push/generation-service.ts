/**
 * GenerationService: the main thread's door to the config pool. For a (context, type, names) it
 * returns encoded resources of the current snapshot, from cache or from one worker job per distinct
 * generation key; concurrent requests for the same key and name share the in-flight job.
 *
 * Cache entries are keyed by (snapshot version, generation key, resource name). A failed or
 * timed-out job is retried; when retries run out the caller gets a GenerationError and the
 * connection schedules a later resend (never a lost push, never a crash).
 */
import { ConfigPool } from '../pools/config-pool';
import { SnapshotWriter } from '../../shared/snapshot/snapshot-writer';
import { GenContext, generationKey, projectContext } from '../../shared/generation';
import { XdsTypeUrl } from '../../shared/resources';
import { MeshError, WorkerTimeoutError } from '../../shared/errors';
import { ConfigGenToMain } from '../../shared/protocol';
import { scope } from '../log';

const log = scope('push');

export interface EncodedResource {
  readonly name: string;
  readonly hash: string;
  /** a complete encoded google.protobuf.Any */
  readonly any: Uint8Array;
}

export interface Resolved {
  readonly snapshotVersion: number;
  readonly resources: ReadonlyMap<string, EncodedResource>;
  /** names that were asked for and do not exist */
  readonly missing: readonly string[];
}

export interface GenerationStats {
  jobs: number;
  jobFailures: number;
  cacheHits: number;
  cacheMisses: number;
  sharedInFlight: number;
  lastWorkerEncodeCount: number;
}

/** ALL marks the entry holding a whole wildcard response. */
const ALL = '\u0000*';

interface WildcardEntry { resources: Map<string, EncodedResource> }

export class GenerationService {
  private version = 0;
  private cache = new Map<string, EncodedResource | null | WildcardEntry>();
  private inflight = new Map<string, Promise<void>>();
  private nextJobId = 1;
  readonly stats: GenerationStats = { jobs: 0, jobFailures: 0, cacheHits: 0, cacheMisses: 0, sharedInFlight: 0, lastWorkerEncodeCount: 0 };

  constructor(
    private readonly pool: ConfigPool,
    private readonly writer: SnapshotWriter,
    private readonly opts: { timeoutMs: number; retries: number },
  ) {}

  get snapshotVersion(): number { return this.version; }

  /** Switch to a newly published snapshot; entries of older versions are dropped. */
  setSnapshot(version: number): void {
    // The service holds a pin on its current version so in-flight and future jobs can read it.
    if (!this.writer.pin(version)) throw new MeshError('MESH_SNAPSHOT_DECODE', `snapshot version ${version} is not live`);
    if (this.version) this.writer.unpin(this.version);
    this.version = version;
    this.cache = new Map();
    this.inflight = new Map();
  }

  /** names null = the whole wildcard set of the type. */
  async resolve(ctx: GenContext, typeUrl: XdsTypeUrl, names: readonly string[] | null): Promise<Resolved> {
    const version = this.version;
    const gkey = `${version}|${generationKey(ctx, typeUrl)}`;
    if (names === null) {
      const key = `${gkey}|${ALL}`;
      if (this.cache.has(key)) this.stats.cacheHits++;
      else {
        const pending = this.inflight.get(key);
        if (pending) this.stats.sharedInFlight++;
        await (pending ?? this.generate(version, ctx, typeUrl, null, [key], gkey));
      }
      const entry = this.cache.get(key) as WildcardEntry | undefined;
      return { snapshotVersion: version, resources: entry?.resources ?? new Map(), missing: [] };
    }
    const unique = [...new Set(names)];
    const toGenerate: string[] = [];
    const waits: Promise<void>[] = [];
    for (const name of unique) {
      const key = `${gkey}|${name}`;
      if (this.cache.has(key)) { this.stats.cacheHits++; continue; }
      const pending = this.inflight.get(key);
      if (pending) { this.stats.sharedInFlight++; waits.push(pending); continue; }
      toGenerate.push(name);
    }
    if (toGenerate.length > 0) waits.push(this.generate(version, ctx, typeUrl, toGenerate, toGenerate.map((n) => `${gkey}|${n}`), gkey));
    await Promise.all(waits);
    const resources = new Map<string, EncodedResource>();
    const missing: string[] = [];
    for (const name of unique) {
      const e = this.cache.get(`${gkey}|${name}`) as EncodedResource | null | undefined;
      if (e) resources.set(name, e); else missing.push(name);
    }
    return { snapshotVersion: version, resources, missing };
  }

  private generate(version: number, ctx: GenContext, typeUrl: XdsTypeUrl, names: string[] | null, keys: string[], gkey: string): Promise<void> {
    this.stats.cacheMisses += keys.length;
    const job = this.runWithRetry(version, ctx, typeUrl, names).then((res) => {
      if (version !== this.version) return; // a newer snapshot replaced the cache meanwhile
      const buf = new Uint8Array(res.buffer);
      const map = new Map<string, EncodedResource>();
      for (const r of res.resources) map.set(r.name, { name: r.name, hash: r.hash, any: buf.subarray(r.offset, r.offset + r.length) });
      if (names === null) this.cache.set(`${gkey}|${ALL}`, { resources: map });
      else for (const n of names) this.cache.set(`${gkey}|${n}`, map.get(n) ?? null);
      for (const e of res.errors) log.error('resource generation failed', { type: typeUrl, code: e.code, error: e.message });
    }).finally(() => { for (const k of keys) this.inflight.delete(k); });
    for (const k of keys) this.inflight.set(k, job);
    return job;
  }

  private async runWithRetry(version: number, ctx: GenContext, typeUrl: XdsTypeUrl, names: string[] | null): Promise<ConfigGenToMain> {
    const root = this.writer.pin(version);
    if (!root) throw new MeshError('MESH_SNAPSHOT_DECODE', `snapshot version ${version} is gone`);
    try {
      let lastErr: unknown;
      for (let attempt = 0; attempt <= this.opts.retries; attempt++) {
        const ac = new AbortController();
        const timer = setTimeout(() => ac.abort(new WorkerTimeoutError(`generation job timed out after ${this.opts.timeoutMs} ms`)), this.opts.timeoutMs);
        try {
          this.stats.jobs++;
          const res = await this.pool.run({
            id: this.nextJobId++, snapshotVersion: version, root, typeUrl,
            context: projectContext(ctx, typeUrl), generator: ctx.generator, names,
          }, ac.signal);
          this.stats.lastWorkerEncodeCount = res.workerEncodeCount;
          return res;
        } catch (e) {
          lastErr = e;
          this.stats.jobFailures++;
          log.warn('generation job failed', { type: typeUrl, attempt, error: e instanceof Error ? e.message : String(e) });
        } finally {
          clearTimeout(timer);
        }
      }
      throw new MeshError('MESH_WORKER_FAILED', `generation failed after ${this.opts.retries + 1} attempts: ${lastErr instanceof Error ? lastErr.message : String(lastErr)}`);
    } finally {
      this.writer.unpin(version);
    }
  }
}
