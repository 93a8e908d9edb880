/**
 * SDS for router proxies: gateway credentials (`credentialName`) as Envoy `Secret` resources, after
 * Istio's SecretGen (pilot/pkg/xds/sds.go), credentials.ParseResourceName and the Kubernetes
 * credentials controller (pilot/pkg/credentials/kube/secrets.go).
 *
 * - Names: `kubernetes://<name>` and `kubernetes://<namespace>/<name>` as Istio parses them; a bare
 *   `<name>` is read as `kubernetes://<name>` (what a gateway asked for before credential names
 *   carried a scheme; Istio's ParseResourceName no longer knows it). The resource keeps the name
 *   the proxy asked for. Other schemes (`kubernetes-gateway://`, which needs Gateway API reference
 *   grants, `builtin://`, `file-cert:`…) are never served here.
 * - Only Secrets of the proxy's own namespace (ctx.namespace) are served: a reference into another
 *   namespace is refused without reading it (Istio filterAuthorizedResources: "cross namespace
 *   secret reference requires ReferencePolicy").
 * - Key pair (ExtractCertInfo): generic `cert` + `key` (+ `crl`) first, else `tls.crt` + `tls.key`
 *   (+ `tls.ocsp-staple`, `ca.crl`); both values non-empty. The Secret's type is not consulted.
 * - A name ending in `-cacert` is the client CA (GetCaCert + ExtractRoot): the Secret `<name>-cacert`
 *   if it exists, else `<name>`; its `cacert` (+ `crl`), else `ca.crt` (+ `ca.crl`).
 * - Whatever cannot be built (no such Secret, wrong or empty keys, refused) is omitted from the
 *   answer, as Istio omits it and logs: one bad reference never breaks the others. Envoy keeps the
 *   listener warming on that secret until its initial fetch timeout.
 * - TlsCertificate / CertificateValidationContext carry inline_bytes, as Istio's toEnvoyTLSSecret
 *   and toEnvoyCaSecret (no private key provider: Istio's cryptomb/qat ProxyConfig is not modelled).
 *
 * Reads go through snap.config('Secret', ns, name), so each resource depends on exactly the Secrets
 * it read (a missing one too): a Secret change re-pushes only the SDS answers that read it.
 * Sidecars get nothing from this server (their SDS is the node agent's).
 */
import { SnapshotView } from '../../shared/snapshot/snapshot-view';
import { GenContext } from '../../shared/generation';
import { Generated } from './types';

type Obj = Record<string, unknown>;

export const KUBERNETES_SECRET_URI = 'kubernetes://';
/** Istio securitymodel.SdsCaSuffix. */
export const SDS_CA_SUFFIX = '-cacert';

// Istio credentials/kube/secrets.go data keys
const GENERIC_CERT = 'cert', GENERIC_KEY = 'key', GENERIC_CA = 'cacert', GENERIC_CRL = 'crl';
const TLS_CERT = 'tls.crt', TLS_KEY = 'tls.key', TLS_STAPLE = 'tls.ocsp-staple', TLS_CA = 'ca.crt', TLS_CRL = 'ca.crl';

/** A requested SDS name resolved to the Secret it refers to. */
export interface SecretRef { readonly resourceName: string; readonly namespace: string; readonly name: string }

export type ParsedName = { ok: true; ref: SecretRef } | { ok: false; reason: string };

/** Istio credentials.ParseResourceName for `kubernetes://` names (plus bare names, see above). */
export function parseSecretResourceName(resourceName: string, proxyNamespace: string): ParsedName {
  let rest: string;
  if (resourceName.startsWith(KUBERNETES_SECRET_URI)) rest = resourceName.slice(KUBERNETES_SECRET_URI.length);
  else if (/^[a-z][a-z0-9+.-]*:/i.test(resourceName)) return { ok: false, reason: `unknown resource type: ${resourceName}` };
  else rest = resourceName;
  const split = rest.split('/');
  const [namespace, name] = split.length > 1 ? [split[0]!, split[1]!] : [proxyNamespace, split[0]!];
  if (!name) return { ok: false, reason: `invalid resource name ${JSON.stringify(resourceName)}: no secret name` };
  return { ok: true, ref: { resourceName, namespace, name } };
}

type Data = ReadonlyMap<string, Buffer>;

function secretData(spec: unknown): Data {
  const out = new Map<string, Buffer>();
  const data = (spec as Obj | undefined)?.['data'];
  if (data && typeof data === 'object') {
    for (const [k, v] of Object.entries(data as Obj)) if (typeof v === 'string') out.set(k, Buffer.from(v.replace(/\s+/g, ''), 'base64'));
  }
  return out;
}

const hasValue = (d: Data, ...keys: string[]) => keys.every((k) => (d.get(k)?.length ?? 0) > 0);
const hasKeys = (d: Data, ...keys: string[]) => keys.every((k) => d.has(k));
const inline = (b: Buffer): Obj => ({ inline_bytes: b });

function foundKeys(d: Data): string {
  const keys = [...d.keys()].sort();
  return keys.length < 3 ? keys.join(', ') : `${keys.slice(0, 3).join(', ')}, and ${keys.length - 3} more...`;
}

export type SecretResult = { ok: true; resource: Obj } | { ok: false; reason: string };

/** Istio ExtractCertInfo + toEnvoyTLSSecret. */
export function tlsCertificateSecret(resourceName: string, spec: unknown): SecretResult {
  const d = secretData(spec);
  let cert: Buffer, key: Buffer, staple: Buffer | undefined;
  if (hasValue(d, GENERIC_CERT, GENERIC_KEY)) {
    cert = d.get(GENERIC_CERT)!; key = d.get(GENERIC_KEY)!;
  } else if (hasValue(d, TLS_CERT, TLS_KEY)) {
    cert = d.get(TLS_CERT)!; key = d.get(TLS_KEY)!; staple = d.get(TLS_STAPLE);
  } else if (hasKeys(d, GENERIC_CERT, GENERIC_KEY)) {
    return { ok: false, reason: `found keys "${GENERIC_CERT}" and "${GENERIC_KEY}", but they were empty` };
  } else if (hasKeys(d, TLS_CERT, TLS_KEY)) {
    return { ok: false, reason: `found keys "${TLS_CERT}" and "${TLS_KEY}", but they were empty` };
  } else {
    return { ok: false, reason: `found secret, but didn't have expected keys (${GENERIC_CERT} and ${GENERIC_KEY}) or (${TLS_CERT} and ${TLS_KEY}); found: ${foundKeys(d)}` };
  }
  const tls: Obj = { certificate_chain: inline(cert), private_key: inline(key) };
  if (staple && staple.length > 0) tls['ocsp_staple'] = inline(staple);
  return { ok: true, resource: { name: resourceName, tls_certificate: tls } };
}

/** Istio ExtractRoot + toEnvoyCaSecret. */
export function validationContextSecret(resourceName: string, spec: unknown): SecretResult {
  const d = secretData(spec);
  let ca: Buffer, crl: Buffer | undefined;
  if (hasValue(d, GENERIC_CA)) {
    ca = d.get(GENERIC_CA)!; crl = d.get(GENERIC_CRL);
  } else if (hasValue(d, TLS_CA)) {
    ca = d.get(TLS_CA)!; crl = d.get(TLS_CRL);
  } else if (hasKeys(d, GENERIC_CA)) {
    return { ok: false, reason: `found key "${GENERIC_CA}", but it was empty` };
  } else if (hasKeys(d, TLS_CA)) {
    return { ok: false, reason: `found key "${TLS_CA}", but it was empty` };
  } else {
    return { ok: false, reason: `found secret, but didn't have expected keys ${GENERIC_CA} or ${TLS_CA}; found: ${foundKeys(d)}` };
  }
  const vc: Obj = { trusted_ca: inline(ca) };
  if (crl && crl.length > 0) vc['crl'] = inline(crl);
  return { ok: true, resource: { name: resourceName, validation_context: vc } };
}

/**
 * One requested name → its Secret resource, or why it is omitted (Istio's log message). Reads the
 * snapshot only for names the proxy may see.
 */
export function buildSecret(snap: SnapshotView, proxyNamespace: string, resourceName: string): SecretResult {
  const parsed = parseSecretResourceName(resourceName, proxyNamespace);
  if (!parsed.ok) return { ok: false, reason: `error parsing resource name: ${parsed.reason}` };
  const { namespace, name } = parsed.ref;
  if (namespace !== proxyNamespace) {
    return { ok: false, reason: `attempted to access unauthorized certificates ${name}: cross namespace secret reference requires ReferencePolicy` };
  }
  if (name.endsWith(SDS_CA_SUFFIX)) {
    const stripped = name.slice(0, -SDS_CA_SUFFIX.length);
    const secret = snap.config('Secret', namespace, name) ?? snap.config('Secret', namespace, stripped);
    if (!secret) return { ok: false, reason: `failed to fetch ca certificate for ${resourceName}: secret ${namespace}/${stripped} not found` };
    const r = validationContextSecret(resourceName, secret.spec);
    return r.ok ? r : { ok: false, reason: `failed to fetch ca certificate for ${resourceName}: ${r.reason}` };
  }
  const secret = snap.config('Secret', namespace, name);
  if (!secret) return { ok: false, reason: `failed to fetch key and certificate for ${resourceName}: secret ${namespace}/${name} not found` };
  const r = tlsCertificateSecret(resourceName, secret.spec);
  return r.ok ? r : { ok: false, reason: `failed to fetch key and certificate for ${resourceName}: ${r.reason}` };
}

/**
 * The router SDS generator. SDS is never wildcard (null names → nothing); each requested name the
 * proxy may see and that resolves becomes one Secret, in request order.
 */
export function gatewaySecrets(snap: SnapshotView, ctx: Partial<GenContext>, names: readonly string[] | null): Generated[] {
  if (names === null) return [];
  const namespace = ctx.namespace ?? '';
  const out: Generated[] = [];
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) continue;
    seen.add(n);
    const r = buildSecret(snap, namespace, n);
    if (r.ok) out.push({ name: n, resource: r.resource });
  }
  return out;
}
