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
import { Facet, GenContext, facetKey, facetsOf, generationKey, projectFacet } from '../../shared/generation';
import { XdsTypeUrl } from '../../shared/resources';
import { MeshError, WorkerTimeoutError } from '../../shared/errors';
import { ConfigGenToMain } from '../../shared/protocol';
import { createHash } from 'node:crypto';
import { scope } from '../log';

const log = scope('push');
const GROUP = 'group';

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
  /**
   * Derived artefacts computed once per answer and shared by every connection that receives it
   * (the SotW set hash, the framed resources block). Keyed by the producer's own name.
   */
  readonly memo: Map<string, unknown>;
  /**
   * For a wildcard answer assembled from facets (GENERATOR_FACETS) with disjoint names: the facets'
   * own answers, each with its own memo, so framing and hashing are done once per facet entry and
   * composed per answer.
   */
  readonly parts?: ReadonlyArray<{ readonly resources: ReadonlyMap<string, EncodedResource>; readonly memo: Map<string, unknown> }>;
}

export interface GenerationStats {
  jobs: number;
  jobFailures: number;
  cacheHits: number;
  cacheMisses: number;
  sharedInFlight: number;
  /** resolves answered by an existing group (same generation key and subscription) */
  groupHits: number;
  groups: number;
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
  readonly genKey: string;
  readonly name: string;
  /** one resource (named entry; null = does not exist) or the whole set (wildcard entry) */
  readonly value: EncodedResource | null | Map<string, EncodedResource>;
  readonly deps: readonly string[];
  /** live groups built from this entry */
  readonly groups: Set<Group>;
  /** artefacts derived from this entry alone (a facet's framed block and set hash) */
  readonly memo: Map<string, unknown>;
}

/**
 * A group is one answer: a generation key plus a subscription (the wildcard, or one set of names).
 * Every connection with that key and subscription shares it, so a push resolves each distinct
 * answer once, not once per proxy. A group lives until one of its entries is invalidated.
 */
interface Group {
  readonly key: string;
  readonly entries: readonly Entry[];
  readonly resolved: Resolved;
  readonly watchers: Set<string>;
}

/** Order-independent token for a set of names (a subscription), cheap to compare. */
export function subscriptionToken(names: readonly string[] | null): string {
  if (names === null) return '*';
  return createHash('sha1').update([...new Set(names)].sort().join('\n')).digest('hex').slice(0, 20);
}

export class GenerationService {
  private version = 0;
  /** generation key → name (or ALL) → entry */
  private readonly cache = new Map<string, Map<string, Entry>>();
  private entryCount = 0;
  private readonly depIndex = new Map<string, Set<Entry>>();
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly groups = new Map<string, Group>();
  private readonly groupInflight = new Map<string, Promise<Group>>();
  /** changed dependencies per published version (recent ones), to vet late job results */
  private readonly changeLog = new Map<number, Set<string> | 'all'>();
  /** connection → type → the group it was last sent */
  private readonly watched = new Map<string, Map<string, Group>>();
  private nextJobId = 1;
  readonly stats: GenerationStats = {
    jobs: 0, jobFailures: 0, cacheHits: 0, cacheMisses: 0, sharedInFlight: 0, groupHits: 0, groups: 0,
    invalidated: 0, carriedOver: 0, staleResults: 0, lastWorkerEncodeCount: 0, entries: 0,
  };

  constructor(
    private readonly pool: ConfigPool,
    private readonly writer: SnapshotWriter,
    private readonly opts: { timeoutMs: number; retries: number; maxEntries?: number; onJob?: (typeUrl: XdsTypeUrl, ms: number) => void },
  ) {}

  get snapshotVersion(): number { return this.version; }

  /**
   * Switch to a newly published snapshot. `changed` lists the dependency keys that differ from the
   * previous version ('all' drops every entry). Returns the ids of connections that were sent an
   * answer this invalidates.
   */
  setSnapshot(version: number, changed: ReadonlySet<string> | 'all' = 'all'): Set<string> {
    // The service holds a pin on its current version so jobs can always read it.
    if (!this.writer.pin(version)) throw new MeshError('MESH_SNAPSHOT_DECODE', `snapshot version ${version} is not live`);
    if (this.version) this.writer.unpin(this.version);
    this.version = version;
    this.changeLog.set(version, changed === 'all' ? 'all' : new Set(changed));
    for (const v of this.changeLog.keys()) if (v < version - 64) this.changeLog.delete(v);

    const dead = new Set<Entry>();
    if (changed === 'all') for (const byName of this.cache.values()) for (const e of byName.values()) dead.add(e);
    else for (const dep of changed) for (const e of this.depIndex.get(dep) ?? []) dead.add(e);
    const affected = new Set<string>();
    for (const e of dead) {
      for (const g of [...e.groups]) {
        for (const c of g.watchers) affected.add(c);
        this.killGroup(g);
      }
      this.drop(e);
    }
    this.stats.invalidated += dead.size;
    this.stats.carriedOver += this.entryCount;
    this.evictIfNeeded();
    this.stats.entries = this.entryCount;
    this.stats.groups = this.groups.size;
    return affected;
  }

  /** Record that connection `conId` was last sent `resolved` for `typeUrl`. */
  watch(conId: string, typeUrl: string, resolved: Resolved): void {
    const group = resolved.memo.get(GROUP) as Group | undefined;
    let perType = this.watched.get(conId);
    if (!perType) this.watched.set(conId, (perType = new Map()));
    const prev = perType.get(typeUrl);
    if (prev === group) return;
    prev?.watchers.delete(conId);
    if (group) { perType.set(typeUrl, group); group.watchers.add(conId); } else perType.delete(typeUrl);
  }

  /** Forget a connection's watches (stream closed, or one type unsubscribed). */
  unwatch(conId: string, typeUrl?: string): void {
    const perType = this.watched.get(conId);
    if (!perType) return;
    for (const [t, g] of perType) {
      if (typeUrl !== undefined && t !== typeUrl) continue;
      g.watchers.delete(conId);
      perType.delete(t);
    }
    if (perType.size === 0) this.watched.delete(conId);
  }

  /**
   * The answer for (context, type, names) at the current snapshot. names null = the whole wildcard
   * set. `token` identifies the subscription (subscriptionToken(names)); callers that keep it on
   * their watch state avoid recomputing it.
   */
  async resolve(ctx: GenContext, typeUrl: XdsTypeUrl, names: readonly string[] | null, token = subscriptionToken(names)): Promise<Resolved> {
    const genKey = generationKey(ctx, typeUrl);
    const gk = `${genKey}\u0001${token}`;
    for (let round = 0; round < MAX_RESOLVE_ROUNDS; round++) {
      const existing = this.groups.get(gk);
      if (existing) { this.stats.groupHits++; return existing.resolved; }
      let pending = this.groupInflight.get(gk);
      if (pending) this.stats.sharedInFlight++;
      else {
        pending = this.buildGroup(gk, ctx, typeUrl, names);
        this.groupInflight.set(gk, pending);
        pending.then(() => {}, () => {}).finally(() => { if (this.groupInflight.get(gk) === pending) this.groupInflight.delete(gk); });
      }
      const g = await pending;
      if (this.groups.get(gk) === g) return g.resolved;
      // invalidated while we waited: go round again
    }
    throw new MeshError('MESH_GENERATION_FAILED', `snapshot changed ${MAX_RESOLVE_ROUNDS} times while resolving ${typeUrl}`);
  }

  private async buildGroup(gk: string, ctx: GenContext, typeUrl: XdsTypeUrl, names: readonly string[] | null): Promise<Group> {
    const unique = names === null ? [ALL] : [...new Set(names)];
    const facets = facetsOf(ctx.generator, typeUrl);
    const keys = facets.map((f) => facetKey(ctx, typeUrl, f));
    for (let round = 0; round < MAX_RESOLVE_ROUNDS; round++) {
      const waits: Promise<void>[] = [];
      facets.forEach((facet, fi) => {
        const fk = keys[fi]!;
        const byName = this.cache.get(fk);
        const toGenerate: string[] = [];
        for (const n of unique) {
          if (byName?.has(n)) { this.stats.cacheHits++; continue; }
          const pending = this.inflight.get(`${fk}|${n}`);
          if (pending) { this.stats.sharedInFlight++; waits.push(pending); continue; }
          toGenerate.push(n);
        }
        if (toGenerate.length > 0) waits.push(this.generate(this.version, ctx, typeUrl, facet, names === null ? null : toGenerate, fk, toGenerate));
      });
      await Promise.all(waits);
      // every facet's entries, or go round again (a snapshot published meanwhile invalidated some)
      const perFacet = keys.map((fk) => { const m = this.cache.get(fk); return unique.map((n) => m?.get(n)); });
      if (perFacet.some((list) => list.some((e) => e === undefined))) continue;
      const entries = perFacet.flat() as Entry[];
      const resources = new Map<string, EncodedResource>();
      const missing: string[] = [];
      let parts: Resolved['parts'];
      if (names === null) {
        let total = 0;
        for (const [e] of perFacet as Entry[][]) {
          const m = e!.value as Map<string, EncodedResource>;
          total += m.size;
          for (const [n, r] of m) if (!resources.has(n)) resources.set(n, r); // first facet wins a clash
        }
        if (facets.length > 1 && total === resources.size) {
          parts = (perFacet as Entry[][]).map(([e]) => ({ resources: e!.value as Map<string, EncodedResource>, memo: e!.memo }));
        }
      } else {
        unique.forEach((n, i) => {
          const found = (perFacet as Entry[][]).map((list) => list[i]!.value as EncodedResource | null).find((v) => v);
          if (found) resources.set(n, found); else missing.push(n);
        });
      }
      const memo = new Map<string, unknown>();
      const group: Group = { key: gk, entries, watchers: new Set(), resolved: { snapshotVersion: this.version, resources, missing, memo, ...(parts ? { parts } : {}) } };
      memo.set(GROUP, group);
      for (const e of entries) e.groups.add(group);
      this.groups.set(gk, group);
      this.stats.groups = this.groups.size;
      return group;
    }
    throw new MeshError('MESH_GENERATION_FAILED', `snapshot changed ${MAX_RESOLVE_ROUNDS} times while resolving ${typeUrl}`);
  }

  private killGroup(g: Group): void {
    if (this.groups.get(g.key) === g) this.groups.delete(g.key);
    for (const e of g.entries) e.groups.delete(g);
    // watchers keep their reference until they re-resolve; they are re-pointed by watch()
  }

  private generate(version: number, ctx: GenContext, typeUrl: XdsTypeUrl, facet: Facet, names: string[] | null, genKey: string, slots: string[]): Promise<void> {
    this.stats.cacheMisses += slots.length;
    const job = this.runWithRetry(version, ctx, typeUrl, facet, names).then((res) => {
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
        if (!usable(res.deps)) { this.stats.staleResults++; return; }
        const map = new Map<string, EncodedResource>();
        for (const r of res.resources) map.set(r.name, { name: r.name, hash: r.hash, any: buf.subarray(r.offset, r.offset + r.length) });
        this.store(genKey, ALL, map, res.deps);
        return;
      }
      const byName = new Map(res.resources.map((r) => [r.name, r]));
      const missingDeps = new Map(res.missing.map((m) => [m.name, m.deps]));
      for (const name of names) {
        const r = byName.get(name);
        const deps = depsOf(r ? r.deps : missingDeps.get(name) ?? []);
        if (!usable(deps)) { this.stats.staleResults++; continue; }
        this.store(genKey, name, r ? { name, hash: r.hash, any: buf.subarray(r.offset, r.offset + r.length) } : null, deps);
      }
    }).finally(() => { for (const n of slots) if (this.inflight.get(`${genKey}|${n}`) === job) this.inflight.delete(`${genKey}|${n}`); });
    for (const n of slots) this.inflight.set(`${genKey}|${n}`, job);
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

  private store(genKey: string, name: string, value: Entry['value'], deps: readonly string[]): void {
    let byName = this.cache.get(genKey);
    if (!byName) this.cache.set(genKey, (byName = new Map()));
    const old = byName.get(name);
    if (old) {
      for (const g of [...old.groups]) this.killGroup(g);
      this.drop(old);
    }
    const entry: Entry = { genKey, name, value, deps, groups: new Set(), memo: new Map() };
    byName.set(name, entry);
    this.entryCount++;
    for (const d of deps) {
      let set = this.depIndex.get(d);
      if (!set) this.depIndex.set(d, (set = new Set()));
      set.add(entry);
    }
    this.stats.entries = this.entryCount;
  }

  private drop(e: Entry): void {
    const byName = this.cache.get(e.genKey);
    if (byName?.get(e.name) !== e) return;
    byName.delete(e.name);
    if (byName.size === 0) this.cache.delete(e.genKey);
    this.entryCount--;
    for (const d of e.deps) {
      const set = this.depIndex.get(d);
      set?.delete(e);
      if (set && set.size === 0) this.depIndex.delete(d);
    }
  }

  /** Bound memory (PILOT_XDS_CACHE_SIZE): drop entries no live group uses, oldest first. */
  private evictIfNeeded(): void {
    const max = this.opts.maxEntries ?? 60_000;
    if (this.entryCount <= max) return;
    for (const byName of [...this.cache.values()]) {
      for (const e of [...byName.values()]) {
        if (this.entryCount <= max) return;
        if (e.groups.size === 0) this.drop(e);
      }
    }
  }

  private async runWithRetry(version: number, ctx: GenContext, typeUrl: XdsTypeUrl, facet: Facet, names: string[] | null): Promise<ConfigGenToMain> {
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
            context: projectFacet(ctx, facet), generator: ctx.generator, names,
            ...(facet.name ? { facet: facet.name } : {}),
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
