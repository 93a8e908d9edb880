/**
 * Tiny HTTP backends for end-to-end tests: each listens on its own loopback address (127.0.0.x,
 * all of 127/8 is loopback on Linux), answers every request with its id and counts the hits, so a
 * test can tell which endpoint a proxy picked.
 */
import * as http from 'node:http';
import { AddressInfo } from 'node:net';

export interface HttpBackend {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  /** requests served since start (or the last reset) */
  hits(): number;
  reset(): void;
  close(): Promise<void>;
}

/** Listen on `host:port` (port 0 picks one); every response body is `id`. */
export async function startHttpBackend(id: string, host: string, port = 0): Promise<HttpBackend> {
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits++;
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'x-backend-id': id });
    res.end(id);
  });
  server.keepAliveTimeout = 60_000; // longer than Envoy's upstream idle timeout: no reset races
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    id, host, port: bound,
    hits: () => hits,
    reset: () => { hits = 0; },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

export interface HttpReply { status: number; body: string }

export interface GetOptions { path?: string; headers?: Record<string, string>; timeoutMs?: number; agent?: http.Agent }

/** One GET through a proxy listening on `host:port`, with the given Host header. */
export function httpGet(host: string, port: number, hostHeader: string, opts: GetOptions = {}): Promise<HttpReply> {
  const { path = '/', timeoutMs = 5000, agent = false } = opts;
  return new Promise((resolve, reject) => {
    const headers = { ...opts.headers, host: hostHeader };
    const req = http.request({ host, port, path, method: 'GET', headers, agent, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET http://${hostHeader}${path} via ${host}:${port} timed out after ${timeoutMs}ms`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * `n` sequential GETs over one keep-alive connection pool; returns how many replies came from
 * each backend id (a non-200 reply counts as `status:<code>`).
 */
export async function countReplies(host: string, port: number, hostHeader: string, n: number, headers?: Record<string, string>): Promise<Map<string, number>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const counts = new Map<string, number>();
  try {
    for (let i = 0; i < n; i++) {
      const r = await httpGet(host, port, hostHeader, { agent, headers });
      const key = r.status === 200 ? r.body : `status:${r.status}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  } finally {
    agent.destroy();
  }
  return counts;
}
