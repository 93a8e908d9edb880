/**
 * Sidecar validation, after Istio's ValidateSidecar (pkg/config/validation). Pure, no I/O.
 */
import {
  Issues, Obj, PathSegment, checkPort, checkPortName, checkProtocol, checkWorkloadSelector, forEachItem, forEachObj, namespaceOf,
  readEnum, readIstioSpec, readList, readObj, readStr,
} from './validate-fields';
import { fqdnError, isIP, namespacedHostError, unixAddressError } from './validate-names';
import { checkServerTls } from './validate-server-tls';
import { checkConnectionPool } from './validate-traffic-policy';
import { checkDestination } from './validate-http-route';

const SIDECAR_FIELDS = ['workloadSelector', 'ingress', 'egress', 'inboundConnectionPool', 'outboundTrafficPolicy'];
const CAPTURE_MODES = ['DEFAULT', 'IPTABLES', 'NONE'] as const;
const UNIX_PREFIX = 'unix://';
const LOOPBACK_OR_ANY = ['', '127.0.0.1', '0.0.0.0', '::1', '::'];
const HTTP_PROTOCOLS = ['http', 'http2', 'grpc', 'grpc-web', 'http_proxy'];

export function validateSidecar(o: Obj, iss: Issues): void {
  const spec = readIstioSpec(iss, o, SIDECAR_FIELDS);
  checkWorkloadSelector(iss, ['spec', 'workloadSelector'], spec.workloadSelector, 'sidecar');
  if (!SIDECAR_FIELDS.some((f) => f !== 'workloadSelector' && spec[f] !== undefined && spec[f] !== null)) {
    iss.error(['spec'], 'sidecar: empty configuration provided');
  }
  checkIngress(iss, spec.ingress);
  checkConnectionPool(iss, ['spec', 'inboundConnectionPool'], spec.inboundConnectionPool);
  checkEgress(iss, spec.egress, namespaceOf(o));

  const otp = readObj(iss, ['spec', 'outboundTrafficPolicy'], spec.outboundTrafficPolicy);
  if (otp) {
    const op = ['spec', 'outboundTrafficPolicy'];
    const mode = readEnum(iss, [...op, 'mode'], otp.mode, ['REGISTRY_ONLY', 'ALLOW_ANY']);
    const proxy = readObj(iss, [...op, 'egressProxy'], otp.egressProxy);
    if (proxy && mode !== 'ALLOW_ANY') {
      iss.error([...op, 'egressProxy'], 'sidecar: egressProxy must be set only with ALLOW_ANY outboundTrafficPolicy mode');
    } else if (proxy) {
      const host = typeof proxy.host === 'string' ? proxy.host : '';
      const err = fqdnError(host);
      if (err) iss.error([...op, 'egressProxy', 'host'], err);
      if (proxy.port === undefined || proxy.port === null) iss.error([...op, 'egressProxy', 'port'], 'sidecar: egressProxy port must be non-nil');
      checkDestination(iss, [...op, 'egressProxy'], proxy);
    }
  }
}

function checkIngress(iss: Issues, v: unknown): void {
  const ports = new Set<number>();
  forEachObj(iss, ['spec', 'ingress'], v, (ing, p) => {
    const port = readObj(iss, [...p, 'port'], ing.port);
    if (!port) { iss.error([...p, 'port'], 'sidecar: port is required for ingress listeners'); return; }
    const num = checkListenerPort(iss, [...p, 'port'], port, true);
    if (num !== undefined) {
      if (ports.has(num)) iss.error([...p, 'port', 'number'], 'sidecar: ports on IP bound listeners must be unique');
      ports.add(num);
    }
    const bind = readStr(iss, [...p, 'bind'], ing.bind);
    if (bind && !isIP(bind)) iss.error([...p, 'bind'], `${bind} is not a valid IP`);
    checkDefaultEndpoint(iss, [...p, 'defaultEndpoint'], ing.defaultEndpoint);
    readEnum(iss, [...p, 'captureMode'], ing.captureMode, CAPTURE_MODES);
    const protocol = typeof port.protocol === 'string' ? port.protocol.toLowerCase() : '';
    const tls = readObj(iss, [...p, 'tls'], ing.tls);
    if (tls) {
      const tp = [...p, 'tls'];
      if (Array.isArray(tls.subjectAltNames) && tls.subjectAltNames.length > 0) iss.error([...tp, 'subjectAltNames'], 'sidecar: subjectAltNames is not supported in ingress tls');
      if (tls.httpsRedirect === true) iss.error([...tp, 'httpsRedirect'], 'sidecar: httpsRedirect is not supported');
      if (tls.credentialName) iss.error([...tp, 'credentialName'], 'sidecar: credentialName is not currently supported');
      if (Array.isArray(tls.credentialNames) && tls.credentialNames.length > 0) iss.error([...tp, 'credentialNames'], 'sidecar: credentialNames is not currently supported');
      if (Array.isArray(tls.tlsCertificates) && tls.tlsCertificates.length > 0) iss.error([...tp, 'tlsCertificates'], 'sidecar: tlsCertificates is not currently supported');
      if (tls.mode === 'ISTIO_MUTUAL' || tls.mode === 'AUTO_PASSTHROUGH') iss.error([...tp, 'mode'], `sidecar: cannot set mode to ${tls.mode} in sidecar ingress tls`);
      if (protocol !== 'https' && protocol !== 'tls') iss.error(tp, 'server cannot have TLS settings for non HTTPS/TLS ports');
      checkServerTls(iss, tp, tls);
    }
    const pool = readObj(iss, [...p, 'connectionPool'], ing.connectionPool);
    checkConnectionPool(iss, [...p, 'connectionPool'], pool);
    if (pool?.http !== undefined && pool.http !== null && !HTTP_PROTOCOLS.includes(protocol)) {
      iss.warn([...p, 'connectionPool', 'http'], `sidecar: HTTP connection pool settings are configured for port ${String(port.number)} but its protocol is not HTTP; only TCP settings will apply`);
    }
  });
}

function checkEgress(iss: Issues, v: unknown, namespace: string): void {
  const egress = readList(iss, ['spec', 'egress'], v) ?? [];
  const ports = new Set<number>();
  const sockets = new Set<string>();
  let catchAll = false;
  forEachObj(iss, ['spec', 'egress'], egress, (eg, p) => {
    const index = p[p.length - 1] as number;
    const bind = readStr(iss, [...p, 'bind'], eg.bind) ?? '';
    const captureMode = readEnum(iss, [...p, 'captureMode'], eg.captureMode, CAPTURE_MODES);
    const port = readObj(iss, [...p, 'port'], eg.port);
    if (!port) {
      // Only one catch-all listener (no port), and it must be the last.
      if (catchAll) iss.error(p, 'sidecar: egress can have only one listener with empty port');
      else if (index !== egress.length - 1) iss.error(p, 'sidecar: the egress listener with empty port should be the last listener in the list');
      else catchAll = true;
    } else if (port.number === 0) {
      // A unix domain socket listener.
      checkListenerPort(iss, [...p, 'port'], port, false);
      if (!bind.startsWith(UNIX_PREFIX)) iss.error([...p, 'bind'], 'sidecar: ports with 0 value must have a unix domain socket bind address');
      else {
        const err = unixAddressError(bind.slice(UNIX_PREFIX.length));
        if (err) iss.error([...p, 'bind'], err);
        if (sockets.has(bind)) iss.error([...p, 'bind'], 'sidecar: unix domain socket values for listeners must be unique');
        sockets.add(bind);
      }
      if (captureMode !== undefined && captureMode !== 'DEFAULT' && captureMode !== 'NONE') {
        iss.error([...p, 'captureMode'], 'sidecar: captureMode must be DEFAULT/NONE for unix domain socket listeners');
      }
    } else {
      const num = checkListenerPort(iss, [...p, 'port'], port, true);
      if (num !== undefined) {
        if (ports.has(num)) iss.error([...p, 'port', 'number'], 'sidecar: ports on IP bound listeners must be unique');
        ports.add(num);
      }
      if (bind !== '' && !isIP(bind)) iss.error([...p, 'bind'], `${bind} is not a valid IP`);
    }
    checkEgressHosts(iss, [...p, 'hosts'], eg.hosts, namespace);
  });
}

/** Egress hosts: "namespace/dnsName"; repeating what another entry already selects is warned about. */
function checkEgressHosts(iss: Issues, p: PathSegment[], v: unknown, namespace: string): void {
  const hosts = readList(iss, p, v) ?? [];
  if (hosts.length === 0) { iss.error(p, 'sidecar: egress listener must contain at least one host'); return; }
  const byNamespace = new Map<string, Set<string>>();
  forEachItem(iss, p, hosts, (h, hp) => {
    const host = readStr(iss, hp, h);
    if (host === undefined) return;
    const err = namespacedHostError(host, false);
    if (err) { iss.error(hp, err); return; }
    const slash = host.indexOf('/');
    const ns = host.slice(0, slash) === '.' ? namespace : host.slice(0, slash);
    const name = host.slice(slash + 1);
    const seen = byNamespace.get(ns) ?? new Set<string>();
    if (name === '*' ? seen.size > 0 : seen.has(name) || seen.has('*')) iss.warn(hp, `duplicated egress host: ${host}`);
    seen.add(name);
    byNamespace.set(ns, seen);
  });
  if (byNamespace.get('*')?.has('*') && byNamespace.size > 1) iss.warn(p, '`*/*` host select all resources, no other hosts can be added');
}

/** Sidecar listener ports: an optional DNS-1123 name, an optional known protocol, a number. */
function checkListenerPort(iss: Issues, p: PathSegment[], port: Obj, numbered: boolean): number | undefined {
  if (port.name !== undefined && port.name !== null && port.name !== '') checkPortName(iss, [...p, 'name'], port.name);
  checkProtocol(iss, [...p, 'protocol'], port.protocol, false);
  if (port.targetPort !== undefined && port.targetPort !== null && port.targetPort !== 0) iss.error([...p, 'targetPort'], 'targetPort has no impact on Sidecars');
  return numbered ? checkPort(iss, [...p, 'number'], port.number, true) : undefined;
}

/** "127.0.0.1:PORT", "0.0.0.0:PORT", "[::1]:PORT", "[::]:PORT", ":PORT" or "unix://PATH". */
function checkDefaultEndpoint(iss: Issues, p: PathSegment[], v: unknown): void {
  const ep = readStr(iss, p, v);
  if (ep === undefined || ep === '') return;
  if (ep.startsWith(UNIX_PREFIX)) {
    const err = unixAddressError(ep.slice(UNIX_PREFIX.length));
    if (err) iss.error(p, err);
    return;
  }
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d+)$/.exec(ep);
  const host = m ? (m[1] ?? m[2] ?? '') : undefined;
  if (host === undefined || !LOOPBACK_OR_ANY.includes(host)) {
    iss.error(p, 'sidecar: defaultEndpoint must be of form 127.0.0.1:<port>,0.0.0.0:<port>,[::1]:port,[::]:port,unix://filepath or unset');
    return;
  }
  const port = Number(m![3]);
  if (port < 1 || port > 65535) iss.error(p, `port number ${port} must be in the range 1..65535`);
}
