/**
 * Validation of the Kubernetes kinds that feed the service registry (Service, EndpointSlice, Pod),
 * following what the API server would reject (k8s.io/kubernetes pkg/apis/core/validation), limited
 * to the fields the control plane reads. Pure, no I/O.
 */
import {
  DuplicateCheck, Issues, Obj, checkPort, forEachItem, forEachObj, isObj, readBool, readEnum, readList,
  readObj, readStr, readStringMap,
} from './validate-fields';
import { isDns1123Label, isDns1123Subdomain, isIP, isIPv4, isIPv6, isIanaSvcName } from './validate-names';

const K8S_PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;

/** Label that ties an EndpointSlice to its Service; the registry cannot place a slice without it. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export function validateService(o: Obj, iss: Issues): void {
  const spec = readObj(iss, ['spec'], o.spec) ?? {};
  const type = readEnum(iss, ['spec', 'type'], spec.type, ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName']) ?? 'ClusterIP';
  const clusterIP = readStr(iss, ['spec', 'clusterIP'], spec.clusterIP);
  if (clusterIP !== undefined && clusterIP !== '' && clusterIP !== 'None' && !isIP(clusterIP)) {
    iss.error(['spec', 'clusterIP'], `must be a valid IP address or "None", got "${clusterIP}"`);
  }
  forEachItem(iss, ['spec', 'clusterIPs'], spec.clusterIPs, (ip, p) => {
    const s = readStr(iss, p, ip);
    if (s !== undefined && s !== 'None' && !isIP(s)) iss.error(p, `must be a valid IP address or "None", got "${s}"`);
  });
  readStringMap(iss, ['spec', 'selector'], spec.selector);
  if (type === 'ExternalName') {
    const ext = readStr(iss, ['spec', 'externalName'], spec.externalName);
    if (!ext) iss.error(['spec', 'externalName'], 'externalName is required for type ExternalName');
    else if (!isDns1123Subdomain(ext.replace(/\.$/, ''))) iss.error(['spec', 'externalName'], `invalid DNS name "${ext}"`);
  }

  const ports = readList(iss, ['spec', 'ports'], spec.ports) ?? [];
  if (ports.length === 0 && type !== 'ExternalName' && clusterIP !== 'None') {
    iss.error(['spec', 'ports'], 'at least one port is required (unless clusterIP is None)');
  }
  const names = new DuplicateCheck<string>();
  const portProtocols = new DuplicateCheck<string>();
  forEachObj(iss, ['spec', 'ports'], ports, (port, p) => {
    const name = readStr(iss, [...p, 'name'], port.name);
    if (!name) {
      if (ports.length > 1) iss.error([...p, 'name'], 'port name is required when the service has more than one port');
    } else if (!isDns1123Label(name)) {
      iss.error([...p, 'name'], `invalid port name "${name}" (must be a DNS-1123 label)`);
    } else {
      names.check(iss, [...p, 'name'], name, (n) => `duplicate port name "${n}"`);
    }
    const num = checkPort(iss, [...p, 'port'], port.port, true);
    const protocol = readEnum(iss, [...p, 'protocol'], port.protocol, K8S_PROTOCOLS) ?? 'TCP';
    if (num !== undefined) portProtocols.check(iss, [...p, 'port'], `${num}/${protocol}`, (k) => `duplicate port ${k}`);
    checkTargetPort(iss, [...p, 'targetPort'], port.targetPort);
    readStr(iss, [...p, 'appProtocol'], port.appProtocol);
  });
}

/** A number 1..65535 or an IANA service name (the name of a container port). */
function checkTargetPort(iss: Issues, path: (string | number)[], v: unknown): void {
  if (v === undefined || v === null) return;
  if (typeof v === 'number') { checkPort(iss, path, v, true); return; }
  if (typeof v !== 'string' || !isIanaSvcName(v)) {
    iss.error(path, `targetPort must be a port number or a port name, got ${JSON.stringify(v)}`);
  }
}

export function validateEndpointSlice(o: Obj, iss: Issues): void {
  const labels = isObj(o.metadata) && isObj(o.metadata.labels) ? o.metadata.labels : {};
  if (typeof labels[SERVICE_NAME_LABEL] !== 'string' || labels[SERVICE_NAME_LABEL] === '') {
    iss.error(['metadata', 'labels'], `label ${SERVICE_NAME_LABEL} is required`);
  }
  const addressType = o.addressType === undefined
    ? (iss.error(['addressType'], 'addressType is required'), undefined)
    : readEnum(iss, ['addressType'], o.addressType, ['IPv4', 'IPv6', 'FQDN']);
  const validAddress = addressType === 'IPv4' ? isIPv4 : addressType === 'IPv6' ? isIPv6
    : addressType === 'FQDN' ? (s: string) => isDns1123Subdomain(s) : () => true;

  forEachObj(iss, ['endpoints'], o.endpoints, (ep, p) => {
    const addrs = readList(iss, [...p, 'addresses'], ep.addresses);
    if (!addrs || addrs.length === 0) iss.error([...p, 'addresses'], 'at least one address is required');
    else if (addrs.length > 100) iss.error([...p, 'addresses'], 'at most 100 addresses are allowed');
    forEachItem(iss, [...p, 'addresses'], addrs, (a, ap) => {
      const s = readStr(iss, ap, a);
      if (s !== undefined && !validAddress(s)) iss.error(ap, `"${s}" is not a valid ${addressType} address`);
    });
    const cond = readObj(iss, [...p, 'conditions'], ep.conditions);
    for (const c of ['ready', 'serving', 'terminating']) readBool(iss, [...p, 'conditions', c], cond?.[c]);
    const hostname = readStr(iss, [...p, 'hostname'], ep.hostname);
    if (hostname !== undefined && !isDns1123Label(hostname)) iss.error([...p, 'hostname'], `invalid hostname "${hostname}"`);
    readStr(iss, [...p, 'nodeName'], ep.nodeName);
    readStr(iss, [...p, 'zone'], ep.zone);
  });

  const names = new DuplicateCheck<string>();
  forEachObj(iss, ['ports'], o.ports, (port, p) => {
    const name = readStr(iss, [...p, 'name'], port.name) ?? '';
    if (name !== '' && !isDns1123Label(name)) iss.error([...p, 'name'], `invalid port name "${name}"`);
    names.check(iss, [...p, 'name'], name, (n) => `duplicate port name "${n}"`);
    checkPort(iss, [...p, 'port'], port.port, false);
    readEnum(iss, [...p, 'protocol'], port.protocol, K8S_PROTOCOLS);
    readStr(iss, [...p, 'appProtocol'], port.appProtocol);
  });
}

export function validatePod(o: Obj, iss: Issues): void {
  const spec = readObj(iss, ['spec'], o.spec);
  readStr(iss, ['spec', 'serviceAccountName'], spec?.serviceAccountName);
  readStr(iss, ['spec', 'nodeName'], spec?.nodeName);
  const status = readObj(iss, ['status'], o.status);
  const podIP = readStr(iss, ['status', 'podIP'], status?.podIP);
  if (podIP !== undefined && podIP !== '' && !isIP(podIP)) iss.error(['status', 'podIP'], `invalid IP address "${podIP}"`);
  forEachObj(iss, ['status', 'podIPs'], status?.podIPs, (entry, p) => {
    const ip = readStr(iss, [...p, 'ip'], entry.ip);
    if (ip === undefined || !isIP(ip)) iss.error([...p, 'ip'], `invalid IP address ${JSON.stringify(entry.ip)}`);
  });
  readStr(iss, ['status', 'phase'], status?.phase);
}
