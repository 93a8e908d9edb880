/**
 * The webhooks on --httpsAddr (default :15017; the istiod Service maps 443 to it), over HTTPS
 * with a uWebSockets.js SSLApp and a serving certificate from our CA:
 *   POST /validate, /validate/  AdmissionReview → admission.ts (Istio's validation webhook)
 *   POST /convert               ConversionReview → conversion.ts (CRD version conversion)
 *
 * HTTP edge rules, as Istio's server.go: an empty body is 400 "no body found" (checked first),
 * a Content-Type other than exactly application/json is 415; then (istiod-ts) a body that is not
 * JSON or not a review is 400 "could not decode body: ..." and a body over `maxBodyBytes`
 * (4 MiB; the API server's own request limit is 3 MiB) is 413. Those errors count in
 * galley_validation_http_error{status} for /validate. Replies to reviews are 200 with JSON.
 * Requests are answered synchronously inside uWS's data callback once the body is complete.
 *
 * Certificate rotation without a gap: uWS (v20.30) cannot reload an SSL context in place, and
 * replacing an SNI context frees the router that live connections still point at. But it binds
 * an explicit port with SO_REUSEPORT, so a new SSLApp with the new certificate starts listening
 * on the same port BEFORE the old app stops: there is always a listener. The old app then closes
 * its listen socket, answers the requests still arriving on its open connections with
 * `Connection: close` (clients reconnect and get the new certificate), and is closed for good
 * after RETIRE_GRACE_MS (uWS drops idle HTTP connections after 10 s anyway). A certificate that
 * cannot be loaded, or a failed listen, leaves the old app serving. The one residual loss: Linux
 * resets a connection that entered the old listener's accept queue in the instant between uWS's
 * last accept and the close (net.ipv4.tcp_migrate_req=1 would hand it to the new listener).
 *
 * Because of SO_REUSEPORT, startup first checks with an exclusive node:net bind that nobody
 * listens on the port yet (uWS would otherwise share it silently); port 0 picks a free port.
 */
import { STATUS_CODES } from 'node:http';
import * as net from 'node:net';
import * as uws from '@trufflesuite/uws-js-unofficial';
import type { Registry } from 'prom-client';
import type { ListenAddr } from '../config';
import { reviewAdmission } from './admission';
import { reviewConversion } from './conversion';
import { ServingFiles, WebhookIdentity, checkIdentity } from './serving-files';
import { WebhookMetrics } from './webhook-metrics';
import { scope } from '../log';

export type { WebhookIdentity } from './serving-files';

const log = scope('validationServer');

export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
/** How long an app replaced by a new certificate keeps its open connections. */
const RETIRE_GRACE_MS = 15_000;
const DEFAULT_IDENTITY_CHECK_MS = 5_000;

export interface WebhookServerOptions {
  readonly addr: ListenAddr;
  /**
   * The current serving certificate, e.g. `() => caRuntime.serving.current` (ca/serving-cert.ts).
   * Read at start and then every `identityCheckMs`: a different object means a renewed
   * certificate, which is then served (so a renewer needs no extra subscription).
   */
  readonly identity: () => WebhookIdentity;
  /** How often `identity()` is re-read; default 5 s, 0 = only at start (use onRotate/updateCertificate). */
  readonly identityCheckMs?: number;
  /**
   * Subscribes to certificate rotation: called once with a listener that takes each new identity
   * (the same as calling updateCertificate). May return an unsubscribe function, called on close.
   */
  readonly onRotate?: (listener: (identity: WebhookIdentity) => void) => void | (() => void);
  /** Where galley_validation_* counters are registered (Metrics.registry). */
  readonly registry: Registry;
  /** Largest accepted request body; default 4 MiB. */
  readonly maxBodyBytes?: number;
}

export interface WebhookServer {
  /** The bound port (the configured one, or the ephemeral one for port 0). */
  readonly port: number;
  /** Listening with a valid certificate. */
  ready(): boolean;
  /**
   * Serve `identity` from now on. Throws (ConfigError, naming the problem) for a certificate that
   * cannot be used; the current one then keeps serving.
   */
  updateCertificate(identity: WebhookIdentity): void;
  close(): void;
}

type Route = 'validate' | 'convert';
interface Reply { status: number; contentType: string; body: string; closeConnection?: boolean }

const plain = (status: number, message: string, closeConnection = false): Reply =>
  ({ status, contentType: 'text/plain; charset=utf-8', body: `${message}\n`, closeConnection });

export async function startWebhookServer(opts: WebhookServerOptions): Promise<WebhookServer> {
  const maxBody = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!Number.isInteger(maxBody) || maxBody <= 0) throw new RangeError(`maxBodyBytes: expected a positive integer, got ${String(opts.maxBodyBytes)}`);
  const { host } = opts.addr;
  const port = await claimPort(host, opts.addr.port);
  const metrics = new WebhookMetrics(opts.registry);
  const files = new ServingFiles();
  let closed = false;
  const retiring = new Set<ServedApp>();

  const answer = (route: Route, body: Buffer, contentType: string): Reply => {
    if (body.length === 0) return plain(400, 'no body found');
    if (contentType !== 'application/json') return plain(415, 'invalid Content-Type, want `application/json`');
    let decoded: unknown;
    try { decoded = JSON.parse(body.toString('utf8')); } catch (e) { return plain(400, `could not decode body: ${(e as Error).message}`); }
    const outcome = route === 'validate' ? reviewAdmission(decoded, metrics) : reviewConversion(decoded);
    if (!outcome.ok) return plain(400, outcome.message);
    if (route === 'convert' && 'result' in outcome.review.response) metrics.conversion(outcome.review.response.result.status);
    return { status: 200, contentType: 'application/json', body: JSON.stringify(outcome.review) };
  };

  const handler = (route: Route, served: ServedApp) => (res: uws.HttpResponse, req: uws.HttpRequest): void => {
    // A kept-alive connection may outlive close(): drop it, as a closed server would.
    if (closed) { res.close(); return; }
    const contentType = req.getHeader('content-type');
    const declaredLength = Number(req.getHeader('content-length') || '0');
    let done = false;
    res.onAborted(() => { done = true; });
    const send = (r: Reply): void => {
      if (done) return;
      done = true;
      if (r.status !== 200 && route === 'validate') metrics.httpErrorStatus(r.status);
      res.cork(() => {
        res.writeStatus(`${r.status} ${STATUS_CODES[r.status] ?? ''}`.trimEnd());
        res.writeHeader('Content-Type', r.contentType);
        // A retiring app sends its clients to the new certificate's app.
        res.end(r.body, (r.closeConnection ?? false) || served.retiring);
      });
    };
    const tooLarge = () => plain(413, `request body larger than ${maxBody} bytes`, true);
    if (declaredLength > maxBody) { send(tooLarge()); return; }
    const chunks: Buffer[] = [];
    let size = 0;
    res.onData((chunk, isLast) => {
      if (done) return;
      size += chunk.byteLength;
      if (size > maxBody) { send(tooLarge()); return; }
      chunks.push(Buffer.from(chunk.slice(0))); // uWS neuters the ArrayBuffer after this callback
      if (!isLast) return;
      let reply: Reply;
      try { reply = answer(route, Buffer.concat(chunks), contentType); } catch (e) {
        log.error('webhook handler failed', { route, error: (e as Error).message });
        reply = plain(500, `internal error: ${(e as Error).message}`);
      }
      send(reply);
    });
  };

  /** A listening app for `identity`, or an exception (nothing changed then). */
  const serve = (identity: WebhookIdentity): ServedApp => {
    const id = checkIdentity(identity);
    let app: uws.TemplatedApp;
    try {
      app = files.with(id, (certFile, keyFile) => uws.SSLApp({ cert_file_name: certFile, key_file_name: keyFile }));
    } catch (e) {
      throw new Error(`webhook certificate: uWS could not load it: ${(e as Error).message}`);
    }
    const served: ServedApp = { app, retiring: false, dnsNames: id.subjectAltName, notAfter: id.notAfter };
    for (const [path, route] of ROUTES) app.any(path, handler(route, served));
    app.any('/*', (res) => {
      if (closed) { res.close(); return; }
      res.cork(() => res.writeStatus('404 Not Found').writeHeader('Content-Type', 'application/json')
        .end(JSON.stringify({ error: 'not found', paths: ['POST /validate', 'POST /convert'] })));
    });
    // uWS calls back synchronously inside listen().
    app.listen(host, port, (s) => { if (s) served.listen = s; });
    if (!served.listen) {
      closeServed(served);
      throw new Error(`webhook server: cannot listen on ${host}:${port}`);
    }
    return served;
  };

  let current: ServedApp;
  let lastIdentity: WebhookIdentity;
  try {
    lastIdentity = opts.identity();
    current = serve(lastIdentity);
  } catch (e) {
    files.remove();
    throw e;
  }
  log.info('webhook server listening', { address: `${host}:${port}`, paths: ['/validate', '/convert'], dnsNames: current.dnsNames, notAfter: current.notAfter });

  const retire = (old: ServedApp): void => {
    old.retiring = true;
    retiring.add(old);
    // Stop listening one loop turn later (check phase, after the poll phase in which uWS accepts):
    // connections already queued on the old listener are accepted first instead of being reset.
    setImmediate(() => {
      if (old.closed || !old.listen) return;
      uws.us_listen_socket_close(old.listen);
      old.listen = undefined;
    });
    // Referenced until closed: uWS must not free an app whose connections are still open.
    old.timer = setTimeout(() => { retiring.delete(old); closeServed(old); }, RETIRE_GRACE_MS);
    old.timer.unref();
  };

  const updateCertificate = (identity: WebhookIdentity): void => {
    if (closed) return;
    lastIdentity = identity;
    const next = serve(identity); // listening alongside the old app, or throws with the old one untouched
    const old = current;
    current = next;
    retire(old);
    log.info('webhook serving certificate rotated', { port, dnsNames: next.dnsNames, notAfter: next.notAfter });
  };

  const rotateTo = (identity: WebhookIdentity): void => {
    lastIdentity = identity;
    try { updateCertificate(identity); } catch (e) {
      log.error('webhook certificate rotation refused; the previous certificate keeps serving', { error: (e as Error).message });
    }
  };
  const unsubscribe = opts.onRotate?.(rotateTo);
  const checkMs = opts.identityCheckMs ?? DEFAULT_IDENTITY_CHECK_MS;
  const identityTimer = checkMs > 0 ? setInterval(() => {
    let id: WebhookIdentity;
    try { id = opts.identity(); } catch (e) { log.error('reading the webhook certificate failed', { error: (e as Error).message }); return; }
    if (id !== lastIdentity) rotateTo(id); // each identity is tried once, a refused one is not retried
  }, checkMs) : undefined;
  identityTimer?.unref();

  return {
    port,
    ready: () => !closed && current.listen !== undefined,
    updateCertificate,
    close: () => {
      if (closed) return;
      closed = true;
      if (typeof unsubscribe === 'function') unsubscribe();
      if (identityTimer) clearInterval(identityTimer);
      for (const old of retiring) { clearTimeout(old.timer); closeServed(old); }
      retiring.clear();
      closeServed(current);
      files.remove();
      log.info('webhook server closed', { port });
    },
  };
}

const ROUTES: ReadonlyArray<[string, Route]> = [['/validate', 'validate'], ['/validate/*', 'validate'], ['/convert', 'convert'], ['/convert/*', 'convert']];

/** One SSLApp with one certificate. */
interface ServedApp {
  app: uws.TemplatedApp;
  listen?: uws.us_listen_socket;
  /** closeServed ran: its sockets are freed and must not be touched */
  closed?: boolean;
  /** replaced by a newer certificate: answers with Connection: close until closed */
  retiring: boolean;
  timer?: NodeJS.Timeout;
  dnsNames: string;
  notAfter: string;
}

/**
 * The port to serve on, after making sure nobody listens on it: uWS binds explicit ports with
 * SO_REUSEPORT and would share a taken port silently, node:net binds exclusively. Port 0 picks
 * a free port the same way.
 */
function claimPort(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`webhook server: cannot listen on ${host}:${port}: ${e.code ?? e.message}`)));
    probe.listen({ host, port, exclusive: true }, () => {
      const bound = (probe.address() as net.AddressInfo).port;
      probe.close(() => resolve(bound));
    });
  });
}

/** Closes the app's listen sockets and every connection (uWS has close() but not in its typings). */
function closeServed(s: ServedApp): void {
  if (s.closed) return;
  s.closed = true;
  s.listen = undefined;
  (s.app as unknown as { close(): void }).close();
}
