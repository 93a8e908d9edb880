/** Istio host naming: cluster names, short-name expansion, wildcard matching. */
import { DEFAULT_DOMAIN_SUFFIX } from './types';
export { resolveHost, hostMatches } from '../../shared/istio/hosts';

/** `outbound|port|subset|host` */
export function outboundClusterName(port: number, subset: string, host: string): string {
  return `outbound|${port}|${subset}|${host}`;
}

export function inboundClusterName(port: number): string {
  return `inbound|${port}||`;
}

export interface ParsedCluster { direction: 'outbound' | 'inbound'; port: number; subset: string; host: string }

export function parseClusterName(name: string): ParsedCluster | undefined {
  const parts = name.split('|');
  if (parts.length !== 4) return undefined;
  const [direction, port, subset, host] = parts as [string, string, string, string];
  if (direction !== 'outbound' && direction !== 'inbound') return undefined;
  const n = Number(port);
  if (!Number.isInteger(n) || n <= 0 || n > 65535) return undefined;
  return { direction, port: n, subset, host };
}

/** Names a client may use for a Kubernetes service host from namespace `ns` (Istio vhost domains). */
export function hostAliases(hostname: string, ns: string, serviceNamespace: string): string[] {
  const suffix = `.svc.${DEFAULT_DOMAIN_SUFFIX}`;
  if (!hostname.endsWith(suffix)) return [hostname];
  const short = hostname.slice(0, -suffix.length); // name.ns
  const name = short.slice(0, short.lastIndexOf('.'));
  const out = [hostname, `${short}.svc`, short];
  if (ns === serviceNamespace) out.push(name);
  return out;
}
