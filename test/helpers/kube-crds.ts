/**
 * Minimal CustomResourceDefinitions for the Istio kinds, generated in code, for tests that run
 * against a real Kubernetes API server (scripts/kube-apiserver/run.sh applies them; tests may call
 * `applyIstioCrds` themselves).
 *
 * They are not Istio's CRDs: the schema of every version is structural but open
 * (`spec` and `status` are `x-kubernetes-preserve-unknown-fields`), so the API server stores what a
 * test sends and validation stays with our webhook. What matters for the wire protocol is kept as
 * Istio has it: group, kind, plural/singular/listKind, short names, categories, namespaced scope,
 * the served versions, exactly one storage version, conversion `None` (the API server only rewrites
 * `apiVersion` between versions) and the `status` subresource (so a PUT of the main resource does
 * not change `.status`, as with Istio's CRDs).
 *
 * CLI (after `npx tsc -p .`):
 *   node dist/test/helpers/kube-crds.js print                     # a JSON `List` of the CRDs
 *   node dist/test/helpers/kube-crds.js lines                     # one CRD (JSON) per line
 *   node dist/test/helpers/kube-crds.js paths                     # one list path per served version
 *   node dist/test/helpers/kube-crds.js apply --kubeconfig FILE   # create/update, wait until served
 */
import { KubeClient, KubeObject, isStatus, loadKubeConfig } from '../../src/main/kube/client';

export interface IstioCrdKind {
  group: string;
  kind: string;
  plural: string;
  shortNames: readonly string[];
  /** served versions, newest first */
  versions: readonly string[];
  storageVersion: string;
}

const NET3 = ['v1', 'v1beta1', 'v1alpha3'] as const;
const SEC = ['v1', 'v1beta1'] as const;

/** The Istio kinds a test API server serves (networking, security, telemetry, extensions). */
export const ISTIO_CRD_KINDS: readonly IstioCrdKind[] = [
  { group: 'networking.istio.io', kind: 'VirtualService', plural: 'virtualservices', shortNames: ['vs'], versions: NET3, storageVersion: 'v1' },
  { group: 'networking.istio.io', kind: 'DestinationRule', plural: 'destinationrules', shortNames: ['dr'], versions: NET3, storageVersion: 'v1' },
  { group: 'networking.istio.io', kind: 'Gateway', plural: 'gateways', shortNames: ['gw'], versions: NET3, storageVersion: 'v1' },
  { group: 'networking.istio.io', kind: 'ServiceEntry', plural: 'serviceentries', shortNames: ['se'], versions: NET3, storageVersion: 'v1' },
  { group: 'networking.istio.io', kind: 'Sidecar', plural: 'sidecars', shortNames: [], versions: NET3, storageVersion: 'v1' },
  { group: 'networking.istio.io', kind: 'WorkloadEntry', plural: 'workloadentries', shortNames: ['we'], versions: NET3, storageVersion: 'v1' },
  { group: 'networking.istio.io', kind: 'WorkloadGroup', plural: 'workloadgroups', shortNames: ['wg'], versions: NET3, storageVersion: 'v1' },
  { group: 'networking.istio.io', kind: 'EnvoyFilter', plural: 'envoyfilters', shortNames: [], versions: ['v1alpha3'], storageVersion: 'v1alpha3' },
  { group: 'networking.istio.io', kind: 'ProxyConfig', plural: 'proxyconfigs', shortNames: [], versions: ['v1beta1'], storageVersion: 'v1beta1' },
  { group: 'security.istio.io', kind: 'PeerAuthentication', plural: 'peerauthentications', shortNames: ['pa'], versions: SEC, storageVersion: 'v1' },
  { group: 'security.istio.io', kind: 'AuthorizationPolicy', plural: 'authorizationpolicies', shortNames: ['ap'], versions: SEC, storageVersion: 'v1' },
  { group: 'security.istio.io', kind: 'RequestAuthentication', plural: 'requestauthentications', shortNames: ['ra'], versions: SEC, storageVersion: 'v1' },
  { group: 'telemetry.istio.io', kind: 'Telemetry', plural: 'telemetries', shortNames: ['telemetry'], versions: ['v1', 'v1alpha1'], storageVersion: 'v1' },
  { group: 'extensions.istio.io', kind: 'WasmPlugin', plural: 'wasmplugins', shortNames: [], versions: ['v1alpha1'], storageVersion: 'v1alpha1' },
];

const OPEN_OBJECT = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };

/** One apiextensions.k8s.io/v1 CustomResourceDefinition for `k`. */
export function istioCrd(k: IstioCrdKind): KubeObject {
  if (!k.versions.includes(k.storageVersion)) throw new Error(`${k.kind}: storage version ${k.storageVersion} is not among the served versions ${k.versions.join(', ')}`);
  const category = k.group.replace(/\./g, '-'); // networking-istio-io, as Istio's CRDs
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${k.plural}.${k.group}`, labels: { 'app.kubernetes.io/part-of': 'istiod-ts-tests' } },
    spec: {
      group: k.group,
      names: {
        kind: k.kind,
        listKind: `${k.kind}List`,
        plural: k.plural,
        singular: k.kind.toLowerCase(),
        ...(k.shortNames.length ? { shortNames: [...k.shortNames] } : {}),
        categories: ['istio-io', category],
      },
      scope: 'Namespaced',
      conversion: { strategy: 'None' },
      versions: k.versions.map((v) => ({
        name: v,
        served: true,
        storage: v === k.storageVersion,
        subresources: { status: {} },
        schema: { openAPIV3Schema: { type: 'object', properties: { spec: OPEN_OBJECT, status: OPEN_OBJECT } } },
      })),
    },
  };
}

/** Every Istio CRD (`ISTIO_CRD_KINDS` order). */
export function istioCrds(): KubeObject[] {
  return ISTIO_CRD_KINDS.map(istioCrd);
}

const CRD_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

/**
 * Creates (or updates in place) every Istio CRD on the API server behind `client`, then waits until
 * each is Established and every served version answers a list. Rejects with the API server's error,
 * or after `timeoutMs` naming the kinds that are not served yet.
 */
export async function applyIstioCrds(client: KubeClient, timeoutMs = 60_000): Promise<void> {
  for (const crd of istioCrds()) {
    try {
      await client.request('POST', CRD_PATH, crd);
    } catch (e) {
      if (!isStatus(e, 409)) throw e;
      const current = await client.request<KubeObject>('GET', `${CRD_PATH}/${crd.metadata.name}`);
      await client.request('PUT', `${CRD_PATH}/${crd.metadata.name}`, { ...crd, metadata: { ...crd.metadata, resourceVersion: current.metadata.resourceVersion } });
    }
  }
  const deadline = Date.now() + timeoutMs;
  let pending = ISTIO_CRD_KINDS.flatMap((k) => k.versions.map((v) => ({ k, v })));
  for (;;) {
    const still: typeof pending = [];
    for (const p of pending) {
      try {
        await client.request('GET', `/apis/${p.k.group}/${p.v}/${p.k.plural}?limit=1`);
      } catch (e) {
        if (!isStatus(e, 404) && !isStatus(e, 503)) throw e;
        still.push(p);
      }
    }
    pending = still;
    if (pending.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(`Istio CRDs not served after ${timeoutMs} ms: ${pending.map((p) => `${p.k.plural}.${p.k.group}/${p.v}`).join(', ')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function cli(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === 'print') {
    process.stdout.write(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: istioCrds() }, null, 2) + '\n');
    return 0;
  }
  if (cmd === 'lines') {
    process.stdout.write(istioCrds().map((c) => JSON.stringify(c) + '\n').join(''));
    return 0;
  }
  if (cmd === 'paths') {
    process.stdout.write(ISTIO_CRD_KINDS.flatMap((k) => k.versions.map((v) => `/apis/${k.group}/${v}/${k.plural}\n`)).join(''));
    return 0;
  }
  if (cmd === 'apply') {
    const i = rest.indexOf('--kubeconfig');
    const kubeconfig = i >= 0 ? rest[i + 1] : process.env.KUBECONFIG;
    if (!kubeconfig) {
      process.stderr.write('kube-crds apply: --kubeconfig FILE (or KUBECONFIG) is required\n');
      return 2;
    }
    await applyIstioCrds(new KubeClient(loadKubeConfig({ kubeconfig })));
    process.stdout.write(`applied ${ISTIO_CRD_KINDS.length} Istio CRDs\n`);
    return 0;
  }
  process.stderr.write('usage: kube-crds print | lines | paths | apply --kubeconfig FILE\n');
  return 2;
}

if (require.main === module) {
  cli(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (e) => { process.stderr.write(`kube-crds: ${(e as Error).message}\n`); process.exitCode = 1; },
  );
}
