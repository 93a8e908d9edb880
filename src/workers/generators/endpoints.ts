/**
 * EDS: ClusterLoadAssignment for `outbound|port|subset|host`, grouped by locality. Every locality
 * carries a load_balancing_weight: both gRPC clients silently drop a locality without one
 * (REFERENCE §11), and every RPC then fails with UNAVAILABLE.
 */
import { SnapshotView } from '../../shared/snapshot/snapshot-view';
import { EndpointModel } from '../../shared/model/service';
import { GenContext } from '../../shared/generation';
import { parseClusterName } from './hosts';
import { serviceFor } from './scope';
import { destinationRuleFor } from './destination-rules';
import { Generated, Generator } from './types';

type Obj = Record<string, unknown>;

function labelsMatch(selector: Record<string, string> | undefined, labels: Readonly<Record<string, string>>): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return false;
  return true;
}

export function endpointPort(ep: EndpointModel, portName: string, fallback: number): number | undefined {
  const p = ep.ports[portName];
  if (p !== undefined) return p;
  // ServiceEntry endpoints without an override, and single-port slices with an unnamed port
  if (Object.keys(ep.ports).length === 0) return fallback;
  return ep.ports[''];
}

/** Build the assignment, or undefined when the name is not a cluster this snapshot knows. */
export function loadAssignment(snap: SnapshotView, namespace: string, clusterName: string): Obj | undefined {
  const parsed = parseClusterName(clusterName);
  if (!parsed || parsed.direction !== 'outbound') return undefined;
  const svc = serviceFor(snap, namespace, parsed.host);
  const port = svc?.ports.find((p) => p.port === parsed.port);
  if (!svc || !port) return undefined;
  let selector: Record<string, string> | undefined;
  if (parsed.subset) {
    const dr = destinationRuleFor(snap, namespace, svc);
    const subset = (dr?.spec?.subsets ?? []).find((s: any) => s.name === parsed.subset);
    if (!subset) return undefined;
    selector = subset.labels ?? {};
  }
  const byLocality = new Map<string, Obj[]>();
  const weightOf = new Map<string, number>();
  for (const ep of snap.endpoints(svc.hostname, svc.namespace)) {
    if (!ep.healthy || !labelsMatch(selector, ep.labels)) continue;
    const portNumber = endpointPort(ep, port.name, port.targetPort || port.port);
    if (portNumber === undefined) continue;
    const weight = ep.weight > 0 ? ep.weight : 1;
    const list = byLocality.get(ep.locality) ?? [];
    list.push({
      endpoint: { address: { socket_address: { address: ep.address, port_value: portNumber } } },
      health_status: 'HEALTHY',
      load_balancing_weight: { value: weight },
    });
    byLocality.set(ep.locality, list);
    weightOf.set(ep.locality, (weightOf.get(ep.locality) ?? 0) + weight);
  }
  const endpoints = [...byLocality.keys()].sort().map((loc) => {
    const [region = '', zone = '', sub_zone = ''] = loc.split('/');
    return { locality: { region, zone, sub_zone }, lb_endpoints: byLocality.get(loc), load_balancing_weight: { value: weightOf.get(loc) } };
  });
  return { cluster_name: clusterName, endpoints };
}

/** EDS is never wildcard: clients name the clusters they want. */
export const generateEndpoints: Generator = (snap, ctx: Partial<GenContext>, names) => {
  const out: Generated[] = [];
  for (const name of names ?? []) {
    const cla = loadAssignment(snap, ctx.namespace ?? 'default', name);
    if (cla) out.push({ name, resource: cla });
  }
  return out;
};
