/**
 * Log levels at run time, in the shape of Istio's ControlZ scope API (pkg/ctrlz/topics/scopes.go),
 * served on our HTTP ports instead of a separate ControlZ port (9876):
 *
 *   GET /scopej            → [{name, description, output_level, stack_trace_level, log_callers}]
 *   GET /scopej/<scope>    → one of those
 *   PUT /scopej/<scope>    body {"output_level": "debug"} → the updated scope
 *
 * /debug/scopez is an alias of GET /scopej. Levels: debug, info, warn, error, none.
 */
import { isLogLevel, logLevels, scope, setLogLevels, LOG_LEVELS } from '../log';
import { HttpReply, Routes } from './http-server';

const log = scope('default');
const json = (v: unknown, status = 200): HttpReply => ({ status, body: JSON.stringify(v, null, 2) + '\n' });

function view(s: { name: string; level: string }): Record<string, unknown> {
  return { name: s.name, description: `${s.name} scope`, output_level: s.level, stack_trace_level: 'none', log_callers: false };
}

export function scopeRoutes(): Routes {
  const list = () => json(logLevels().map(view));
  const one = (name: string): HttpReply => {
    const s = logLevels().find((x) => x.name === name);
    return s ? json(view(s)) : json({ error: `unknown scope '${name}'`, scopes: logLevels().map((x) => x.name) }, 404);
  };
  return {
    '/scopej': { handler: list, protected: true },
    '/debug/scopez': { handler: list, protected: true },
    '/scopej/:scope': { handler: (_q, req) => one(req.params[0]!), protected: true },
    '/scopej/:scope#put': {
      method: 'put', protected: true,
      handler: (_q, req) => {
        const name = req.params[0]!;
        if (!logLevels().some((x) => x.name === name)) return one(name);
        let body: { output_level?: unknown };
        try { body = JSON.parse(req.body || '{}'); } catch { return json({ error: 'body must be JSON such as {"output_level":"debug"}' }, 400); }
        if (!isLogLevel(body.output_level)) return json({ error: `output_level must be one of ${LOG_LEVELS.join(', ')}` }, 400);
        setLogLevels(name === 'default' ? { default: body.output_level } : { scopes: { [name]: body.output_level } });
        log.info('log level changed', { target_scope: name, output_level: body.output_level });
        return one(name);
      },
    },
  };
}
