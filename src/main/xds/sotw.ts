/**
 * State-of-the-world ADS (StreamAggregatedResources), request handling as Istio's ShouldRespond:
 * NACK → record, no response; empty nonce → initial request, always respond; stale nonce →
 * ignore; ACK with the same names → nothing; names added (or any change on a wildcard type) →
 * respond; empty names on a non-wildcard type → unsubscribe, whatever the nonce (Istio checks it
 * before the nonce rules).
 */
import { combineHashes } from '../../shared/hash';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, XdsTypeUrl, isWildcardType, isXdsTypeUrl } from '../../shared/resources';
import { XdsConnection } from './connection';
import { SotwRequest, isNack, proxyFromFirstRequest } from './request';
import { WatchState, newWatch, updateToken } from './subscription';
import { memo, sotwResourcesBlock, sotwResponse } from './response';
import { EncodedResource, Resolved } from '../push/generation-service';
import { scope } from '../log';

const log = scope('ads');

export class SotwConnection extends XdsConnection {
  readonly kind = 'sotw' as const;

  /** Throws XdsProtocolError when the first request has no valid node; the server registers the connection after the first call returns. */
  handleRequest(req: SotwRequest): void {
    if (!this.initialized) this.init(proxyFromFirstRequest(req.node));
    void this.enqueue(() => this.process(req));
  }

  private async process(req: SotwRequest): Promise<void> {
    const type = req.type_url;
    if (!isXdsTypeUrl(type)) {
      log.warn('unsupported type requested', { conId: this.conId, type });
      return;
    }
    const names = req.resource_names ?? [];
    let w = this.watches.get(type);
    if (isNack(req.error_detail)) {
      const msg = req.error_detail.message ?? `code ${req.error_detail.code}`;
      if (w) w.lastError = msg;
      this.deps.callbacks.onNack?.(this, type, msg);
      log.warn('NACK', { conId: this.conId, type, nonce: req.response_nonce, error: msg });
      return;
    }
    if (!isWildcardType(type) && names.length === 0) {
      // Istio shouldUnsubscribe: checked before any nonce rule, so an unsubscribe carrying a nonce
      // that a concurrent push made stale still takes effect, and a first request naming nothing
      // creates no watch and gets no response.
      if (w) { this.watches.delete(type); this.deps.generation.unwatch(this.conId, type); }
      log.debug('unsubscribed', { conId: this.conId, type, nonce: req.response_nonce });
      return;
    }
    if (!w || req.response_nonce === '') {
      // initial request for this type (or a reconnecting client's first on this stream)
      w = w ?? newWatch(type);
      this.watches.set(type, w);
      setNames(w, type, names, true);
      await this.pushType(w, true);
      return;
    }
    if (req.response_nonce !== w.nonceSent) {
      this.deps.callbacks.onExpiredNonce?.(this, type);
      log.debug('stale nonce ignored', { conId: this.conId, type, nonce: req.response_nonce });
      return;
    }
    // ACK of the latest response
    w.versionAcked = req.version_info;
    w.nonceAcked = req.response_nonce;
    w.lastError = '';
    w.ackedAt = Date.now();
    this.deps.callbacks.onAck?.(this, type, req.version_info);
    // Most ACKs repeat the subscription (Envoy re-sends every EDS name): skip the rebuild then.
    if (sameSubscription(w, type, names)) return;
    const before = new Set(w.names);
    const wasWildcard = w.wildcard;
    setNames(w, type, names, false);
    const added = [...w.names].some((n) => !before.has(n));
    const changed = added || before.size !== w.names.size || wasWildcard !== w.wildcard;
    if ((w.wildcard && changed) || added || (isWildcardType(type) && changed)) await this.pushType(w, true);
  }

  /** Names of refreshed clusters this EDS watch holds; the refresh set is consumed. */
  private takeRefresh(w: WatchState): string[] {
    if (this.clustersToRefresh.size === 0) return [];
    const names = [...this.clustersToRefresh].filter((n) => w.wildcard || w.names.has(n));
    this.clustersToRefresh.clear();
    return names;
  }

  protected async sendType(w: WatchState, force: boolean): Promise<void> {
    const { names, token } = this.resolveArgs(w);
    const res = await this.deps.generation.resolve(this.context(), w.typeUrl, names, token);
    this.noteUnservedSecrets(w, res.missing);
    this.deps.generation.watch(this.conId, w.typeUrl, res);
    const previous = w.lastResolved;
    const refresh = w.typeUrl === ENDPOINT_TYPE_URL ? this.takeRefresh(w) : [];
    if (!force && res === previous && refresh.length === 0) return; // the very answer it already has
    const setHash = memo(res, 'sotw.setHash', () => answerSetHash(res));
    w.lastResolved = res;
    if (!force && setHash === w.sentSetHash && refresh.length === 0) return; // the client already has exactly this
    // Listener and Cluster responses are always the complete set. For the other types the spec lets
    // a push carry only the resources that changed (Istio sends only updated ClusterLoadAssignments),
    // which is most of the bytes of an endpoint change.
    const partial = !force && !isWildcardType(w.typeUrl) && previous !== undefined;
    if (w.typeUrl === CLUSTER_TYPE_URL && previous !== undefined) {
      for (const r of changedSince(res, previous).resources) this.clustersToRefresh.add(r.name);
    }
    const version = this.version(res.snapshotVersion);
    const nonce = this.newNonce(version);
    let block: Uint8Array;
    let count: number;
    if (partial) {
      const diff = changedSince(res, previous);
      const extra = refresh.map((n) => res.resources.get(n)).filter((r): r is EncodedResource => !!r && !diff.resources.includes(r));
      if (diff.resources.length === 0 && extra.length === 0) { w.sentSetHash = setHash; return; }
      block = extra.length === 0 ? diff.block : sotwResourcesBlock([...diff.resources, ...extra]);
      count = diff.resources.length + extra.length;
    } else {
      // The resources block is framed once per answer and shared by every stream that gets it.
      block = memo(res, 'sotw.block', () => answerBlock(res));
      count = res.resources.size;
    }
    const buf = sotwResponse(version, w.typeUrl, nonce, block);
    w.nonceSent = nonce;
    w.versionSent = version;
    w.sentSetHash = setHash;
    w.sentAt = Date.now();
    await this.write(buf);
    this.deps.callbacks.onResponse?.(this, w.typeUrl, count, buf.length, force ? 'request' : 'push');
  }
}

/**
 * Wildcard (CDS/LDS only) is "*", or the legacy empty list on the first request, or an empty list
 * that keeps an existing wildcard (Envoy ACKs wildcard CDS with no names). Once a client has named
 * resources, an empty list means "none" (xDS spec), not "everything".
 */
/** Set hash of an answer; composed from its facets' own (memoised) hashes when it has parts. */
function answerSetHash(res: Resolved): string {
  const of = (m: ReadonlyMap<string, EncodedResource>) => combineHashes([...m.values()].map((r) => [r.name, r.hash]));
  if (!res.parts) return of(res.resources);
  return combineHashes(res.parts.map((p, i) => [String(i), memo(p, 'sotw.setHash', () => of(p.resources))]));
}

/** Framed resources of an answer; facet blocks are framed once per facet entry and concatenated. */
function answerBlock(res: Resolved): Uint8Array {
  if (!res.parts) return sotwResourcesBlock(res.resources.values());
  const blocks = res.parts.map((p) => memo(p, 'sotw.block', () => sotwResourcesBlock(p.resources.values())));
  const out = new Uint8Array(blocks.reduce((a, b) => a + b.length, 0));
  let at = 0;
  for (const b of blocks) { out.set(b, at); at += b.length; }
  return out;
}

/** Resources of `res` that are new or different from `previous`; computed once per pair of answers. */
function changedSince(res: Resolved, previous: Resolved): { resources: EncodedResource[]; block: Uint8Array } {
  const perPrevious = memo(res, 'sotw.changedSince', () => new WeakMap<Resolved, { resources: EncodedResource[]; block: Uint8Array }>());
  let diff = perPrevious.get(previous);
  if (!diff) {
    const resources = [...res.resources.values()].filter((r) => previous.resources.get(r.name)?.hash !== r.hash);
    diff = { resources, block: sotwResourcesBlock(resources) };
    perPrevious.set(previous, diff);
  }
  return diff;
}

/** Would setNames leave the watch exactly as it is? O(names), no allocation. */
function sameSubscription(w: WatchState, type: XdsTypeUrl, names: readonly string[]): boolean {
  const wildcard = isWildcardType(type) && (names.includes('*') || (names.length === 0 && w.wildcard));
  if (wildcard !== w.wildcard) return false;
  let explicit = 0;
  for (const n of names) {
    if (n === '*') continue;
    if (!w.names.has(n)) return false;
    explicit++;
  }
  return explicit === w.names.size; // names are unique in a well-formed request
}

function setNames(w: WatchState, type: XdsTypeUrl, names: readonly string[], initial: boolean): void {
  w.wildcard = isWildcardType(type) && (names.includes('*') || (names.length === 0 && (initial || w.wildcard)));
  w.names = new Set(names.filter((n) => n !== '*'));
  updateToken(w);
}
