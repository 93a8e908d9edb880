/**
 * security.istio.io PeerAuthentication validation, after Istio's ValidatePeerAuthentication and
 * validateWorkloadSelector (pkg/config/validation): a mesh- or namespace-wide policy (no selector
 * labels) cannot have portLevelMtls; portLevelMtls, when present, needs at least one entry; a port
 * key is a number in 1..65535 (protojson: map<uint32, MutualTLS>); the mode is one of UNSET,
 * DISABLE, PERMISSIVE, STRICT; selector labels have no empty key and no wildcard. Unknown fields
 * at any depth are rejected through the API shape below (registered in validation.ts SPEC_SHAPES).
 * Pure, no I/O.
 */
import { Issues, Obj, checkLabels, isObj, readIstioSpec, readObj } from './validate-fields';
import type { Shape } from './validate-shape';

const PA_FIELDS = ['selector', 'mtls', 'portLevelMtls'];
export const MTLS_MODES = ['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'] as const;
const MUTUAL_TLS: Shape = { fields: { mode: { enum: MTLS_MODES } } };

/** The JSON shape of security.istio.io/v1 PeerAuthentication (istio/api security/v1beta1/peer_authentication.proto). */
export const PEER_AUTHENTICATION_SHAPE: Shape = {
  fields: {
    selector: { fields: { matchLabels: { map: 'string' } } },
    mtls: MUTUAL_TLS,
    portLevelMtls: { map: MUTUAL_TLS },
  },
};

export function validatePeerAuthentication(o: Obj, iss: Issues): void {
  const spec = readIstioSpec(iss, o, PA_FIELDS);
  const selector = readObj(iss, ['spec', 'selector'], spec.selector);
  const labels = selector && isObj(selector.matchLabels) ? selector.matchLabels : undefined;
  if (selector) {
    checkLabels(iss, ['spec', 'selector', 'matchLabels'], selector.matchLabels);
    for (const [k, v] of Object.entries(labels ?? {})) {
      if (k === '') iss.error(['spec', 'selector', 'matchLabels'], `empty key is not supported in selector: "${k}=${String(v)}"`);
      else if (iss.hasErrorAt(['spec', 'selector', 'matchLabels', k])) continue;
      else if (k.includes('*') || String(v).includes('*')) iss.error(['spec', 'selector', 'matchLabels', k], `wildcard is not supported in selector: "${k}=${String(v)}"`);
    }
  }
  const emptySelector = !labels || Object.keys(labels).length === 0;
  if (spec.portLevelMtls === undefined || spec.portLevelMtls === null) return;
  const ports = readObj(iss, ['spec', 'portLevelMtls'], spec.portLevelMtls);
  if (!ports) return;
  if (emptySelector && Object.keys(ports).length > 0) iss.error(['spec', 'portLevelMtls'], 'mesh/namespace peer authentication cannot have port level mTLS');
  if (Object.keys(ports).length === 0) iss.error(['spec', 'portLevelMtls'], 'port level mTLS, if defined, must have at least one element');
  for (const key of Object.keys(ports)) {
    const n = Number(key);
    if (!/^\d+$/.test(key) || n > 65535) iss.error(['spec', 'portLevelMtls', key], `invalid port "${key}": must be a number in 1..65535`);
    else if (n === 0) iss.error(['spec', 'portLevelMtls', key], 'port cannot be 0');
  }
}
