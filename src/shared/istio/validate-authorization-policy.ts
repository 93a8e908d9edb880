/**
 * security.istio.io AuthorizationPolicy validation, after Istio's ValidateAuthorizationPolicy
 * (pkg/config/validation) and pkg/config/security (ValidateAttribute, CheckServiceAccount,
 * CheckValidPathTemplate): one of selector/targetRef/targetRefs, CUSTOM needs rules and
 * `provider.name` and supports no identity-based conditions, `provider` only with CUSTOM, DENY
 * needs rules, non-empty `from`/`to` with non-empty sources and operations, IPs and CIDRs, ports as
 * numeric strings 0..65535, path templates, the `when` keys Istio knows, no empty values, and the
 * warning for DENY rules made only of HTTP attributes (they deny every TCP port). Unknown fields
 * are rejected at any depth through the API shape. Pure, no I/O.
 */
import {
  Issues, Obj, Path, PathSegment, checkLabels, checkUnknownFields, forEachItem, isObj, readEnum, readIstioSpec, readList, readObj, readStr,
} from './validate-fields';
import { Shape, checkShape } from './validate-shape';
import { isIPOrCidr } from './validate-names';

const AP_FIELDS = ['selector', 'targetRef', 'targetRefs', 'rules', 'action', 'provider'];
const ACTIONS = ['ALLOW', 'DENY', 'AUDIT', 'CUSTOM'] as const;

const fields = (f: Record<string, Shape>): Shape => ({ fields: f });
const STRINGS: Shape = { list: 'string' };
const TARGET_REF = fields({ group: 'string', kind: 'string', name: 'string', namespace: 'string' });
const SOURCE_KEYS = [
  'principals', 'notPrincipals', 'requestPrincipals', 'notRequestPrincipals', 'namespaces', 'notNamespaces', 'ipBlocks', 'notIpBlocks',
  'remoteIpBlocks', 'notRemoteIpBlocks', 'serviceAccounts', 'notServiceAccounts',
] as const;
const OPERATION_KEYS = ['hosts', 'notHosts', 'ports', 'notPorts', 'methods', 'notMethods', 'paths', 'notPaths'] as const;

/** The API shape of the AuthorizationPolicy spec (istio/api security/v1beta1 authorization_policy.proto). */
export const AUTHORIZATION_POLICY_SHAPE: Shape = fields({
  selector: fields({ matchLabels: { map: 'string' } }),
  targetRef: TARGET_REF,
  targetRefs: { list: TARGET_REF },
  rules: {
    list: fields({
      from: { list: fields({ source: fields(Object.fromEntries(SOURCE_KEYS.map((k) => [k, STRINGS]))) }) },
      to: { list: fields({ operation: fields(Object.fromEntries(OPERATION_KEYS.map((k) => [k, STRINGS]))) }) },
      when: { list: fields({ key: 'string', values: STRINGS, notValues: STRINGS }) },
    }),
  },
  action: { enum: ACTIONS },
  provider: fields({ name: 'string' }),
});

/** Kinds a policy targetRef may name (Istio allowedTargetRefs; group '' is core). */
const TARGET_KINDS = [['', 'Service'], ['networking.istio.io', 'ServiceEntry'], ['gateway.networking.k8s.io', 'Gateway'], ['gateway.networking.k8s.io', 'GatewayClass']];

export function validateAuthorizationPolicy(o: Obj, iss: Issues): void {
  const spec = readIstioSpec(iss, o, AP_FIELDS);
  const sp = ['spec'];
  checkSelectors(iss, spec);
  const action = readEnum(iss, [...sp, 'action'], spec.action, ACTIONS) ?? (spec.action === undefined || spec.action === null ? 'ALLOW' : undefined);
  const rules = readList(iss, [...sp, 'rules'], spec.rules);
  const provider = readObj(iss, [...sp, 'provider'], spec.provider);
  // protobuf decoding makes `rules: []` the same as no rules (Istio checks `in.Rules == nil`)
  const rulesSet = Array.isArray(spec.rules) && spec.rules.length > 0;

  if (action === 'CUSTOM') {
    if (!rulesSet) {
      iss.error([...sp, 'rules'], 'CUSTOM action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request');
    } else if (!provider || typeof provider.name !== 'string' || provider.name === '') {
      iss.error([...sp, 'provider', 'name'], '`provider.name` must not be empty');
    }
    rules?.forEach((r, i) => checkCustomRule(iss, [...sp, 'rules', i], r));
  }
  if (provider && action !== undefined && action !== 'CUSTOM') iss.error([...sp, 'provider'], `\`provider\` must not be with non CUSTOM action, found ${action}`);
  if (action === 'DENY' && !rulesSet) {
    iss.error([...sp, 'rules'], 'DENY action without `rules` is meaningless as it will never be triggered, add an empty rule `{}` if you want it be triggered for every request');
  }

  rules?.forEach((r, i) => checkRule(iss, [...sp, 'rules', i], r, i, action));
  checkShape(iss, sp, o.spec, AUTHORIZATION_POLICY_SHAPE);
}

/** Istio validateOneOfSelectorType, validateWorkloadSelector, validatePolicyTargetReference(s). */
function checkSelectors(iss: Issues, spec: Obj): void {
  const set = [spec.selector, spec.targetRef].filter((x) => x !== undefined && x !== null).length + (Array.isArray(spec.targetRefs) && spec.targetRefs.length > 0 ? 1 : 0);
  if (set > 1) iss.error(['spec'], 'only one of targetRefs or workloadSelector can be set');
  const sel = readObj(iss, ['spec', 'selector'], spec.selector);
  if (sel) {
    checkUnknownFields(iss, ['spec', 'selector'], sel, ['matchLabels']);
    const ml = readObj(iss, ['spec', 'selector', 'matchLabels'], sel.matchLabels);
    for (const [k, v] of Object.entries(ml ?? {})) {
      if (k.includes('*') || (typeof v === 'string' && v.includes('*'))) iss.error(['spec', 'selector', 'matchLabels', k], `wildcard is not supported in selector: "${k}=${String(v)}"`);
    }
    if (ml) checkLabels(iss, ['spec', 'selector', 'matchLabels'], ml);
    if (!ml || Object.keys(ml).length === 0) iss.warn(['spec', 'selector'], 'workload selector specified without labels');
  }
  const refs: Array<[unknown, PathSegment[]]> = [];
  if (spec.targetRef !== undefined && spec.targetRef !== null) refs.push([spec.targetRef, ['spec', 'targetRef']]);
  forEachItem(iss, ['spec', 'targetRefs'], spec.targetRefs, (r, p) => refs.push([r, p]));
  for (const [r, p] of refs) {
    const ref = readObj(iss, p, r);
    if (!ref) continue;
    if (typeof ref.name !== 'string' || ref.name === '') iss.error([...p, 'name'], 'targetRef name must be set');
    if (typeof ref.namespace === 'string' && ref.namespace !== '') iss.error([...p, 'namespace'], 'targetRef namespace must not be set; cross namespace referencing is not supported');
    const group = typeof ref.group === 'string' ? ref.group : '';
    const kind = typeof ref.kind === 'string' ? ref.kind : '';
    if (!TARGET_KINDS.some(([g, k]) => g === group && k === kind)) {
      iss.error(p, `targetRef must be to one of Service, ServiceEntry, gateway.networking.k8s.io Gateway or GatewayClass but was ${group}/${kind}`);
    }
  }
}

function checkCustomRule(iss: Issues, p: Path, r: unknown): void {
  if (!isObj(r)) return;
  const unsupported = (path: Path, what: string): void => iss.error(path, `${what} is currently not supported with CUSTOM action`);
  (Array.isArray(r.from) ? r.from : []).forEach((from: unknown, j: number) => {
    const src = isObj(from) && isObj(from.source) ? from.source : undefined;
    if (!src) return;
    for (const [k, name] of [['namespaces', 'From.Namespaces'], ['notNamespaces', 'From.NotNamespaces'], ['serviceAccounts', 'From.ServiceAccounts'],
      ['notServiceAccounts', 'From.NotServiceAccounts'], ['principals', 'From.Principals'], ['notPrincipals', 'From.NotPrincipals'],
      ['requestPrincipals', 'From.RequestPrincipals'], ['notRequestPrincipals', 'From.NotRequestPrincipals']] as const) {
      if (Array.isArray(src[k]) && src[k].length > 0) unsupported([...p, 'from', j, 'source', k], name);
    }
  });
  (Array.isArray(r.when) ? r.when : []).forEach((w: unknown, j: number) => {
    if (!isObj(w) || typeof w.key !== 'string') return;
    if (['source.namespace', 'source.serviceAccount', 'source.principal'].includes(w.key) || w.key.startsWith('request.auth.')) unsupported([...p, 'when', j, 'key'], w.key);
  });
}

const nonEmpty = (v: unknown): boolean => Array.isArray(v) && v.length > 0;

/** A list of strings: each a string and not empty (Istio CheckEmptyValues); returns the strings. */
function values(iss: Issues, p: Path, v: unknown, key: string): string[] {
  const out: string[] = [];
  forEachItem(iss, p, v, (item, ip) => {
    const s = readStr(iss, ip, item);
    if (s === undefined) return;
    if (s === '') iss.error(ip, `empty value not allowed, found in ${key}`);
    else out.push(s);
  });
  return out;
}

function checkIPs(iss: Issues, p: Path, vs: readonly string[]): void {
  vs.forEach((v, i) => {
    if (isIPOrCidr(v)) return;
    iss.error([...p, i], v.includes('/') ? `bad CIDR range (${v})` : `bad IP address (${v})`);
  });
}

function checkPorts(iss: Issues, p: Path, vs: readonly string[]): void {
  vs.forEach((v, i) => {
    if (!/^\d+$/.test(v) || Number(v) > 65535) iss.error([...p, i], `bad port (${v}): must be a number 0..65535 written as a string`);
  });
}

/** Istio CheckServiceAccount. */
function checkServiceAccounts(iss: Issues, p: Path, vs: readonly string[], key: string): void {
  if (vs.length > 16) iss.error(p, 'may not have more than 16 values');
  vs.forEach((v, i) => {
    const ip = [...p, i];
    if (v.includes('*')) { iss.error(ip, `wildcard not allowed, found in ${key}`); return; }
    const slashes = v.split('/').length - 1;
    if (slashes > 1) { iss.error(ip, `expected format 'serviceAccount' or 'namespace/serviceAccount', found "${v}" in ${key}`); return; }
    if (v.length > 320) { iss.error(ip, `value cannot exceed 320 characters, found "${v}" in ${key}`); return; }
    if (slashes === 1) {
      const [ns, sa] = v.split('/');
      if (ns === '') iss.error(ip, `expected format 'serviceAccount' or 'namespace/serviceAccount', found empty namespace "${v}" in ${key}`);
      else if (sa === '') iss.error(ip, `expected format 'serviceAccount' or 'namespace/serviceAccount', found empty serviceAccount "${v}" in ${key}`);
    }
  });
}

const VALID_LITERAL = /^[a-zA-Z0-9-._~%!$&'()+,;:@=]+$/;

/** Istio CheckValidPathTemplate: `{*}` and `{**}` segments, `{**}` last, no other braces, pchar literals. */
function checkPathTemplates(iss: Issues, p: Path, vs: readonly string[], key: string): void {
  vs.forEach((raw, i) => {
    const isTemplate = raw.includes('{*}') || raw.includes('{**}');
    const path = raw.replace(/^\/+|\/+$/g, '');
    let sawAny = false;
    for (const glob of path.split('/')) {
      if ((glob === '{*}' || glob === '{**}') && sawAny) { iss.error([...p, i], `invalid or unsupported path ${path}, found in ${key}. {**} is not the last operator`); return; }
      if (glob === '{*}') continue;
      if (glob === '{**}') { sawAny = true; continue; }
      if (/[{}]/.test(glob)) { iss.error([...p, i], `invalid or unsupported path ${path}, found in ${key}. Contains '{' or '}' beyond a supported path template`); return; }
      if (isTemplate && !VALID_LITERAL.test(glob)) { iss.error([...p, i], `invalid or unsupported path ${path}, found in ${key}. Contains segment ${glob} with invalid string literal`); return; }
    }
  });
}

/** `a[b]` (Istio validateMapKey). */
function isMapKey(key: string): boolean {
  const open = key.indexOf('[');
  return key.endsWith(']') && open > 0 && open < key.length - 2;
}

/** Istio security.ValidateAttribute; returns the error message or undefined. */
function attributeError(key: string): string | undefined {
  const mapKey = (): string | undefined => (isMapKey(key) ? undefined : `bad key (${key}): should have format a[b]`);
  if (key.startsWith('request.headers')) return mapKey();
  if (key.startsWith('request.experimental.inline.headers')) return mapKey();
  if (key.startsWith('request.auth.claims')) return mapKey();
  if (key.startsWith('experimental.envoy.filters.')) return mapKey();
  if (['source.ip', 'remote.ip', 'source.namespace', 'source.serviceAccount', 'source.principal', 'request.auth.principal', 'request.auth.audiences',
    'request.auth.presenter', 'destination.ip', 'destination.port', 'connection.sni'].includes(key)) return undefined;
  if (key === 'destination.namespace') return `attribute ${key} is replaced by the metadata.namespace`;
  if (key.startsWith('destination.labels')) return `attribute ${key} is replaced by the workload selector`;
  if (key === 'destination.name' || key === 'destination.user') return `deprecated attribute ${key}: only supported in v1alpha1`;
  return `unknown attribute: ${key}`;
}

function checkWhenValues(iss: Issues, p: Path, key: string, vs: readonly string[], what: string): void {
  if (key === 'source.ip' || key === 'remote.ip' || key === 'destination.ip') {
    vs.forEach((v, i) => { if (!isIPOrCidr(v)) iss.error([...p, i], `invalid \`${what}\` for \`key\` ${key}: ${v.includes('/') ? 'bad CIDR range' : 'bad IP address'} (${v})`); });
  } else if (key === 'destination.port') {
    vs.forEach((v, i) => { if (!/^\d+$/.test(v) || Number(v) > 65535) iss.error([...p, i], `invalid \`${what}\` for \`key\` ${key}: bad port (${v})`); });
  } else if (key === 'source.serviceAccount') {
    checkServiceAccounts(iss, p, vs, key);
  }
}

function checkRule(iss: Issues, p: PathSegment[], r: unknown, i: number, action: string | undefined): void {
  if (r === null || r === undefined) { iss.error(p, `\`rule\` must not be nil, found at rule ${i}`); return; }
  if (!isObj(r)) { iss.error(p, 'must be an object'); return; }
  let fromExists = false, toExists = false, tcpInFrom = false, tcpInTo = false;

  if (Array.isArray(r.from) && r.from.length === 0) iss.error([...p, 'from'], `\`from\` must not be empty, found at rule ${i}`);
  forEachItem(iss, [...p, 'from'], r.from, (from, fp) => {
    if (from === null || from === undefined) { iss.error(fp, `\`from\` must not be nil, found at rule ${i}`); return; }
    if (!isObj(from)) { iss.error(fp, 'must be an object'); return; }
    const src = readObj(iss, [...fp, 'source'], from.source);
    if (!src) { iss.error([...fp, 'source'], `\`from.source\` must not be nil, found at rule ${i}`); return; }
    fromExists = true;
    const sp = [...fp, 'source'];
    if (['principals', 'notPrincipals', 'namespaces', 'notNamespaces'].some((k) => nonEmpty(src[k])) && ['serviceAccounts', 'notServiceAccounts'].some((k) => nonEmpty(src[k]))) {
      iss.error(sp, `cannot set serviceAccounts with namespaces or principals, found at rule ${i}`);
    }
    if (!SOURCE_KEYS.some((k) => nonEmpty(src[k]))) iss.error(sp, `\`from.source\` must not be empty, found at rule ${i}`);
    const name = (k: string): string => k.charAt(0).toUpperCase() + k.slice(1);
    for (const k of SOURCE_KEYS) {
      const vs = values(iss, [...sp, k], src[k], name(k));
      if (k.endsWith('pBlocks') || k.endsWith('IpBlocks')) checkIPs(iss, [...sp, k], vs);
      if (k === 'serviceAccounts' || k === 'notServiceAccounts') checkServiceAccounts(iss, [...sp, k], vs, name(k));
    }
    if (SOURCE_KEYS.some((k) => k !== 'requestPrincipals' && k !== 'notRequestPrincipals' && src[k] !== undefined && src[k] !== null)) tcpInFrom = true;
  });

  if (Array.isArray(r.to) && r.to.length === 0) iss.error([...p, 'to'], `\`to\` must not be empty, found at rule ${i}`);
  forEachItem(iss, [...p, 'to'], r.to, (to, tp) => {
    if (to === null || to === undefined) { iss.error(tp, `\`to\` must not be nil, found at rule ${i}`); return; }
    if (!isObj(to)) { iss.error(tp, 'must be an object'); return; }
    const op = readObj(iss, [...tp, 'operation'], to.operation);
    if (!op) { iss.error([...tp, 'operation'], `\`to.operation\` must not be nil, found at rule ${i}`); return; }
    toExists = true;
    const opp = [...tp, 'operation'];
    if (!OPERATION_KEYS.some((k) => nonEmpty(op[k]))) iss.error(opp, `\`to.operation\` must not be empty, found at rule ${i}`);
    for (const k of OPERATION_KEYS) {
      const vs = values(iss, [...opp, k], op[k], k.charAt(0).toUpperCase() + k.slice(1));
      if (k === 'ports' || k === 'notPorts') checkPorts(iss, [...opp, k], vs);
      if (k === 'paths' || k === 'notPaths') checkPathTemplates(iss, [...opp, k], vs, k === 'paths' ? 'Paths' : 'NotPaths');
    }
    if ((op.ports !== undefined && op.ports !== null) || (op.notPorts !== undefined && op.notPorts !== null)) tcpInTo = true;
  });

  forEachItem(iss, [...p, 'when'], r.when, (w, wp) => {
    if (!isObj(w)) { iss.error(wp, 'when field cannot be nil'); return; }
    const key = readStr(iss, [...wp, 'key'], w.key);
    if (key === undefined || key === '') { iss.error([...wp, 'key'], '`key` must not be empty'); return; }
    const vals = values(iss, [...wp, 'values'], w.values, key);
    const notVals = values(iss, [...wp, 'notValues'], w.notValues, key);
    if (!nonEmpty(w.values) && !nonEmpty(w.notValues)) { iss.error(wp, `at least one of \`values\` or \`notValues\` must be set for key ${key}`); return; }
    const err = attributeError(key);
    if (err) { iss.error([...wp, 'key'], `invalid \`key\` ${key}: ${err}`); return; }
    checkWhenValues(iss, [...wp, 'values'], key, vals, 'value');
    checkWhenValues(iss, [...wp, 'notValues'], key, notVals, 'notValue');
  });

  if (action === 'DENY' && ((fromExists && !toExists && !tcpInFrom) || (toExists && !tcpInTo))) {
    iss.warn(p, 'configured AuthorizationPolicy will deny all traffic to TCP ports under its scope due to the use of only HTTP attributes in a DENY rule; it is recommended to explicitly specify the port');
  }
}
