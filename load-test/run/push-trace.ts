/**
 * The server's own timing of the pushes that carried the global change, read from its
 * /debug/push_trace (a ring of the last 100 pushes, so it is polled with every sample and
 * accumulated by push id). This is the server-side half of the floor comparison: from the end of
 * the debounce to the last response handed to gRPC (`snapshot` + `invalidate` + `push` stages),
 * without the file watch, the debounce and the simulated proxies' own processing that the
 * end-to-end convergence includes.
 */
import { percentiles, Percentiles } from './percentiles';

/** What the run keeps of one /debug/push_trace entry. */
export interface TracedPush {
  id: number;
  /** snapshot + invalidate + push stages, ms */
  pushMs: number;
  /** slowest proxy: change entered the debouncer → all its types sent, ms */
  convergenceMaxMs: number;
  queued: number;
  responses: number;
  bytes: number;
}

export interface ServerPushSummary {
  /** pushes whose configsUpdated held the global change's object */
  pushes: number;
  pushMs: Percentiles;
  convergenceMaxMs: Percentiles;
  /** mean per push */
  queued: number;
  responses: number;
  bytes: number;
}

export class PushTraceCollector {
  private readonly pushes = new Map<number, TracedPush>();

  /** `configKey`: the store key of the object the global change edits. */
  constructor(private readonly addr: string, private readonly configKey: string) {}

  async poll(): Promise<void> {
    let list: any[];
    try {
      const res = await fetch(`http://${this.addr}/debug/push_trace?limit=100`, { signal: AbortSignal.timeout(2000) });
      if (!res.ok) return;
      list = (await res.json()) as any[];
    } catch {
      return; // a missed poll loses nothing unless 100 pushes pass before the next one
    }
    for (const e of Array.isArray(list) ? list : []) {
      if (!e?.done || e.error || this.pushes.has(e.id) || !Array.isArray(e.configsUpdated) || !e.configsUpdated.includes(this.configKey)) continue;
      const st = e.stages ?? {};
      this.pushes.set(e.id, {
        id: e.id, pushMs: (st.snapshot ?? 0) + (st.invalidate ?? 0) + (st.push ?? 0), convergenceMaxMs: e.convergenceMaxMs ?? 0,
        queued: e.queued ?? 0, responses: e.responses ?? 0, bytes: e.bytes ?? 0,
      });
    }
  }

  summary(): ServerPushSummary | undefined {
    const all = [...this.pushes.values()];
    if (all.length === 0) return undefined;
    const mean = (f: (p: TracedPush) => number) => Math.round(all.reduce((a, p) => a + f(p), 0) / all.length);
    return {
      pushes: all.length, pushMs: percentiles(all.map((p) => p.pushMs)), convergenceMaxMs: percentiles(all.map((p) => p.convergenceMaxMs)),
      queued: mean((p) => p.queued), responses: mean((p) => p.responses), bytes: mean((p) => p.bytes),
    };
  }
}
