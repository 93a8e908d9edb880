/**
 * The HTTP surfaces on uWebSockets.js: --httpAddr (/ready, /debug/*) and --monitoringAddr
 * (/metrics, /version, /debug/*). Handlers are plain (path → JSON/text) functions so the same
 * table serves both ports.
 */
import * as uws from '@trufflesuite/uws-js-unofficial';
import { scope } from '../log';

const log = scope('http');

export interface HttpReply { status?: number; contentType?: string; body: string }
export type HttpHandler = (query: URLSearchParams) => HttpReply | Promise<HttpReply>;

export interface HttpListener { port: number; close(): void }

export function listenHttp(name: string, host: string, port: number, routes: Record<string, HttpHandler>): Promise<HttpListener> {
  const app = uws.App();
  for (const [path, handler] of Object.entries(routes)) {
    app.get(path, (res, req) => {
      const query = new URLSearchParams(req.getQuery() ?? '');
      let aborted = false;
      res.onAborted(() => { aborted = true; });
      Promise.resolve()
        .then(() => handler(query))
        .catch((e): HttpReply => ({ status: 500, body: JSON.stringify({ error: e instanceof Error ? e.message : String(e) }) }))
        .then((reply) => {
          if (aborted) return;
          res.cork(() => {
            res.writeStatus(String(reply.status ?? 200));
            res.writeHeader('Content-Type', reply.contentType ?? 'application/json');
            res.end(reply.body);
          });
        });
    });
  }
  app.any('/*', (res) => { res.writeStatus('404 Not Found').end(JSON.stringify({ error: 'not found', paths: Object.keys(routes) })); });
  return new Promise((resolve, reject) => {
    app.listen(host, port, (socket) => {
      if (!socket) { reject(new Error(`${name}: cannot listen on ${host}:${port}`)); return; }
      const bound = uws.us_socket_local_port(socket);
      log.info('listening', { server: name, address: `${host}:${bound}` });
      resolve({ port: bound, close: () => uws.us_listen_socket_close(socket) });
    });
  });
}
