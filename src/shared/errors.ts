/**
 * One base error class with stable codes (undici UND_ERR_*, fastify FST_ERR_*). Expected outcomes
 * (validation, parse results) use result unions instead; these are for the exceptional paths.
 * Errors map to gRPC status only at the server edge.
 */
export type MeshErrorCode =
  | 'MESH_CONFIG_INVALID'
  | 'MESH_XDS_PROTOCOL'
  | 'MESH_SNAPSHOT_DECODE'
  | 'MESH_SNAPSHOT_ARENA_FULL'
  | 'MESH_WORKER_FAILED'
  | 'MESH_WORKER_TIMEOUT'
  | 'MESH_GENERATION_FAILED';

export class MeshError extends Error {
  readonly code: MeshErrorCode;
  constructor(code: MeshErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export class ConfigError extends MeshError {
  constructor(message: string) { super('MESH_CONFIG_INVALID', message); }
}
export class XdsProtocolError extends MeshError {
  /** gRPC status code to close the stream with (3 INVALID_ARGUMENT, 8 RESOURCE_EXHAUSTED, 14 UNAVAILABLE...). */
  readonly grpcCode: number;
  constructor(grpcCode: number, message: string) { super('MESH_XDS_PROTOCOL', message); this.grpcCode = grpcCode; }
}
export class SnapshotDecodeError extends MeshError {
  constructor(message: string) { super('MESH_SNAPSHOT_DECODE', message); }
}
export class WorkerTimeoutError extends MeshError {
  constructor(message: string) { super('MESH_WORKER_TIMEOUT', message); }
}

/** Errors cross thread boundaries as plain data, never as thrown objects. */
export interface ErrorData { code: string; message: string }

export function toErrorData(err: unknown): ErrorData {
  if (err instanceof MeshError) return { code: err.code, message: err.message };
  if (err instanceof Error) return { code: 'MESH_GENERATION_FAILED', message: err.message };
  return { code: 'MESH_GENERATION_FAILED', message: String(err) };
}

export type Result<T, E = string[]> = { ok: true; value: T } | { ok: false; errors: E };
