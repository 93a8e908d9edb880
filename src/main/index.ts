/**
 * Composition root: config → model store + sources → registry → snapshot arena + writer →
 * config pool → generation service → xDS server → HTTP servers, in that order. Owns shutdown.
 * No module has import-time side effects; everything is built here and passed down.
 */
import { Config } from './config';
import { ModelStore, ConfigChange } from './model/store';
import { Registry } from './model/registry';
import { loadMeshConfig, meshSettingsFrom } from './mesh-config';
import { MeshSettings } from './model/registry';
import { FileSource } from './sources/file-source';
import { SnapshotArena } from '../shared/snapshot/arena';
import { SnapshotWriter } from '../shared/snapshot/snapshot-writer';
import { createConfigPool, ConfigPool } from './pools/config-pool';
import { GenerationService } from './push/generation-service';
import { Debouncer, Clock } from './push/debounce';
import { PushRequest, TriggerReason } from './push/push-request';
import { AdsServer } from './xds/ads-server';
import { combineCallbacks, XdsCallbacks } from './xds/callbacks';
import { Metrics } from './http/metrics';
import { startOpsServers } from './http/ops-servers';
import { PushTracer } from './http/push-trace';
import { Lifecycle, gracefulShutdown } from './lifecycle';
import { FileError } from './sources/file-source';
import { scope, setLogLevels, parseLogOutputLevel } from './log';
import { resourceEncodeCount } from '../shared/envoy/proto';
import { changedDependencies } from '../shared/snapshot/snapshot-diff';
import { SHORT_NAME } from '../shared/resources';
import { CaRuntime, startCa } from './ca/start-ca';
import { KubeRuntime, kubeCaOptions, startKubeSource, startLeaderDuties } from './kube/start-kube';
import { LeaderDuties } from './kube/leader-duties';
import { BackoffOptions } from './sources/kube/backoff';
import { WebhookServer, startWebhookServer } from './webhooks/webhook-server';
import { JwksResolver } from './security/jwks-resolver';

const log = scope('default');
/** snapshot publication and push fan-out (Istio's `push` scope) */
const pushLog = scope('push');
export const VERSION = '0.1.0';

export interface Discovery {
  readonly config: Config;
  readonly store: ModelStore;
  readonly ads: AdsServer;
  readonly generation: GenerationService;
  readonly writer: SnapshotWriter;
  readonly metrics: Metrics;
  readonly pool: ConfigPool;
  /** bound ports (0 when disabled) */
  readonly ports: { grpc: number; http: number; monitoring: number; secureGrpc: number; https: number };
  /** the certificate authority, when it runs (issue 6) */
  readonly ca?: CaRuntime;
  /** operations (issue 7): lifecycle state, the model registry, recent pushes */
  readonly lifecycle: Lifecycle;
  readonly registry: Registry;
  readonly pushTrace: PushTracer;
  /** Kubernetes mode (issue 8): the API client and informers, the singleton duties, the webhooks */
  readonly kube?: KubeRuntime;
  readonly leaderDuties?: LeaderDuties;
  readonly webhooks?: WebhookServer;
  /** RequestAuthentication jwksUri fetching (issue 9) */
  readonly jwks: JwksResolver;
  /** push everything to every proxy now (/debug/adsz?push=true) */
  forcePush(reason: TriggerReason): void;
  /** config files or objects rejected by validation */
  fileErrors(): FileError[];
  /** why a config source is not healthy (Kubernetes watches failing, ...): makes the instance Degraded */
  sourceDegraded(): string[];
  /** resolves after the next push triggered by a model change has been sent to every proxy */
  pushed(): Promise<void>;
  /** main-thread resource encodes (must stay 0: generation runs in workers) */
  mainThreadEncodes(): number;
  close(): Promise<void>;
}

export interface StartOptions {
  clock?: Clock;
  callbacks?: XdsCallbacks;
  /** tests: wrap the config pool (fault injection) */
  wrapPool?: (pool: ConfigPool) => ConfigPool;
  /** delay before a stream re-pushes a type whose generation failed (default 1000 ms) */
  retryDelayMs?: number;
  /** tests: awaited before the sources load (the instance stays Initializing meanwhile) */
  beforeSourcesSync?: () => Promise<void>;
  /** tests: retry backoff of the Kubernetes informers (default 200 ms doubling to 30 s) */
  kubeBackoff?: BackoffOptions;
  /** after a max-connection-age GOAWAY, how long open streams may continue (default 10s, as Istio; tests shorten it) */
  maxConnectionAgeGraceMs?: number;
  /** tests: longest the push workers run before letting the event loop turn (default 10 ms) */
  pushYieldMs?: number;
}

/**
 * Kinds whose changes are endpoint updates, as in Istio: its pod controller turns Pod events into
 * EDS updates of the pod's services (and a push to the proxy at the pod's IP), never a config push.
 * A batch made only of these is endpoint-only (PILOT_ENABLE_EDS_DEBOUNCE=false pushes it at once);
 * what each proxy is sent still follows the dependency keys the change touched.
 */
const ENDPOINT_KINDS = new Set(['EndpointSlice', 'Pod']);

function classify(changes: ConfigChange[]): { endpointsOnly: boolean } {
  return { endpointsOnly: changes.every((c) => ENDPOINT_KINDS.has(c.kind)) };
}

/** `--log_output_level scope:level,...` (Istio's syntax); changeable later through /scopej. */
function parseLogLevels(spec: string): void {
  setLogLevels(parseLogOutputLevel(spec));
}

export async function startDiscovery(config: Config, opts: StartOptions = {}): Promise<Discovery> {
  // What started before a startup failure is closed again (the ops HTTP servers start first).
  const undo: Array<() => void> = [];
  try {
    return await buildDiscovery(config, opts, undo);
  } catch (e) {
    for (const f of undo.reverse()) f();
    throw e;
  }
}

async function buildDiscovery(config: Config, opts: StartOptions, undo: Array<() => void>): Promise<Discovery> {
  parseLogLevels(config.logOutputLevel);
  const loadedMesh = loadMeshConfig(config.meshConfigFile);
  // Generators read feature flags only from the snapshot: the mesh object carries them (`features`).
  const withFeatures = (m: MeshSettings): MeshSettings => ({ ...m, raw: Object.freeze({ ...m.raw, features: config.features }) });
  let mesh = withFeatures(loadedMesh);
  // Kubernetes mode reloads mesh config live (the istio ConfigMap): replace it, then push everything.
  let onMeshChange: (() => void) | undefined;
  const onMesh = (raw: Record<string, unknown>): void => {
    const next = withFeatures(meshSettingsFrom(raw));
    if (JSON.stringify(next.raw) === JSON.stringify(mesh.raw)) return;
    if (next.trustDomain !== mesh.trustDomain && onMeshChange) log.warn('trustDomain changed: workload identities follow now; the CA keeps the old trust domain in new roots until restart', { from: mesh.trustDomain, to: next.trustDomain });
    mesh = next;
    log.info('mesh config changed', { source: `ConfigMap ${config.kube.podNamespace}/${config.kube.meshConfigMap}` });
    onMeshChange?.();
  };
  const store = new ModelStore((key, origins) => log.warn('object defined in several files; the first wins', { key, origins }));
  const metrics = new Metrics();
  // Operations first (issue 7): /ready answers 503 while the sources sync.
  const lifecycle = new Lifecycle();
  lifecycle.registerMetric(metrics.registry);
  const pushTrace = new PushTracer();
  const discoveryRef: { d?: Discovery } = {};
  const ports = { grpc: 0, http: 0, monitoring: 0, secureGrpc: 0, https: 0 };
  const ops = await startOpsServers({ config, version: VERSION, lifecycle, pushTrace, metrics, discovery: () => discoveryRef.d, ports });
  undo.push(() => ops.close());

  const fileSource = config.configDir ? new FileSource({ dir: config.configDir, store }) : undefined;
  undo.push(() => void fileSource?.stop());
  await opts.beforeSourcesSync?.();
  // Kubernetes mode (issue 8): informers feed the same store; Ready only after their initial lists.
  let kube: KubeRuntime | undefined;
  const kubeStarting = config.kube.enabled
    ? startKubeSource({ config, store, meshBase: loadedMesh.raw, onMesh, registry: metrics.registry, backoff: opts.kubeBackoff }).then((k) => { kube = k; })
    : undefined;
  undo.push(() => void kube?.source.stop());
  await Promise.all([fileSource?.start(), kubeStarting]);
  // RequestAuthentication jwksUri: fetched here, off the push path; results enter the store (issue 9).
  const jwks = new JwksResolver({ store, registry: metrics.registry });
  jwks.start();
  undo.push(() => void jwks.stop());
  lifecycle.mark('sourcesSynced');

  const registry = new Registry(store, mesh);
  const arena = SnapshotArena.allocate(16 * 1024 * 1024, config.snapshotArenaMaxBytes);
  const writer = new SnapshotWriter(arena);
  const publishedAt = new Map<number, number>();
  const publish = (): { version: number; changed: Set<string> | 'all' } => {
    const t0 = performance.now();
    const prev = registry.current;
    const input = registry.build();
    const changed = changedDependencies(prev, input);
    const snap = writer.publish(input);
    publishedAt.set(snap.version, Date.now());
    for (const v of publishedAt.keys()) if (v < snap.version - 64) publishedAt.delete(v);
    metrics.services.set(input.services.length);
    metrics.pushContextInit.observe((performance.now() - t0) / 1000);
    pushLog.debug('snapshot published', { version: snap.version, encodedSegments: snap.encodedSegments, reusedSegments: snap.reusedSegments, changed: changed === 'all' ? 'all' : changed.size });
    return { version: snap.version, changed };
  };

  const realPool = createConfigPool(arena.sab, config.configWorkers);
  undo.push(() => void realPool.close());
  const pool = opts.wrapPool ? opts.wrapPool(realPool) : realPool;
  const generation = new GenerationService(pool, writer, {
    timeoutMs: config.generationTimeoutMs, retries: 2, maxEntries: config.xdsCacheSize,
    onJob: (type, ms) => metrics.generationTime.observe({ type: SHORT_NAME[type] }, ms / 1000),
  });
  lifecycle.watchPools(() => pool.stats().threads > 0);
  lifecycle.mark('poolsStarted');
  metrics.observe({ pool: () => pool.stats(), generation: () => generation.stats, arena: () => arena.stats(), snapshotVersion: () => writer.latestVersion });
  generation.setSnapshot(publish().version);

  const ads = new AdsServer({
    generation,
    contextFor: (proxy) => registry.contextFor(proxy),
    publishedAt: (v) => publishedAt.get(v) ?? Date.now(),
    callbacks: combineCallbacks([metrics.callbacks(), pushTrace.callbacks(), ...(opts.callbacks ? [opts.callbacks] : [])]),
    retryDelayMs: opts.retryDelayMs ?? 1000,
    drainTimeoutMs: config.drainTimeoutMs,
  }, {
    pushThrottle: config.pushThrottle, maxRequestsPerSecond: config.maxRequestsPerSecond, requestBurst: config.pushBurst,
    keepaliveIntervalMs: config.keepalive.intervalMs, keepaliveTimeoutMs: config.keepalive.timeoutMs,
    maxConnectionAgeMs: config.keepalive.maxConnectionAgeMs, maxConnectionAgeGraceMs: opts.maxConnectionAgeGraceMs,
    ...(opts.pushYieldMs !== undefined ? { pushYieldMs: opts.pushYieldMs } : {}),
  });

  let pushWaiters: Array<() => void> = [];
  let refreshAllContexts = false;
  const debouncer = new Debouncer(
    { quietMs: config.debounceAfterMs, maxDelayMs: config.debounceMaxMs, debounceEndpoints: config.enableEdsDebounce, clock: opts.clock },
    async (req: PushRequest, waitedMs: number) => {
      metrics.debounceTime.observe(waitedMs / 1000);
      for (const [reason, n] of Object.entries(req.reasons)) metrics.pushTriggers.inc({ type: reason }, n);
      const trace = pushTrace.begin(req, waitedMs);
      try {
        const { version, changed } = publish();
        trace.stage('snapshot');
        // Streams keep their context between builds: recompute it right after this build, only
        // where the build says it may differ (a Sidecar or Gateway reselection, new selector keys,
        // or services at the proxy's own IPs).
        // (After a failed push the registry may have been built without this: refresh them all.)
        const ctx = registry.contextChange();
        const all = ctx.all || refreshAllContexts;
        refreshAllContexts = false;
        const contextChanged = all || ctx.ips.size > 0 ? ads.refreshContexts(all ? () => true : (c) => registry.contextMayHaveChanged(c.proxy)) : undefined;
        const affected = generation.setSnapshot(version, changed);
        trace.stage('invalidate');
        const queued = await ads.pushAll(req, req.forced ? 'all' : affected, contextChanged);
        trace.stage('push');
        trace.end({ version, affected: affected.size, queued });
        pushLog.debug('push done', { version, affected: affected.size, queued, connections: ads.connections.size });
      } catch (e) {
        refreshAllContexts = true;
        trace.fail(e instanceof Error ? e.message : String(e));
        pushLog.error('push failed', { error: e instanceof Error ? e.message : String(e) });
      } finally {
        const w = pushWaiters;
        pushWaiters = [];
        for (const f of w) f();
      }
    },
  );
  store.onChange((changes) => {
    const { endpointsOnly } = classify(changes);
    metrics.inboundUpdates.inc({ type: endpointsOnly ? 'eds' : 'config' }, changes.length);
    debouncer.push({
      configsUpdated: new Set(changes.map((c) => c.key)),
      endpointsOnly,
      reasons: { [endpointsOnly ? 'endpoint' : 'config']: changes.length },
      start: (opts.clock ?? { now: Date.now }).now(),
      forced: false,
    });
  });

  // A new mesh config (Kubernetes mode: the istio ConfigMap) changes what every generator reads.
  onMeshChange = () => {
    registry.setMesh(mesh);
    debouncer.push({ configsUpdated: new Set(), endpointsOnly: false, reasons: { global: 1 }, start: (opts.clock ?? { now: Date.now }).now(), forced: true });
  };

  // ---- certificate authority + secure gRPC (issue 6) --------------------------------------------
  // The CA runs when the secure port is served (its serving certificate comes from our root) or
  // when it is asked for on the plaintext port. IstioCertificateService goes on the secure port
  // only; on the plaintext port only with ISTIOD_ENABLE_PLAINTEXT_CA and no secure port.
  const plaintextCa = !config.secureGrpcAddr && config.ca.enabled && config.ca.plaintextCa;
  const caRuntime = config.secureGrpcAddr || plaintextCa
    ? await startCa({ config, mesh, metrics, ...(kube ? kubeCaOptions(kube, config, () => mesh.trustDomain) : {}) })
    : undefined;
  undo.push(() => void caRuntime?.close());
  if (caRuntime && plaintextCa) ads.server.addService(caRuntime.service.definition, caRuntime.service.implementation);
  if (caRuntime && config.secureGrpcAddr) {
    ports.secureGrpc = await ads.listenSecure(config.secureGrpcAddr.host, config.secureGrpcAddr.port, caRuntime.credentials, {
      auth: caRuntime.xdsAuth,
      services: config.ca.enabled ? [caRuntime.service] : [],
    });
    log.info('xDS (ADS, TLS) listening', { address: `${config.secureGrpcAddr.host}:${ports.secureGrpc}`, flag: '--secureGRPCAddr', ca: config.ca.enabled, xdsAuth: config.ca.xdsAuth });
  }
  // ---- end certificate authority ----------------------------------------------------------------
  if (config.grpcAddr) {
    ports.grpc = await ads.listen(config.grpcAddr.host, config.grpcAddr.port);
    log.info('xDS (ADS, plaintext) listening', { address: `${config.grpcAddr.host}:${ports.grpc}`, flag: '--grpcAddr' });
  }
  // ---- webhooks and singleton duties (issue 8) ----------------------------------------------------
  let webhooks: WebhookServer | undefined;
  if (config.httpsAddr && caRuntime) {
    webhooks = await startWebhookServer({ addr: config.httpsAddr, identity: () => caRuntime.serving.current, registry: metrics.registry });
    undo.push(() => webhooks?.close());
    ports.https = webhooks.port;
    log.info('webhooks (HTTPS) listening', { address: `${config.httpsAddr.host}:${ports.https}`, flag: '--httpsAddr', paths: ['/validate', '/convert'] });
  } else if (config.httpsAddr) {
    log.warn('--httpsAddr is not served: the webhook certificate comes from the CA, which runs only with --secureGRPCAddr (or ISTIOD_ENABLE_PLAINTEXT_CA)', { address: `${config.httpsAddr.host}:${config.httpsAddr.port}` });
  }
  let leaderDuties: LeaderDuties | undefined;
  if (kube && caRuntime) {
    leaderDuties = startLeaderDuties({ kube, config, ca: caRuntime.ca, webhookReady: () => webhooks?.ready() ?? false, registry: metrics.registry });
    undo.push(() => void leaderDuties?.stop());
  } else if (kube) {
    log.warn('no CA runs (--secureGRPCAddr empty): istio-ca-root-cert ConfigMaps and the webhook caBundle are not maintained by this replica');
  }

  lifecycle.mark('xdsListening');

  let closing: Promise<void> | undefined;
  const discovery: Discovery = {
    config, store, ads, generation, writer, metrics, pool, ports, ca: caRuntime, lifecycle, registry, pushTrace, kube, leaderDuties, webhooks, jwks,
    forcePush: (reason) => debouncer.push({ configsUpdated: new Set(), endpointsOnly: false, reasons: { [reason]: 1 }, start: (opts.clock ?? { now: Date.now }).now(), forced: true }),
    fileErrors: () => [...(fileSource?.errors() ?? []), ...(kube?.source.errors() ?? [])],
    sourceDegraded: () => kube?.source.degraded() ?? [],
    pushed: () => new Promise<void>((resolve) => pushWaiters.push(resolve)),
    mainThreadEncodes: () => resourceEncodeCount(),
    // Graceful: 503, no new pushes, in-flight pushes finish, GOAWAY, streams end, then CA and pools (lifecycle.ts).
    close: () => (closing ??= gracefulShutdown({
      lifecycle, log, ads,
      stopSources: async () => { debouncer.stop(); await Promise.all([fileSource?.stop(), kube?.source.stop(), jwks.stop()]); },
      closeRest: async () => {
        // Release the Lease first, so another replica takes the duties over at once.
        await leaderDuties?.stop();
        webhooks?.close();
        ops.close();
        await caRuntime?.close(); // issue 6: after the servers, so no CSR is in flight into a closed pool
        await realPool.close();
      },
    }, { timeoutMs: config.shutdownTimeoutMs })),
  };
  discoveryRef.d = discovery;
  log.info('istiod-ts ready', { configDir: config.configDir, services: registry.current?.services.length ?? 0, objects: store.size, workers: config.configWorkers, cpus: config.cpus.cores, ...(config.cpus.quota !== undefined ? { cpuLimit: config.cpus.quota, cpusAvailable: config.cpus.available } : {}) });
  return discovery;
}
