/**
 * Sidecar validation, after Istio's ValidateSidecar (pilot pkg/config/validation). Pure, no I/O.
 */
import {
  DuplicateCheck, Issues, Obj, PathSegment, checkPort, checkPortName, checkProtocol, checkWorkloadSelector, forEachItem,
  forEachObj, isObj, readEnum, readIstioSpec, readList, readObj, readStr,
} from './validate-fields';
import { isIP, namespacedHostError } from './validate-names';

const SIDECAR_FIELDS = ['workloadSelector', 'ingress', 'egress', 'inboundConnectionPool', 'outboundTrafficPolicy'];
const CAPTURE_MODES = ['DEFAULT', 'IPTABLES', 'NONE'] as const;
const UNIX_PREFIX = 'unix://';
const DEFAULT_ENDPOINT = /^(127\.0\.0\.1|0\.0\.0\.0|\[::1\]|\[::\]):(\d+)$/;

export function validateSidecar(o: Obj, iss: Issues): void {
  const spec = readIstioSpec(iss, o, SIDECAR_FIELDS);
  if (!SIDECAR_FIELDS.some((f) => f !== 'workloadSelector' && spec[f] !== undefined && spec[f] !== null)) {
    iss.error(['spec'], 'sidecar: empty configuration provided');
  }
  const ws = checkWorkloadSelector(iss, ['spec', 'workloadSelector'], spec.workloadSelector);
  if (ws && (!isObj(ws.labels) || Object.keys(ws.labels).length === 0)) {
    iss.error(['spec', 'workloadSelector'], 'sidecar: workloadSelector labels must not be empty');
  }

  const ingressPorts = new DuplicateCheck<string>();
  forEachObj(iss, ['spec', 'ingress'], spec.ingress, (ing, p) => {
    const bind = checkBind(iss, [...p, 'bind'], ing.bind);
    const port = readObj(iss, [...p, 'port'], ing.port);
    if (!port) iss.error([...p, 'port'], 'sidecar: port is required for ingress listeners');
    else {
      const num = checkSidecarPort(iss, [...p, 'port'], port);
      if (num !== undefined) ingressPorts.check(iss, [...p, 'port', 'number'], `${bind ?? ''}:${num}`, () => 'sidecar: ports on IP bound listeners must be unique');
    }
    const ep = readStr(iss, [...p, 'defaultEndpoint'], ing.defaultEndpoint);
    if (ep !== undefined && ep !== '' && !isDefaultEndpoint(ep)) {
      iss.error([...p, 'defaultEndpoint'], 'sidecar: defaultEndpoint must be of form 127.0.0.1:<port>, 0.0.0.0:<port>, [::1]:<port>, [::]:<port>, unix://filepath, or unset');
    }
    readEnum(iss, [...p, 'captureMode'], ing.captureMode, CAPTURE_MODES);
  });

  const egress = readList(iss, ['spec', 'egress'], spec.egress) ?? [];
  const egressPorts = new DuplicateCheck<string>();
  forEachObj(iss, ['spec', 'egress'], egress, (eg, p) => {
    const hosts = readList(iss, [...p, 'hosts'], eg.hosts) ?? [];
    if (hosts.length === 0) iss.error([...p, 'hosts'], 'sidecar: egress listener must contain at least one host');
    forEachItem(iss, [...p, 'hosts'], hosts, (h, hp) => {
      const host = readStr(iss, hp, h);
      if (host === undefined) return;
      const err = namespacedHostError(host, true) ?? (host.startsWith('~/') && host !== '~/*' ? 'sidecar: ~/<hostname> is only supported as ~/*' : undefined);
      if (err) iss.error(hp, err);
    });
    const bind = checkBind(iss, [...p, 'bind'], eg.bind);
    const port = readObj(iss, [...p, 'port'], eg.port);
    if (port) {
      const num = checkSidecarPort(iss, [...p, 'port'], port);
      if (num !== undefined) egressPorts.check(iss, [...p, 'port', 'number'], `${bind ?? ''}:${num}`, () => 'sidecar: egress ports on IP bound listeners must be unique');
    } else if ((p[p.length - 1] as number) < egress.length - 1) {
      iss.error(p, 'sidecar: the egress listener with empty port should be the last listener in the list');
    }
    readEnum(iss, [...p, 'captureMode'], eg.captureMode, CAPTURE_MODES);
  });

  const otp = readObj(iss, ['spec', 'outboundTrafficPolicy'], spec.outboundTrafficPolicy);
  if (otp) {
    const mode = readEnum(iss, ['spec', 'outboundTrafficPolicy', 'mode'], otp.mode, ['REGISTRY_ONLY', 'ALLOW_ANY']);
    const proxy = readObj(iss, ['spec', 'outboundTrafficPolicy', 'egressProxy'], otp.egressProxy);
    if (proxy && mode !== 'ALLOW_ANY') {
      iss.error(['spec', 'outboundTrafficPolicy', 'egressProxy'], 'sidecar: egressProxy must be set only with ALLOW_ANY outboundTrafficPolicy mode');
    }
  }
  readObj(iss, ['spec', 'inboundConnectionPool'], spec.inboundConnectionPool);
}

/** Sidecar listener ports need a number, a protocol and a name. */
function checkSidecarPort(iss: Issues, p: PathSegment[], port: Obj): number | undefined {
  checkPortName(iss, [...p, 'name'], port.name);
  checkProtocol(iss, [...p, 'protocol'], port.protocol, true);
  return checkPort(iss, [...p, 'number'], port.number, true);
}

function checkBind(iss: Issues, p: PathSegment[], v: unknown): string | undefined {
  const bind = readStr(iss, p, v);
  if (bind === undefined || bind === '') return undefined;
  if (bind.startsWith(UNIX_PREFIX)) return bind;
  if (!isIP(bind)) iss.error(p, `sidecar: bind must be a valid IP address, got "${bind}"`);
  return bind;
}

function isDefaultEndpoint(ep: string): boolean {
  if (ep.startsWith(UNIX_PREFIX)) return ep.length > UNIX_PREFIX.length;
  const m = DEFAULT_ENDPOINT.exec(ep);
  return m !== null && Number(m[2]) >= 1 && Number(m[2]) <= 65535;
}
