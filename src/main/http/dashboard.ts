/**
 * Live dashboard on the monitoring port: GET /dashboard serves one static page
 * (dashboard-page.ts), which opens a uWS WebSocket on /dashboard/ws and renders every state
 * message it gets: connected proxies and their sync status, the push timeline, the convergence
 * histogram (pilot_proxy_convergence_time) and worker-pool utilisation.
 *
 * The server sends the whole state (small: capped lists) when a client opens, after each push
 * and once a second while anyone is watching; the timer runs only while clients are connected.
 */
import { PushTraceEntry } from './push-trace';
import { WsClient, WsRoute, HttpReply } from './http-server';
import { DASHBOARD_HTML } from './dashboard-page';

export interface DashboardSources {
  lifecycle(): string;
  version: string;
  snapshotVersion(): number;
  proxies(): Array<{ id: string; kind: string; generator: string; connectedAt: number; types: Record<string, string> }>;
  pushes(): PushTraceEntry[];
  convergence(): Promise<{ buckets: Array<{ le: string; count: number }>; count: number; sum: number }>;
  pools(): Record<string, { threads: number; queueSize: number; utilization: number; completed: number }>;
}

const MAX_PROXIES = 200;
const MAX_PUSHES = 60;

export class Dashboard {
  private readonly clients = new Set<WsClient>();
  private timer?: NodeJS.Timeout;
  private sending = false;

  constructor(private readonly src: DashboardSources, private readonly intervalMs = 1000) {}

  page(): HttpReply { return { contentType: 'text/html; charset=utf-8', body: DASHBOARD_HTML }; }

  websocket(): WsRoute {
    return {
      protected: true,
      open: (c) => {
        this.clients.add(c);
        if (!this.timer) { this.timer = setInterval(() => void this.broadcast(), this.intervalMs); this.timer.unref(); }
        void this.state().then((s) => c.send(s));
      },
      close: (c) => {
        this.clients.delete(c);
        if (this.clients.size === 0 && this.timer) { clearInterval(this.timer); this.timer = undefined; }
      },
    };
  }

  /** Send the current state to every client (after a push, and on the timer). */
  async broadcast(): Promise<void> {
    if (this.clients.size === 0 || this.sending) return;
    this.sending = true;
    try {
      const s = await this.state();
      for (const c of [...this.clients]) if (!c.send(s)) this.clients.delete(c);
    } finally {
      this.sending = false;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const c of this.clients) c.close();
    this.clients.clear();
  }

  async state(): Promise<string> {
    const proxies = this.src.proxies();
    return JSON.stringify({
      time: new Date().toISOString(),
      state: this.src.lifecycle(),
      version: this.src.version,
      snapshotVersion: this.src.snapshotVersion(),
      proxyCount: proxies.length,
      proxies: proxies.slice(0, MAX_PROXIES).map((p) => ({ ...p, connectedAt: new Date(p.connectedAt).toISOString() })),
      pushes: this.src.pushes().slice(0, MAX_PUSHES).map((p) => ({
        id: p.id, version: p.version, startedAt: p.startedAt, totalMs: p.totalMs, stages: p.stages, queued: p.queued,
        proxies: p.proxies.length, bytes: p.bytes, trigger: p.trigger, convergenceMaxMs: p.convergenceMaxMs, error: p.error,
      })),
      convergence: await this.src.convergence(),
      pools: this.src.pools(),
    });
  }
}
