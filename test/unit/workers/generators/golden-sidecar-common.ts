/**
 * Shared helpers for the sidecar golden tests: generate a scene for one sidecar node, pick the
 * resources a test is about, run the structural validator, and serve the same scene to a real
 * Envoy. The virtual listeners' ports (15001/15006) and any port the scene binds for real are moved
 * to free ports for Envoy (MeshConfig proxyListenPort / proxyInboundListenPort and a text
 * replacement), so parallel test files never fight over a port.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GeneratedSet, assertStructurallyValid, generateFor } from '../../../helpers/golden';
import { serveToEnvoy } from '../../../helpers/envoy-ack';
import { ConfigDump } from '../../../helpers/envoy';
import { freePort } from '../../../helpers/server';

export const fqdn = (name: string, ns: string): string => `${name}.${ns}.svc.cluster.local`;
export const sidecarId = (ip: string, pod: string, ns: string): string => `sidecar~${ip}~${pod}.${ns}~${ns}.svc.cluster.local`;

export interface Scene {
  yaml: string;
  nodeId: string;
  metadata?: Record<string, unknown>;
  mesh?: Record<string, unknown>;
}

export function generate(scene: Scene): GeneratedSet {
  return generateFor(scene.yaml, { id: scene.nodeId, metadata: scene.metadata }, { mesh: scene.mesh });
}

function pick(list: Array<Record<string, any>>, key: string, name: string, what: string): Record<string, any> {
  const r = list.find((x) => x[key] === name);
  assert.ok(r, `${what} ${name} generated (have ${list.map((x) => x[key]).join(', ')})`);
  return r;
}
export const listener = (set: GeneratedSet, name: string) => pick(set.listeners, 'name', name, 'listener');
export const route = (set: GeneratedSet, name: string) => pick(set.routes, 'name', name, 'route configuration');
export const cluster = (set: GeneratedSet, name: string) => pick(set.clusters, 'name', name, 'cluster');
export const assignment = (set: GeneratedSet, name: string) => pick(set.endpoints, 'cluster_name', name, 'load assignment');
export const names = (list: Array<Record<string, any>>): string[] => list.map((x) => String(x['name'] ?? x['cluster_name']));

/**
 * A copy without HCM `http_filters`: the HTTP filter chain is the shared builder's (filters.ts)
 * business, not the sidecar listeners', so sidecar goldens do not churn when it grows.
 */
export function withoutHttpFilters<T>(value: T): T {
  return JSON.parse(JSON.stringify(value), (k, v) => (k === 'http_filters' ? undefined : v)) as T;
}

/** Names are unique per type (Envoy NACKs duplicates) and the validator finds nothing. */
export function assertValid(set: GeneratedSet): void {
  for (const [what, list] of [['listener', set.listeners], ['route', set.routes], ['cluster', set.clusters]] as const) {
    const n = names(list);
    assert.equal(new Set(n).size, n.length, `duplicate ${what} names: ${n.join(', ')}`);
  }
  const addrs = set.listeners.map((l) => JSON.stringify(l['address']));
  assert.equal(new Set(addrs).size, addrs.length, `duplicate listener addresses: ${addrs.join(', ')}`);
  assertStructurallyValid(set);
}


/**
 * Serve the scene to a real Envoy and require an ACK of every type. `bound` lists ports the scene
 * really binds (Sidecar listeners with captureMode NONE); they are replaced by free ports in the YAML.
 */
export async function assertEnvoyAcks(scene: Scene, bound: number[] = []): Promise<ConfigDump> {
  let yaml = scene.yaml;
  for (const p of bound) yaml = yaml.replace(new RegExp(`\\b${p}\\b`, 'g'), String(await freePort()));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sidecar-golden-'));
  const meshFile = path.join(dir, 'mesh.yaml');
  const mesh = { ...(scene.mesh ?? {}), proxyListenPort: await freePort(), proxyInboundListenPort: await freePort() };
  fs.writeFileSync(meshFile, JSON.stringify(mesh));
  try {
    const ok = await serveToEnvoy({ 'mesh.yaml': yaml }, { nodeId: scene.nodeId, metadata: scene.metadata, flags: ['--meshConfig', meshFile] });
    try { return ok.dump; } finally {
      // The server's graceful shutdown waits on unref'd timers (src/main/lifecycle.ts); with nothing
      // else pending the test's event loop would drain mid-close and node:test cancels the test.
      const keepAlive = setInterval(() => undefined, 1000);
      try { await ok.close(); } finally { clearInterval(keepAlive); }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Names of the dynamic resources Envoy holds for a config dump section (ListenersConfigDump → dynamic_listeners...). */
export function dumpNames(dump: ConfigDump, section: string, field: string): string[] {
  const s = dump.configs.find((c) => String(c['@type']).endsWith(section)) ?? {};
  return ((s as any)[field] ?? []).map((x: any) => x.name ?? x.cluster?.name ?? x.route_config?.name ?? x.endpoint_config?.cluster_name).filter(Boolean).sort();
}
