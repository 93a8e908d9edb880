/**
 * ServiceEntry and WorkloadEntry validation, after Istio's ValidateServiceEntry and
 * ValidateWorkloadEntry (pilot pkg/config/validation). Pure, no I/O.
 */
import {
  DuplicateCheck, Issues, Obj, PathSegment, checkExportTo, checkLabels, checkPort, checkPortName, checkProtocol,
  checkWorkloadSelector, forEachItem, forEachObj, namespaceOf, readEnum, readInt, readIstioSpec, readList, readObj, readStr,
} from './validate-fields';
import { fqdnError, isIP, isIPOrCidr, partialWildcardError, unixAddressError, wildcardDomainError } from './validate-names';

const SE_FIELDS = ['hosts', 'addresses', 'ports', 'location', 'resolution', 'endpoints', 'workloadSelector', 'exportTo', 'subjectAltNames'];
const WE_FIELDS = ['address', 'ports', 'labels', 'network', 'locality', 'weight', 'serviceAccount'];
const RESOLUTIONS = ['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'DYNAMIC_DNS'] as const;
type Resolution = (typeof RESOLUTIONS)[number];

/** Protocols on which several hosts can share a port (Istio protocol.IsHTTP / IsTLS). */
const HOST_AWARE_PROTOCOLS = ['http', 'http2', 'grpc', 'grpc-web', 'http_proxy', 'https', 'tls'];

const UNIX_PREFIX = 'unix://';

export function validateServiceEntry(o: Obj, iss: Issues): void {
  const spec = readIstioSpec(iss, o, SE_FIELDS);
  const hosts = readList(iss, ['spec', 'hosts'], spec.hosts) ?? [];
  if (hosts.length === 0) iss.error(['spec', 'hosts'], 'service entry must have at least one host');
  const hostNames: string[] = [];
  forEachItem(iss, ['spec', 'hosts'], hosts, (h, p) => {
    const host = readStr(iss, p, h);
    if (host === undefined) return;
    hostNames.push(host);
    const err = host === '*' ? 'invalid host *' : wildcardDomainError(host);
    if (err) iss.error(p, err);
    const partial = err ? undefined : partialWildcardError(host);
    if (partial) iss.warn(p, partial);
  });

  const addresses = readList(iss, ['spec', 'addresses'], spec.addresses) ?? [];
  let cidrFound = false;
  forEachItem(iss, ['spec', 'addresses'], addresses, (a, p) => {
    const s = readStr(iss, p, a);
    if (s === undefined) return;
    cidrFound ||= s.includes('/');
    if (!isIPOrCidr(s)) iss.error(p, `invalid address "${s}" (expected an IP or CIDR)`);
  });

  readEnum(iss, ['spec', 'location'], spec.location, ['MESH_EXTERNAL', 'MESH_INTERNAL']);
  const resolution: Resolution = readEnum(iss, ['spec', 'resolution'], spec.resolution, RESOLUTIONS) ?? 'NONE';
  if (cidrFound && resolution !== 'NONE' && resolution !== 'STATIC') {
    iss.error(['spec', 'addresses'], 'CIDR addresses are allowed only for NONE/STATIC resolution types');
  }

  const portNames = new Set<string>();
  const dupNames = new DuplicateCheck<string>();
  const dupNumbers = new DuplicateCheck<number>();
  let hostAware = true;
  let tcpPort = false;
  forEachObj(iss, ['spec', 'ports'], spec.ports, (port, p) => {
    const name = checkPortName(iss, [...p, 'name'], port.name);
    if (!dupNames.check(iss, [...p, 'name'], name, (n) => `service entry port name "${n}" already defined`) && name) portNames.add(name);
    const num = checkPort(iss, [...p, 'number'], port.number, true);
    dupNumbers.check(iss, [...p, 'number'], num, (n) => `service entry port ${n} already defined`);
    checkPort(iss, [...p, 'targetPort'], port.targetPort, false);
    const protocol = checkProtocol(iss, [...p, 'protocol'], port.protocol, false);
    if (!protocol || !HOST_AWARE_PROTOCOLS.includes(protocol.toLowerCase())) hostAware = false;
    if (protocol?.toLowerCase() === 'tcp') tcpPort = true;
    if (addresses.length === 0 && (!protocol || protocol.toUpperCase() === 'TCP')) {
      iss.warn([...p, 'protocol'], 'addresses are required for ports serving TCP (or unset) protocol when ISTIO_META_DNS_AUTO_ALLOCATE is not set on a proxy');
    }
  });
  if (resolution !== 'NONE' && hosts.length > 1 && !hostAware) {
    iss.error(['spec', 'hosts'], 'multiple hosts provided with non-HTTP, non-TLS ports');
  }

  const endpoints = readList(iss, ['spec', 'endpoints'], spec.endpoints) ?? [];
  if (spec.workloadSelector !== undefined && spec.workloadSelector !== null) {
    checkWorkloadSelector(iss, ['spec', 'workloadSelector'], spec.workloadSelector, 'service entry');
    if (endpoints.length > 0) iss.error(['spec', 'workloadSelector'], 'only one of workloadSelector or endpoints is allowed in a ServiceEntry');
    else if (resolution === 'NONE') iss.warn(['spec', 'workloadSelector'], 'workloadSelector should not be set when resolution mode is NONE');
  }
  if (endpoints.length > 0 && (resolution === 'NONE' || resolution === 'DYNAMIC_DNS')) {
    iss.error(['spec', 'endpoints'], `no endpoints should be provided for resolution type ${resolution}`);
  }
  if (resolution === 'DNS_ROUND_ROBIN' && endpoints.length > 1) {
    iss.error(['spec', 'endpoints'], 'there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN');
  }
  if ((resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN') && endpoints.length === 0) {
    hostNames.forEach((h, i) => {
      if (h !== '*' && fqdnError(h)) iss.error(['spec', 'hosts', i], `hosts must be FQDN if no endpoints are provided for resolution mode ${resolution}`);
    });
  }
  if ((resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN') && addresses.length > 0 && tcpPort && hosts.length > 1) {
    iss.warn(['spec', 'hosts'], 'service entry can not have more than one host specified simultaneously with address and tcp port');
  }
  forEachObj(iss, ['spec', 'endpoints'], endpoints, (ep, p) => {
    checkWorkload(iss, p, ep, { resolution, portNames });
    if (resolution === 'STATIC' && typeof ep.address === 'string' && ep.address.startsWith(UNIX_PREFIX) && portNames.size !== 1) {
      iss.error([...p, 'address'], 'exactly 1 service port required for unix endpoints');
    }
  });

  checkExportTo(iss, ['spec', 'exportTo'], spec.exportTo, namespaceOf(o), { allowNone: true });
  forEachItem(iss, ['spec', 'subjectAltNames'], spec.subjectAltNames, (s, p) => readStr(iss, p, s));
}

export function validateWorkloadEntry(o: Obj, iss: Issues): void {
  const spec = readIstioSpec(iss, o, WE_FIELDS);
  checkWorkload(iss, ['spec'], spec, {});
}

const WG_FIELDS = ['metadata', 'template', 'probe'];

/**
 * WorkloadGroup (Istio ValidateWorkloadGroup): a template for auto-registered WorkloadEntries, so
 * the template carries no address (each VM reports its own); labels in metadata must be valid.
 */
export function validateWorkloadGroup(o: Obj, iss: Issues): void {
  const spec = readIstioSpec(iss, o, WG_FIELDS);
  const metadata = readObj(iss, ['spec', 'metadata'], spec.metadata);
  if (metadata) {
    for (const k of Object.keys(metadata)) if (k !== 'labels' && k !== 'annotations') iss.error(['spec', 'metadata', k], `unknown field "${k}"`);
    readObj(iss, ['spec', 'metadata', 'labels'], metadata.labels);
    readObj(iss, ['spec', 'metadata', 'annotations'], metadata.annotations);
  }
  const template = readObj(iss, ['spec', 'template'], spec.template);
  if (!template) { iss.error(['spec', 'template'], 'template is required'); return; }
  for (const k of Object.keys(template)) if (!WE_FIELDS.includes(k)) iss.error(['spec', 'template', k], `unknown field "${k}"`);
  if (template.address !== undefined && template.address !== '') iss.error(['spec', 'template', 'address'], 'address must not be set in a WorkloadGroup template (each workload reports its own)');
  else checkWorkload(iss, ['spec', 'template'], { ...template, address: '0.0.0.0' }, {});
}

/**
 * A WorkloadEntry body, standalone or inlined as a ServiceEntry endpoint. With a `resolution`
 * the address rules of that mode apply and endpoint ports must name declared ServiceEntry ports.
 */
function checkWorkload(iss: Issues, path: PathSegment[], we: Obj, ctx: { resolution?: Resolution; portNames?: Set<string> }): void {
  const address = readStr(iss, [...path, 'address'], we.address) ?? '';
  const network = readStr(iss, [...path, 'network'], we.network) ?? '';
  const ap = [...path, 'address'];
  if (address === '') {
    if (network === '') iss.error(ap, 'address is required');
    else iss.warn(ap, `address is unset with network "${network}"`);
  } else if (address.startsWith(UNIX_PREFIX)) {
    const err = unixAddressError(address.slice(UNIX_PREFIX.length));
    if (err) iss.error(ap, err);
    if (ctx.resolution !== undefined && ctx.resolution !== 'STATIC') iss.error(ap, 'unix addresses are only allowed for STATIC resolution');
  } else if (ctx.resolution === 'STATIC') {
    if (!isIP(address)) iss.error(ap, `endpoint address "${address}" is not a valid IP address`);
  } else if (!isIP(address) && fqdnError(address)) {
    iss.error(ap, `endpoint address "${address}" is not a valid FQDN or an IP address`);
  }

  const ports = readObj(iss, [...path, 'ports'], we.ports);
  for (const [name, num] of Object.entries(ports ?? {})) {
    const pp = [...path, 'ports', name];
    checkPortName(iss, pp, name);
    checkPort(iss, pp, num, true);
    if (ctx.portNames && !ctx.portNames.has(name)) iss.error(pp, `endpoint port "${name}" is not defined by the service entry`);
  }
  if (address.startsWith(UNIX_PREFIX) && ports && Object.keys(ports).length > 0) {
    iss.error([...path, 'ports'], 'unix endpoints cannot have ports');
  }
  checkLabels(iss, [...path, 'labels'], we.labels);
  readStr(iss, [...path, 'locality'], we.locality);
  readInt(iss, [...path, 'weight'], we.weight, 0, 4294967295);
  readStr(iss, [...path, 'serviceAccount'], we.serviceAccount);
}
