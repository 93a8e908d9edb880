/**
 * Name and address formats: Kubernetes DNS-1123 / DNS-1035 names, IANA service names, label
 * values, IP addresses and CIDRs, and Istio's host rules (wildcard only in the first label).
 * Predicates return booleans; `hostError` returns Istio's message. Pure, no I/O (no node:net, so
 * the module stays usable anywhere).
 */

const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_ANY_CASE = /^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;
const DNS1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
// Istio labels.IsWildcardDNS1123Label: "*", "*foo", "*-foo" or a plain label.
const WILDCARD_LABEL = /^(\*|(\*|\*-)?[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)$/;

/** Kubernetes DNS-1123 label (namespaces, port names). `anyCase` is Istio's relaxed variant. */
export function isDns1123Label(s: string, anyCase = false): boolean {
  return s.length <= 63 && (anyCase ? LABEL_ANY_CASE : LABEL).test(s);
}

/** Kubernetes DNS-1123 subdomain (most object names): dot-separated labels, at most 253 chars. */
export function isDns1123Subdomain(s: string): boolean {
  return s.length > 0 && s.length <= 253 && s.split('.').every((l) => LABEL.test(l));
}

/** Kubernetes DNS-1035 label (Service names): starts with a letter. */
export function isDns1035Label(s: string): boolean {
  return s.length <= 63 && DNS1035.test(s);
}

/** IANA service name (named targetPort / containerPort): ≤15 chars, a letter, no "--". */
export function isIanaSvcName(s: string): boolean {
  return s.length >= 1 && s.length <= 15 && /^[-a-z0-9]+$/.test(s) && /[a-z]/.test(s)
    && !s.includes('--') && !s.startsWith('-') && !s.endsWith('-');
}

export function isQualifiedName(s: string): boolean {
  return s.length <= 63 && QUALIFIED_NAME.test(s);
}

export function isLabelValue(s: string): boolean {
  return s === '' || isQualifiedName(s);
}

export function isIPv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

export function isIPv6(s: string): boolean {
  if (s.length < 2 || s.length > 45 || !/^[0-9a-fA-F:.]+$/.test(s)) return false;
  const halves = s.split('::');
  if (halves.length > 2) return false;
  const groups = (h: string) => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const all = [...head, ...tail];
  let count = all.length;
  // A dotted IPv4 suffix ("::ffff:10.0.0.1") counts as two groups and must come last.
  const last = all[all.length - 1];
  if (last !== undefined && last.includes('.')) {
    if (!isIPv4(last)) return false;
    all.pop();
    count++;
  }
  if (!all.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return false;
  return halves.length === 2 ? count <= 7 : count === 8;
}

export function isIP(s: string): boolean {
  return isIPv4(s) || isIPv6(s);
}

/** "10.0.0.0/8", "2001:db8::/32" or a plain IP (Istio ValidateIPSubnet accepts both). */
export function isIPOrCidr(s: string): boolean {
  const slash = s.indexOf('/');
  if (slash < 0) return isIP(s);
  const ip = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bits)) return false;
  const max = isIPv4(ip) ? 32 : isIPv6(ip) ? 128 : -1;
  return Number(bits) <= max;
}

/**
 * Istio ValidateWildcardDomain: a DNS name whose first label may be a wildcard ("*.example.com",
 * "*"), other labels plain, an optional trailing dot. Returns the error message or undefined.
 */
export function wildcardDomainError(host: string): string | undefined {
  if (host.length === 0) return 'empty domain name not allowed';
  if (host.length > 255) return `domain name "${host}" too long (max 255)`;
  const dot = host.indexOf('.');
  const head = dot < 0 ? host : host.slice(0, dot);
  if (!WILDCARD_LABEL.test(head) || head.length > 63) return `domain name "${host}" invalid (label "${head}" invalid)`;
  return dot < 0 ? undefined : labelsError(host, host.slice(dot + 1));
}

/** Istio ValidateFQDN: every label a DNS-1123 label (no wildcard), optional trailing dot. */
export function fqdnError(host: string): string | undefined {
  if (host.length === 0) return 'empty domain name not allowed';
  if (host.length > 255) return `domain name "${host}" too long (max 255)`;
  return labelsError(host, host);
}

function labelsError(host: string, labels: string): string | undefined {
  const parts = labels.split('.');
  const tld = parts[parts.length - 1]!;
  if (/^\d+$/.test(tld)) return `domain name "${host}" invalid (top level domain "${tld}" cannot be all-numeric)`;
  for (let i = 0; i < parts.length; i++) {
    const l = parts[i]!;
    if (l === '' && i === parts.length - 1 && i > 0) continue; // trailing dot of an FQDN
    if (!isDns1123Label(l, true)) return `domain name "${host}" invalid (label "${l}" invalid)`;
  }
  return undefined;
}

/** Istio ValidatePartialWildCard: a wildcard only as the whole first label ("*.example.com" or "*"). */
export function partialWildcardError(host: string): string | undefined {
  return host.includes('*') && host !== '*' && !host.startsWith('*.') ? `partial wildcard "${host}" not allowed` : undefined;
}

/** Istio ValidateUnixAddress, for the part after "unix://": an absolute file path or an abstract "@name". */
export function unixAddressError(addr: string): string | undefined {
  if (addr === '') return 'unix address must not be empty';
  if (addr.startsWith('@')) return undefined;
  return addr.startsWith('/') && !addr.endsWith('/') ? undefined : `${addr} is not an absolute path to a file`;
}

/**
 * Istio ValidateNamespaceSlashWildcardHostname. Sidecar egress hosts must be "namespace/dnsName"
 * with namespace "*", ".", "~" or a name; Gateway server hosts may omit the namespace, may not
 * use "~", and may name an IP. Either way the DNS name must be qualified (no short names), with a
 * wildcard only as its whole first label.
 */
export function namespacedHostError(entry: string, isGateway: boolean): string | undefined {
  const slash = entry.indexOf('/');
  if (slash < 0) return isGateway ? hostnamePartError(entry, true) : `host "${entry}" must be of form namespace/dnsName`;
  const ns = entry.slice(0, slash);
  const host = entry.slice(slash + 1);
  if (ns === '' || host === '') return `config namespace and dnsName in host entry "${entry}" cannot be empty`;
  const special = isGateway ? ['*', '.'] : ['*', '.', '~'];
  if (!special.includes(ns) && !isDns1123Label(ns)) return `invalid namespace value "${ns}" in ${isGateway ? 'gateway' : 'sidecar'} host "${entry}"`;
  return hostnamePartError(host, isGateway);
}

function hostnamePartError(host: string, isGateway: boolean): string | undefined {
  if (host !== '*' && !host.includes('.')) return `short names (non FQDN) are not allowed: "${host}"`;
  const err = wildcardDomainError(host);
  if (err && !(isGateway && isIP(host))) return err;
  return partialWildcardError(host);
}
