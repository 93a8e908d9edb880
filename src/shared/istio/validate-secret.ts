/**
 * Secrets the model keeps: gateway credentials (credentialName). A kubernetes.io/tls Secret needs
 * tls.crt and tls.key; a generic one cert + key (and/or cacert). Values are base64 (data) or text
 * (stringData, as kubectl accepts). Other types are outside the model (skipped by the sources).
 */
import { Issues, Obj, isObj } from './validate-fields';

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function validateSecret(o: Obj, iss: Issues): void {
  const type = o['type'] ?? 'Opaque';
  if (typeof type !== 'string') { iss.error(['type'], 'type must be a string'); return; }
  for (const field of ['data', 'stringData'] as const) {
    const m = o[field];
    if (m === undefined) continue;
    if (!isObj(m)) { iss.error([field], `${field} must be a mapping of key to value`); continue; }
    for (const [k, v] of Object.entries(m)) {
      if (typeof v !== 'string') iss.error([field, k], 'value must be a string');
      else if (field === 'data' && !B64.test(v.replace(/\s+/g, ''))) iss.error([field, k], 'value is not base64');
    }
  }
  const keys = new Set([...Object.keys(isObj(o['data']) ? o['data'] : {}), ...Object.keys(isObj(o['stringData']) ? o['stringData'] : {})]);
  if (type === 'kubernetes.io/tls') {
    for (const k of ['tls.crt', 'tls.key']) if (!keys.has(k)) iss.error(['data', k], `a kubernetes.io/tls Secret needs ${k}`);
  }
}
