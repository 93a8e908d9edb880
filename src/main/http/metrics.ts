/**
 * Istio's control-plane metrics (REFERENCE §4): names, types, labels and buckets as istiod
 * exports them (counters without a `_total` suffix). Attached to the xDS server as callbacks.
 */
import * as client from 'prom-client';
import { SHORT_NAME, XdsTypeUrl } from '../../shared/resources';
import { XdsCallbacks } from '../xds/callbacks';

export class Metrics {
  readonly registry = new client.Registry();
  readonly xdsClients = new client.Gauge({ name: 'pilot_xds', help: 'Number of endpoints connected to this pilot using XDS.', labelNames: ['version'], registers: [this.registry] });
  readonly services = new client.Gauge({ name: 'pilot_services', help: 'Total services known to pilot.', registers: [this.registry] });
  readonly pushes = new client.Counter({ name: 'pilot_xds_pushes', help: 'Pilot build and send errors for lds, rds, cds and eds.', labelNames: ['type'], registers: [this.registry] });
  readonly rejects = new client.Counter({ name: 'pilot_total_xds_rejects', help: 'Total number of XDS responses from pilot rejected by proxy.', labelNames: ['type'], registers: [this.registry] });
  readonly expiredNonce = new client.Counter({ name: 'pilot_xds_expired_nonce', help: 'Total number of XDS requests with an expired nonce.', labelNames: ['type'], registers: [this.registry] });
  readonly internalErrors = new client.Counter({ name: 'pilot_total_xds_internal_errors', help: 'Total number of internal XDS errors in pilot.', registers: [this.registry] });
  readonly convergence = new client.Histogram({ name: 'pilot_proxy_convergence_time', help: 'Delay in seconds between config change and a proxy receiving all required configuration.', buckets: [0.1, 0.5, 1, 3, 5, 10, 20, 30], registers: [this.registry] });
  readonly debounceTime = new client.Histogram({ name: 'pilot_debounce_time', help: 'Delay in seconds between the first config enters debouncing and the merged push request is pushed into the push queue.', buckets: [0.01, 0.1, 0.5, 1, 3, 5, 10, 20, 30], registers: [this.registry] });
  readonly pushContextInit = new client.Histogram({ name: 'pilot_pushcontext_init_seconds', help: 'Total time in seconds Pilot takes to init pushContext.', buckets: [0.01, 0.1, 0.5, 1, 3, 5], registers: [this.registry] });
  readonly inboundUpdates = new client.Counter({ name: 'pilot_inbound_updates', help: 'Total number of updates received by pilot.', labelNames: ['type'], registers: [this.registry] });
  readonly pushTriggers = new client.Counter({ name: 'pilot_push_triggers', help: 'Total number of times a push was triggered, labeled by reason for the push.', labelNames: ['type'], registers: [this.registry] });
  readonly configSize = new client.Histogram({ name: 'pilot_xds_config_size_bytes', help: 'Distribution of configuration sizes pushed to clients', labelNames: ['type'], buckets: [1, 1e4, 1e6, 4e6, 1e7, 4e7], registers: [this.registry] });

  readonly queueTime = new client.Histogram({ name: 'pilot_proxy_queue_time', help: 'Time in seconds, a proxy is in the push queue before being dequeued.', buckets: [0.1, 0.5, 1, 3, 5, 10, 20, 30], registers: [this.registry] });
  readonly pushTime = new client.Histogram({ name: 'pilot_xds_push_time', help: 'Total time in seconds Pilot takes to push lds, rds, cds and eds.', labelNames: ['type'], buckets: [0.01, 0.1, 0.5, 1, 3, 5, 10, 20, 30], registers: [this.registry] });
  readonly sendTime = new client.Histogram({ name: 'pilot_xds_send_time', help: 'Total time in seconds Pilot takes to send generated configuration.', buckets: [0.01, 0.1, 1, 3, 5, 10, 20, 30], registers: [this.registry] });
  readonly admissionWait = new client.Histogram({ name: 'istiod_ts_xds_admission_wait_seconds', help: '(istiod-ts) Time a new xDS stream waited for a PILOT_MAX_REQUESTS_PER_SECOND token.', buckets: [0.001, 0.01, 0.1, 0.25, 0.5, 1], registers: [this.registry] });
  readonly admissionRefused = new client.Counter({ name: 'istiod_ts_xds_admission_refused', help: '(istiod-ts) New xDS streams refused with RESOURCE_EXHAUSTED (no token within 1s).', registers: [this.registry] });

  readonly writeTimeouts = new client.Counter({ name: 'pilot_xds_write_timeout', help: 'Pilot XDS response write timeouts.', registers: [this.registry] });

  constructor() {
    client.collectDefaultMetrics({ register: this.registry });
  }

  readonly generationTime = new client.Histogram({ name: 'istiod_ts_generation_seconds', help: '(istiod-ts) Time of one config-pool generation job, queueing in the pool included.', labelNames: ['type'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [this.registry] });

  /** Gauges read at scrape time from the pool, the generation cache and the snapshot arena. */
  observe(sources: {
    pool: () => { threads: number; queueSize: number; utilization: number; completed: number };
    generation: () => { jobs: number; jobFailures: number; cacheHits: number; cacheMisses: number; entries: number; invalidated: number; carriedOver: number };
    arena: () => { capacityBytes: number; liveBytes: number };
    snapshotVersion: () => number;
  }): void {
    const gauge = (name: string, help: string, read: () => number) =>
      new client.Gauge({ name, help, registers: [this.registry], collect() { this.set(read()); } });
    gauge('istiod_ts_config_pool_threads', '(istiod-ts) Config-generation worker threads.', () => sources.pool().threads);
    gauge('istiod_ts_config_pool_queue_depth', '(istiod-ts) Generation jobs waiting for a worker.', () => sources.pool().queueSize);
    gauge('istiod_ts_config_pool_utilization', '(istiod-ts) Share of time the config workers were busy (0..1).', () => sources.pool().utilization);
    gauge('istiod_ts_generation_jobs', '(istiod-ts) Generation jobs run since start.', () => sources.generation().jobs);
    gauge('istiod_ts_generation_job_failures', '(istiod-ts) Generation jobs that failed or timed out (then retried).', () => sources.generation().jobFailures);
    gauge('istiod_ts_xds_cache_hits', '(istiod-ts) Generated-resource cache hits since start.', () => sources.generation().cacheHits);
    gauge('istiod_ts_xds_cache_misses', '(istiod-ts) Generated-resource cache misses since start.', () => sources.generation().cacheMisses);
    gauge('istiod_ts_xds_cache_entries', '(istiod-ts) Generated-resource cache entries.', () => sources.generation().entries);
    gauge('istiod_ts_xds_cache_invalidated', '(istiod-ts) Cache entries invalidated by snapshot changes since start.', () => sources.generation().invalidated);
    gauge('istiod_ts_snapshot_arena_bytes', '(istiod-ts) Bytes of live snapshot segments in the shared arena.', () => sources.arena().liveBytes);
    gauge('istiod_ts_snapshot_arena_capacity_bytes', '(istiod-ts) Size of the shared snapshot arena.', () => sources.arena().capacityBytes);
    gauge('istiod_ts_snapshot_version', '(istiod-ts) Latest published snapshot version.', () => sources.snapshotVersion());
  }

  // ---- citadel: the certificate authority (issue 6; Istio security/pkg/server/ca/monitoring.go) ----
  readonly citadel = {
    csr: new client.Counter({ name: 'citadel_server_csr_count', help: 'The number of CSRs received by Citadel server.', registers: [this.registry] }),
    authnFailures: new client.Counter({ name: 'citadel_server_authentication_failure_count', help: 'The number of authentication failures.', registers: [this.registry] }),
    csrParsingErrors: new client.Counter({ name: 'citadel_server_csr_parsing_err_count', help: 'The number of errors occurred when parsing the CSR.', registers: [this.registry] }),
    idExtractionErrors: new client.Counter({ name: 'citadel_server_id_extraction_err_count', help: 'The number of errors occurred when extracting the ID from CSR.', registers: [this.registry] }),
    signErrors: new client.Counter({ name: 'citadel_server_csr_sign_err_count', help: 'The number of errors occurred when signing the CSR.', labelNames: ['error'], registers: [this.registry] }),
    issued: new client.Counter({ name: 'citadel_server_success_cert_issuance_count', help: 'The number of certificates issuances that have succeeded.', registers: [this.registry] }),
    signDuration: new client.Histogram({ name: 'istiod_ts_ca_sign_seconds', help: '(istiod-ts) Time from a CSR reaching the CA to its signed chain, signing-pool queueing included.', buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry] }),
  };

  /** CA gauges read at scrape time: root / chain expiry (Istio's) and the signing pool (ours). */
  observeCa(sources: {
    expiry: () => { rootMs: number; caCertMs: number; hasChain: boolean };
    pool: () => { threads: number; queueSize: number; utilization: number };
  }): void {
    const gauge = (name: string, help: string, read: () => number | undefined) =>
      new client.Gauge({ name, help, registers: [this.registry], collect() { const v = read(); if (v !== undefined && Number.isFinite(v)) this.set(v); } });
    gauge('citadel_server_root_cert_expiry_timestamp', 'The unix timestamp, in seconds, when Citadel root cert will expire. A negative time indicates the cert is expired.', () => sources.expiry().rootMs / 1000);
    gauge('citadel_server_root_cert_expiry_seconds', 'The time remaining, in seconds, before the root cert will expire. A negative value indicates the cert is expired.', () => (sources.expiry().rootMs - Date.now()) / 1000);
    gauge('citadel_server_cert_chain_expiry_timestamp', 'The unix timestamp, in seconds, when Citadel cert chain will expire. A negative time indicates the cert is expired.', () => (sources.expiry().hasChain ? sources.expiry().caCertMs / 1000 : undefined));
    gauge('citadel_server_cert_chain_expiry_seconds', 'The time remaining, in seconds, before the cert chain will expire. A negative value indicates the cert is expired.', () => (sources.expiry().hasChain ? (sources.expiry().caCertMs - Date.now()) / 1000 : undefined));
    gauge('istiod_ts_ca_pool_threads', '(istiod-ts) CSR-signing worker threads.', () => sources.pool().threads);
    gauge('istiod_ts_ca_pool_queue_depth', '(istiod-ts) CSRs waiting for a signing worker.', () => sources.pool().queueSize);
    gauge('istiod_ts_ca_pool_utilization', '(istiod-ts) Share of time the signing workers were busy (0..1).', () => sources.pool().utilization);
  }
  // ---- end citadel ----

  callbacks(): XdsCallbacks {
    return {
      onStreamOpen: (s) => this.xdsClients.inc({ version: s.proxy.istioVersion || 'unknown' }),
      onStreamClosed: (s) => this.xdsClients.dec({ version: s.proxy.istioVersion || 'unknown' }),
      onResponse: (_s, type: XdsTypeUrl, _n, bytes) => {
        this.pushes.inc({ type: SHORT_NAME[type] });
        this.configSize.observe({ type }, bytes);
      },
      onNack: (_s, type) => this.rejects.inc({ type: SHORT_NAME[type] }),
      onExpiredNonce: (_s, type) => this.expiredNonce.inc({ type: SHORT_NAME[type] }),
      onPushComplete: (_s, start) => this.convergence.observe((Date.now() - start) / 1000),
      onPushError: (_s, type) => { this.internalErrors.inc(); this.pushes.inc({ type: `${SHORT_NAME[type]}_senderr` }); },
      onPushDequeued: (_s, ms) => this.queueTime.observe(ms / 1000),
      onTypePushed: (_s, type, ms) => this.pushTime.observe({ type: SHORT_NAME[type] }, ms / 1000),
      onWrite: (_s, ms) => this.sendTime.observe(ms / 1000),
      onWriteTimeout: () => this.writeTimeouts.inc(),
      onAdmission: (ms, ok) => { this.admissionWait.observe(ms / 1000); if (!ok) this.admissionRefused.inc(); },
    };
  }
}
