/**
 * Incremental ADS (DeltaAggregatedResources). Per-resource versions are content hashes; a response
 * carries only resources whose hash the client does not hold, plus `removed_resources`.
 * `initial_resource_versions` on a type's first request seeds what the client holds, so a
 * reconnecting client receives only what changed. Subscription changes are honoured even on a
 * stale nonce (xDS spec); a new subscription is always answered.
 */
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, isWildcardType, isXdsTypeUrl } from '../../shared/resources';
import { XdsConnection } from './connection';
import { DeltaRequest, isNack, proxyFromFirstRequest } from './request';
import { WatchState, newWatch, updateToken } from './subscription';
import { deltaBlock, deltaResponse, memo } from './response';
import { EncodedResource, Resolved } from '../push/generation-service';
import { scope } from '../log';

const log = scope('ads');

export class DeltaConnection extends XdsConnection {
  readonly kind = 'delta' as const;

  handleRequest(req: DeltaRequest): void {
    if (!this.initialized) this.init(proxyFromFirstRequest(req.node));
    void this.enqueue(() => this.process(req));
  }

  private async process(req: DeltaRequest): Promise<void> {
    const type = req.type_url;
    if (!isXdsTypeUrl(type)) {
      log.warn('unsupported type requested', { conId: this.conId, type });
      return;
    }
    let w = this.watches.get(type);
    const first = !w;
    if (!w) {
      w = newWatch(type);
      this.watches.set(type, w);
      for (const [name, version] of Object.entries(req.initial_resource_versions ?? {})) w.sent.set(name, version);
      // legacy wildcard: a first CDS/LDS request that names nothing
      if (isWildcardType(type) && (req.resource_names_subscribe ?? []).length === 0) w.wildcard = true;
    }
    const newly = new Set<string>();
    for (const n of req.resource_names_subscribe ?? []) {
      if (n === '*') { if (!w.wildcard) { w.wildcard = true; newly.add('*'); } continue; }
      if (!w.names.has(n)) { w.names.add(n); newly.add(n); }
    }
    if (first) {
      // A reconnecting client declares what it holds: a name it subscribes to together with its
      // version is known, not new, so only a changed version (or its absence) is sent for it.
      for (const n of Object.keys(req.initial_resource_versions ?? {})) newly.delete(n);
    }
    for (const n of req.resource_names_unsubscribe ?? []) {
      if (n === '*') { w.wildcard = false; continue; }
      w.names.delete(n);
      if (!w.wildcard) { w.sent.delete(n); w.mirror = undefined; } // the client dropped it
    }
    if (first || (req.resource_names_subscribe ?? []).length > 0 || (req.resource_names_unsubscribe ?? []).length > 0) updateToken(w);
    if (isNack(req.error_detail)) {
      const msg = req.error_detail.message ?? `code ${req.error_detail.code}`;
      w.lastError = msg;
      this.deps.callbacks.onNack?.(this, type, msg);
      log.warn('NACK', { conId: this.conId, type, nonce: req.response_nonce, error: msg });
    } else if (req.response_nonce !== '' && req.response_nonce === w.nonceSent) {
      w.nonceAcked = req.response_nonce;
      w.versionAcked = w.versionSent;
      w.lastError = '';
      w.ackedAt = Date.now();
      this.deps.callbacks.onAck?.(this, type, w.versionSent);
    } else if (req.response_nonce !== '') {
      this.deps.callbacks.onExpiredNonce?.(this, type);
    }
    if (first || newly.size > 0) await this.pushType(w, true, newly);
  }

  protected async sendType(w: WatchState, force: boolean, newly: ReadonlySet<string> = new Set()): Promise<void> {
    const { names, token } = this.resolveArgs(w);
    const res = await this.deps.generation.resolve(this.context(), w.typeUrl, names, token);
    this.noteUnservedSecrets(w, res.missing);
    this.deps.generation.watch(this.conId, w.typeUrl, res);
    // EDS of clusters that the CDS step of this push changed goes out again (Envoy re-warms them)
    if (w.typeUrl === ENDPOINT_TYPE_URL && this.clustersToRefresh.size > 0) {
      const extra = new Set(newly);
      for (const n of this.clustersToRefresh) if (w.wildcard || w.names.has(n)) extra.add(n);
      this.clustersToRefresh.clear();
      newly = extra;
    }
    if (!force && newly.size === 0 && res === w.lastResolved) return; // nothing can differ
    const previous = w.lastResolved;
    w.lastResolved = res;
    let changed: EncodedResource[];
    let removed: string[];
    let shared: AnswerDiff | undefined;
    if (!force && newly.size === 0 && previous !== undefined && w.mirror === previous) {
      // The client holds exactly the previous answer: the difference between the two answers (and
      // its framing) is computed once and shared by every stream that made the same move.
      shared = answerDiff(res, previous);
      ({ changed, removed } = shared);
    } else {
      changed = [];
      for (const r of res.resources.values()) {
        if (w.sent.get(r.name) !== r.hash || newly.has(r.name)) changed.push(r);
      }
      removed = [];
      for (const name of w.sent.keys()) {
        if (!res.resources.has(name) && (w.wildcard || w.names.has(name))) removed.push(name);
        else if (!w.wildcard && !w.names.has(name)) w.sent.delete(name);
      }
      // a new subscription to a name that does not exist is answered in removed_resources, wildcard
      // watches included (a wildcard resolve reports no `missing`, so look at `newly` itself)
      for (const name of newly) if (name !== '*' && !res.resources.has(name) && !removed.includes(name)) removed.push(name);
    }
    if (!force && changed.length === 0 && removed.length === 0) { w.mirror = res; return; }
    const version = this.version(res.snapshotVersion);
    const nonce = this.newNonce(version);
    const block = shared ? (shared.block ??= deltaBlock(changed, removed)) : deltaBlock(changed, removed);
    const buf = deltaResponse(version, w.typeUrl, nonce, block);
    for (const r of changed) w.sent.set(r.name, r.hash);
    for (const n of removed) w.sent.delete(n);
    w.mirror = res;
    if (w.typeUrl === CLUSTER_TYPE_URL) for (const r of changed) if (previousHeld(previous, r)) this.clustersToRefresh.add(r.name); // after any send, `sent` holds exactly this answer's resources
    w.nonceSent = nonce;
    w.versionSent = version;
    w.sentAt = Date.now();
    await this.write(buf);
    this.deps.callbacks.onResponse?.(this, w.typeUrl, changed.length, buf.length, force ? 'request' : 'push');
  }
}

/** A changed cluster the client already held (a new one is fetched by the client anyway). */
function previousHeld(previous: Resolved | undefined, r: EncodedResource): boolean {
  return previous?.resources.has(r.name) ?? false;
}

interface AnswerDiff { changed: EncodedResource[]; removed: string[]; block?: Uint8Array }

/** Resources new or changed in `res` since `previous`, and names gone; once per pair of answers. */
function answerDiff(res: Resolved, previous: Resolved): AnswerDiff {
  const perPrevious = memo(res, 'delta.diff', () => new WeakMap<Resolved, AnswerDiff>());
  let d = perPrevious.get(previous);
  if (!d) {
    d = {
      changed: [...res.resources.values()].filter((r) => previous.resources.get(r.name)?.hash !== r.hash),
      removed: [...previous.resources.keys()].filter((n) => !res.resources.has(n)),
    };
    perPrevious.set(previous, d);
  }
  return d;
}
