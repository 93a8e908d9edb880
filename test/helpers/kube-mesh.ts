/**
 * Kubernetes-mode fixtures: load YAML into an API server (the local test server or a real one),
 * start istiod-ts against it, and fetch everything a proxy is sent over real ADS, hashed so two
 * control planes can be compared resource by resource.
 */
import * as crypto from 'node:crypto';
import * as YAML from 'yaml';
import { loadConfig } from '../../src/main/config';
import { Discovery, StartOptions, startDiscovery } from '../../src/main/index';
import { AdsClient, NodeInit, resourceName } from './ads-client';
import { KubeTestTarget } from './kube-apiserver';
import { tempDir } from './server';
import { CLUSTER_TYPE_URL, ENDPOINT_TYPE_URL, LISTENER_TYPE_URL, ROUTE_TYPE_URL } from '../../src/shared/resources';

export type Obj = Record<string, any>;

/** Every document of `yamlTexts`, Namespaces first (objects need their namespace). */
export function parseObjects(...yamlTexts: string[]): Obj[] {
  const docs = yamlTexts.flatMap((t) => YAML.parseAllDocuments(t).map((d) => d.toJS() as Obj)).filter((o) => o && typeof o === 'object');
  return [...docs.filter((o) => o.kind === 'Namespace'), ...docs.filter((o) => o.kind !== 'Namespace')];
}

/** Creates every object (Namespaces first); returns them as the API server stored them. */
export async function loadInto(target: KubeTestTarget, objs: Obj[]): Promise<Obj[]> {
  const out: Obj[] = [];
  for (const o of objs) {
    const existing = o.kind === 'Namespace' ? await target.get('v1', 'Namespace', undefined, o.metadata.name) : undefined;
    out.push(existing ?? await target.create(structuredClone(o)));
  }
  return out;
}

export interface KubeDiscovery { discovery: Discovery; grpcTarget: string; stateDir: string; close(): Promise<void> }

/** istiod-ts in Kubernetes mode against `kubeconfigPath`: plaintext xDS, TLS xDS + CA, webhooks, all on ephemeral loopback ports. */
export async function startKubeDiscovery(kubeconfigPath: string, opts: { env?: Record<string, string>; flags?: string[]; start?: StartOptions; stateDir?: string } = {}): Promise<KubeDiscovery> {
  const stateDir = opts.stateDir ?? tempDir('istiod-ts-kube-state-');
  const config = loadConfig([
    '--configDir', '', '--kubeconfig', kubeconfigPath, '--stateDir', stateDir,
    '--grpcAddr', '127.0.0.1:0', '--secureGRPCAddr', '127.0.0.1:0', '--httpsAddr', '127.0.0.1:0', '--httpAddr', '', '--monitoringAddr', '',
    '--log_output_level', process.env['TEST_LOG_LEVEL'] ?? 'default:error',
    ...(opts.flags ?? []),
  ], { PILOT_DEBOUNCE_AFTER: '20ms', ISTIOD_CONFIG_WORKERS: '1', CITADEL_SELF_SIGNED_CA_RSA_KEY_SIZE: '2048', POD_NAME: 'istiod-test', ...opts.env });
  const discovery = await startDiscovery(config, opts.start);
  return { discovery, stateDir, grpcTarget: `127.0.0.1:${discovery.ports.grpc}`, close: () => discovery.close() };
}

/** name → sha256 of the canonical JSON of the resource, per type. */
export type ResourceHashes = Record<'clusters' | 'listeners' | 'routes' | 'endpoints', Record<string, string>>;

const canonical = (v: unknown): string => JSON.stringify(v, (_k, x) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x));
const hash = (v: unknown): string => crypto.createHash('sha256').update(canonical(v)).digest('hex');

/**
 * Everything `node` is sent over one SotW ADS stream: wildcard CDS and LDS, then EDS for the EDS
 * clusters and RDS for the route names the listeners reference, each ACKed.
 */
export async function fetchAll(grpcTarget: string, node: NodeInit): Promise<{ hashes: ResourceHashes; resources: Record<string, Record<string, unknown>> }> {
  const ads = AdsClient.sotw(grpcTarget);
  const resources: Record<string, Record<string, unknown>> = {};
  const hashes: ResourceHashes = { clusters: {}, listeners: {}, routes: {}, endpoints: {} };
  const keep = (kind: keyof ResourceHashes, list: Array<{ value: Record<string, unknown> }>) => {
    for (const r of list) {
      const name = resourceName(r as never);
      resources[`${kind}/${name}`] = r.value;
      hashes[kind][name] = hash(r.value);
    }
  };
  try {
    const cds = await ads.request({ type_url: CLUSTER_TYPE_URL, node }, 10_000);
    keep('clusters', cds.resources);
    ads.send({ type_url: CLUSTER_TYPE_URL, version_info: cds.version_info, response_nonce: cds.nonce });
    const lds = await ads.request({ type_url: LISTENER_TYPE_URL }, 10_000);
    keep('listeners', lds.resources);
    ads.send({ type_url: LISTENER_TYPE_URL, version_info: lds.version_info, response_nonce: lds.nonce });
    const edsNames = cds.resources.filter((r) => r.value['type'] === 'EDS' || r.value['eds_cluster_config']).map((r) => String(r.value['name'])).sort();
    if (edsNames.length > 0) keep('endpoints', (await ads.request({ type_url: ENDPOINT_TYPE_URL, resource_names: edsNames }, 10_000)).resources);
    const routeNames = [...new Set(JSON.stringify(lds.resources).match(/"route_config_name":"[^"]+"/g)?.map((m) => m.slice(21, -1)) ?? [])].sort();
    if (routeNames.length > 0) keep('routes', (await ads.request({ type_url: ROUTE_TYPE_URL, resource_names: routeNames }, 10_000)).resources);
    return { hashes, resources };
  } finally {
    ads.close();
  }
}
