/**
 * The HTTP surfaces on uWebSockets.js: --httpAddr (/ready, /healthz, /debug/*) and
 * --monitoringAddr (/metrics, /version, /debug/*, the dashboard and its WebSocket). Handlers are
 * plain (request → reply) functions so the same table serves both ports.
 *
 * uWS hands the request object to the handler synchronously only (it is stack-allocated), so
 * everything a handler may need (query, path parameters, the Authorization header, the peer
 * address) is copied out before the first await; bodies arrive through res.onData.
 */
import * as uws from '@trufflesuite/uws-js-unofficial';
import { scope } from '../log';

const log = scope('http');

export interface HttpReply { status?: number; contentType?: string; body: string }

/** What a handler sees of a request, copied out of uWS before any await. */
export interface HttpRequest {
  readonly method: string;
  readonly path: string;
  /** values of `:name` segments of the route pattern, in order */
  readonly params: readonly string[];
  /** request body (PUT/POST), UTF-8 */
  readonly body: string;
  /** peer IP address as text */
  readonly remote: string;
  readonly authorization: string;
}

export type HttpHandler = (query: URLSearchParams, req: HttpRequest) => HttpReply | Promise<HttpReply>;

export interface HttpRoute {
  /** GET unless given */
  method?: 'get' | 'put' | 'post';
  handler: HttpHandler;
  /** debug data: callers other than localhost must authenticate (ENABLE_DEBUG_ENDPOINT_AUTH) */
  protected?: boolean;
}

/** path pattern (uWS syntax, `:name` parameters allowed; `#tag` suffix ignored) → handler or route */
export type Routes = Record<string, HttpHandler | HttpRoute>;

/** Caller check for protected routes; `ok: false` replies with `status` (401) and `reason`. */
export type Authorize = (caller: { remote: string; authorization: string }) => { ok: true } | { ok: false; status: number; reason: string };

/** A WebSocket endpoint; `send` returns false once the socket is closed. */
export interface WsClient { send(text: string): boolean; close(): void }
export interface WsRoute {
  protected?: boolean;
  open(client: WsClient): void;
  close(client: WsClient): void;
}

interface WsData { open: boolean; client: WsClient }

export interface HttpListener { port: number; close(): void }

export interface ListenOptions {
  routes: Routes;
  websockets?: Record<string, WsRoute>;
  authorize?: Authorize;
}

const text = (ab: ArrayBuffer): string => Buffer.from(ab).toString();

export function listenHttp(name: string, host: string, port: number, routesOrOpts: Routes | ListenOptions): Promise<HttpListener> {
  const opts: ListenOptions = 'routes' in routesOrOpts && typeof routesOrOpts.routes === 'object' ? routesOrOpts as ListenOptions : { routes: routesOrOpts as Routes };
  const app = uws.App();
  const sockets = new Set<uws.WebSocket<WsData>>();
  const paths: string[] = [];
  let closed = false;
  for (const [key, r] of Object.entries(opts.routes)) {
    const path = key.split('#')[0]!; // `path#tag` keys let one path have several methods
    const route: HttpRoute = typeof r === 'function' ? { handler: r } : r;
    const method = route.method ?? 'get';
    paths.push(method === 'get' ? path : `${method.toUpperCase()} ${path}`);
    const nParams = (path.match(/\/:/g) ?? []).length;
    app[method](path, (res, req) => {
      // After close(), a kept-alive connection may still carry requests: drop it, as a closed
      // server would (uWS has no call that closes established connections).
      if (closed) { res.close(); return; }
      const query = new URLSearchParams(req.getQuery() ?? '');
      const params = Array.from({ length: nParams }, (_, i) => decodeURIComponent(req.getParameter(i)));
      const authorization = req.getHeader('authorization');
      const remote = text(res.getRemoteAddressAsText());
      let aborted = false;
      res.onAborted(() => { aborted = true; });
      const reply = (r: HttpReply) => {
        if (aborted) return;
        res.cork(() => {
          res.writeStatus(String(r.status ?? 200));
          res.writeHeader('Content-Type', r.contentType ?? 'application/json');
          res.end(r.body);
        });
      };
      if (route.protected && opts.authorize) {
        const a = opts.authorize({ remote, authorization });
        if (!a.ok) {
          log.warn('debug request refused', { server: name, path, remote, reason: a.reason });
          reply({ status: a.status, body: JSON.stringify({ error: 'authentication failure' }) + '\n' });
          return;
        }
      }
      const run = (body: string) => {
        Promise.resolve()
          .then(() => route.handler(query, { method, path, params, body, remote, authorization }))
          .catch((e): HttpReply => ({ status: 500, body: JSON.stringify({ error: e instanceof Error ? e.message : String(e) }) }))
          .then(reply);
      };
      if (method === 'get') { run(''); return; }
      const chunks: Buffer[] = [];
      res.onData((chunk, isLast) => {
        chunks.push(Buffer.from(chunk.slice(0))); // the ArrayBuffer is neutered after this callback
        if (isLast) run(Buffer.concat(chunks).toString());
      });
    });
  }
  for (const [path, ws] of Object.entries(opts.websockets ?? {})) {
    paths.push(`WS ${path}`);
    app.ws<WsData>(path, {
      idleTimeout: 60,
      maxBackpressure: 1024 * 1024,
      upgrade: (res, req, context) => {
        const remote = text(res.getRemoteAddressAsText());
        if (ws.protected && opts.authorize) {
          const a = opts.authorize({ remote, authorization: req.getHeader('authorization') });
          if (!a.ok) { res.writeStatus(String(a.status)).end('authentication failure'); return; }
        }
        res.upgrade<WsData>({ open: false, client: undefined as unknown as WsClient },
          req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
      },
      open: (sock) => {
        const data = sock.getUserData();
        data.open = true;
        data.client = {
          send: (msg) => { if (!data.open) return false; sock.send(msg); return true; },
          close: () => { if (data.open) { data.open = false; sock.end(1001, 'server shutting down'); } },
        };
        sockets.add(sock);
        ws.open(data.client);
      },
      close: (sock) => {
        const data = sock.getUserData();
        data.open = false; // uWS forbids touching the socket after close
        sockets.delete(sock);
        ws.close(data.client);
      },
    });
  }
  app.any('/*', (res) => {
    if (closed) { res.close(); return; } res.writeStatus('404 Not Found').end(JSON.stringify({ error: 'not found', paths })); });
  return new Promise((resolve, reject) => {
    app.listen(host, port, (socket) => {
      if (!socket) { reject(new Error(`${name}: cannot listen on ${host}:${port}`)); return; }
      const bound = uws.us_socket_local_port(socket);
      log.info('listening', { server: name, address: `${host}:${bound}` });
      resolve({
        port: bound,
        close: () => {
          closed = true;
          uws.us_listen_socket_close(socket);
          for (const s of [...sockets]) s.getUserData().client.close();
        },
      });
    });
  });
}
