/**
 * Gateway validation, after Istio's ValidateGateway / validateServer (pkg/config/validation).
 * Server TLS settings are checked in validate-server-tls.ts. Pure, no I/O.
 */
import {
  DuplicateCheck, Issues, Obj, PathSegment, checkPort, checkProtocol, forEachItem, forEachObj, isObj, readIstioSpec, readList, readObj,
  readStr, readStringMap,
} from './validate-fields';
import { isDns1123Label, isIP, namespacedHostError, unixAddressError } from './validate-names';
import { checkServerTls } from './validate-server-tls';

const GATEWAY_FIELDS = ['servers', 'selector'];
const UNIX_PREFIX = 'unix://';
const HTTP_PROTOCOLS = ['http', 'http2', 'grpc', 'grpc-web', 'http_proxy'];
const TLS_PROTOCOLS = ['https', 'tls'];

export function validateGateway(o: Obj, iss: Issues): void {
  // Gateway names end up in route names and "namespace/name" references: no dots.
  const name = isObj(o.metadata) ? o.metadata.name : undefined;
  if (typeof name === 'string' && name !== '' && !isDns1123Label(name)) iss.error(['metadata', 'name'], `invalid gateway name: "${name}" (must be a DNS-1123 label)`);
  const spec = readIstioSpec(iss, o, GATEWAY_FIELDS);
  readStringMap(iss, ['spec', 'selector'], spec.selector);
  const servers = readList(iss, ['spec', 'servers'], spec.servers) ?? [];
  if (servers.length === 0) iss.error(['spec', 'servers'], 'gateway must have at least one server');
  const portNames = new DuplicateCheck<string>();
  forEachObj(iss, ['spec', 'servers'], servers, (s, p) => {
    const hosts = readList(iss, [...p, 'hosts'], s.hosts) ?? [];
    if (hosts.length === 0) iss.error([...p, 'hosts'], 'server config must contain at least one host');
    forEachItem(iss, [...p, 'hosts'], hosts, (h, hp) => {
      const host = readStr(iss, hp, h);
      const err = host === undefined ? undefined : namespacedHostError(host, true);
      if (err) iss.error(hp, err);
    });
    const bind = readStr(iss, [...p, 'bind'], s.bind) ?? '';
    const protocol = checkServerPort(iss, [...p, 'port'], s.port, bind, portNames);
    if (bind.startsWith(UNIX_PREFIX)) {
      const err = unixAddressError(bind.slice(UNIX_PREFIX.length));
      if (err) iss.error([...p, 'bind'], err);
    } else if (bind !== '' && !isIP(bind)) {
      iss.error([...p, 'bind'], `${bind} is not a valid IP`);
    }
    readStr(iss, [...p, 'name'], s.name);
    readStr(iss, [...p, 'defaultEndpoint'], s.defaultEndpoint);

    const tls = readObj(iss, [...p, 'tls'], s.tls);
    const mode = tls ? checkServerTls(iss, [...p, 'tls'], tls) : undefined;
    if (protocol === undefined) return;
    const isTls = TLS_PROTOCOLS.includes(protocol);
    const isHttp = HTTP_PROTOCOLS.includes(protocol);
    if (isTls && !tls) iss.error([...p, 'tls'], 'server must have TLS settings for HTTPS/TLS protocols');
    if (!isTls && tls) {
      // A plain-text HTTP server may carry only httpsRedirect.
      const material = ['caCertificates', 'privateKey', 'serverCertificate'].some((f) => typeof tls[f] === 'string' && tls[f] !== '');
      if (!isHttp) iss.error([...p, 'tls'], 'server cannot have TLS settings for non HTTPS/TLS ports');
      else if ((mode !== 'PASSTHROUGH' && mode !== 'AUTO_PASSTHROUGH') || material) iss.error([...p, 'tls'], 'server cannot have TLS settings for plain text HTTP ports');
    }
    if (!isHttp && tls?.httpsRedirect === true) iss.warn([...p, 'tls', 'httpsRedirect'], 'tls.httpsRedirect should only be used with http servers');
  });
}

/**
 * Gateway server ports need a known protocol, a number (unless bound to a unix socket, where it
 * must be 0) and a unique name. Returns the lower-cased protocol when it is valid.
 */
function checkServerPort(iss: Issues, p: PathSegment[], v: unknown, bind: string, names: DuplicateCheck<string>): string | undefined {
  const port = readObj(iss, p, v);
  if (!port) { iss.error(p, 'port is required'); return undefined; }
  const protocol = checkProtocol(iss, [...p, 'protocol'], port.protocol, true);
  if (bind.startsWith(UNIX_PREFIX)) {
    if (port.number !== undefined && port.number !== null && port.number !== 0) iss.error([...p, 'number'], 'port number must be 0 for unix domain socket');
  } else {
    checkPort(iss, [...p, 'number'], port.number, true);
  }
  if (port.targetPort !== undefined && port.targetPort !== null && port.targetPort !== 0) iss.error([...p, 'targetPort'], 'targetPort has no impact on Gateways');
  const name = readStr(iss, [...p, 'name'], port.name);
  if (!name) iss.error([...p, 'name'], 'port name must be set');
  else names.check(iss, [...p, 'name'], name, (n) => `port names in servers must be unique: duplicate name ${n}`);
  return protocol?.toLowerCase();
}
