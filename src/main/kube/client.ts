/**
 * The one place that turns `--kubeconfig` (or in-cluster credentials) into a connection to the
 * Kubernetes API server. Everything Kubernetes-facing goes through `KubeClient`:
 *
 * - `request()` / `list()`: raw JSON over the same authenticated transport @kubernetes/client-node
 *   uses for its own calls (`KubeConfig.applyToFetchOptions` + node-fetch). Objects stay exactly as
 *   the API server sent them (no typed-model conversion, so `creationTimestamp` keeps its text and
 *   parity with file mode holds).
 * - `watch`: client-node's `Watch` (chunked JSON event stream).
 * - the typed APIs of client-node where a caller prefers them.
 *
 * Errors carry the HTTP status in `statusCode` and the API server's Status message.
 */
import * as fs from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import fetch, { RequestInit as FetchInit } from 'node-fetch';
import { ConfigError } from '../../shared/errors';
import type { KubeConfig as KubeSettings } from '../config';

export interface KubeStatusError extends Error {
  statusCode: number;
  /** Status.reason from the API server (NotFound, AlreadyExists, Conflict, Expired, Gone, ...) */
  reason?: string;
  body?: unknown;
}

export function isStatus(err: unknown, code: number): boolean {
  return typeof err === 'object' && err !== null && (err as KubeStatusError).statusCode === code;
}

export interface KubeList<T = KubeObject> {
  apiVersion?: string;
  kind?: string;
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

/** Builds client-node's KubeConfig from the settings; throws ConfigError with the reason. */
export function loadKubeConfig(settings: Pick<KubeSettings, 'kubeconfig'>): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  try {
    if (settings.kubeconfig) {
      if (!fs.existsSync(settings.kubeconfig)) throw new Error('file does not exist');
      kc.loadFromFile(settings.kubeconfig);
    } else {
      kc.loadFromCluster();
    }
  } catch (e) {
    const where = settings.kubeconfig ? `--kubeconfig ${settings.kubeconfig}` : 'in-cluster credentials';
    throw new ConfigError(`${where}: ${(e as Error).message}`);
  }
  if (!kc.getCurrentCluster()) throw new ConfigError(`--kubeconfig ${settings.kubeconfig}: no current cluster (set current-context)`);
  return kc;
}

export class KubeClient {
  readonly watch: k8s.Watch;
  readonly server: string;

  constructor(readonly kc: k8s.KubeConfig, private readonly timeoutMs = 30_000) {
    this.watch = new k8s.Watch(kc);
    this.server = kc.getCurrentCluster()!.server.replace(/\/+$/, '');
  }

  /** A typed API of client-node (CoreV1Api, CoordinationV1Api, ...). */
  api<T extends k8s.ApiType>(type: k8s.ApiConstructor<T>): T { return this.kc.makeApiClient(type); }

  /**
   * One JSON request. `path` starts with /api or /apis and may carry a query string.
   * Non-2xx answers reject with a KubeStatusError.
   */
  async request<T = unknown>(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<T> {
    const init = (await this.kc.applyToFetchOptions({})) as unknown as FetchInit;
    init.method = method;
    // client-node hands back a WHATWG Headers object (auth lives there): copy its entries, a spread would drop them.
    const headers: Record<string, string> = {};
    const given = init.headers as unknown as { forEach?: (fn: (v: string, k: string) => void) => void } | Record<string, string> | undefined;
    if (given && typeof (given as { forEach?: unknown }).forEach === 'function') (given as { forEach: (fn: (v: string, k: string) => void) => void }).forEach((v, k) => { headers[k] = v; });
    else if (given) Object.assign(headers, given);
    headers['accept'] = 'application/json';
    if (body !== undefined) headers['content-type'] = contentType;
    init.headers = headers;
    if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), this.timeoutMs);
    init.signal = ctl.signal as FetchInit['signal'];
    try {
      const res = await fetch(this.server + path, init);
      const text = await res.text();
      let parsed: unknown;
      try { parsed = text ? JSON.parse(text) : undefined; } catch { parsed = text; }
      if (res.status < 200 || res.status > 299) {
        const st = parsed as { message?: string; reason?: string } | undefined;
        const err = new Error(`${method} ${path}: ${res.status} ${st?.message ?? res.statusText}`) as KubeStatusError;
        err.statusCode = res.status;
        err.reason = st?.reason;
        err.body = parsed;
        throw err;
      }
      return parsed as T;
    } catch (e) {
      if ((e as Error).name === 'AbortError') {
        const err = new Error(`${method} ${path}: no answer within ${this.timeoutMs} ms`) as KubeStatusError;
        err.statusCode = 0;
        throw err;
      }
      if ((e as KubeStatusError).statusCode === undefined) (e as KubeStatusError).statusCode = 0; // connection refused, reset, ...
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** A whole list, following `continue` tokens (pages of `pageSize`). */
  async list<T = KubeObject>(path: string, query: Record<string, string> = {}, pageSize = 500): Promise<KubeList<T>> {
    const items: T[] = [];
    let cont = '';
    let first: KubeList<T> | undefined;
    for (;;) {
      const q = new URLSearchParams({ ...query, limit: String(pageSize), ...(cont ? { continue: cont } : {}) });
      const page = await this.request<KubeList<T>>('GET', `${path}?${q}`);
      first ??= page;
      items.push(...(page.items ?? []));
      cont = page.metadata?.continue ?? '';
      if (!cont) return { apiVersion: first.apiVersion, kind: first.kind, metadata: { resourceVersion: first.metadata?.resourceVersion }, items };
    }
  }
}
