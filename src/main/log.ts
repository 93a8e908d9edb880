/**
 * Scoped structured logging (one JSON object per line on stderr), in the spirit of Istio's
 * `log.RegisterScope("ads", ...)` and grpc-js tracers. Levels per scope come from
 * `--log_output_level scope:level,...` (parsed in config.ts) and can be changed at run time.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'none';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, none: 100 };

let defaultLevel: LogLevel = 'info';
const scopeLevels = new Map<string, LogLevel>();
let sink: (line: string) => void = (line) => process.stderr.write(line + '\n');

export function setLogLevels(levels: { default?: LogLevel; scopes?: Record<string, LogLevel> }): void {
  if (levels.default) defaultLevel = levels.default;
  for (const [scope, level] of Object.entries(levels.scopes ?? {})) scopeLevels.set(scope, level);
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
