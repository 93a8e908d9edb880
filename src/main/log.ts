/**
 * Scoped structured logging (one JSON object per line on stderr), in the spirit of Istio's
 * `log.RegisterScope("ads", ...)` and grpc-js tracers. Levels per scope come from
 * `--log_output_level scope:level,...` and can be changed at run time through
 * `/scopej/<scope>` (http/scopez.ts), as Istio's ControlZ does.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'none';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, none: 100 };
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'none'];

let defaultLevel: LogLevel = 'info';
const scopeLevels = new Map<string, LogLevel>();
/** every scope created so far (so /scopej can list them before they log anything) */
const knownScopes = new Set<string>(['default']);
let sink: (line: string) => void = (line) => process.stderr.write(line + '\n');

export function isLogLevel(v: unknown): v is LogLevel {
  return typeof v === 'string' && (LOG_LEVELS as readonly string[]).includes(v);
}

export function setLogLevels(levels: { default?: LogLevel; scopes?: Record<string, LogLevel> }): void {
  if (levels.default) defaultLevel = levels.default;
  for (const [scope, level] of Object.entries(levels.scopes ?? {})) {
    if (scope === 'default') { defaultLevel = level; continue; }
    scopeLevels.set(scope, level);
    knownScopes.add(scope);
  }
}

/**
 * Parse Istio's `--log_output_level` value: `scope:level` pairs separated by commas; a bare level
 * or the `default` scope sets the level of every scope without its own. Throws on a bad level.
 */
export function parseLogOutputLevel(spec: string): { default?: LogLevel; scopes: Record<string, LogLevel> } {
  const scopes: Record<string, LogLevel> = {};
  let def: LogLevel | undefined;
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const i = part.lastIndexOf(':');
    const [name, level] = i >= 0 ? [part.slice(0, i), part.slice(i + 1)] : ['default', part];
    if (!isLogLevel(level)) throw new Error(`--log_output_level: unknown level '${level}' in '${part}' (${LOG_LEVELS.join(', ')})`);
    if (name === 'default') def = level; else scopes[name] = level;
  }
  return { default: def, scopes };
}

/** The effective level of every known scope (`default` first). */
export function logLevels(): Array<{ name: string; level: LogLevel }> {
  return [...knownScopes].sort((a, b) => (a === 'default' ? -1 : b === 'default' ? 1 : a.localeCompare(b)))
    .map((name) => ({ name, level: name === 'default' ? defaultLevel : scopeLevels.get(name) ?? defaultLevel }));
}

/** Tests capture log lines through this. Returns a function that restores the previous sink. */
export function setLogSink(fn: (line: string) => void): () => void {
  const prev = sink;
  sink = fn;
  return () => { sink = prev; };
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  enabled(level: LogLevel): boolean;
}

export function scope(name: string): Logger {
  knownScopes.add(name);
  const enabled = (level: LogLevel) => ORDER[level] >= ORDER[scopeLevels.get(name) ?? defaultLevel];
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (!enabled(level)) return;
    sink(JSON.stringify({ time: new Date().toISOString(), level, scope: name, msg, ...fields }));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    enabled,
  };
}
