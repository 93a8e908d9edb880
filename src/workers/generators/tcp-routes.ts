/**
 * VirtualService `tcp` and `tls` routes → L4 targets for listeners (sidecar outbound listeners and
 * gateway servers both use these). A target is one filter chain: its match (SNI hosts, destination
 * subnets, port) and the clusters tcp_proxy sends to, weights summing to 100.
 * (Stub: the VirtualService work fills it in.)
 */
import { SnapshotView } from '../../shared/snapshot/snapshot-view';
import { ConfigModel } from '../../shared/model/service';
import { RouteOptions } from './routes';

export interface L4Target {
  readonly sniHosts?: readonly string[];
  readonly destinationSubnets?: readonly string[];
  readonly clusters: ReadonlyArray<{ name: string; weight: number }>;
}

/** Targets from `vs.spec.tcp` that apply to `port` (and opts.labels / opts.gateway), in order. */
export function tcpTargets(_snap: SnapshotView, _namespace: string, _vs: ConfigModel, _port: number, _opts: RouteOptions = {}): L4Target[] {
  return [];
}

/** Targets from `vs.spec.tls` (each with its sniHosts) that apply to `port`, in order. */
export function tlsTargets(_snap: SnapshotView, _namespace: string, _vs: ConfigModel, _port: number, _opts: RouteOptions = {}): L4Target[] {
  return [];
}
