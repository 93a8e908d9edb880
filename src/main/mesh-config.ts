/**
 * Mesh config (Istio MeshConfig fields we use), from --meshConfig YAML or defaults.
 */
import * as fs from 'node:fs';
import * as YAML from 'yaml';
import { ConfigError } from '../shared/errors';
import { MeshSettings } from './model/registry';

export const DEFAULT_MESH = Object.freeze({
  trustDomain: 'cluster.local',
  rootNamespace: 'istio-system',
  outboundTrafficPolicy: { mode: 'ALLOW_ANY' },
  defaultConfig: { discoveryAddress: 'istiod.istio-system.svc:15012' },
});

export function loadMeshConfig(file: string): MeshSettings {
  let raw: Record<string, unknown> = { ...DEFAULT_MESH };
  if (file) {
    let text: string;
    try { text = fs.readFileSync(file, 'utf8'); } catch (e) { throw new ConfigError(`--meshConfig ${file}: ${(e as Error).message}`); }
    let doc: unknown;
    try { doc = YAML.parse(text); } catch (e) { throw new ConfigError(`--meshConfig ${file}: ${(e as Error).message}`); }
    if (doc !== null && doc !== undefined && (typeof doc !== 'object' || Array.isArray(doc))) throw new ConfigError(`--meshConfig ${file}: expected a YAML mapping of MeshConfig fields`);
    raw = { ...DEFAULT_MESH, ...(doc as Record<string, unknown> | null) };
  }
  return meshSettingsFrom(raw);
}

/** MeshSettings from raw MeshConfig fields (defaults for what is absent); Kubernetes mode calls it on every ConfigMap change. */
export function meshSettingsFrom(raw: Record<string, unknown>): MeshSettings {
  const full = { ...DEFAULT_MESH, ...raw };
  return {
    domainSuffix: 'cluster.local',
    rootNamespace: String(full['rootNamespace'] ?? 'istio-system'),
    trustDomain: String(full['trustDomain'] ?? 'cluster.local'),
    raw: Object.freeze(full),
  };
}
