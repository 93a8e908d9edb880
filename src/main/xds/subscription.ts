/**
 * Per-type watch state of one stream, shared by the SotW and Delta servers: what the client
 * subscribed to, what we last sent (nonce, version, per-resource hashes) and what it acked or
 * rejected. Main thread; one WatchState per (connection, type URL).
 */
import { XdsTypeUrl } from '../../shared/resources';
import { Resolved, subscriptionToken } from '../push/generation-service';

export interface WatchState {
  readonly typeUrl: XdsTypeUrl;
  /** wildcard subscription (CDS/LDS "*" or legacy empty names) */
  wildcard: boolean;
  /** explicitly subscribed names */
  names: Set<string>;
  /** subscriptionToken of (wildcard, names); recomputed only when they change */
  token: string;
  nonceSent: string;
  versionSent: string;
  versionAcked: string;
  nonceAcked: string;
  lastError: string;
  /** Delta: what the client holds, per our sends: name → hash */
  sent: Map<string, string>;
  /** the answer last sent (SotW: identical answer → nothing to send) */
  lastResolved: Resolved | undefined;
  /** Delta: the answer whose resources `sent` mirrors exactly (undefined when unknown) */
  mirror: Resolved | undefined;
  /** hash of the whole last SotW response (skip identical resends) */
  sentSetHash: string;
  sentAt: number;
  ackedAt: number;
  /** a push failed to generate; retry later */
  dirty: boolean;
}

export function newWatch(typeUrl: XdsTypeUrl): WatchState {
  return {
    typeUrl, wildcard: false, names: new Set(), token: subscriptionToken([]), lastResolved: undefined, mirror: undefined, nonceSent: '', versionSent: '', versionAcked: '', nonceAcked: '',
    lastError: '', sent: new Map(), sentSetHash: '', sentAt: 0, ackedAt: 0, dirty: false,
  };
}

/** Recompute the subscription token after names or wildcard changed. */
export function updateToken(w: WatchState): void {
  w.token = subscriptionToken(wantedNames(w));
}

/** Names to ask the generator for: null for a wildcard watch. */
export function wantedNames(w: WatchState): string[] | null {
  return w.wildcard ? null : [...w.names];
}

/** Istio-style version string: RFC3339 time of the snapshot + "/" + snapshot version. */
export function versionString(snapshotVersion: number, publishedAt: number): string {
  return `${new Date(publishedAt).toISOString().replace(/\.\d+Z$/, 'Z')}/${snapshotVersion}`;
}
