/**
 * Config validation: rejects what Istio (and, for core kinds, the Kubernetes API server) would
 * reject, so a bad file in file mode fails the same way `kubectl apply` would. Each kind's rules
 * live in `validate-<kind>.ts`; this module checks the envelope (apiVersion, kind, metadata) and
 * dispatches. Pure: no I/O, never throws on any input, never mutates the object.
 *
 * Contract: namespaces are defaulted by the caller BEFORE validation (file mode fills in
 * "default"), so a namespaced object without one is an error here.
 */
import { K8sObject, KindInfo, findKind, splitApiVersion } from '../model/objects';
import { Issues, Obj, Path, ValidationIssue, checkLabels, checkUnknownFields, isObj, readStringMap } from './validate-fields';
import { Shape, checkShape } from './validate-shape';
import {
  DESTINATION_RULE_SHAPE, GATEWAY_SHAPE, SERVICE_ENTRY_SHAPE, SIDECAR_SHAPE, VIRTUAL_SERVICE_SHAPE, WORKLOAD_ENTRY_SHAPE,
} from './api-shapes';
import { isDns1035Label, isDns1123Label, isDns1123Subdomain } from './validate-names';
import { validateEndpointSlice, validatePod, validateService } from './validate-k8s';
import { validateServiceEntry, validateWorkloadEntry, validateWorkloadGroup } from './validate-service-entry';
import { validateVirtualService } from './validate-virtual-service';
import { validateDestinationRule } from './validate-destination-rule';
import { validateSidecar } from './validate-sidecar';
import { validateGateway } from './validate-gateway';
import { PEER_AUTHENTICATION_SHAPE, validatePeerAuthentication } from './validate-peer-authentication';
import { validateAuthorizationPolicy } from './validate-authorization-policy';
import { REQUEST_AUTHENTICATION_SHAPE, validateRequestAuthentication } from './validate-request-authentication';
import { validateSecret } from './validate-secret';

export type { ValidationIssue, PathSegment } from './validate-fields';

/** `ok` objects may still carry warnings (formatted "path: message"); errors carry their paths. */
export type ValidationResult = { ok: true; warnings: string[] } | { ok: false; errors: ValidationIssue[] };

/** Every problem of one object, with paths. Valid means `errors` is empty. */
export interface ValidationIssues {
  errors: ValidationIssue[];
  warnings: ValidationIssue[];
}

type KindValidator = (o: Obj, iss: Issues) => void;

/**
 * The API shape of each Istio kind's spec: fields outside it are rejected at any depth, as the
 * CRD schema does. Checked after the kind's validator (see validate-shape.ts).
 */
const SPEC_SHAPES: ReadonlyMap<string, Shape> = new Map<string, Shape>([
  ['networking.istio.io/ServiceEntry', SERVICE_ENTRY_SHAPE],
  ['networking.istio.io/WorkloadEntry', WORKLOAD_ENTRY_SHAPE],
  ['networking.istio.io/VirtualService', VIRTUAL_SERVICE_SHAPE],
  ['networking.istio.io/DestinationRule', DESTINATION_RULE_SHAPE],
  ['networking.istio.io/Sidecar', SIDECAR_SHAPE],
  ['networking.istio.io/Gateway', GATEWAY_SHAPE],
  ['security.istio.io/RequestAuthentication', REQUEST_AUTHENTICATION_SHAPE],
  ['security.istio.io/PeerAuthentication', PEER_AUTHENTICATION_SHAPE],
]);

/** Top-level fields of an Istio custom resource (istioctl validate and the webhook reject others). */
const ISTIO_TOP_LEVEL_FIELDS = ['apiVersion', 'kind', 'metadata', 'spec', 'status'];

/** Per-kind rules, keyed by `group/Kind`. Kinds absent here only get the envelope checks. */
const VALIDATORS: ReadonlyMap<string, KindValidator> = new Map<string, KindValidator>([
  ['/Service', validateService],
  ['discovery.k8s.io/EndpointSlice', validateEndpointSlice],
  ['/Pod', validatePod],
  ['networking.istio.io/ServiceEntry', validateServiceEntry],
  ['networking.istio.io/WorkloadEntry', validateWorkloadEntry],
  ['networking.istio.io/WorkloadGroup', validateWorkloadGroup],
  ['networking.istio.io/VirtualService', validateVirtualService],
  ['networking.istio.io/DestinationRule', validateDestinationRule],
  ['networking.istio.io/Sidecar', validateSidecar],
  ['networking.istio.io/Gateway', validateGateway],
  ['security.istio.io/PeerAuthentication', validatePeerAuthentication],
  ['security.istio.io/AuthorizationPolicy', validateAuthorizationPolicy],
  ['security.istio.io/RequestAuthentication', validateRequestAuthentication],
  ['/Secret', validateSecret],
]);

export function validateObject(obj: K8sObject): ValidationResult {
  const { errors, warnings } = validateObjectIssues(obj);
  return errors.length > 0 ? { ok: false, errors } : { ok: true, warnings: warnings.map(formatIssue) };
}

/** Like validateObject, but keeps the warnings' paths, and the warnings of an invalid object too. */
export function validateObjectIssues(obj: K8sObject): ValidationIssues {
  const iss = new Issues();
  const o: unknown = obj;
  if (!isObj(o)) return { errors: [{ path: [], message: 'object must be a mapping' }], warnings: [] };
  const info = checkEnvelope(o, iss);
  if (info) {
    const key = `${info.group}/${info.kind}`;
    if (info.group.endsWith('istio.io')) checkUnknownFields(iss, [], o, ISTIO_TOP_LEVEL_FIELDS);
    checkMetadata(o, info, iss);
    VALIDATORS.get(key)?.(o, iss);
    const shape = SPEC_SHAPES.get(key);
    if (shape) checkShape(iss, ['spec'], o.spec, shape);
  }
  return { errors: iss.errors, warnings: iss.warnings };
}

/** `spec.http[0].route[1].weight` */
export function formatPath(path: Path): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][\w-]*$/.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`; // label keys such as "app.kubernetes.io/name"
  }
  return out;
}

export function formatIssue(issue: ValidationIssue): string {
  return issue.path.length > 0 ? `${formatPath(issue.path)}: ${issue.message}` : issue.message;
}

function checkEnvelope(o: Obj, iss: Issues): KindInfo | undefined {
  if (typeof o.apiVersion !== 'string' || o.apiVersion === '') { iss.error(['apiVersion'], 'apiVersion is required'); return undefined; }
  if (typeof o.kind !== 'string' || o.kind === '') { iss.error(['kind'], 'kind is required'); return undefined; }
  const info = findKind(o.apiVersion, o.kind);
  if (!info) { iss.error(['kind'], `unsupported kind ${o.kind} in ${o.apiVersion}`); return undefined; }
  const { version } = splitApiVersion(o.apiVersion);
  if (!info.versions.includes(version)) {
    iss.error(['apiVersion'], `unsupported version "${version}" for ${o.kind} (supported: ${info.versions.join(', ')})`);
    return undefined;
  }
  return info;
}

function checkMetadata(o: Obj, info: KindInfo, iss: Issues): void {
  if (!isObj(o.metadata)) { iss.error(['metadata'], 'metadata is required'); return; }
  const md = o.metadata;
  const name = md.name;
  if (typeof name !== 'string' || name === '') {
    iss.error(['metadata', 'name'], 'metadata.name is required');
  } else {
    // Service names become DNS labels; Namespaces are labels too; everything else a subdomain.
    const [ok, what] = info.kind === 'Service' && info.group === '' ? [isDns1035Label(name), 'DNS-1035 label']
      : info.kind === 'Namespace' ? [isDns1123Label(name), 'DNS-1123 label']
      : [isDns1123Subdomain(name), 'DNS-1123 subdomain'];
    if (!ok) iss.error(['metadata', 'name'], `invalid name "${name}": must be a ${what}`);
  }
  if (info.namespaced) {
    const ns = md.namespace;
    if (ns === undefined || ns === null || ns === '') iss.error(['metadata', 'namespace'], 'metadata.namespace is required');
    else if (typeof ns !== 'string' || !isDns1123Label(ns)) iss.error(['metadata', 'namespace'], `invalid namespace ${JSON.stringify(ns)}: must be a DNS-1123 label`);
  }
  checkLabels(iss, ['metadata', 'labels'], md.labels);
  readStringMap(iss, ['metadata', 'annotations'], md.annotations);
}
