/**
 * One VirtualService HTTP route, after Istio's validateHTTPRoute (pkg/config/validation
 * virtualservice.go and validation.go): the route/redirect/directResponse/delegate conflicts,
 * matches, header operations, CORS, fault injection, mirrors, redirect, direct response, retries,
 * rewrite, destinations and timeout. Pure, no I/O.
 */
import {
  Issues, Obj, PathSegment, checkLabels, checkPort, forEachItem, forEachObj, isObj, readBool, readDuration, readEnum, readInt,
  readList, readObj, readStr, requireStr,
} from './validate-fields';
import {
  checkCorsHeaderName, checkHeaderOperations, checkMatchHeaderName, checkPercentage, checkRegex, checkStringMatch, isJwtClaimHeader,
} from './validate-http-fields';
import { isDns1123Label, wildcardDomainError } from './validate-names';

const MAX_INT32 = 2147483647;
const KB = 1024;
const MB = 1024 * KB;

/** Envoy's x-envoy-retry-on and x-envoy-retry-grpc-on policies. */
const RETRY_ON = new Set([
  '5xx', 'gateway-error', 'reset', 'reset-before-request', 'connect-failure', 'retriable-4xx', 'refused-stream',
  'retriable-status-codes', 'retriable-headers', 'envoy-ratelimited', 'http3-post-connect-failure',
  'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable',
]);
const CORS_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', '*']);
const GRPC_STATUS = new Set([
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE',
  'DATA_LOSS', 'UNAUTHENTICATED',
]);
/** Status codes Go's http.StatusText knows: a number in retryOn must be one of them. */
const HTTP_STATUS = new Set([
  100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 307, 308,
  400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 423, 424, 425,
  426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
]);

export interface HttpRouteContext {
  /** The VirtualService has no hosts: it is a delegate and its routes may not delegate again. */
  inDelegate: boolean;
  /** Bound to gateways only (not the mesh): JWT claim routing is allowed. */
  gatewayOnly: boolean;
  checkGatewayName: (p: PathSegment[], v: unknown) => void;
}

export function checkHttpRoute(iss: Issues, p: PathSegment[], r: Obj, ctx: HttpRouteContext): void {
  readStr(iss, [...p, 'name'], r.name);
  const routes = readList(iss, [...p, 'route'], r.route);
  const hasRoute = (routes?.length ?? 0) > 0;
  const redirect = readObj(iss, [...p, 'redirect'], r.redirect);
  const direct = readObj(iss, [...p, 'directResponse'], r.directResponse);
  const delegate = readObj(iss, [...p, 'delegate'], r.delegate);
  const fault = readObj(iss, [...p, 'fault'], r.fault);
  const rewrite = readObj(iss, [...p, 'rewrite'], r.rewrite);
  checkConflicts(iss, p, r, { routes, hasRoute, redirect, direct, delegate, fault, rewrite }, ctx);

  forEachObj(iss, [...p, 'match'], r.match, (m, mp) => checkMatch(iss, mp, m, ctx));
  const authorities = checkHeaderOperations(iss, [...p, 'headers'], r.headers);
  if (typeof rewrite?.authority === 'string' && rewrite.authority !== '') authorities.unshift(rewrite.authority);
  if (authorities.length > 1) {
    iss.error([...p, 'headers'], `authority header cannot be set multiple times: have "${authorities[0]}", attempting to set "${authorities[1]}"`);
  }
  checkCors(iss, [...p, 'corsPolicy'], r.corsPolicy);
  if (fault) checkFault(iss, [...p, 'fault'], fault);
  checkMirrors(iss, p, r);
  if (redirect) checkRedirect(iss, [...p, 'redirect'], redirect);
  if (direct) checkDirectResponse(iss, [...p, 'directResponse'], direct);
  checkRetries(iss, [...p, 'retries'], r.retries);
  if (rewrite) checkRewrite(iss, [...p, 'rewrite'], rewrite);
  checkHttpDestinations(iss, [...p, 'route'], routes);
  readDuration(iss, [...p, 'timeout'], r.timeout, 1);
}

interface RouteParts {
  routes: unknown[] | undefined; hasRoute: boolean;
  redirect?: Obj; direct?: Obj; delegate?: Obj; fault?: Obj; rewrite?: Obj;
}

/** Istio validateHTTPRouteConflict: a route does exactly one of route, redirect, directResponse or delegate. */
function checkConflicts(iss: Issues, p: PathSegment[], r: Obj, x: RouteParts, ctx: HttpRouteContext): void {
  if (x.delegate) {
    if (ctx.inDelegate) iss.error([...p, 'delegate'], 'delegate HTTP route cannot contain delegate');
    if (x.redirect) iss.error([...p, 'redirect'], 'root HTTP route must not specify redirect');
    if (x.routes) iss.error([...p, 'route'], 'root HTTP route must not specify route');
    if (x.direct) iss.error([...p, 'directResponse'], 'root HTTP route must not specify directResponse');
    requireStr(iss, [...p, 'delegate', 'name'], x.delegate.name, 'delegate name');
    const ns = readStr(iss, [...p, 'delegate', 'namespace'], x.delegate.namespace);
    if (ns && !isDns1123Label(ns)) iss.error([...p, 'delegate', 'namespace'], `invalid namespace "${ns}"`);
    return;
  }
  if (x.redirect) {
    if (x.hasRoute) iss.error([...p, 'redirect'], 'HTTP route cannot contain both route and redirect');
    if (x.fault) iss.error([...p, 'fault'], 'HTTP route cannot contain both fault and redirect');
    if (x.rewrite) iss.error([...p, 'rewrite'], 'HTTP route rule cannot contain both rewrite and redirect');
    if (x.direct) iss.error([...p, 'directResponse'], 'HTTP route rule cannot contain both directResponse and redirect');
  } else if (x.direct) {
    if (x.hasRoute) iss.error([...p, 'directResponse'], 'HTTP route cannot contain both route and directResponse');
    if (x.fault) iss.error([...p, 'fault'], 'HTTP route cannot contain both fault and directResponse');
    if (x.rewrite) iss.error([...p, 'rewrite'], 'HTTP route rule cannot contain both rewrite and directResponse');
  } else if (!x.hasRoute) {
    iss.error(p, 'HTTP route, redirect, directResponse or delegate is required');
  }
  if (r.mirror !== undefined && r.mirror !== null && (readList(iss, [...p, 'mirrors'], r.mirrors)?.length ?? 0) > 0) {
    iss.error([...p, 'mirrors'], 'HTTP route cannot contain both mirror and mirrors');
  }
}

function checkMatch(iss: Issues, mp: PathSegment[], m: Obj, ctx: HttpRouteContext): void {
  checkStringMatch(iss, [...mp, 'uri'], m.uri, { allowEmpty: false, allowEmptyPrefix: true });
  for (const f of ['scheme', 'method', 'authority']) checkStringMatch(iss, [...mp, f], m[f], { allowEmpty: false });
  for (const f of ['headers', 'withoutHeaders']) {
    for (const [k, v] of Object.entries(readObj(iss, [...mp, f], m[f]) ?? {})) {
      checkMatchHeaderName(iss, [...mp, f, k], k);
      if (isJwtClaimHeader(k) && !ctx.gatewayOnly) {
        iss.error([...mp, f, k], `JWT claim based routing (key: ${k}) is only supported for gateway, found no gateways`);
      }
      // In withoutHeaders, regex "*" is not a regex: it means "header present".
      if (f === 'withoutHeaders' && isObj(v) && v.regex === '*') continue;
      checkStringMatch(iss, [...mp, f, k], v, { allowEmpty: true });
    }
  }
  for (const [k, v] of Object.entries(readObj(iss, [...mp, 'queryParams'], m.queryParams) ?? {})) {
    checkStringMatch(iss, [...mp, 'queryParams', k], v, { allowEmpty: true });
  }
  checkPort(iss, [...mp, 'port'], m.port, false);
  checkLabels(iss, [...mp, 'sourceLabels'], m.sourceLabels);
  forEachItem(iss, [...mp, 'gateways'], m.gateways, (g, gp) => ctx.checkGatewayName(gp, g));
  const sourceNamespace = readStr(iss, [...mp, 'sourceNamespace'], m.sourceNamespace);
  if (sourceNamespace && !isDns1123Label(sourceNamespace)) iss.error([...mp, 'sourceNamespace'], `sourceNamespace match ${sourceNamespace} is invalid`);
  readBool(iss, [...mp, 'ignoreUriCase'], m.ignoreUriCase);
  readStr(iss, [...mp, 'name'], m.name);
}

function checkCors(iss: Issues, p: PathSegment[], v: unknown): void {
  const cors = readObj(iss, p, v);
  if (!cors) return;
  forEachItem(iss, [...p, 'allowOrigins'], cors.allowOrigins, (o, op) => {
    const m = checkStringMatch(iss, op, o, { allowEmpty: false });
    if (m && (m.exact === '' || m.prefix === '' || m.regex === '')) iss.error(op, 'empty string is not a valid match for CORS allowOrigins');
  });
  forEachItem(iss, [...p, 'allowMethods'], cors.allowMethods, (m, mp) => {
    const method = readStr(iss, mp, m);
    if (method !== undefined && !CORS_METHODS.has(method)) iss.error(mp, `"${method}" is not a supported HTTP method`);
  });
  forEachItem(iss, [...p, 'allowHeaders'], cors.allowHeaders, (h, hp) => checkCorsHeaderName(iss, hp, h));
  forEachItem(iss, [...p, 'exposeHeaders'], cors.exposeHeaders, (h, hp) => checkCorsHeaderName(iss, hp, h));
  const maxAge = readDuration(iss, [...p, 'maxAge'], cors.maxAge, 1);
  if (maxAge !== undefined && maxAge % 1000 !== 0) iss.error([...p, 'maxAge'], 'max_age duration is accurate only to seconds precision');
  readBool(iss, [...p, 'allowCredentials'], cors.allowCredentials);
}

function checkFault(iss: Issues, p: PathSegment[], fault: Obj): void {
  const delay = readObj(iss, [...p, 'delay'], fault.delay);
  const abort = readObj(iss, [...p, 'abort'], fault.abort);
  if (!delay && !abort) iss.error(p, 'HTTP fault injection must have an abort and/or a delay');
  if (delay) {
    checkPercentage(iss, [...p, 'delay', 'percentage'], delay.percentage);
    readInt(iss, [...p, 'delay', 'percent'], delay.percent, 0, 100);
    if (delay.exponentialDelay !== undefined && delay.exponentialDelay !== null) {
      iss.error([...p, 'delay', 'exponentialDelay'], 'exponentialDelay not supported yet');
    } else if (delay.fixedDelay === undefined || delay.fixedDelay === null) {
      iss.error([...p, 'delay'], 'fixedDelay is required');
    }
    readDuration(iss, [...p, 'delay', 'fixedDelay'], delay.fixedDelay, 1);
  }
  if (abort) {
    checkPercentage(iss, [...p, 'abort', 'percentage'], abort.percentage);
    if (abort.httpStatus !== undefined && abort.httpStatus !== null) {
      readInt(iss, [...p, 'abort', 'httpStatus'], abort.httpStatus, 200, 599);
    } else if (abort.grpcStatus !== undefined && abort.grpcStatus !== null) {
      const status = readStr(iss, [...p, 'abort', 'grpcStatus'], abort.grpcStatus);
      if (status !== undefined && !GRPC_STATUS.has(status)) {
        iss.error([...p, 'abort', 'grpcStatus'], `gRPC status "${status}" is not supported, use a name such as NOT_FOUND or UNAVAILABLE`);
      }
    } else if (abort.http2Error !== undefined && abort.http2Error !== null) {
      iss.error([...p, 'abort', 'http2Error'], 'HTTP/2 abort fault injection not supported yet');
    } else {
      iss.warn([...p, 'abort'], 'abort configured, but error type not set');
    }
  }
}

function checkMirrors(iss: Issues, p: PathSegment[], r: Obj): void {
  if (r.mirror !== undefined && r.mirror !== null) checkDestination(iss, [...p, 'mirror'], r.mirror);
  forEachObj(iss, [...p, 'mirrors'], r.mirrors, (m, mp) => {
    if (m.destination === undefined || m.destination === null) iss.error([...mp, 'destination'], 'destination is required for mirrors');
    else checkDestination(iss, [...mp, 'destination'], m.destination);
    checkMirrorPercentage(iss, [...mp, 'percentage'], m.percentage);
  });
  checkMirrorPercentage(iss, [...p, 'mirrorPercentage'], r.mirrorPercentage);
  if (r.mirrorPercent !== undefined && r.mirrorPercent !== null) {
    readInt(iss, [...p, 'mirrorPercent'], r.mirrorPercent, 0, 100);
    iss.warn([...p, 'mirrorPercent'], 'using deprecated setting "mirrorPercent", use "mirrorPercentage" instead');
  }
}

/** Mirror percentages are plain 0..100 (no 0.0001 floor, unlike fault percentages). */
function checkMirrorPercentage(iss: Issues, p: PathSegment[], v: unknown): void {
  const pct = readObj(iss, p, v);
  const value = pct?.value;
  if (value === undefined || value === null) return;
  if (typeof value !== 'number' || !Number.isFinite(value)) iss.error([...p, 'value'], 'must be a number');
  else if (value < 0 || value > 100) iss.error([...p, 'value'], `mirror percentage ${value} must be in the range 0..100`);
}

function checkRedirect(iss: Issues, p: PathSegment[], redirect: Obj): void {
  const hasPort = (redirect.port !== undefined && redirect.port !== null) || (redirect.derivePort !== undefined && redirect.derivePort !== null);
  if (!redirect.uri && !redirect.authority && !redirect.scheme && !hasPort) iss.error(p, 'redirect must specify uri, authority, scheme or port');
  if (redirect.redirectCode !== undefined && redirect.redirectCode !== 0) readInt(iss, [...p, 'redirectCode'], redirect.redirectCode, 300, 399);
  const scheme = readStr(iss, [...p, 'scheme'], redirect.scheme);
  if (scheme && scheme !== 'http' && scheme !== 'https') iss.error([...p, 'scheme'], 'invalid redirect scheme, must be "http" or "https"');
  checkPort(iss, [...p, 'port'], redirect.port, false);
  if (redirect.port !== undefined && redirect.derivePort !== undefined) iss.error(p, 'only one of port or derivePort may be set');
  readEnum(iss, [...p, 'derivePort'], redirect.derivePort, ['FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT']);
}

function checkDirectResponse(iss: Issues, p: PathSegment[], direct: Obj): void {
  if (direct.status === undefined || direct.status === null) iss.error([...p, 'status'], 'directResponse.status is required');
  else readInt(iss, [...p, 'status'], direct.status, 200, 599);
  const body = readObj(iss, [...p, 'body'], direct.body);
  if (!body) return;
  if (body.string !== undefined && body.bytes !== undefined) iss.error([...p, 'body'], 'only one of string or bytes may be set');
  const text = readStr(iss, [...p, 'body', 'string'], body.string) ?? readStr(iss, [...p, 'body', 'bytes'], body.bytes) ?? '';
  const size = body.bytes !== undefined ? Math.floor((text.length * 3) / 4) : Buffer.byteLength(text);
  if (size > MB) iss.error([...p, 'body'], 'large direct_responses may impact control plane performance, must be less than 1MB');
  else if (size > 100 * KB) iss.warn([...p, 'body'], 'large direct_responses may impact control plane performance');
}

function checkRetries(iss: Issues, p: PathSegment[], v: unknown): void {
  const retries = readObj(iss, p, v);
  if (!retries) return;
  let attempts: number | undefined = 0;
  if (typeof retries.attempts === 'number' && retries.attempts < 0) iss.error([...p, 'attempts'], 'attempts cannot be negative');
  else if (retries.attempts !== undefined && retries.attempts !== null) attempts = readInt(iss, [...p, 'attempts'], retries.attempts, 0, MAX_INT32);
  const configured = ['perTryTimeout', 'retryOn', 'retryRemoteLocalities'].some((k) => retries[k] !== undefined && retries[k] !== null && retries[k] !== '');
  if (attempts === 0 && configured) iss.error([...p, 'attempts'], 'http retry policy configured when attempts are set to 0 (disabled)');
  readDuration(iss, [...p, 'perTryTimeout'], retries.perTryTimeout, 1);
  readDuration(iss, [...p, 'backoff'], retries.backoff, 1);
  const retryOn = readStr(iss, [...p, 'retryOn'], retries.retryOn);
  for (const policy of retryOn ? retryOn.split(',') : []) {
    const asStatus = /^\d+$/.test(policy) ? Number(policy) : NaN;
    if (!RETRY_ON.has(policy) && !HTTP_STATUS.has(asStatus)) iss.error([...p, 'retryOn'], `"${policy}" is not a valid retryOn policy`);
  }
}

function checkRewrite(iss: Issues, p: PathSegment[], rewrite: Obj): void {
  const regexRewrite = readObj(iss, [...p, 'uriRegexRewrite'], rewrite.uriRegexRewrite);
  if (rewrite.uri && regexRewrite) iss.error(p, 'rewrite may only contain one of uri or uriRegexRewrite');
  if (!rewrite.uri && !regexRewrite && !rewrite.authority) iss.error(p, 'rewrite must specify at least one of uri, uriRegexRewrite or authority');
  if (regexRewrite) {
    const match = readStr(iss, [...p, 'uriRegexRewrite', 'match'], regexRewrite.match);
    const to = readStr(iss, [...p, 'uriRegexRewrite', 'rewrite'], regexRewrite.rewrite);
    if (!match || to === undefined || to === '') iss.error([...p, 'uriRegexRewrite'], 'uriRegexRewrite requires both match and rewrite');
    if (match) checkRegex(iss, [...p, 'uriRegexRewrite', 'match'], match);
  }
}

/** HTTPRouteDestination[]: destinations, per-destination header operations, weights. */
function checkHttpDestinations(iss: Issues, path: PathSegment[], routes: unknown[] | undefined): void {
  forEachObj(iss, path, routes, (rd, p) => checkHeaderOperations(iss, [...p, 'headers'], rd.headers));
  checkRouteDestinations(iss, path, routes);
}

/**
 * Route destinations (HTTP, TCP and TLS). Weights are relative (Istio normalises them): each must
 * be a non-negative int32 and several destinations may not all weigh 0. A total other than 100
 * is accepted but worth a warning, since most users mean percentages.
 */
export function checkRouteDestinations(iss: Issues, path: PathSegment[], routes: unknown[] | undefined): void {
  let total = 0;
  forEachObj(iss, path, routes, (rd, p) => {
    if (rd.destination === undefined || rd.destination === null) iss.error([...p, 'destination'], 'destination is required');
    else checkDestination(iss, [...p, 'destination'], rd.destination);
    if (typeof rd.weight === 'number' && Number.isInteger(rd.weight) && rd.weight < 0) {
      iss.error([...p, 'weight'], `weight ${rd.weight} is out of range: weights must not be negative`);
      return;
    }
    total += readInt(iss, [...p, 'weight'], rd.weight, 0, MAX_INT32) ?? 0;
  });
  const n = routes?.length ?? 0;
  if (n > 1 && total === 0) iss.error(path, 'total destination weight = 0');
  else if (n > 1 && total !== 100) iss.warn(path, `total destination weight ${total} != 100`);
}

/** Destination: a host that is not "*", a DNS-1123 label subset, a port number. */
export function checkDestination(iss: Issues, p: PathSegment[], v: unknown): void {
  const d = readObj(iss, p, v);
  if (!d) return;
  const host = requireStr(iss, [...p, 'host'], d.host, 'destination.host');
  if (host !== undefined) {
    const err = host === '*' ? 'invalid destination host *' : wildcardDomainError(host);
    if (err) iss.error([...p, 'host'], err);
  }
  const subset = readStr(iss, [...p, 'subset'], d.subset);
  if (subset && !isDns1123Label(subset, true)) iss.error([...p, 'subset'], `subset name is invalid: ${subset}`);
  const port = readObj(iss, [...p, 'port'], d.port);
  if (port) checkPort(iss, [...p, 'port', 'number'], port.number, true);
}
