/**
 * Watch streams of the Kubernetes API test server: newline-delimited JSON events
 * `{type, object}` over chunked transfer encoding, as the API server sends them.
 *
 * - resourceVersion unset, '' or '0': the current state first, as ADDED events, then changes.
 * - resourceVersion N: the kept history after N, then changes; N older than the history → one
 *   ERROR event carrying a 410 Expired Status, then the stream ends (what the API server does).
 * - allowWatchBookmarks=true: BOOKMARK events every `bookmarkIntervalMs`; never when not asked.
 * - sendInitialEvents=true (streaming lists, with resourceVersionMatch=NotOlderThan): the current
 *   state as ADDED whatever the resourceVersion; =false: no initial state. After initial ADDED
 *   events, when bookmarks are allowed, a BOOKMARK annotated `k8s.io/initial-events-end: "true"`.
 * - timeoutSeconds: the stream ends cleanly after that many seconds.
 * - labelSelector/fieldSelector: an object that stops matching is sent as DELETED (its last
 *   matching state, with the event's resourceVersion), one that starts matching as ADDED.
 */
import type { ServerResponse } from 'node:http';
import { ApiError } from './kube-apiserver-errors';
import { ResourceDef, apiVersionOf, storeKey } from './kube-apiserver-resources';
import type { Matcher } from './kube-apiserver-select';
import { KubeStore, Obj, StoredEvent, present } from './kube-apiserver-store';

export interface WatchParams {
  d: ResourceDef;
  version: string;
  namespace?: string;
  name?: string;
  labels: Matcher;
  fields: Matcher;
  resourceVersion: string | null;
  bookmarks: boolean;
  bookmarkIntervalMs: number;
  timeoutSeconds?: number;
  /** true: the current state first whatever the resourceVersion; false: never; undefined: when resourceVersion is unset or 0 */
  sendInitialEvents?: boolean;
}

type WireEvent = { type: string; object: Obj };

/** Serves one watch. Registers a closer in `open` (removed when the stream ends) for stop(). */
export function serveWatch(store: KubeStore, res: ServerResponse, p: WatchParams, open: Set<() => void>): void {
  const { d, version } = p;
  const key = storeKey(d);
  const matches = (o: Obj): boolean =>
    (p.namespace === undefined || o.metadata?.namespace === p.namespace) &&
    (p.name === undefined || o.metadata?.name === p.name) &&
    p.labels(o) && p.fields(o);

  const toWire = (ev: StoredEvent): WireEvent | undefined => {
    const now = matches(ev.obj);
    if (ev.type === 'ADDED') return now ? { type: 'ADDED', object: present(d, ev.obj, version) } : undefined;
    if (ev.type === 'DELETED') return now ? { type: 'DELETED', object: present(d, ev.obj, version) } : undefined;
    const before = ev.prev ? matches(ev.prev) : false;
    if (now && before) return { type: 'MODIFIED', object: present(d, ev.obj, version) };
    if (now) return { type: 'ADDED', object: present(d, ev.obj, version) };
    if (before) {
      const last = present(d, ev.prev!, version);
      last.metadata.resourceVersion = String(ev.rv);
      return { type: 'DELETED', object: last };
    }
    return undefined;
  };

  // Validate before answering: a bad resourceVersion is a 400 like the API server's.
  const rvText = p.resourceVersion ?? '';
  let fromRv: number | undefined;
  if (rvText !== '' && rvText !== '0') {
    // (the API server answers this one with a 500 without reason)
    if (!/^\d+$/.test(rvText)) throw new ApiError(500, '', `resourceVersion: Invalid value: "${rvText}": strconv.ParseUint: parsing "${rvText}": invalid syntax`);
    fromRv = Number(rvText);
  }

  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders();
  const send = (ev: WireEvent): void => { if (!res.writableEnded && !res.destroyed) res.write(JSON.stringify(ev) + '\n'); };
  const bookmark = (annotations?: Record<string, string>): WireEvent => ({
    type: 'BOOKMARK',
    object: { kind: d.kind, apiVersion: apiVersionOf(d.group, version), metadata: { resourceVersion: String(store.rv), ...(annotations ? { annotations } : {}) } },
  });

  const initial = p.sendInitialEvents ?? fromRv === undefined;
  if (initial) {
    for (const o of store.listRaw(d)) if (matches(o)) send({ type: 'ADDED', object: present(d, o, version) });
    // kube-apiserver v1.37 ends the initial events with this bookmark whenever bookmarks are allowed
    if (p.bookmarks) send(bookmark({ 'k8s.io/initial-events-end': 'true' }));
  } else if (fromRv !== undefined) {
    const replay = store.since(key, fromRv);
    if (replay === 'expired') {
      send({ type: 'ERROR', object: ApiError.expired(`too old resource version: ${fromRv} (${store.compactedRv})`).status() as Obj });
      res.end();
      return;
    }
    for (const ev of replay) { const w = toWire(ev); if (w) send(w); }
  }

  const unsubscribe = store.subscribe((ev) => {
    if (ev.key !== key) return;
    const w = toWire(ev);
    if (w) send(w);
  });
  const timers: NodeJS.Timeout[] = [];
  if (p.bookmarks && p.bookmarkIntervalMs > 0) timers.push(setInterval(() => send(bookmark()), p.bookmarkIntervalMs));
  if (p.timeoutSeconds !== undefined && p.timeoutSeconds > 0) timers.push(setTimeout(() => res.end(), p.timeoutSeconds * 1000));

  const closer = (): void => { cleanup(); res.destroy(); };
  const cleanup = (): void => {
    unsubscribe();
    timers.forEach((t) => clearTimeout(t));
    open.delete(closer);
  };
  open.add(closer);
  res.on('close', cleanup);
}
