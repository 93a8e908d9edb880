/**
 * A real Envoy for end-to-end tests: writes a sidecar-style bootstrap (node, ADS over gRPC to our
 * server, the agent's `sds-grpc` cluster, admin on an ephemeral loopback port) into a temp dir,
 * starts `envoy` from PATH and wraps its admin API. `sds-grpc` points at `sdsTarget`, else at a
 * shared test SDS agent (sds-agent.ts) serving `default`/`ROOTCA`: as with Istio's agent, every
 * sidecar has its workload certificate, which PERMISSIVE inbound chains and auto-mTLS clusters
 * reference (without it they would wait for the secrets forever). Every started Envoy is also killed when the test process exits, so a failed
 * assertion never leaves one behind.
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './server';
import { waitFor } from './wait-for';
import { acquireSharedSdsAgent, sdsCluster } from './sds-agent';

export type AdsApiType = 'GRPC' | 'DELTA_GRPC';

export interface EnvoyOptions {
  /** xDS server `host:port` */
  xdsTarget: string;
  nodeId: string;
  cluster?: string;
  metadata?: Record<string, unknown>;
  apiType?: AdsApiType;
  /** Envoy log level (default warning) */
  logLevel?: string;
  startTimeoutMs?: number;
  /** the SDS server (`host:port`) behind the bootstrap's `sds-grpc` cluster; default: the shared test agent */
  sdsTarget?: string;
  /**
   * ADS over TLS to the secure port, as an Istio agent connects: server name
   * istiod.istio-system.svc verified against `rootPem`, and a bearer JWT in the stream metadata.
   */
  xdsTls?: { rootPem: string; token: string };
}

export interface Envoy {
  readonly pid: number;
  readonly adminPort: number;
  readonly dir: string;
  /** GET an admin path (e.g. `/config_dump?include_eds`), body as text; throws on non-2xx */
  admin(pathAndQuery: string): Promise<string>;
  getConfigDump(opts?: { includeEds?: boolean }): Promise<ConfigDump>;
  /** every stat as name → value (counters and gauges; histograms are left out) */
  stats(): Promise<Map<string, number>>;
  waitForListener(name: string, timeoutMs?: number): Promise<void>;
  /** Envoy's combined stderr so far (for failure messages) */
  logs(): string;
  stop(): Promise<void>;
}

/** The dump as Envoy prints it: `configs` holds one typed entry per config kind. */
export interface ConfigDump { configs: Array<Record<string, any>> }

const DUMP_TYPE = 'type.googleapis.com/envoy.admin.v3.';

/** The entry of `dump` whose @type is `envoy.admin.v3.<kind>` (e.g. ListenersConfigDump). */
export function dumpSection(dump: ConfigDump, kind: string): Record<string, any> {
  return dump.configs.find((c) => c['@type'] === DUMP_TYPE + kind) ?? {};
}

/** Absolute path of `envoy` on PATH, or undefined (tests skip with a message then). */
export function findEnvoy(): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, 'envoy');
    try {
      fs.accessSync(p, fs.constants.X_OK);
    } catch {
      continue;
    }
    // pyenv shims exist for every installed version; make sure this one actually runs
    if (spawnSync(p, ['--version'], { timeout: 15_000, stdio: 'ignore' }).status === 0) return p;
  }
  return undefined;
}

export function bootstrap(opts: EnvoyOptions): Record<string, unknown> {
  const sds = opts.sdsTarget ? [sdsCluster(opts.sdsTarget)] : [];
  const colon = opts.xdsTarget.lastIndexOf(':');
  const host = opts.xdsTarget.slice(0, colon);
  const port = Number(opts.xdsTarget.slice(colon + 1));
  const ads = { ads: {}, resource_api_version: 'V3' };
  const tls = opts.xdsTls;
  const secure = tls ? {
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        sni: 'istiod.istio-system.svc',
        common_tls_context: {
          alpn_protocols: ['h2'],
          validation_context: { trusted_ca: { inline_string: tls.rootPem }, match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'istiod.istio-system.svc' } }] },
        },
      },
    },
  } : {};
  return {
    node: { id: opts.nodeId, cluster: opts.cluster ?? 'istiod-ts-e2e', metadata: opts.metadata ?? {} },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    dynamic_resources: {
      ads_config: {
        api_type: opts.apiType ?? 'GRPC',
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: 'xds-grpc' }, ...(tls ? { initial_metadata: [{ key: 'authorization', value: `Bearer ${tls.token}` }] } : {}) }],
        set_node_on_first_message_only: true,
      },
      cds_config: ads,
      lds_config: ads,
    },
    static_resources: {
      clusters: [{
        name: 'xds-grpc',
        type: 'STATIC',
        connect_timeout: '1s',
        load_assignment: {
          cluster_name: 'xds-grpc',
          endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: host, port_value: port } } } }] }],
        },
        typed_extension_protocol_options: {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
            '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
            explicit_http_config: { http2_protocol_options: {} },
          },
        },
        ...secure,
      }, ...sds],
    },
  };
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/** Start Envoy and wait until its admin API answers. */
export async function startEnvoy(envoyPath: string, opts: EnvoyOptions): Promise<Envoy> {
  const shared = opts.sdsTarget ? undefined : await acquireSharedSdsAgent();
  const dir = tempDir('istiod-ts-envoy-');
  const configPath = path.join(dir, 'bootstrap.json');
  const adminPath = path.join(dir, 'admin-address');
  fs.writeFileSync(configPath, JSON.stringify(bootstrap({ ...opts, sdsTarget: opts.sdsTarget ?? shared!.target }), null, 2));
  const child = spawn(envoyPath, [
    '-c', configPath,
    '--admin-address-path', adminPath,
    '--use-dynamic-base-id', // several Envoys (and parallel test runs) must not share shared memory
    '--concurrency', '1',
    '-l', opts.logLevel ?? 'warning',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let log = '';
  const append = (b: Buffer) => { log = (log + b.toString('utf8')).slice(-200_000); };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<void>((resolve) => child.once('exit', () => { running.delete(child); resolve(); }));
  let exitCode: number | null | undefined;
  child.once('exit', (code, signal) => { exitCode = code ?? (signal ? -1 : null); });

  const stop = async (): Promise<void> => {
    if (exitCode === undefined) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(killer);
    }
    fs.rmSync(dir, { recursive: true, force: true });
    await shared?.release();
  };

  let adminPort = 0;
  try {
    const address = await waitFor(() => {
      if (exitCode !== undefined) throw new Error(`envoy exited with ${exitCode}:\n${log}`);
      const text = fs.existsSync(adminPath) ? fs.readFileSync(adminPath, 'utf8').trim() : '';
      return /:\d+$/.test(text) ? text : '';
    }, opts.startTimeoutMs ?? 30_000, 'envoy admin address', 50).catch((e: Error) => {
      throw new Error(`${e.message}\n--- envoy log ---\n${log}`);
    });
    adminPort = Number(address.slice(address.lastIndexOf(':') + 1));
  } catch (e) {
    await stop();
    throw e;
  }

  const admin = async (p: string): Promise<string> => {
    const res = await fetch(`http://127.0.0.1:${adminPort}${p}`);
    const text = await res.text();
    if (!res.ok) throw new Error(`envoy admin ${p}: HTTP ${res.status}: ${text}`);
    return text;
  };
  const getConfigDump = async (o: { includeEds?: boolean } = {}): Promise<ConfigDump> =>
    JSON.parse(await admin(o.includeEds ? '/config_dump?include_eds' : '/config_dump')) as ConfigDump;

  return {
    pid: child.pid!, adminPort, dir, admin, getConfigDump,
    logs: () => log,
    stop,
    stats: async () => {
      const out = new Map<string, number>();
      for (const line of (await admin('/stats')).split('\n')) {
        const m = /^(\S+): (\d+)$/.exec(line.trim());
        if (m) out.set(m[1]!, Number(m[2]));
      }
      return out;
    },
    waitForListener: async (name: string, timeoutMs = 30_000) => {
      await waitFor(async () => {
        const listeners = dumpSection(await getConfigDump(), 'ListenersConfigDump')['dynamic_listeners'] ?? [];
        return listeners.some((l: any) => l.name === name && l.active_state);
      }, timeoutMs, `envoy listener ${name} to be active`, 100).catch((e: Error) => {
        throw new Error(`${e.message}\n--- envoy log ---\n${log.slice(-20_000)}`);
      });
    },
  };
}
