/**
 * SnapshotWriter: encodes SnapshotInput into flatbuffers segments in the arena and publishes
 * immutable, versioned roots. Single writer (main thread).
 *
 * Reuse: a service, endpoint block or config whose input object is the same reference as in the
 * previous version keeps its segment; only changed parts are encoded. The root (a list of
 * segment references) is written per version.
 *
 * Lifetime: a version is live while it is the latest or pinned by in-flight jobs. When it dies,
 * its segments' refcounts drop and segments no live version uses go back to the arena.
 */
import * as flatbuffers from 'flatbuffers';
import { SnapshotArena } from './arena';
import { SegmentRef } from './layout';
import * as fb from './generated/snapshot_generated';
import { ConfigModel, EndpointModel, ServiceModel, SnapshotInput } from '../model/service';

const SOURCE_CODE = { kubernetes: 0, serviceentry: 1 } as const;
const RESOLUTION_CODE = { eds: 0, dns: 1, 'dns-round-robin': 2, passthrough: 3 } as const;

export interface PublishedSnapshot {
  readonly version: number;
  readonly root: SegmentRef;
  /** how many segments were encoded for this version (the rest were reused) */
  readonly encodedSegments: number;
  readonly reusedSegments: number;
}

interface LiveVersion { root: SegmentRef; segments: SegmentRef[]; pins: number }

export class SnapshotWriter {
  private version = 0;
  private readonly live = new Map<number, LiveVersion>();
  private readonly refcount = new Map<number, number>(); // segment id → live versions using it
  private reuse = new Map<object, SegmentRef>(); // input object → its segment (latest version only)

  constructor(readonly arena: SnapshotArena) {}

  get latestVersion(): number { return this.version; }

  publish(input: SnapshotInput): PublishedSnapshot {
    const version = this.version + 1;
    const nextReuse = new Map<object, SegmentRef>();
    const segments: SegmentRef[] = [];
    let encoded = 0;
    let reused = 0;
    const segmentFor = <T extends object>(obj: T, encode: (o: T) => Uint8Array): SegmentRef => {
      let seg = this.reuse.get(obj) ?? nextReuse.get(obj);
      if (seg) reused++; else { seg = this.arena.write(encode(obj)); encoded++; }
      nextReuse.set(obj, seg);
      segments.push(seg);
      return seg;
    };

    const b = new flatbuffers.Builder(1024 + input.services.length * 96 + input.configs.length * 64);
    const serviceRefs = input.services.map((entry) => {
      const svcSeg = segmentFor(entry.service, encodeService);
      const epSeg = segmentFor(entry.endpoints as object, encodeEndpoints as (o: object) => Uint8Array);
      const host = b.createString(entry.service.hostname);
      const ns = b.createString(entry.service.namespace);
      fb.ServiceRef.startServiceRef(b);
      fb.ServiceRef.addHostname(b, host);
      fb.ServiceRef.addNamespace(b, ns);
      fb.ServiceRef.addService(b, fb.SegmentRef.createSegmentRef(b, svcSeg.id, svcSeg.offset, svcSeg.length));
      fb.ServiceRef.addEndpoints(b, fb.SegmentRef.createSegmentRef(b, epSeg.id, epSeg.offset, epSeg.length));
      return fb.ServiceRef.endServiceRef(b);
    });
    const configRefs = input.configs.map((cfg) => {
      const seg = segmentFor(cfg, encodeConfig);
      const kind = b.createString(cfg.kind);
      const ns = b.createString(cfg.namespace);
      const name = b.createString(cfg.name);
      fb.ConfigRef.startConfigRef(b);
      fb.ConfigRef.addKind(b, kind);
      fb.ConfigRef.addNamespace(b, ns);
      fb.ConfigRef.addName(b, name);
      fb.ConfigRef.addSegment(b, fb.SegmentRef.createSegmentRef(b, seg.id, seg.offset, seg.length));
      return fb.ConfigRef.endConfigRef(b);
    });
    const meshSeg = segmentFor(input.mesh as object, (m) => encodeConfig({ group: '', kind: 'MeshConfig', namespace: '', name: 'mesh', revision: '', labels: {}, spec: m }));
    const servicesVec = fb.Root.createServicesVector(b, serviceRefs);
    const configsVec = fb.Root.createConfigsVector(b, configRefs);
    fb.Root.startRoot(b);
    fb.Root.addVersion(b, version);
    fb.Root.addServices(b, servicesVec);
    fb.Root.addConfigs(b, configsVec);
    fb.Root.addMesh(b, fb.SegmentRef.createSegmentRef(b, meshSeg.id, meshSeg.offset, meshSeg.length));
    b.finish(fb.Root.endRoot(b));
    const root = this.arena.write(b.asUint8Array());

    for (const seg of segments) this.refcount.set(seg.id, (this.refcount.get(seg.id) ?? 0) + 1);
    this.live.set(version, { root, segments, pins: 0 });
    const previous = this.version;
    this.version = version;
    this.reuse = nextReuse;
    this.arena.publishRoot(version, root);
    this.maybeRelease(previous);
    return { version, root, encodedSegments: encoded, reusedSegments: reused };
  }

  /** Keep `version` alive for an in-flight job. Returns its root, or undefined if it is gone. */
  pin(version: number): SegmentRef | undefined {
    const v = this.live.get(version);
    if (!v) return undefined;
    v.pins++;
    return v.root;
  }

  unpin(version: number): void {
    const v = this.live.get(version);
    if (!v) return;
    v.pins--;
    this.maybeRelease(version);
  }

  liveVersions(): number[] { return [...this.live.keys()]; }

  private maybeRelease(version: number): void {
    const v = this.live.get(version);
    if (!v || v.pins > 0 || version === this.version) return;
    this.live.delete(version);
    this.arena.release(v.root);
    for (const seg of v.segments) {
      const n = (this.refcount.get(seg.id) ?? 1) - 1;
      if (n > 0) { this.refcount.set(seg.id, n); continue; }
      this.refcount.delete(seg.id);
      this.arena.release(seg);
    }
  }
}

function vectorOfOffsets(b: flatbuffers.Builder, offs: number[]): number {
  b.startVector(4, offs.length, 4);
  for (let i = offs.length - 1; i >= 0; i--) b.addOffset(offs[i]!);
  return b.endVector();
}

function stringVector(b: flatbuffers.Builder, values: readonly string[]): number {
  return vectorOfOffsets(b, values.map((v) => b.createString(v)));
}

export function encodeService(s: ServiceModel): Uint8Array {
  const b = new flatbuffers.Builder(256);
  const ports = vectorOfOffsets(b, s.ports.map((p) => {
    const name = b.createString(p.name);
    const protocol = b.createString(p.protocol);
    return fb.Port.createPort(b, name, p.port, protocol, p.targetPort);
  }));
  const hostname = b.createString(s.hostname);
  const ns = b.createString(s.namespace);
  const name = b.createString(s.name);
  const addresses = stringVector(b, s.addresses);
  const exportTo = stringVector(b, s.exportTo);
  const labels = vectorOfOffsets(b, kvOffsets(b, s.labels));
  const serviceAccounts = stringVector(b, s.serviceAccounts ?? []);
  fb.Service.startService(b);
  fb.Service.addHostname(b, hostname);
  fb.Service.addNamespace(b, ns);
  fb.Service.addName(b, name);
  fb.Service.addSource(b, SOURCE_CODE[s.source]);
  fb.Service.addPorts(b, ports);
  fb.Service.addAddresses(b, addresses);
  fb.Service.addExportTo(b, exportTo);
  fb.Service.addResolution(b, RESOLUTION_CODE[s.resolution]);
  fb.Service.addMeshExternal(b, s.meshExternal);
  fb.Service.addLabels(b, labels);
  fb.Service.addServiceAccounts(b, serviceAccounts);
  b.finish(fb.Service.endService(b));
  return b.asUint8Array();
}

function kvOffsets(b: flatbuffers.Builder, rec: Readonly<Record<string, string>>): number[] {
  return Object.keys(rec).sort().map((k) => fb.KeyValue.createKeyValue(b, b.createString(k), b.createString(rec[k]!)));
}

export function encodeEndpoints(eps: readonly EndpointModel[]): Uint8Array {
  const b = new flatbuffers.Builder(64 + eps.length * 128);
  const offs = eps.map((e) => {
    const address = b.createString(e.address);
    const ports = vectorOfOffsets(b, Object.keys(e.ports).sort().map((n) => fb.EndpointPort.createEndpointPort(b, b.createString(n), e.ports[n]!)));
    const labels = vectorOfOffsets(b, kvOffsets(b, e.labels));
    const locality = b.createString(e.locality);
    const network = b.createString(e.network);
    const sa = b.createString(e.serviceAccount);
    const tls = b.createString(e.tlsMode);
    return fb.Endpoint.createEndpoint(b, address, ports, labels, locality, e.weight, network, sa, e.healthy, tls);
  });
  const vec = vectorOfOffsets(b, offs);
  fb.EndpointBlock.startEndpointBlock(b);
  fb.EndpointBlock.addEndpoints(b, vec);
  b.finish(fb.EndpointBlock.endEndpointBlock(b));
  return b.asUint8Array();
}

export function encodeConfig(c: ConfigModel): Uint8Array {
  const b = new flatbuffers.Builder(256);
  const group = b.createString(c.group);
  const kind = b.createString(c.kind);
  const ns = b.createString(c.namespace);
  const name = b.createString(c.name);
  const rev = b.createString(c.revision);
  const labels = vectorOfOffsets(b, kvOffsets(b, c.labels));
  const spec = b.createString(JSON.stringify(c.spec ?? {}));
  const created = b.createString(c.created ?? '');
  b.finish(fb.Config.createConfig(b, group, kind, ns, name, rev, labels, spec, created));
  return b.asUint8Array();
}

