/**
 * Decoded protobuf (protobufjs toObject, proto field names) → canonical proto3 JSON for the
 * well-known types, the way Envoy's admin /config_dump and Istio's debug endpoints (protojson)
 * print them: Duration "1.500s", Timestamp RFC 3339, wrappers as bare values, Struct as plain
 * JSON, Any as {"@type", ...fields}. Walks the message type alongside the object, so only fields
 * whose declared type is well-known are touched. Debug-time only (main thread, never on a push).
 */
import * as protobuf from 'protobufjs';
import { messageType } from '../../shared/envoy/proto';
import { structToJson } from '../../shared/envoy/struct';

const WRAPPER_DEFAULTS: Record<string, unknown> = {
  'google.protobuf.DoubleValue': 0, 'google.protobuf.FloatValue': 0, 'google.protobuf.Int64Value': 0, 'google.protobuf.UInt64Value': 0,
  'google.protobuf.Int32Value': 0, 'google.protobuf.UInt32Value': 0, 'google.protobuf.BoolValue': false, 'google.protobuf.StringValue': '', 'google.protobuf.BytesValue': '',
};

type Obj = Record<string, unknown>;

/** protojson's Duration: seconds with 0, 3, 6 or 9 fractional digits and an "s". */
export function durationJson(v: { seconds?: number | string; nanos?: number }): string {
  const s = Number(v.seconds ?? 0);
  const n = Number(v.nanos ?? 0);
  const neg = s < 0 || n < 0;
  const abs = Math.abs(s);
  const nanos = Math.abs(n);
  if (nanos === 0) return `${neg ? '-' : ''}${abs}s`;
  let frac = String(nanos).padStart(9, '0');
  frac = frac.endsWith('000000') ? frac.slice(0, 3) : frac.endsWith('000') ? frac.slice(0, 6) : frac;
  return `${neg ? '-' : ''}${abs}.${frac}s`;
}

function timestampJson(v: { seconds?: number | string; nanos?: number }): string {
  return new Date(Number(v.seconds ?? 0) * 1000 + Math.floor(Number(v.nanos ?? 0) / 1e6)).toISOString().replace('.000Z', 'Z');
}

function convert(type: protobuf.Type, v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  const name = type.fullName.replace(/^\./, '');
  if (name === 'google.protobuf.Duration') return durationJson(v as Obj as { seconds?: number; nanos?: number });
  if (name === 'google.protobuf.Timestamp') return timestampJson(v as Obj as { seconds?: number; nanos?: number });
  if (name in WRAPPER_DEFAULTS) return (v as Obj)['value'] ?? WRAPPER_DEFAULTS[name];
  if (name === 'google.protobuf.Struct') return structToJson(v);
  if (name === 'google.protobuf.Any') return anyJson(v as Obj);
  return canonicalJson(type, v as Obj);
}

function anyJson(v: Obj): unknown {
  const url = v['@type'];
  if (typeof url !== 'string') return v;
  let inner: protobuf.Type;
  try { inner = messageType(url.slice(url.lastIndexOf('/') + 1)); } catch { return v; }
  const { '@type': _t, ...rest } = v;
  const body = convert(inner, rest);
  // well-known types inside an Any are wrapped as {"@type", "value": ...} (protojson)
  return body !== null && typeof body === 'object' && !Array.isArray(body) ? { '@type': url, ...(body as Obj) } : { '@type': url, value: body };
}

/** Canonical proto3 JSON of a decoded message of `type`. */
export function canonicalJson(type: protobuf.Type, obj: Obj): Obj {
  const out: Obj = {};
  for (const [k, v] of Object.entries(obj)) {
    const field = type.fields[k];
    field?.resolve();
    const t = field?.resolvedType;
    if (!field || !(t instanceof protobuf.Type)) { out[k] = v; continue; }
    if (field.map && v && typeof v === 'object') out[k] = Object.fromEntries(Object.entries(v as Obj).map(([mk, mv]) => [mk, convert(t, mv)]));
    else if (field.repeated && Array.isArray(v)) out[k] = v.map((x) => convert(t, x));
    else out[k] = convert(t, v);
  }
  return out;
}
