/**
 * Structural check of an Istio `spec` against the API's message shapes (api-shapes.ts), the way
 * the CRD's structural schema and protojson's strict decoding (istioctl validate) see it: every
 * field must be one the message defines, and scalars must have the field's JSON type. Semantic
 * rules (ranges, one-ofs, cross-field checks) live in the per-kind validators.
 *
 * Runs after the per-kind validator and never reports at a path that already has an error (it
 * still looks below it), so one mistake yields one message even where both look at the same
 * field. Pure, no I/O.
 */
import { Issues, Path, checkUnknownFields, isObj, readBool, readDuration, readEnum, readInt, readStr } from './validate-fields';

/** The JSON shape of a proto field. `number` is a double; `any` is google.protobuf.Struct/Value. */
export type Shape =
  | 'string' | 'bool' | 'int32' | 'uint32' | 'int64' | 'number' | 'duration' | 'any'
  | { readonly enum: readonly string[] }
  | { readonly list: Shape }
  | { readonly map: Shape }
  | { readonly fields: Readonly<Record<string, Shape>> };

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const UINT32_MAX = 2 ** 32 - 1;

/** Reports unknown fields and wrong JSON types anywhere under `v`. */
export function checkShape(iss: Issues, path: Path, v: unknown, shape: Shape): void {
  if (v === undefined || v === null) return;
  // A field the kind's validator already rejected is not reported again; its children still are.
  const reported = iss.hasErrorAt(path);
  if (typeof shape === 'string') { if (!reported) checkScalar(iss, path, v, shape); return; }
  if ('enum' in shape) { if (!reported) readEnum(iss, path, v, shape.enum); return; }
  if ('list' in shape) {
    if (!Array.isArray(v)) { if (!reported) iss.error(path, 'must be a list'); return; }
    v.forEach((item, i) => checkShape(iss, [...path, i], item, shape.list));
    return;
  }
  if (!isObj(v)) { if (!reported) iss.error(path, 'must be an object'); return; }
  if ('map' in shape) {
    for (const [k, item] of Object.entries(v)) checkShape(iss, [...path, k], item, shape.map);
    return;
  }
  for (const [k, item] of Object.entries(v)) {
    const field = shape.fields[k];
    if (field !== undefined) checkShape(iss, [...path, k], item, field);
    else if (!iss.hasErrorAt([...path, k])) checkUnknownFields(iss, path, { [k]: item }, Object.keys(shape.fields));
  }
}

function checkScalar(iss: Issues, path: Path, v: unknown, shape: Exclude<Shape, object>): void {
  switch (shape) {
    case 'string': readStr(iss, path, v); return;
    case 'bool': readBool(iss, path, v); return;
    case 'int32': readInt(iss, path, v, INT32_MIN, INT32_MAX); return;
    case 'uint32': readInt(iss, path, v, 0, UINT32_MAX); return;
    case 'int64': readInt(iss, path, v, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER); return;
    case 'number': if (typeof v !== 'number' || !Number.isFinite(v)) iss.error(path, `must be a number, got ${JSON.stringify(v)}`); return;
    case 'duration': readDuration(iss, path, v); return;
    case 'any': return;
  }
}
