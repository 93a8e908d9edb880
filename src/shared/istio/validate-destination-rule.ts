/**
 * DestinationRule validation, after Istio's ValidateDestinationRule (pkg/config/validation).
 * Traffic policies are checked in validate-traffic-policy.ts. Pure, no I/O.
 */
import {
  DuplicateCheck, Issues, Obj, checkExportTo, checkLabels, forEachObj, isObj, namespaceOf, readIstioSpec, readObj, requireStr,
} from './validate-fields';
import { isDns1123Label, wildcardDomainError } from './validate-names';
import { checkTrafficPolicy } from './validate-traffic-policy';

const DR_FIELDS = ['host', 'trafficPolicy', 'subsets', 'exportTo', 'workloadSelector'];

export function validateDestinationRule(o: Obj, iss: Issues): void {
  const spec = readIstioSpec(iss, o, DR_FIELDS);
  const namespace = namespaceOf(o);
  const host = requireStr(iss, ['spec', 'host'], spec.host, 'host');
  if (host !== undefined) {
    const err = wildcardDomainError(host);
    if (err) iss.error(['spec', 'host'], err);
  }
  checkTrafficPolicy(iss, ['spec', 'trafficPolicy'], spec.trafficPolicy, namespace);

  const names = new DuplicateCheck<string>();
  forEachObj(iss, ['spec', 'subsets'], spec.subsets, (s, p) => {
    const name = requireStr(iss, [...p, 'name'], s.name, 'subset name');
    if (name !== undefined && !isDns1123Label(name, true)) iss.error([...p, 'name'], `subset name is invalid: ${name}`);
    names.check(iss, [...p, 'name'], name, (n) => `duplicate subset names: ${n}`);
    checkLabels(iss, [...p, 'labels'], s.labels);
    if (!isObj(s.labels) || Object.keys(s.labels).length === 0) {
      iss.warn([...p, 'labels'], 'subset has no labels: it selects every endpoint of the host');
    }
    checkTrafficPolicy(iss, [...p, 'trafficPolicy'], s.trafficPolicy, namespace);
  });

  const ws = readObj(iss, ['spec', 'workloadSelector'], spec.workloadSelector);
  if (ws) {
    checkLabels(iss, ['spec', 'workloadSelector', 'matchLabels'], ws.matchLabels);
    if (!isObj(ws.matchLabels) || Object.keys(ws.matchLabels).length === 0) iss.warn(['spec', 'workloadSelector'], 'workload selector specified without labels');
  }
  checkExportTo(iss, ['spec', 'exportTo'], spec.exportTo, namespace, { ownNamespaceOnly: ws !== undefined });
}
