/**
 * VirtualService validation, after Istio's ValidateVirtualService (pkg/config/validation). A
 * VirtualService without hosts is a delegate (Istio's PILOT_ENABLE_VIRTUAL_SERVICE_DELEGATE
 * default): it may carry only http routes. HTTP routes are checked in validate-http-route.ts.
 * Pure, no I/O.
 */
import {
  Issues, Obj, Path, PathSegment, checkExportTo, checkLabels, checkPort, forEachItem, forEachObj, isObj, namespaceOf, readIstioSpec,
  readList, readStr,
} from './validate-fields';
import { checkHttpRoute, checkRouteDestinations } from './validate-http-route';
import { fqdnError, isDns1123Label, isIP, isIPOrCidr, wildcardDomainError } from './validate-names';

const VS_FIELDS = ['hosts', 'gateways', 'http', 'tls', 'tcp', 'exportTo'];
const MESH_GATEWAY = 'mesh';

export function validateVirtualService(o: Obj, iss: Issues): void {
  const spec = readIstioSpec(iss, o, VS_FIELDS);
  const hosts = readList(iss, ['spec', 'hosts'], spec.hosts) ?? [];
  const gateways = readList(iss, ['spec', 'gateways'], spec.gateways) ?? [];
  const isDelegate = hosts.length === 0;
  // Istio isGateway: bound to gateways only, "mesh" not among them.
  const gatewayOnly = gateways.length > 0 && !gateways.includes(MESH_GATEWAY);

  if (isDelegate) {
    iss.warn(['spec', 'hosts'], 'no hosts: this VirtualService is only usable as a delegate of another VirtualService');
    if (gateways.length > 0) iss.error(['spec', 'gateways'], 'delegate virtual service must have no gateways specified');
    if (readList(iss, ['spec', 'tls'], spec.tls)?.length) iss.error(['spec', 'tls'], 'delegate virtual service must have no tls route specified');
    if (readList(iss, ['spec', 'tcp'], spec.tcp)?.length) iss.error(['spec', 'tcp'], 'delegate virtual service must have no tcp route specified');
  }
  const hostNames = checkHosts(iss, hosts, gatewayOnly);
  forEachItem(iss, ['spec', 'gateways'], gateways, (g, p) => checkGatewayName(iss, p, g));

  if (!spec.http && !spec.tcp && !spec.tls) iss.error(['spec'], 'http, tcp or tls must be provided in virtual service');
  const ctx = { inDelegate: isDelegate, gatewayOnly, checkGatewayName: (p: PathSegment[], v: unknown) => checkGatewayName(iss, p, v) };
  forEachObj(iss, ['spec', 'http'], spec.http, (r, p) => checkHttpRoute(iss, p, r, ctx));
  forEachObj(iss, ['spec', 'tcp'], spec.tcp, (r, p) => {
    forEachObj(iss, [...p, 'match'], r.match, (m, mp) => checkL4Match(iss, mp, m));
    checkL4Routes(iss, p, r, 'TCP');
  });
  forEachObj(iss, ['spec', 'tls'], spec.tls, (r, p) => {
    const matches = readList(iss, [...p, 'match'], r.match) ?? [];
    if (matches.length === 0) iss.error([...p, 'match'], 'TLS route must have at least one match condition');
    forEachObj(iss, [...p, 'match'], matches, (m, mp) => {
      const snis = readList(iss, [...mp, 'sniHosts'], m.sniHosts) ?? [];
      if (snis.length === 0) iss.error([...mp, 'sniHosts'], 'TLS match must have at least one SNI host');
      forEachItem(iss, [...mp, 'sniHosts'], snis, (s, sp) => checkSniHost(iss, sp, s, hostNames));
      checkL4Match(iss, mp, m);
    });
    checkL4Routes(iss, p, r, 'TLS');
  });
  checkExportTo(iss, ['spec', 'exportTo'], spec.exportTo, namespaceOf(o));
  warnUnreachableRules(iss, 'http', spec.http);
  warnUnreachableRules(iss, 'tcp', spec.tcp);
  warnUnreachableRules(iss, 'tls', spec.tls);
}

/** Hosts: wildcard domains or IPs, "*" only off the mesh, no two that overlap. Returns the valid ones. */
function checkHosts(iss: Issues, hosts: unknown[], gatewayOnly: boolean): string[] {
  const valid: string[] = [];
  let allValid = true;
  forEachItem(iss, ['spec', 'hosts'], hosts, (h, p) => {
    const host = readStr(iss, p, h);
    if (host === undefined) { allValid = false; return; }
    const err = wildcardDomainError(host);
    if (err && !isIP(host)) { iss.error(p, err); allValid = false; return; }
    if (host === '*' && !gatewayOnly) {
      iss.error(p, 'wildcard host * is not allowed for virtual services bound to the mesh gateway');
      allValid = false;
      return;
    }
    valid.push(host);
  });
  if (allValid) {
    for (let i = 0; i < valid.length; i++) {
      for (let j = i + 1; j < valid.length; j++) {
        if (hostsOverlap(valid[i]!, valid[j]!)) iss.error(['spec', 'hosts', j], `duplicate hosts in virtual service: ${valid[i]} & ${valid[j]}`);
      }
    }
  }
  return valid;
}

/** Istio host.Name.Matches: equal, or one wildcard covers the other. */
export function hostsOverlap(a: string, b: string): boolean {
  const aw = a.startsWith('*');
  const bw = b.startsWith('*');
  if (aw && bw) return a.length < b.length ? b.slice(1).endsWith(a.slice(1)) : a.slice(1).endsWith(b.slice(1));
  if (aw) return b.endsWith(a.slice(1));
  if (bw) return a.endsWith(b.slice(1));
  return a === b;
}

/** Istio host.Name.SubsetOf: `n` is `o`, or within `o`'s wildcard. */
function hostSubsetOf(n: string, o: string): boolean {
  if (o.startsWith('*')) return n.startsWith('*') ? n.slice(1).endsWith(o.slice(1)) : n.endsWith(o.slice(1));
  return !n.startsWith('*') && n === o;
}

/** SNI hosts must be domains (an IP is only warned about) within one of the VirtualService's hosts. */
function checkSniHost(iss: Issues, p: Path, v: unknown, hosts: readonly string[]): void {
  const sni = readStr(iss, p, v);
  if (sni === undefined) return;
  const err = wildcardDomainError(sni);
  if (err) {
    if (isIP(sni)) iss.warn(p, `using an IP address ("${sni}") goes against SNI spec and most clients do not support this`);
    else iss.error(p, err);
    return;
  }
  if (hosts.length > 0 && !hosts.some((h) => hostSubsetOf(sni, h))) {
    iss.error(p, `SNI host "${sni}" is not a compatible subset of any of the virtual service hosts: [${hosts.join(', ')}]`);
  }
}

/** Istio validateGatewayNames: "mesh", "namespace/name" (DNS labels), or a legacy "name[.namespace...]" FQDN. */
function checkGatewayName(iss: Issues, p: Path, v: unknown): void {
  const gw = readStr(iss, p, v);
  if (gw === undefined) return;
  const slash = gw.indexOf('/');
  if (slash < 0) {
    if (gw.includes('.')) {
      const [name, ns] = gw.split('.');
      iss.warn(p, `using legacy gatewayName format "${gw}"; prefer the <namespace>/<name> format: "${ns}/${name}"`);
    }
    const err = fqdnError(gw);
    if (err) iss.error(p, err);
    return;
  }
  const ns = gw.slice(0, slash);
  const name = gw.slice(slash + 1);
  if (ns === '' || name === '') iss.error(p, 'config namespace and gateway name cannot be empty');
  else if (!isDns1123Label(ns)) iss.error(p, `invalid value for namespace: "${ns}"`);
  else if (!isDns1123Label(name)) iss.error(p, `invalid value for gateway name: "${name}"`);
}

function checkL4Match(iss: Issues, mp: PathSegment[], m: Obj): void {
  checkPort(iss, [...mp, 'port'], m.port, false);
  forEachItem(iss, [...mp, 'destinationSubnets'], m.destinationSubnets, (s, sp) => {
    const subnet = readStr(iss, sp, s);
    if (subnet !== undefined && !isIPOrCidr(subnet)) iss.error(sp, `${subnet} is not a valid IP or CIDR block`);
  });
  checkLabels(iss, [...mp, 'sourceLabels'], m.sourceLabels);
  forEachItem(iss, [...mp, 'gateways'], m.gateways, (g, gp) => checkGatewayName(iss, gp, g));
}

function checkL4Routes(iss: Issues, p: PathSegment[], r: Obj, what: 'TCP' | 'TLS'): void {
  const routes = readList(iss, [...p, 'route'], r.route);
  if (!routes || routes.length === 0) iss.error([...p, 'route'], `${what} route is required`);
  checkRouteDestinations(iss, [...p, 'route'], routes);
}

/**
 * Istio's analyzeUnreachable*Rules, as warnings: a rule after a match-all rule is never used, and
 * a match identical to an earlier one (ignoring its name) never fires.
 */
function warnUnreachableRules(iss: Issues, kind: 'http' | 'tcp' | 'tls', v: unknown): void {
  if (!Array.isArray(v)) return;
  const seen = new Map<string, number>();
  let catchAll = -1;
  v.forEach((rule, i) => {
    if (!isObj(rule)) return;
    const name = kind === 'http' && typeof rule.name === 'string' && rule.name !== '' ? `"${rule.name}"` : `#${i}`;
    const matches = Array.isArray(rule.match) ? rule.match : [];
    const p = ['spec', kind, i];
    if (matches.length === 0) {
      if (catchAll >= 0) iss.warn(p, `virtualService rule ${name} not used (only the last rule can have no matches)`);
      catchAll = i;
      return;
    }
    let duplicates = 0;
    matches.forEach((m, j) => {
      if (catchAll >= 0) { iss.warn(p, `virtualService rule ${name} not used (route without matches defined before)`); return; }
      const key = canonicalJson(isObj(m) ? { ...m, name: undefined } : m);
      const first = seen.get(key);
      if (first === undefined) { seen.set(key, i); return; }
      duplicates++;
      iss.warn([...p, 'match', j], `virtualService rule ${name} match #${j} is not used (duplicate match in rule #${first})`);
    });
    if (catchAll < 0 && duplicates === matches.length) iss.warn(p, `virtualService rule ${name} not used (all matches used by prior rules)`);
  });
}

/** JSON with sorted keys and undefined dropped, so equal matches compare equal. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (isObj(v)) {
    return `{${Object.keys(v).filter((k) => v[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${canonicalJson(v[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
