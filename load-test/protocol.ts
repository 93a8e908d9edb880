/**
 * Messages between the coordinator (main thread) and the simulator workers, named by direction
 * (CoordinatorToWorker, WorkerToCoordinator) and discriminated by `type`. Plain data only: they
 * cross threads by structured clone. Times are wallNow() milliseconds (see clock.ts).
 */

/** Everything a worker needs to impersonate one proxy. */
export interface ProxySpec {
  /** global index, 0-based */
  readonly index: number;
  /** Istio node ID: sidecar~IP~pod.ns~ns.svc.cluster.local */
  readonly nodeId: string;
  readonly ip: string;
  readonly namespace: string;
  readonly podName: string;
  /** service the pod belongs to ("cluster" in Envoy's node: svc.ns) */
  readonly service: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly serviceAccount: string;
  /** true: DeltaAggregatedResources; false: StreamAggregatedResources */
  readonly delta: boolean;
}

export interface WorkerInit {
  readonly workerId: number;
  readonly target: string;
  readonly proxies: readonly ProxySpec[];
  readonly streamsPerChannel: number;
  /** streams this worker opens per second while ramping up */
  readonly connectsPerSecond: number;
  readonly reconnect: { readonly initialMs: number; readonly maxMs: number };
  readonly istioVersion: string;
  readonly clusterId: string;
  readonly statsIntervalMs: number;
}

/**
 * A change's marker: bytes that appear in the generated config only once the change is in it.
 * A proxy has converged on the change when it ACKs a response containing the marker, or a later
 * marker of the same `chain` (a later edit of the same object includes this one's effect).
 */
export interface MarkerWatch {
  readonly changeId: number;
  readonly marker: string;
  readonly chain: string;
  readonly seq: number;
  /** proxies expected to receive it: those in these namespaces; null = every proxy */
  readonly namespaces: readonly string[] | null;
  /** count the bytes of every response that first carries this marker to a proxy (global changes: the floor's payload size) */
  readonly bytes?: boolean;
}

export type CoordinatorToWorker =
  | { type: 'watch'; watch: MarkerWatch }
  | { type: 'storm'; stormId: number; fraction: number; seed: number }
  | { type: 'stop' };

/** Bytes of the responses that carried byte-counted markers (MarkerWatch.bytes) to this worker's proxies. */
export interface MarkerBytes {
  /** responses counted: each carried a counted marker newer than any its proxy had seen in that xDS type */
  readonly responses: number;
  readonly bytes: number;
  /** (proxy, push) pairs: times a proxy first saw a newer counted marker in any type */
  readonly pushes: number;
}

export interface TypeCounters {
  responses: number;
  bytes: number;
  resources: number;
  acks: number;
  nacks: number;
}

export type ShortType = 'cds' | 'eds' | 'lds' | 'rds';

/** Cumulative counters since the worker started, plus interval gauges. */
export interface WorkerStats {
  readonly workerId: number;
  readonly at: number;
  readonly proxies: number;
  /** proxies whose current stream has delivered a response */
  readonly connected: number;
  /** proxies whose current stream delivered and ACKed every subscribed type */
  readonly synced: number;
  readonly streamsOpened: number;
  /** streams reopened (after backoff) because a stream that had delivered responses ended */
  readonly reconnects: number;
  /** streams reopened because the previous attempt got no response (refused, unreachable) */
  readonly retries: number;
  /** streams the server ended before any response (e.g. RESOURCE_EXHAUSTED from admission) */
  readonly refused: number;
  readonly byType: Record<ShortType, TypeCounters>;
  /** the first few NACK reasons, for the report */
  readonly nackSamples: readonly string[];
  /** proxies that have converged on (change, proxy) pairs so far */
  readonly converged: number;
  /** event-loop delay over the last interval (ms) */
  readonly eventLoopDelay: { p50: number; p99: number; max: number };
  /** share of the last interval the worker's event loop was busy (0..1): its CPU, in effect */
  readonly utilization: number;
  readonly decodes: number;
  /** resources found in the decode cache */
  readonly decodeCacheHits: number;
  /** whole responses found in the response cache (no per-resource work at all) */
  readonly responseCacheHits: number;
}

export interface MarkerResult {
  readonly changeId: number;
  /** expected proxies in this worker */
  readonly expected: number;
  /** ACK times (wallNow ms) of the proxies that converged */
  readonly ackTimes: readonly number[];
}

export interface StormResult {
  readonly stormId: number;
  readonly droppedAt: number;
  /** proxies dropped in this worker */
  readonly expected: number;
  /** ms from drop to synced again, per proxy that resynced */
  readonly resyncMs: readonly number[];
}

export interface WorkerFinal {
  readonly stats: WorkerStats;
  /** ms from a stream's open to its first response, for each proxy's first stream that got one */
  readonly admissionMs: readonly number[];
  /** the same for streams of proxies that had been connected before (reconnects) */
  readonly reconnectAdmissionMs: readonly number[];
  /** ms from a proxy's first connection attempt to its first full sync */
  readonly initialSyncMs: readonly number[];
  readonly markers: readonly MarkerResult[];
  readonly markerBytes: MarkerBytes;
  readonly storms: readonly StormResult[];
  /** over the whole run */
  readonly eventLoopDelay: { p50: number; p99: number; max: number };
  readonly utilization: number;
  /** proxies that never completed a first sync */
  readonly unsyncedCount: number;
  /** node IDs of the first few of them */
  readonly unsyncedProxies: readonly string[];
}

export type WorkerToCoordinator =
  | { type: 'stats'; stats: WorkerStats }
  | { type: 'watching'; changeId: number }
  | { type: 'stormed'; stormId: number; dropped: number }
  | { type: 'final'; final: WorkerFinal }
  | { type: 'error'; error: { code: string; message: string } };
