/**
 * Gateway validation, after Istio's ValidateGateway / validateServer (pilot pkg/config/validation).
 * Pure, no I/O.
 */
import {
  DuplicateCheck, Issues, Obj, PathSegment, checkPort, checkProtocol, forEachItem, forEachObj, readBool, readEnum,
  readIstioSpec, readList, readObj, readStr, readStringMap,
} from './validate-fields';
import { isIP, namespacedHostError } from './validate-names';

const GATEWAY_FIELDS = ['servers', 'selector'];
const SERVER_TLS_MODES = ['PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL'] as const;
const UNIX_PREFIX = 'unix://';

export function validateGateway(o: Obj, iss: Issues): void {
  const spec = readIstioSpec(iss, o, GATEWAY_FIELDS);
  readStringMap(iss, ['spec', 'selector'], spec.selector);
  const servers = readList(iss, ['spec', 'servers'], spec.servers) ?? [];
  if (servers.length === 0) iss.error(['spec', 'servers'], 'gateway must have at least one server');
  const portNames = new DuplicateCheck<string>();
  forEachObj(iss, ['spec', 'servers'], servers, (s, p) => {
    const bind = readStr(iss, [...p, 'bind'], s.bind) ?? '';
    if (bind !== '' && !bind.startsWith(UNIX_PREFIX) && !isIP(bind)) iss.error([...p, 'bind'], `bind must be an IP address or unix:// path, got "${bind}"`);
    const protocol = checkServerPort(iss, [...p, 'port'], s.port, bind, portNames);

    const hosts = readList(iss, [...p, 'hosts'], s.hosts) ?? [];
    if (hosts.length === 0) iss.error([...p, 'hosts'], 'server config must contain at least one host');
    forEachItem(iss, [...p, 'hosts'], hosts, (h, hp) => {
      const host = readStr(iss, hp, h);
      const err = host === undefined ? undefined : namespacedHostError(host, false);
      if (err) iss.error(hp, err);
    });

    const tls = readObj(iss, [...p, 'tls'], s.tls);
    const upper = protocol?.toUpperCase();
    if ((upper === 'HTTPS' || upper === 'TLS') && !tls) iss.error([...p, 'tls'], 'server must have TLS settings for HTTPS/TLS protocols');
    if (tls) checkServerTls(iss, [...p, 'tls'], tls);
  });
}

/** Gateway server ports need a number (unless bound to a unix socket), a known protocol and a unique name. */
function checkServerPort(iss: Issues, p: PathSegment[], v: unknown, bind: string, names: DuplicateCheck<string>): string | undefined {
  const port = readObj(iss, p, v);
  if (!port) { iss.error(p, 'port is required'); return undefined; }
  const protocol = checkProtocol(iss, [...p, 'protocol'], port.protocol, true);
  checkPort(iss, [...p, 'number'], port.number, !bind.startsWith(UNIX_PREFIX));
  if (port.targetPort !== undefined) iss.warn([...p, 'targetPort'], 'targetPort has no impact on Gateways');
  const name = readStr(iss, [...p, 'name'], port.name);
  if (!name) iss.error([...p, 'name'], 'port name must be set');
  else names.check(iss, [...p, 'name'], name, (n) => `port names in servers must be unique: duplicate name "${n}"`);
  return protocol;
}

/** ServerTLSSettings: SIMPLE and MUTUAL need key material unless it comes from a credential. */
function checkServerTls(iss: Issues, p: PathSegment[], tls: Obj): void {
  readBool(iss, [...p, 'httpsRedirect'], tls.httpsRedirect);
  const mode = readEnum(iss, [...p, 'mode'], tls.mode, SERVER_TLS_MODES);
  for (const f of ['serverCertificate', 'privateKey', 'caCertificates', 'credentialName']) readStr(iss, [...p, f], tls[f]);
  const hasCredential = Boolean(tls.credentialName) || (Array.isArray(tls.credentialNames) && tls.credentialNames.length > 0);
  if ((mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL') && !hasCredential) {
    if (!tls.serverCertificate) iss.error([...p, 'serverCertificate'], `${mode} TLS requires a server certificate`);
    if (!tls.privateKey) iss.error([...p, 'privateKey'], `${mode} TLS requires a private key`);
    if (mode !== 'SIMPLE' && !tls.caCertificates) iss.error([...p, 'caCertificates'], `${mode} TLS requires a client CA bundle`);
  }
}
