/**
 * Helpers for the operations tests: a server with its HTTP ports on loopback, HTTP GET/PUT, a
 * strict Prometheus text parser, simulated proxies (load-test/sim, as the load tester runs them)
 * and free ports.
 */
import { startTestServer, TestServer } from './server';
import { exampleMeshFiles } from './mesh-fixtures';
import { StartOptions } from '../../src/main/index';
import { ChannelPool } from '../../load-test/sim/channel-pool';
import { ResourceChecker } from '../../load-test/sim/resource-check';
import { SimEnvoy, SimHooks } from '../../load-test/sim/envoy-sim';
import { proxyNode } from '../../load-test/sim/node';
import { encodeNode } from '../../load-test/sim/xds-codec';
import { ProxySpec } from '../../load-test/protocol';

export interface OpsServer extends TestServer { http: string; monitoring: string }

/** A server on examples/mesh with --httpAddr and --monitoringAddr on 127.0.0.1 ephemeral ports. */
export async function startOpsServer(opts: { files?: Record<string, string>; env?: Record<string, string>; flags?: string[]; start?: StartOptions } = {}): Promise<OpsServer> {
  const s = await startTestServer({
    files: opts.files ?? exampleMeshFiles(),
    env: opts.env,
    flags: ['--httpAddr', '127.0.0.1:0', '--monitoringAddr', '127.0.0.1:0', ...(opts.flags ?? [])],
    start: opts.start,
  });
  return { ...s, http: `http://127.0.0.1:${s.discovery.ports.http}`, monitoring: `http://127.0.0.1:${s.discovery.ports.monitoring}` };
}

export interface HttpResult { status: number; body: string; contentType: string; json<T = any>(): T }

export async function httpGet(url: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return request('GET', url, undefined, headers);
}

export async function request(method: string, url: string, body?: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  const res = await fetch(url, { method, body, headers, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  return { status: res.status, body: text, contentType: res.headers.get('content-type') ?? '', json: () => JSON.parse(text) };
}

export interface PromSample { name: string; labels: Record<string, string>; value: number }
export interface PromFamily { name: string; type: string; help: string; samples: PromSample[] }

/**
 * Parse Prometheus text exposition format 0.0.4 strictly: every line is a comment (# HELP / # TYPE),
 * blank, or `name{label="value",...} number`; every sample belongs to a declared family. Throws
 * on the first malformed line.
 */
export function parsePrometheus(text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>();
  const familyOf = (sample: string): PromFamily | undefined => {
    for (const suffix of ['', '_bucket', '_sum', '_count']) {
      if (suffix && !sample.endsWith(suffix)) continue;
      const f = families.get(sample.slice(0, sample.length - suffix.length));
      if (f) return f;
    }
    return undefined;
  };
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (help) { const f = families.get(help[1]!) ?? { name: help[1]!, type: '', help: '', samples: [] }; f.help = help[2]!; families.set(f.name, f); return; }
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) { const f = families.get(type[1]!) ?? { name: type[1]!, type: '', help: '', samples: [] }; f.type = type[2]!; families.set(f.name, f); return; }
    if (line.startsWith('#')) return;
    // prom-client prints NaN as "Nan" (an event-loop-lag summary before its first sample); Prometheus parses floats case-insensitively
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.eE+-]+|[Nn][Aa][Nn]|\+Inf|-Inf)( -?\d+)?$/.exec(line);
    if (!m) throw new Error(`line ${i + 1} is not Prometheus text: ${line}`);
    const labels: Record<string, string> = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
      let consumed = 0;
      for (let l = re.exec(m[3]); l; l = re.exec(m[3])) { labels[l[1]!] = l[2]!; consumed += l[0].length; }
      if (consumed !== m[3].length) throw new Error(`line ${i + 1}: malformed labels: ${m[3]}`);
    }
    const f = familyOf(m[1]!);
    if (!f) throw new Error(`line ${i + 1}: sample ${m[1]} has no # TYPE`);
    f.samples.push({ name: m[1]!, labels, value: Number(m[4]) });
  });
  return families;
}

export { freePort } from './server';

const NO_HOOKS: SimHooks = {
  response() {}, ack() {}, nack() {}, streamOpened() {}, firstResponse() {}, synced() {}, accepted() {}, streamEnded() {},
};

/** Simulated sidecars in `namespace` (pod `<prefix>-<i>.<namespace>`), reconnecting after ~100 ms. */
export class SimProxies {
  readonly specs: ProxySpec[];
  readonly sims: SimEnvoy[];
  private readonly pool: ChannelPool;

  constructor(target: string, n: number, opts: { namespace?: string; prefix?: string; delta?: (i: number) => boolean; hooks?: Partial<SimHooks> } = {}) {
    const ns = opts.namespace ?? 'bookinfo';
    const prefix = opts.prefix ?? 'sim';
    this.specs = Array.from({ length: n }, (_, i) => ({
      index: i, nodeId: `sidecar~10.99.0.${i + 1}~${prefix}-${i}.${ns}~${ns}.svc.cluster.local`, ip: `10.99.0.${i + 1}`,
      namespace: ns, podName: `${prefix}-${i}`, service: 'sim', labels: { app: 'sim' }, serviceAccount: 'sim', delta: opts.delta?.(i) ?? false,
    }));
    this.pool = new ChannelPool(target, 1);
    const checker = new ResourceChecker();
    this.sims = this.specs.map((spec, local) => new SimEnvoy(local, spec, {
      open: (i, d) => this.pool.open(i, d ? 'DeltaAggregatedResources' : 'StreamAggregatedResources'),
      checker,
      backoff: { initialMs: 100, maxMs: 500 },
      hooks: { ...NO_HOOKS, ...opts.hooks },
      node: encodeNode(proxyNode(spec, { istioVersion: '1.30.0', clusterId: 'Kubernetes' })),
    }));
  }

  /** `pod.namespace` names, as /debug/syncz prints them */
  get names(): string[] { return this.specs.map((s) => `${s.podName}.${s.namespace}`); }

  start(): this { for (const s of this.sims) s.start(); return this; }

  stop(): void {
    for (const s of this.sims) s.stop();
    this.pool.close();
  }
}
