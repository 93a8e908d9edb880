/**
 * The mesh ConfigMap (`istio` in istiod's namespace, key `mesh`): its YAML is applied over the
 * mesh config from --meshConfig (and defaults), as Istio applies the ConfigMap's mesh over its
 * defaults. Pure.
 */
import * as YAML from 'yaml';
import { KubeObject } from '../../kube/client';

export const MESH_KEY = 'mesh';

export type MeshOverlay = { ok: true; value: Record<string, unknown> } | { ok: false; reason: string };

/** The `mesh` key of the ConfigMap, decoded. A missing key is an error (Istio: "missing configuration map key"). */
export function readMeshConfigMap(cm: KubeObject): MeshOverlay {
  const data = (cm.data ?? {}) as Record<string, unknown>;
  const text = data[MESH_KEY];
  if (text === undefined) return { ok: false, reason: `missing configuration map key "${MESH_KEY}" in "${cm.metadata.name}"` };
  if (typeof text !== 'string') return { ok: false, reason: `key "${MESH_KEY}": expected a string` };
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    return { ok: false, reason: `key "${MESH_KEY}": invalid YAML: ${(e as Error).message.split('\n')[0]}` };
  }
  if (doc === null || doc === undefined) return { ok: true, value: {} };
  if (typeof doc !== 'object' || Array.isArray(doc)) return { ok: false, reason: `key "${MESH_KEY}": expected a YAML mapping of MeshConfig fields` };
  return { ok: true, value: doc as Record<string, unknown> };
}

/**
 * `overlay` over `base`: mappings merge field by field (as a protobuf merge of MeshConfig does for
 * messages such as defaultConfig), everything else — scalars and lists — is replaced.
 */
export function mergeMesh(base: Readonly<Record<string, unknown>>, overlay: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(overlay)) {
    const b = out[k];
    out[k] = isMap(b) && isMap(v) ? mergeMesh(b, v) : v;
  }
  return out;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
