/**
 * The webhooks on --httpsAddr (default :15017; the istiod Service maps 443 to it), over HTTPS
 * with a uWebSockets.js SSLApp and a serving certificate from our CA:
 *   POST /validate, /validate/  AdmissionReview → admission.ts (Istio's validation webhook)
 *   POST /convert               ConversionReview → conversion.ts (CRD version conversion)
 *
 * HTTP edge rules, as Istio's server.go: an empty body is 400 "no body found" (checked first),
 * a Content-Type other than exactly application/json is 415; then (istiod-ts) a body that is not
 * JSON or not a review is 400 "could not decode body: ..." and a body over `maxBodyBytes`
 * (4 MiB, the API server's own request limit is 3 MiB) is 413. Those errors count in
 * galley_validation_http_error{status} for /validate. Replies to reviews are 200 with JSON.
 *
 * Requests are answered synchronously inside uWS's data callback once the body is complete, so
 * at any moment between callbacks no request is half-handled; the certificate swap relies on it.
 *
 * Certificate rotation: uWS (v20.30) cannot reload an SSL context in place, and replacing an SNI
 * context frees the router live connections still point at. So a new certificate means a new
 * SSLApp: it is built first (a bad certificate leaves the old one serving), then the old app is
 * closed and the new one listens on the same port in the same event-loop tick. Listening is
 * never interrupted for longer than that tick, but connections open on the old app at that
 * instant (idle keep-alives, a request still uploading) are closed; the API server dials again.
 * uWS cannot bind the port while the old app still holds accepted connections, which is why the
 * old app is closed rather than drained.
 */
import { STATUS_CODES } from 'node:http';
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
const RELISTEN_RETRY_MS = 100;

export interface WebhookServerOptions {
  readonly addr: ListenAddr;
  /** The serving certificate to start with (e.g. `() => renewer.current` of ca/serving-cert.ts). */
  readonly identity: () => WebhookIdentity;
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
  const metrics = new WebhookMetrics(opts.registry);
  const files = new ServingFiles();
  let closed = false;
  let app: uws.TemplatedApp | undefined;
  let listenSocket: uws.us_listen_socket | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let port = opts.addr.port;

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

  const handler = (route: Route) => (res: uws.HttpResponse, req: uws.HttpRequest): void => {
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
        res.end(r.body, r.closeConnection ?? false);
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

  const buildApp = (identity: WebhookIdentity): { app: uws.TemplatedApp; subject: string; notAfter: string } => {
    const id = checkIdentity(identity);
    let next: uws.TemplatedApp;
    try {
      next = files.with(id, (certFile, keyFile) => uws.SSLApp({ cert_file_name: certFile, key_file_name: keyFile }));
    } catch (e) {
      throw new Error(`webhook certificate: uWS could not load it: ${(e as Error).message}`);
    }
    next.any('/validate', handler('validate'));
    next.any('/validate/*', handler('validate'));
    next.any('/convert', handler('convert'));
    next.any('/convert/*', handler('convert'));
    next.any('/*', (res) => {
      if (closed) { res.close(); return; }
      res.cork(() => res.writeStatus('404 Not Found').writeHeader('Content-Type', 'application/json')
        .end(JSON.stringify({ error: 'not found', paths: ['POST /validate', 'POST /convert'] })));
    });
    return { app: next, subject: id.subjectAltName, notAfter: id.notAfter };
  };

  /** Listens synchronously (uWS calls back inside listen); true on success. */
  const listenOn = (a: uws.TemplatedApp, p: number): boolean => {
    const got: { sock: uws.us_listen_socket | false } = { sock: false };
    a.listen(opts.addr.host, p, (s) => { got.sock = s; });
    if (!got.sock) return false;
    listenSocket = got.sock;
    port = uws.us_socket_local_port(got.sock as unknown as uws.us_socket);
    return true;
  };

  const retryListen = (a: uws.TemplatedApp): void => {
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      if (closed || app !== a) return;
      if (listenOn(a, port)) log.info('webhook server listening again', { address: `${opts.addr.host}:${port}` });
      else retryListen(a);
    }, RELISTEN_RETRY_MS);
    retryTimer.unref();
  };

  const first = buildApp(opts.identity());
  app = first.app;
  if (!listenOn(app, opts.addr.port)) {
    closeApp(app);
    files.remove();
    throw new Error(`webhook server: cannot listen on ${opts.addr.host}:${opts.addr.port}`);
  }
  log.info('webhook server listening', { address: `${opts.addr.host}:${port}`, paths: ['/validate', '/convert'], dnsNames: first.subject, notAfter: first.notAfter });

  const updateCertificate = (identity: WebhookIdentity): void => {
    if (closed) return;
    const next = buildApp(identity); // throws before anything changes
    const old = app;
    listenSocket = undefined;
    if (retryTimer) { clearTimeout(retryTimer); retryTimer = undefined; }
    app = next.app;
    if (old) closeApp(old);
    if (listenOn(next.app, port)) {
      log.info('webhook serving certificate rotated', { port, dnsNames: next.subject, notAfter: next.notAfter });
    } else {
      log.error('webhook server could not listen again after the certificate rotation; retrying', { address: `${opts.addr.host}:${port}` });
      retryListen(next.app);
    }
  };

  const unsubscribe = opts.onRotate?.((identity) => {
    try { updateCertificate(identity); } catch (e) {
      log.error('webhook certificate rotation refused; the previous certificate keeps serving', { error: (e as Error).message });
    }
  });

  return {
    get port() { return port; },
    ready: () => !closed && listenSocket !== undefined,
    updateCertificate,
    close: () => {
      if (closed) return;
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      if (typeof unsubscribe === 'function') unsubscribe();
      if (app) closeApp(app);
      app = undefined;
      listenSocket = undefined;
      files.remove();
      log.info('webhook server closed', { port });
    },
  };
}

/**
 * Closes the app's listen socket and every connection. `close()` exists on uWS apps since v20.30
 * but is missing from its typings.
 */
function closeApp(a: uws.TemplatedApp): void {
  (a as unknown as { close(): void }).close();
}
