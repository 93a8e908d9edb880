/** Istio host naming shared by generators and the snapshot's config indexes. Pure. */
export const DEFAULT_DOMAIN_SUFFIX = 'cluster.local';

/** Istio expands only dot-free short names, relative to the config's namespace. */
export function resolveHost(host: string, namespace: string): string {
  if (host === '*' || host.includes('.') || host.startsWith('*')) return host;
  return `${host}.${namespace}.svc.${DEFAULT_DOMAIN_SUFFIX}`;
}

/** Does pattern (possibly `*` or `*.suffix`) match the concrete host? */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1));
  return pattern === host;
}

export function isWildcardHost(host: string): boolean {
  return host.includes('*');
}

/** Hosts a config applies to, resolved: VirtualService `hosts`, DestinationRule `host`. */
export function configHosts(kind: string, namespace: string, spec: any): string[] {
  if (kind === 'VirtualService') return ((spec?.hosts ?? []) as unknown[]).filter((h): h is string => typeof h === 'string').map((h) => resolveHost(h, namespace));
  if (kind === 'DestinationRule') return typeof spec?.host === 'string' ? [resolveHost(spec.host, namespace)] : [];
  return [];
}

/** Kinds whose lookups are indexed by host (so a change invalidates only lookups of its hosts). */
export const HOST_INDEXED_KINDS: ReadonlySet<string> = new Set(['VirtualService', 'DestinationRule']);
