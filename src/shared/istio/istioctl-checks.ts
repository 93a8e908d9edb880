/**
 * The extra checks `istioctl validate` runs on plain Kubernetes objects (istioctl/pkg/validate):
 * Service ports must follow Istio's protocol selection (an Istio protocol as appProtocol, or a
 * port name starting with one, UDP excepted), and Deployments should carry the canonical
 * service name and revision labels. These are lint rules of the command, not admission rules:
 * Kubernetes and file mode accept such objects. Objects in the Istio namespace are exempt.
 * Pure, no I/O.
 */
import { Issues, Obj, forEachObj, isIstioProtocol, isObj, namespaceOf } from './validate-fields';

export const ISTIO_SYSTEM_NAMESPACE = 'istio-system';
const DEPLOYMENT_REQUIREMENTS_URL = 'https://istio.io/latest/docs/ops/deployment/application-requirements/';
const PROTOCOL_SELECTION_URL = 'https://istio.io/latest/docs/ops/configuration/traffic-management/protocol-selection/';
/** appProtocol values Kubernetes defines that Istio maps to a protocol. */
const KUBERNETES_APP_PROTOCOLS = ['kubernetes.io/h2c', 'kubernetes.io/ws', 'kubernetes.io/wss'];
const CANONICAL_NAME_LABELS = ['service.istio.io/canonical-name', 'app.kubernetes.io/name', 'app'];
const CANONICAL_REVISION_LABELS = ['service.istio.io/canonical-revision', 'app.kubernetes.io/version', 'version'];

/** istioctl validateServicePortPrefix, reported at each offending port as an error. */
export function checkServicePortNaming(o: Obj, iss: Issues, istioNamespace: string = ISTIO_SYSTEM_NAMESPACE): void {
  if (namespaceOf(o) === istioNamespace || !isObj(o.spec)) return;
  forEachObj(iss, ['spec', 'ports'], o.spec.ports, (port, p) => {
    if (typeof port.protocol === 'string' && port.protocol.toUpperCase() === 'UDP') return;
    if (typeof port.appProtocol === 'string') {
      if (!isIstioProtocol(port.appProtocol) && !KUBERNETES_APP_PROTOCOLS.includes(port.appProtocol)) {
        iss.error([...p, 'appProtocol'], `appProtocol "${port.appProtocol}" doesn't follow Istio protocol selection, see ${PROTOCOL_SELECTION_URL}`);
      }
      return;
    }
    if (typeof port.name !== 'string' || port.name === '') {
      iss.error(p, `unnamed port: Istio cannot select its protocol, name it <protocol>[-<suffix>] or set appProtocol, see ${DEPLOYMENT_REQUIREMENTS_URL}`);
      return;
    }
    const prefix = port.name.split('-')[0]!;
    if (!isIstioProtocol(prefix)) {
      iss.error([...p, 'name'], `port name "${port.name}" does not follow the Istio naming convention <protocol>[-<suffix>], see ${DEPLOYMENT_REQUIREMENTS_URL}`);
    }
  });
}

/** istioctl validateDeploymentLabel: a warning when the pod template lacks canonical name or revision labels. */
export function checkDeploymentLabels(o: Obj, iss: Issues, istioNamespace: string = ISTIO_SYSTEM_NAMESPACE): void {
  if (namespaceOf(o) === istioNamespace) return;
  const spec = isObj(o.spec) ? o.spec : {};
  const template = isObj(spec.template) ? spec.template : {};
  const md = isObj(template.metadata) ? template.metadata : {};
  const labels = isObj(md.labels) ? md.labels : {};
  const missing = [CANONICAL_NAME_LABELS, CANONICAL_REVISION_LABELS].filter((set) => !set.some((l) => typeof labels[l] === 'string')).map((set) => set.join(' or '));
  if (missing.length > 0) {
    iss.warn(['spec', 'template', 'metadata', 'labels'], `may not provide Istio metrics and telemetry without the label ${missing.join(', and ')}, see ${DEPLOYMENT_REQUIREMENTS_URL}`);
  }
}
