/**
 * google.protobuf.Struct as protobufjs decodes it → plain JSON, and back. protobufjs' built-in
 * ("common") well-known types name Value's fields in camelCase (stringValue), unlike the Envoy
 * types loaded with keepCase, so both spellings are read.
 */
export function structToJson(s: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const fields = (s as { fields?: Record<string, unknown> } | undefined)?.fields;
  if (!fields) return out;
  for (const [k, v] of Object.entries(fields)) out[k] = valueToJson(v);
  return out;
}

function valueToJson(v: any): unknown {
  if (v == null) return null;
  const pick = (camel: string, snake: string) => (v[camel] !== undefined ? v[camel] : v[snake]);
  const str = pick('stringValue', 'string_value');
  if (str !== undefined) return str;
  const num = pick('numberValue', 'number_value');
  if (num !== undefined) return num;
  const bool = pick('boolValue', 'bool_value');
  if (bool !== undefined) return bool;
  const st = pick('structValue', 'struct_value');
  if (st !== undefined) return structToJson(st);
  const list = pick('listValue', 'list_value');
  if (list !== undefined) return (list.values ?? []).map(valueToJson);
  return null;
}

export function jsonToStruct(o: Record<string, unknown>): { fields: Record<string, unknown> } {
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) fields[k] = jsonToValue(v);
  return { fields };
}

function jsonToValue(v: unknown): unknown {
  if (v === null || v === undefined) return { nullValue: 0 };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(jsonToValue) } };
  return { structValue: jsonToStruct(v as Record<string, unknown>) };
}
