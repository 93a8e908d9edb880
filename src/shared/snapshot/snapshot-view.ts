/**
 * SnapshotView: read-only access to one snapshot version, for the config workers. The only
 * hand-written module that imports the flatc output. Bytes are read in place from the shared arena
 * (no copy between threads); each segment is decoded to plain objects once and cached by segment
 * id, so a segment reused across versions is decoded once per worker.
 */
import * as flatbuffers from 'flatbuffers';
import { SnapshotArena } from './arena';
import { SegmentRef } from './layout';
import * as fb from './generated/snapshot_generated';
import { ConfigModel, EndpointModel, Resolution, ServiceModel, ServicePort, ServiceSource } from '../model/service';
import { SnapshotDecodeError } from '../errors';
import { configHosts, hostMatches, isWildcardHost } from '../istio/hosts';

const SOURCES: readonly ServiceSource[] = ['kubernetes', 'serviceentry'];
const RESOLUTIONS: readonly Resolution[] = ['eds', 'dns', 'dns-round-robin', 'passthrough'];

interface ServiceSlot { hostname: string; namespace: string; service: SegmentRef; endpoints: SegmentRef }

export class SnapshotReader {
  private readonly cache = new Map<number, unknown>();
  private lastIds = new Set<number>();
  private lastView?: { rootId: number; view: SnapshotView };

  constructor(private readonly arena: SnapshotArena) {}

  /** Open version described by `root`. Cached decodes not used by this or the previous opened version are dropped. */
  open(root: SegmentRef): SnapshotView {
    // Jobs of one version arrive in bursts: keep the view (and its lazily built indexes).
    if (this.lastView?.rootId === root.id) return this.lastView.view;
    const bb = new flatbuffers.ByteBuffer(this.arena.view(root));
    const r = fb.Root.getRootAsRoot(bb);
    const slots: ServiceSlot[] = [];
    const ids = new Set<number>();
    for (let i = 0; i < r.servicesLength(); i++) {
      const s = r.services(i)!;
      const svc = refOf(s.service()), eps = refOf(s.endpoints());
      slots.push({ hostname: s.hostname() ?? '', namespace: s.namespace() ?? '', service: svc, endpoints: eps });
      ids.add(svc.id); ids.add(eps.id);
    }
    const configRefs: Array<{ kind: string; seg: SegmentRef }> = [];
    for (let i = 0; i < r.configsLength(); i++) {
      const c = r.configs(i)!;
      const seg = refOf(c.segment());
      configRefs.push({ kind: c.kind() ?? '', seg });
      ids.add(seg.id);
    }
    const mesh = refOf(r.mesh());
    ids.add(mesh.id);
    for (const id of this.cache.keys()) if (!ids.has(id) && !this.lastIds.has(id)) this.cache.delete(id);
    this.lastIds = ids;
    const view = new SnapshotView(r.version(), slots, configRefs, mesh, this);
    this.lastView = { rootId: root.id, view };
    return view;
  }

  decode<T>(seg: SegmentRef, fn: (bb: flatbuffers.ByteBuffer) => T): T {
    let v = this.cache.get(seg.id) as T | undefined;
    if (v === undefined) {
      v = fn(new flatbuffers.ByteBuffer(this.arena.view(seg)));
      this.cache.set(seg.id, v);
    }
    return v;
  }

  cachedSegments(): number { return this.cache.size; }
}

function refOf(s: fb.SegmentRef | null): SegmentRef {
  if (!s) throw new SnapshotDecodeError('snapshot root: missing segment reference');
  return { id: s.id(), offset: s.offset(), length: s.length() };
}

/**
 * Dependency keys a generation read, so cached output can be invalidated precisely:
 * `svc:*` (the service list), `svc:<host>`, `ep:<host>/<ns>`, `cfg:<Kind>` (every config of a
 * kind), `cfg:<Kind>/<ns>/<name>` (one config), `cfg:<Kind>@<host>` and `cfg:<Kind>@*` (configs of
 * a host-indexed kind that apply to a host, and those with wildcard hosts), `mesh`.
 */
export type DependencyKey = string;

export class SnapshotView {
  /** When set, every read records its dependency key here (set and cleared around one generation). */
  recorder: Set<DependencyKey> | undefined;
  private servicesList?: ServiceModel[];
  private byHost?: Map<string, ServiceSlot[]>;
  private readonly configsByKind = new Map<string, ConfigModel[]>();
  private readonly hostIndex = new Map<string, { exact: Map<string, ConfigModel[]>; wildcard: Array<{ host: string; config: ConfigModel }> }>();

  constructor(
    readonly version: number,
    private readonly slots: readonly ServiceSlot[],
    private readonly configRefs: ReadonlyArray<{ kind: string; seg: SegmentRef }>,
    private readonly meshRef: SegmentRef,
    private readonly reader: SnapshotReader,
  ) {}

  /** Every service, in snapshot order (sorted by hostname, then namespace). */
  services(): readonly ServiceModel[] {
    this.recorder?.add('svc:*');
    if (!this.servicesList) this.servicesList = this.slots.map((s) => this.reader.decode(s.service, decodeService));
    return this.servicesList;
  }

  /** Services with this hostname (several when ServiceEntries in different namespaces share a host). */
  servicesByHost(hostname: string): readonly ServiceModel[] {
    this.recorder?.add(`svc:${hostname}`);
    return this.slotsByHost(hostname).map((s) => this.reader.decode(s.service, decodeService));
  }

  endpoints(hostname: string, namespace: string): readonly EndpointModel[] {
    this.recorder?.add(`ep:${hostname}/${namespace}`);
    const slot = this.slotsByHost(hostname).find((s) => s.namespace === namespace);
    return slot ? this.reader.decode(slot.endpoints, decodeEndpoints) : [];
  }

  configs(kind: string): readonly ConfigModel[] {
    this.recorder?.add(`cfg:${kind}`);
    let list = this.configsByKind.get(kind);
    if (!list) {
      list = this.configRefs.filter((c) => c.kind === kind).map((c) => this.reader.decode(c.seg, decodeConfig));
      this.configsByKind.set(kind, list);
    }
    return list;
  }

  /** One config by name, or undefined. */
  config(kind: string, namespace: string, name: string): ConfigModel | undefined {
    this.recorder?.add(`cfg:${kind}/${namespace}/${name}`);
    const saved = this.recorder;
    this.recorder = undefined;
    try {
      return this.configs(kind).find((c) => c.namespace === namespace && c.name === name);
    } finally {
      this.recorder = saved;
    }
  }

  /**
   * Configs of a host-indexed kind (VirtualService, DestinationRule) whose resolved hosts match
   * `host`, exact ones first, in snapshot order. Records only this host's dependency keys.
   */
  configsForHost(kind: string, host: string): readonly ConfigModel[] {
    this.recorder?.add(`cfg:${kind}@${host}`).add(`cfg:${kind}@*`);
    let idx = this.hostIndex.get(kind);
    if (!idx) {
      idx = { exact: new Map(), wildcard: [] };
      const saved = this.recorder;
      this.recorder = undefined;
      try {
        for (const c of this.configs(kind)) {
          for (const h of configHosts(kind, c.namespace, c.spec)) {
            if (isWildcardHost(h)) idx.wildcard.push({ host: h, config: c });
            else {
              const list = idx.exact.get(h);
              if (list) { if (!list.includes(c)) list.push(c); } else idx.exact.set(h, [c]);
            }
          }
        }
      } finally {
        this.recorder = saved;
      }
      this.hostIndex.set(kind, idx);
    }
    const out = [...(idx.exact.get(host) ?? [])];
    for (const w of idx.wildcard) if (hostMatches(w.host, host) && !out.includes(w.config)) out.push(w.config);
    return out;
  }

  mesh(): Readonly<Record<string, any>> {
    this.recorder?.add('mesh');
    return this.reader.decode(this.meshRef, decodeConfig).spec as Record<string, any>;
  }

  private slotsByHost(hostname: string): ServiceSlot[] {
    if (!this.byHost) {
      this.byHost = new Map();
      for (const s of this.slots) {
        const list = this.byHost.get(s.hostname);
        if (list) list.push(s); else this.byHost.set(s.hostname, [s]);
      }
    }
    return this.byHost.get(hostname) ?? [];
  }
}

function kv(n: number, at: (i: number) => fb.KeyValue | null): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < n; i++) { const e = at(i)!; out[e.key() ?? ''] = e.value() ?? ''; }
  return out;
}

function strings(n: number, at: (i: number) => string): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(at(i));
  return out;
}

function decodeService(bb: flatbuffers.ByteBuffer): ServiceModel {
  const s = fb.Service.getRootAsService(bb);
  const ports: ServicePort[] = [];
  for (let i = 0; i < s.portsLength(); i++) {
    const p = s.ports(i)!;
    ports.push(Object.freeze({ name: p.name() ?? '', port: p.port(), protocol: p.protocol() ?? 'TCP', targetPort: p.targetPort() }));
  }
  return Object.freeze({
    hostname: s.hostname() ?? '',
    namespace: s.namespace() ?? '',
    name: s.name() ?? '',
    source: SOURCES[s.source()] ?? 'kubernetes',
    ports,
    addresses: strings(s.addressesLength(), (i) => s.addresses(i)),
    exportTo: strings(s.exportToLength(), (i) => s.exportTo(i)),
    resolution: RESOLUTIONS[s.resolution()] ?? 'eds',
    meshExternal: s.meshExternal(),
    labels: kv(s.labelsLength(), (i) => s.labels(i)),
    ...(s.serviceAccountsLength() > 0 ? { serviceAccounts: strings(s.serviceAccountsLength(), (i) => s.serviceAccounts(i)) } : {}),
  });
}

function decodeEndpoints(bb: flatbuffers.ByteBuffer): EndpointModel[] {
  const block = fb.EndpointBlock.getRootAsEndpointBlock(bb);
  const out: EndpointModel[] = [];
  for (let i = 0; i < block.endpointsLength(); i++) {
    const e = block.endpoints(i)!;
    const ports: Record<string, number> = {};
    for (let j = 0; j < e.portsLength(); j++) { const p = e.ports(j)!; ports[p.name() ?? ''] = p.port(); }
    out.push(Object.freeze({
      address: e.address() ?? '',
      ports,
      labels: kv(e.labelsLength(), (j) => e.labels(j)),
      locality: e.locality() ?? '',
      weight: e.weight(),
      network: e.network() ?? '',
      serviceAccount: e.serviceAccount() ?? '',
      healthy: e.healthy(),
      tlsMode: e.tlsMode() ?? '',
    }));
  }
  return out;
}

function decodeConfig(bb: flatbuffers.ByteBuffer): ConfigModel {
  const c = fb.Config.getRootAsConfig(bb);
  let spec: unknown;
  try { spec = JSON.parse(c.specJson() ?? '{}'); } catch { throw new SnapshotDecodeError(`config ${c.kind()}/${c.namespace()}/${c.name()}: bad spec JSON`); }
  return Object.freeze({
    group: c.group() ?? '', kind: c.kind() ?? '', namespace: c.namespace() ?? '', name: c.name() ?? '',
    revision: c.revision() ?? '', labels: kv(c.labelsLength(), (i) => c.labels(i)), spec,
    ...(c.created() ? { created: c.created()! } : {}),
  });
}
