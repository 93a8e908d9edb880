/**
 * The self-signed CA root in Kubernetes mode: Istio keeps it in the Secret `istio-ca-secret`
 * (type `istio.io/ca-root`) in istiod's namespace, so every replica and every restart signs
 * with the same root (security/pkg/pki/ca/ca.go NewSelfSignedIstioCAOptions, BuildSecret).
 *
 * Data keys as Istio's BuildSecret writes them: `ca-cert.pem`, `ca-key.pem`, `cert-chain.pem`,
 * `key.pem`, `root-cert.pem` (values base64). Istio fills only ca-cert.pem and ca-key.pem for a
 * fresh self-signed root (the others empty) and root-cert.pem on rotation; we always write the
 * trust bundle to root-cert.pem, and read an empty one as "the CA certificate alone".
 *
 * Two replicas starting together race to create it: the loser's create gets 409 AlreadyExists and
 * it adopts the winner's Secret, so the mesh has ONE root. Rotation writes are compare-and-swap on
 * ca-cert.pem (PUT with the resourceVersion read), so two rotating replicas cannot overwrite each
 * other's root blindly.
 *
 * Composition (index.ts, Kubernetes mode):
 *   startCa({ ..., rootStore: secretRootStore(client, config.kube.podNamespace) })
 * A plug-in CA (ROOT_CA_DIR) never touches the store, as Istio leaves istio-ca-secret alone then.
 */
import { ConfigError } from '../../shared/errors';
import type { RootStore } from '../ca/certificate-authority';
import { KeyCertBundle, parseCertificates, verifyBundle } from '../ca/key-cert-bundle';
import { KubeClient, KubeObject, isStatus } from './client';
import { scope } from '../log';

const log = scope('ca');

export const CA_SECRET_NAME = 'istio-ca-secret';
export const CA_SECRET_TYPE = 'istio.io/ca-root';
export const CA_SECRET_KEYS = { caCert: 'ca-cert.pem', caKey: 'ca-key.pem', certChain: 'cert-chain.pem', key: 'key.pem', rootCert: 'root-cert.pem' } as const;

interface Secret extends KubeObject { type?: string; data?: Record<string, string> }

const secretPath = (ns: string, name = CA_SECRET_NAME) => `/api/v1/namespaces/${encodeURIComponent(ns)}/secrets${name ? `/${encodeURIComponent(name)}` : ''}`;
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined) => (s ? Buffer.from(s, 'base64').toString('utf8') : '');

/** The bundle held by a Secret object; throws ConfigError naming the Secret when it is unusable. */
export function bundleFromSecret(secret: Secret, nowMs = Date.now()): KeyCertBundle {
  const where = `Secret ${secret.metadata.namespace ?? ''}/${secret.metadata.name}`;
  const d = secret.data ?? {};
  const caCertPem = unb64(d[CA_SECRET_KEYS.caCert]);
  const caKeyPem = unb64(d[CA_SECRET_KEYS.caKey]);
  if (!caCertPem || !caKeyPem) throw new ConfigError(`${where}: ${!caCertPem ? CA_SECRET_KEYS.caCert : CA_SECRET_KEYS.caKey} is missing or empty`);
  if (secret.type && secret.type !== CA_SECRET_TYPE) log.warn('CA secret has an unexpected type', { secret: where, type: secret.type, expected: CA_SECRET_TYPE });
  let roots = unb64(d[CA_SECRET_KEYS.rootCert]) || caCertPem;
  try {
    // As root-store's loadSelfSigned: expired old roots leave the trust bundle.
    roots = parseCertificates(roots).filter((c) => Date.parse(c.validTo) > nowMs).map((c) => c.toString()).join('') || caCertPem;
  } catch (e) {
    throw new ConfigError(`${where}: ${CA_SECRET_KEYS.rootCert}: ${(e as Error).message}`);
  }
  const bundle: KeyCertBundle = { source: 'self-signed', caCertPem, caKeyPem, certChainPem: unb64(d[CA_SECRET_KEYS.certChain]), rootBundlePem: roots };
  const v = verifyBundle(bundle, nowMs);
  if (!v.ok) throw new ConfigError(`${where}: ${v.errors}`);
  return bundle;
}

function secretFor(ns: string, b: KeyCertBundle): Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: CA_SECRET_TYPE,
    metadata: { name: CA_SECRET_NAME, namespace: ns },
    data: {
      [CA_SECRET_KEYS.caCert]: b64(b.caCertPem),
      [CA_SECRET_KEYS.caKey]: b64(b.caKeyPem),
      [CA_SECRET_KEYS.certChain]: b64(b.certChainPem),
      [CA_SECRET_KEYS.key]: '',
      [CA_SECRET_KEYS.rootCert]: b64(b.rootBundlePem),
    },
  };
}

/** `istio-ca-secret` in `ns` as a bundle, or undefined when there is none. Other API errors reject. */
export async function loadCaSecret(client: KubeClient, ns: string, nowMs = Date.now()): Promise<KeyCertBundle | undefined> {
  let secret: Secret;
  try {
    secret = await client.request<Secret>('GET', secretPath(ns));
  } catch (e) {
    if (isStatus(e, 404)) return undefined;
    throw new Error(`reading Secret ${ns}/${CA_SECRET_NAME}: ${(e as Error).message}`);
  }
  return bundleFromSecret(secret, nowMs);
}

/**
 * Store `bundle` in `istio-ca-secret`; resolves to the bundle now in force.
 *
 * - Without `replaces`: create. If it already exists (another replica won the race), the
 *   existing root is returned and `bundle` is dropped.
 * - With `replaces` (rotation: the ca-cert.pem being rotated out): the Secret is updated only
 *   while it still holds that certificate. If another replica already rotated it, that
 *   replica's bundle is returned.
 */
export async function saveCaSecret(client: KubeClient, ns: string, bundle: KeyCertBundle, opts: { replaces?: string; nowMs?: number } = {}): Promise<KeyCertBundle> {
  const where = `Secret ${ns}/${CA_SECRET_NAME}`;
  for (let attempt = 0; attempt < 5; attempt++) {
    let current: Secret | undefined;
    if (opts.replaces !== undefined || attempt > 0) {
      try {
        current = await client.request<Secret>('GET', secretPath(ns));
      } catch (e) {
        if (!isStatus(e, 404)) throw new Error(`reading ${where}: ${(e as Error).message}`);
      }
    }
    if (!current) {
      try {
        await client.request('POST', secretPath(ns, ''), secretFor(ns, bundle));
        log.info('stored the self-signed root in the CA secret', { secret: `${ns}/${CA_SECRET_NAME}` });
        return bundle;
      } catch (e) {
        if (!isStatus(e, 409)) throw new Error(`creating ${where}: ${(e as Error).message}`);
        log.info('another replica created the CA secret first; using its root', { secret: `${ns}/${CA_SECRET_NAME}` });
        continue; // re-read the winner's
      }
    }
    const theirs = unb64(current.data?.[CA_SECRET_KEYS.caCert]);
    if (opts.replaces === undefined || theirs === bundle.caCertPem) {
      if (theirs === bundle.caCertPem && unb64(current.data?.[CA_SECRET_KEYS.rootCert]) === bundle.rootBundlePem) return bundle;
      if (opts.replaces === undefined) return bundleFromSecret(current, opts.nowMs);
    } else if (theirs !== opts.replaces) {
      log.info('the CA secret was rotated by another replica; using its root', { secret: `${ns}/${CA_SECRET_NAME}` });
      return bundleFromSecret(current, opts.nowMs);
    }
    const next: Secret = { ...secretFor(ns, bundle), metadata: { ...current.metadata, name: CA_SECRET_NAME, namespace: ns } };
    try {
      await client.request('PUT', secretPath(ns), next);
      log.info('updated the CA secret with the rotated root', { secret: `${ns}/${CA_SECRET_NAME}` });
      return bundle;
    } catch (e) {
      if (!isStatus(e, 409) && !isStatus(e, 404)) throw new Error(`updating ${where}: ${(e as Error).message}`);
    }
  }
  throw new Error(`${where}: gave up after repeated conflicting writes`);
}

/**
 * The CA's RootStore in Kubernetes mode (CertificateAuthority / startCa `rootStore`): the
 * self-signed root lives in `istio-ca-secret`, shared by every replica. The CA creates it when
 * absent (a lost create race adopts the winner's root), writes rotations compare-and-swap, and
 * adopts a root another replica rotated at its next check.
 */
export function secretRootStore(client: KubeClient, ns: string): RootStore {
  return {
    where: `Secret ${ns}/${CA_SECRET_NAME}`,
    load: (nowMs) => loadCaSecret(client, ns, nowMs),
    save: (next, nowMs, replaces) => saveCaSecret(client, ns, next, { replaces, nowMs }),
  };
}
