/**
 * VirtualService validation, after Istio's validateVirtualService / validateHTTPRoute
 * (pilot pkg/config/validation). A VirtualService without hosts is a delegate (Istio's
 * PILOT_ENABLE_VIRTUAL_SERVICE_DELEGATE default): it may carry only http routes. Pure, no I/O.
 */
import {
  Issues, Obj, Path, PathSegment, checkExportTo, checkLabels, checkPort, forEachItem, forEachObj, readBool,
  readDuration, readInt, readIstioSpec, readList, readObj, readPercent, readStr, requireStr, checkUnknownFields,
} from './validate-fields';
import { isDns1123Label, isDns1123Subdomain, isIPOrCidr, wildcardDomainError } from './validate-names';

const VS_FIELDS = ['hosts', 'gateways', 'http', 'tls', 'tcp', 'exportTo'];
const MESH_GATEWAY = 'mesh';

export function validateVirtualService(o: Obj, iss: Issues): void {
  const spec = readIstioSpec(iss, o, VS_FIELDS);
  const hosts = readList(iss, ['spec', 'hosts'], spec.hosts) ?? [];
  const gateways = readList(iss, ['spec', 'gateways'], spec.gateways) ?? [];
  const isDelegate = hosts.length === 0;
  const boundToMesh = gateways.length === 0 || gateways.includes(MESH_GATEWAY);

  if (isDelegate) {
    iss.warn(['spec', 'hosts'], 'no hosts: this VirtualService is only usable as a delegate of another VirtualService');
    if (gateways.length > 0) iss.error(['spec', 'gateways'], 'delegate virtual service must have no gateways specified');
    if (readList(iss, ['spec', 'tls'], spec.tls)?.length) iss.error(['spec', 'tls'], 'delegate virtual service must have no tls route specified');
    if (readList(iss, ['spec', 'tcp'], spec.tcp)?.length) iss.error(['spec', 'tcp'], 'delegate virtual service must have no tcp route specified');
  }
  forEachItem(iss, ['spec', 'hosts'], hosts, (h, p) => {
    const host = readStr(iss, p, h);
    if (host === undefined) return;
    if (host === '*') {
      if (boundToMesh) iss.error(p, 'wildcard host * is not allowed for virtual services bound to the mesh gateway');
      return;
    }
    const err = wildcardDomainError(host);
    if (err) iss.error(p, err);
  });
  forEachItem(iss, ['spec', 'gateways'], gateways, (g, p) => {
    const gw = readStr(iss, p, g);
    if (gw === undefined || gw === MESH_GATEWAY) return;
    const parts = gw.split('/');
    const ok = parts.length <= 2 && parts.every((x) => isDns1123Subdomain(x)) && (parts.length === 1 || isDns1123Label(parts[0]!));
    if (!ok) iss.error(p, `invalid gateway "${gw}" (expected "mesh", "name" or "namespace/name")`);
  });

  if (!isDelegate && !spec.http && !spec.tcp && !spec.tls) iss.error(['spec'], 'http, tcp or tls must be provided in virtual service');
  forEachObj(iss, ['spec', 'http'], spec.http, (r, p) => checkHttpRoute(iss, p, r, isDelegate));
  forEachObj(iss, ['spec', 'tcp'], spec.tcp, (r, p) => {
    forEachObj(iss, [...p, 'match'], r.match, (m, mp) => {
      checkPort(iss, [...mp, 'port'], m.port, false);
      forEachItem(iss, [...mp, 'destinationSubnets'], m.destinationSubnets, (s, sp) => checkSubnet(iss, sp, s));
      checkLabels(iss, [...mp, 'sourceLabels'], m.sourceLabels);
    });
    checkRouteDestinations(iss, [...p, 'route'], r.route, true);
  });
  forEachObj(iss, ['spec', 'tls'], spec.tls, (r, p) => {
    const matches = readList(iss, [...p, 'match'], r.match) ?? [];
    if (matches.length === 0) iss.error([...p, 'match'], 'TLS route must have at least one match condition');
    forEachObj(iss, [...p, 'match'], matches, (m, mp) => {
      const snis = readList(iss, [...mp, 'sniHosts'], m.sniHosts) ?? [];
      if (snis.length === 0) iss.error([...mp, 'sniHosts'], 'TLS match must have at least one SNI host');
      forEachItem(iss, [...mp, 'sniHosts'], snis, (s, sp) => {
        const sni = readStr(iss, sp, s);
        const err = sni === undefined ? undefined : wildcardDomainError(sni);
        if (err) iss.error(sp, err);
      });
      checkPort(iss, [...mp, 'port'], m.port, false);
      forEachItem(iss, [...mp, 'destinationSubnets'], m.destinationSubnets, (s, sp) => checkSubnet(iss, sp, s));
    });
    checkRouteDestinations(iss, [...p, 'route'], r.route, true);
  });
  checkExportTo(iss, ['spec', 'exportTo'], spec.exportTo);
}

function checkHttpRoute(iss: Issues, p: PathSegment[], r: Obj, inDelegate: boolean): void {
  readStr(iss, [...p, 'name'], r.name);
  const hasRoute = (readList(iss, [...p, 'route'], r.route)?.length ?? 0) > 0;
  const redirect = readObj(iss, [...p, 'redirect'], r.redirect);
  const direct = readObj(iss, [...p, 'directResponse'], r.directResponse);
  const delegate = readObj(iss, [...p, 'delegate'], r.delegate);
  if (!hasRoute && !redirect && !direct && !delegate) iss.error(p, 'http route, redirect, directResponse or delegate is required');
  if (hasRoute && redirect) iss.error([...p, 'redirect'], 'HTTP route cannot contain both route and redirect');
  if (direct && (hasRoute || redirect)) iss.error([...p, 'directResponse'], 'directResponse cannot be combined with route or redirect');
  if (delegate && (hasRoute || redirect || direct)) iss.error([...p, 'delegate'], 'HTTP route cannot contain both delegate and route, redirect or directResponse');
  if (delegate) {
    if (inDelegate) iss.error([...p, 'delegate'], 'a delegate virtual service cannot delegate further');
    requireStr(iss, [...p, 'delegate', 'name'], delegate.name, 'delegate name');
    const ns = readStr(iss, [...p, 'delegate', 'namespace'], delegate.namespace);
    if (ns && !isDns1123Label(ns)) iss.error([...p, 'delegate', 'namespace'], `invalid namespace "${ns}"`);
  }

  forEachObj(iss, [...p, 'match'], r.match, (m, mp) => {
    for (const f of ['uri', 'scheme', 'method', 'authority']) {
      if (m[f] !== undefined && m[f] !== null) checkStringMatch(iss, [...mp, f], m[f], false);
    }
    for (const f of ['headers', 'queryParams', 'withoutHeaders']) {
      const map = readObj(iss, [...mp, f], m[f]);
      for (const [k, v] of Object.entries(map ?? {})) checkStringMatch(iss, [...mp, f, k], v, true);
    }
    checkPort(iss, [...mp, 'port'], m.port, false);
    checkLabels(iss, [...mp, 'sourceLabels'], m.sourceLabels);
    forEachItem(iss, [...mp, 'gateways'], m.gateways, (g, gp) => readStr(iss, gp, g));
    readBool(iss, [...mp, 'ignoreUriCase'], m.ignoreUriCase);
    readStr(iss, [...mp, 'name'], m.name);
  });

  checkRouteDestinations(iss, [...p, 'route'], r.route, false);
  readDuration(iss, [...p, 'timeout'], r.timeout); // 0s disables the timeout

  const retries = readObj(iss, [...p, 'retries'], r.retries);
  if (retries) {
    readInt(iss, [...p, 'retries', 'attempts'], retries.attempts, 0, 2147483647);
    readDuration(iss, [...p, 'retries', 'perTryTimeout'], retries.perTryTimeout, 1);
    readStr(iss, [...p, 'retries', 'retryOn'], retries.retryOn);
  }

  const fault = readObj(iss, [...p, 'fault'], r.fault);
  const delay = readObj(iss, [...p, 'fault', 'delay'], fault?.delay);
  if (delay) {
    checkPercentage(iss, [...p, 'fault', 'delay', 'percentage'], delay.percentage);
    if (delay.fixedDelay === undefined) iss.error([...p, 'fault', 'delay'], 'fixedDelay is required');
    readDuration(iss, [...p, 'fault', 'delay', 'fixedDelay'], delay.fixedDelay, 1);
  }
  const abort = readObj(iss, [...p, 'fault', 'abort'], fault?.abort);
  if (abort) {
    checkPercentage(iss, [...p, 'fault', 'abort', 'percentage'], abort.percentage);
    if (abort.httpStatus !== undefined) readInt(iss, [...p, 'fault', 'abort', 'httpStatus'], abort.httpStatus, 200, 599);
    else if (abort.grpcStatus === undefined) iss.error([...p, 'fault', 'abort'], 'abort requires httpStatus or grpcStatus');
  }

  if (redirect) {
    if (redirect.redirectCode !== undefined) readInt(iss, [...p, 'redirect', 'redirectCode'], redirect.redirectCode, 300, 399);
    if (!redirect.uri && !redirect.authority && !redirect.scheme && redirect.port === undefined && redirect.derivePort === undefined) {
      iss.error([...p, 'redirect'], 'redirect must specify uri, authority, scheme or port');
    }
  }
  if (direct) {
    if (direct.status === undefined) iss.error([...p, 'directResponse'], 'directResponse.status is required');
    else readInt(iss, [...p, 'directResponse', 'status'], direct.status, 200, 599);
  }
  const rewrite = readObj(iss, [...p, 'rewrite'], r.rewrite);
  if (rewrite && !rewrite.uri && !rewrite.authority && !rewrite.uriRegexRewrite) {
    iss.error([...p, 'rewrite'], 'rewrite must specify uri, authority or uriRegexRewrite');
  }
  if (r.mirror !== undefined && r.mirror !== null) checkDestination(iss, [...p, 'mirror'], r.mirror);
  checkPercentage(iss, [...p, 'mirrorPercentage'], r.mirrorPercentage);
}

/**
 * Route destinations. Weights are integers 0..100; with several destinations a zero total is
 * rejected and a total other than 100 is a warning (newer Istio treats weights as relative).
 */
function checkRouteDestinations(iss: Issues, path: PathSegment[], v: unknown, required: boolean): void {
  const routes = readList(iss, path, v) ?? [];
  if (required && routes.length === 0) iss.error(path, 'route is required');
  let total = 0;
  forEachObj(iss, path, routes, (rd, p) => {
    if (rd.destination === undefined || rd.destination === null) iss.error([...p, 'destination'], 'destination is required');
    else checkDestination(iss, [...p, 'destination'], rd.destination);
    const w = rd.weight === undefined ? 0 : readInt(iss, [...p, 'weight'], rd.weight, 0, 100);
    total += w ?? 0;
  });
  if (routes.length > 1 && total === 0) iss.error(path, 'total destination weight = 0');
  else if (routes.length > 1 && total !== 100) iss.warn(path, `total destination weight ${total} != 100`);
}

function checkDestination(iss: Issues, p: PathSegment[], v: unknown): void {
  const d = readObj(iss, p, v);
  if (!d) return;
  const host = requireStr(iss, [...p, 'host'], d.host, 'destination.host');
  if (host !== undefined) {
    const err = host === '*' ? 'invalid destination host *' : wildcardDomainError(host);
    if (err) iss.error([...p, 'host'], err);
  }
  const subset = readStr(iss, [...p, 'subset'], d.subset);
  if (subset && !isDns1123Label(subset, true)) iss.error([...p, 'subset'], `invalid subset name "${subset}"`);
  const port = readObj(iss, [...p, 'port'], d.port);
  if (port) checkPort(iss, [...p, 'port', 'number'], port.number, true);
}

/** Istio's `Percent` message: `{ value: 0..100 }`. */
function checkPercentage(iss: Issues, p: PathSegment[], v: unknown): void {
  const pct = readObj(iss, p, v);
  if (pct) readPercent(iss, [...p, 'value'], pct.value);
}

function checkSubnet(iss: Issues, p: Path, v: unknown): void {
  const s = readStr(iss, p, v);
  if (s !== undefined && !isIPOrCidr(s)) iss.error(p, `invalid subnet "${s}"`);
}

/**
 * StringMatch: exactly one of exact/prefix/regex. In header-like maps an empty match means
 * "present" and is allowed. Regexes are RE2: JS compiles most of them once inline flags and
 * `(?P<name>` are translated; look-around and back-references (which RE2 lacks) are rejected.
 */
function checkStringMatch(iss: Issues, p: PathSegment[], v: unknown, allowEmpty: boolean): void {
  const m = readObj(iss, p, v);
  if (!m) return;
  checkUnknownFields(iss, p, m, ['exact', 'prefix', 'regex']);
  const set = ['exact', 'prefix', 'regex'].filter((k) => m[k] !== undefined && m[k] !== null);
  if (set.length > 1) iss.error(p, 'only one of exact, prefix or regex may be set');
  if (set.length === 0 && !allowEmpty) iss.error(p, 'one of exact, prefix or regex is required');
  for (const k of set) readStr(iss, [...p, k], m[k]);
  if (typeof m.regex === 'string') {
    const err = re2Error(m.regex);
    if (err) iss.error([...p, 'regex'], `invalid regex "${m.regex}": ${err}`);
  }
}

function re2Error(re: string): string | undefined {
  if (/\(\?<?[=!]/.test(re)) return 'look-around is not supported by RE2';
  if (/\\[1-9]/.test(re)) return 'back-references are not supported by RE2';
  let flags = '';
  const body = re.replace(/^\(\?([imsU]+)\)/, (_, f: string) => { flags = f.replace(/U/g, ''); return ''; }).replace(/\(\?P</g, '(?<');
  try {
    // No 'u' flag: RE2 accepts escapes of any punctuation (\-, \@), which unicode mode rejects.
    new RegExp(body, [...new Set(flags)].join(''));
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message.replace(/^Invalid regular expression: /, '') : String(e);
  }
}
