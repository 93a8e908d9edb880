/**
 * GenerationService: the main thread's door to the config pool. For a (context, type, names) it
 * returns encoded resources of the current snapshot, from cache or from one worker job per distinct
 * generation key; concurrent requests for the same key and name share the in-flight job.
 *
 * Incremental: every cached entry carries the dependency keys its generation read (recorded by the
 * snapshot view in the worker). Publishing a snapshot invalidates exactly the entries whose
 * dependencies changed; the rest carry over to the new version. Connections register which entries
 * they were last sent (`watch`), so `setSnapshot` can name the connections a change affects.
 *
 * A failed or timed-out job is retried; when retries run out the caller gets an error and the
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
  /** cache entry keys this answer came from (for `watch`) */
  readonly keys: readonly string[];
}

export interface GenerationStats {
  jobs: number;
  jobFailures: number;
  cacheHits: number;
  cacheMisses: number;
  sharedInFlight: number;
  invalidated: number;
  carriedOver: number;
  staleResults: number;
  lastWorkerEncodeCount: number;
  entries: number;
}

/** Marks the entry holding a whole wildcard response. */
const ALL = '\u0000*';
/** Resolves that lose a race with snapshot publication this many times in a row give up. */
const MAX_RESOLVE_ROUNDS = 8;

interface Entry {
  /** one resource (named entry; null = does not exist) or the whole set (wildcard entry) */
  readonly value: EncodedResource | null | Map<string, EncodedResource>;
  readonly deps: readonly string[];
}

export class GenerationService {
  private version = 0;
  private readonly entries = new Map<string, Entry>();
  private readonly depIndex = new Map<string, Set<string>>();
  private readonly inflight = new Map<string, Promise<void>>();
  /** changed dependencies per published version (recent ones), to vet late job results */
  private readonly changeLog = new Map<number, Set<string> | 'all'>();
  /** entry key → connections that were last sent it; connection → its keys per type */
  private readonly watchers = new Map<string, Set<string>>();
  private readonly watched = new Map<string, Map<string, readonly string[]>>();
  private nextJobId = 1;
  readonly stats: GenerationStats = { jobs: 0, jobFailures: 0, cacheHits: 0, cacheMisses: 0, sharedInFlight: 0, invalidated: 0, carriedOver: 0, staleResults: 0, lastWorkerEncodeCount: 0, entries: 0 };

  constructor(
    private readonly pool: ConfigPool,
    private readonly writer: SnapshotWriter,
    private readonly opts: { timeoutMs: number; retries: number; maxEntries?: number; onJob?: (typeUrl: XdsTypeUrl, ms: number) => void },
  ) {}

  get snapshotVersion(): number { return this.version; }

  /**
   * Switch to a newly published snapshot. `changed` lists the dependency keys that differ from the
   * previous version ('all' drops every entry). Returns the ids of connections that were sent an
   * entry this invalidates.
   */
  setSnapshot(version: number, changed: ReadonlySet<string> | 'all' = 'all'): Set<string> {
    // The service holds a pin on its current version so jobs can always read it.
    if (!this.writer.pin(version)) throw new MeshError('MESH_SNAPSHOT_DECODE', `snapshot version ${version} is not live`);
    if (this.version) this.writer.unpin(this.version);
    this.version = version;
    this.changeLog.set(version, changed === 'all' ? 'all' : new Set(changed));
    for (const v of this.changeLog.keys()) if (v < version - 64) this.changeLog.delete(v);

    const dead = new Set<string>();
    if (changed === 'all') for (const k of this.entries.keys()) dead.add(k);
    else for (const dep of changed) for (const k of this.depIndex.get(dep) ?? []) dead.add(k);
    const affected = new Set<string>();
    for (const key of dead) {
      this.drop(key);
      for (const c of this.watchers.get(key) ?? []) affected.add(c);
    }
    this.stats.invalidated += dead.size;
    this.stats.carriedOver += this.entries.size;
    this.evictIfNeeded();
    this.stats.entries = this.entries.size;
    return affected;
  }

  /** Record that connection `conId` was last sent `keys` for `typeUrl`. */
  watch(conId: string, typeUrl: string, keys: readonly string[]): void {
    let perType = this.watched.get(conId);
    if (!perType) this.watched.set(conId, (perType = new Map()));
    for (const k of perType.get(typeUrl) ?? []) this.watchers.get(k)?.delete(conId);
    perType.set(typeUrl, keys);
    for (const k of keys) {
      let set = this.watchers.get(k);
      if (!set) this.watchers.set(k, (set = new Set()));
      set.add(conId);
    }
  }

  /** Forget a connection's watches (stream closed or type unsubscribed). */
  unwatch(conId: string, typeUrl?: string): void {
    const perType = this.watched.get(conId);
    if (!perType) return;
    for (const [t, keys] of perType) {
      if (typeUrl !== undefined && t !== typeUrl) continue;
      for (const k of keys) {
        const set = this.watchers.get(k);
        set?.delete(conId);
        if (set && set.size === 0) this.watchers.delete(k);
      }
      perType.delete(t);
    }
    if (perType.size === 0) this.watched.delete(conId);
  }

  /** names null = the whole wildcard set of the type. */
  async resolve(ctx: GenContext, typeUrl: XdsTypeUrl, names: readonly string[] | null): Promise<Resolved> {
    const base = generationKey(ctx, typeUrl);
    const unique = names === null ? null : [...new Set(names)];
    const keys = unique === null ? [`${base}|${ALL}`] : unique.map((n) => `${base}|${n}`);
    for (let round = 0; round < MAX_RESOLVE_ROUNDS; round++) {
      const version = this.version;
      const toGenerate: number[] = [];
      const waits: Promise<void>[] = [];
      keys.forEach((key, i) => {
        if (this.entries.has(key)) { this.stats.cacheHits++; return; }
        const pending = this.inflight.get(key);
        if (pending) { this.stats.sharedInFlight++; waits.push(pending); return; }
        toGenerate.push(i);
      });
      if (toGenerate.length > 0) {
        const genNames = unique === null ? null : toGenerate.map((i) => unique[i]!);
        waits.push(this.generate(version, ctx, typeUrl, genNames, toGenerate.map((i) => keys[i]!)));
      }
      await Promise.all(waits);
      // A snapshot published meanwhile may have invalidated what we waited for: go round again.
      if (!keys.every((k) => this.entries.has(k))) continue;
      const resources = new Map<string, EncodedResource>();
      const missing: string[] = [];
      if (unique === null) {
        for (const [n, r] of this.entries.get(keys[0]!)!.value as Map<string, EncodedResource>) resources.set(n, r);
      } else {
        unique.forEach((n, i) => {
          const v = this.entries.get(keys[i]!)!.value as EncodedResource | null;
          if (v) resources.set(n, v); else missing.push(n);
        });
      }
      return { snapshotVersion: this.version, resources, missing, keys };
    }
    throw new MeshError('MESH_GENERATION_FAILED', `snapshot changed ${MAX_RESOLVE_ROUNDS} times while resolving ${typeUrl}`);
  }

  private generate(version: number, ctx: GenContext, typeUrl: XdsTypeUrl, names: string[] | null, keys: string[]): Promise<void> {
    this.stats.cacheMisses += keys.length;
    const job = this.runWithRetry(version, ctx, typeUrl, names).then((res) => {
      if (res.errors.length > 0) {
        // Leaving a broken resource out would delete it from SotW clients (absence = removal):
        // fail the whole answer instead, so proxies keep their last good config and retry later.
        for (const e of res.errors) log.error('resource generation failed', { type: typeUrl, code: e.code, error: e.message });
        throw new MeshError('MESH_GENERATION_FAILED', `${res.errors.length} resource(s) of ${typeUrl} failed to generate: ${res.errors[0]!.message}`);
      }
      const since = this.changedSince(version);
      const usable = (deps: readonly string[]) => since !== 'all' && !deps.some((d) => since.has(d));
      const depsOf = (idx: readonly number[]) => idx.map((i) => res.deps[i]!);
      const buf = new Uint8Array(res.buffer);
      if (names === null) {
        const deps = res.deps;
        if (!usable(deps)) { this.stats.staleResults++; return; }
        const map = new Map<string, EncodedResource>();
        for (const r of res.resources) map.set(r.name, { name: r.name, hash: r.hash, any: buf.subarray(r.offset, r.offset + r.length) });
        this.store(keys[0]!, { value: map, deps });
        return;
      }
      const byName = new Map(res.resources.map((r) => [r.name, r]));
      const missingDeps = new Map(res.missing.map((m) => [m.name, m.deps]));
      names.forEach((name, i) => {
        const r = byName.get(name);
        const deps = depsOf(r ? r.deps : missingDeps.get(name) ?? []);
        if (!usable(deps)) { this.stats.staleResults++; return; }
        this.store(keys[i]!, { value: r ? { name, hash: r.hash, any: buf.subarray(r.offset, r.offset + r.length) } : null, deps });
      });
    }).finally(() => { for (const k of keys) if (this.inflight.get(k) === job) this.inflight.delete(k); });
    for (const k of keys) this.inflight.set(k, job);
    return job;
  }

  /** Union of dependency changes published after `version`. */
  private changedSince(version: number): Set<string> | 'all' {
    const out = new Set<string>();
    for (let v = version + 1; v <= this.version; v++) {
      const c = this.changeLog.get(v);
      if (c === undefined || c === 'all') return 'all';
      for (const d of c) out.add(d);
    }
    return out;
  }

  private store(key: string, entry: Entry): void {
    this.drop(key);
    this.entries.set(key, entry);
    for (const d of entry.deps) {
      let set = this.depIndex.get(d);
      if (!set) this.depIndex.set(d, (set = new Set()));
      set.add(key);
    }
    this.stats.entries = this.entries.size;
  }

  private drop(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    for (const d of e.deps) {
      const set = this.depIndex.get(d);
      set?.delete(key);
      if (set && set.size === 0) this.depIndex.delete(d);
    }
  }

  /** Bound memory (PILOT_XDS_CACHE_SIZE): drop entries no connection holds, oldest first. */
  private evictIfNeeded(): void {
    const max = this.opts.maxEntries ?? 60_000;
    if (this.entries.size <= max) return;
    for (const key of this.entries.keys()) {
      if (this.entries.size <= max) break;
      if (!this.watchers.get(key)?.size) this.drop(key);
    }
  }

  private async runWithRetry(version: number, ctx: GenContext, typeUrl: XdsTypeUrl, names: string[] | null): Promise<ConfigGenToMain> {
    const root = this.writer.pin(version);
    if (!root) throw new MeshError('MESH_SNAPSHOT_DECODE', `snapshot version ${version} is gone`);
    try {
      let lastErr: unknown;
      for (let attempt = 0; attempt <= this.opts.retries; attempt++) {
        const ac = new AbortController();
        const timer = setTimeout(() => ac.abort(new WorkerTimeoutError(`generation job timed out after ${this.opts.timeoutMs} ms`)), this.opts.timeoutMs);
        const t0 = performance.now();
        try {
          this.stats.jobs++;
          const res = await this.pool.run({
            id: this.nextJobId++, snapshotVersion: version, root, typeUrl,
            context: projectContext(ctx, typeUrl), generator: ctx.generator, names,
          }, ac.signal);
          this.stats.lastWorkerEncodeCount = res.workerEncodeCount;
          this.opts.onJob?.(typeUrl, performance.now() - t0);
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
