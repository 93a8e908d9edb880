/**
 * The churn programme: endpoint changes (a pod replaced by one with a fresh IP), scale-ups (a
 * service gains several pods), config edits (alternately a VirtualService header match and a
 * DestinationRule subset get a fresh name), global edits (the istio-system ServiceEntry every proxy
 * reads gets a fresh host) and a reconnect storm, at the scenario's rates and
 * bounded by its duration.
 *
 * Every change carries a fresh marker (markers.ts). The driver first hands the marker to
 * `register` (the coordinator resolves it once every worker watches it), then has the MeshWriter
 * write it (file mode: the rename of the re-rendered file; Kubernetes mode: the API writes), and
 * stamps the change time just before the first write that carries the marker. So no proxy can
 * see a marker before its watcher exists, and the time is never later than the server's first
 * chance to read the change.
 */
import { MarkerWatch } from '../protocol';
import { wallNow } from '../clock';
import { MarkerAllocator } from './markers';
import { GlobalModel, MeshModel, ServiceModel } from './mesh-model';
import { mulberry32 } from './random';
import { globalPath, routingPath, servicePath } from './render';
import { Scenario } from './schema';

/**
 * Where churn lands. The model (svc.pods, svc.routing) is already edited when a method is called;
 * the writer makes the server's source match it and calls `visible()` just before the first
 * write that carries the change.
 */
export interface MeshWriter {
  /** the service's pods changed (endpoint change, scale-up): its Pods and EndpointSlice */
  writeService(svc: ServiceModel, visible: () => void): Promise<void>;
  /** its VirtualService or DestinationRule changed */
  writeRouting(svc: ServiceModel, kind: 'VirtualService' | 'DestinationRule', visible: () => void): Promise<void>;
  /** the global ServiceEntry's host changed */
  writeGlobal(g: GlobalModel, visible: () => void): Promise<void>;
}

export type ChangeType = 'endpoint' | 'scaleUp' | 'virtualService' | 'destinationRule' | 'global';
export const CHANGE_TYPES: readonly ChangeType[] = ['endpoint', 'scaleUp', 'virtualService', 'destinationRule', 'global'];

export interface ChangeRecord {
  readonly id: number;
  readonly type: ChangeType;
  /** config file changed, relative to the config dir (Kubernetes mode: the same name for the same objects) */
  readonly file: string;
  readonly marker: string;
  /** planned time, ms after the churn phase started */
  readonly plannedMs: number;
  /** wallNow() just before the first write carrying the change */
  appliedAt: number;
  /** namespaces whose proxies must receive it; null = all */
  readonly namespaces: readonly string[] | null;
}

export interface StormRecord { readonly id: number; readonly plannedMs: number; at: number; readonly fraction: number }

export interface ChurnHooks {
  /** resolves when every worker watches the marker */
  register(watch: MarkerWatch): Promise<void>;
  storm(id: number, fraction: number): Promise<void>;
}

type Planned = { atMs: number; kind: ChangeType | 'storm' };

/** The programme as a sorted list of (time, kind); evenly spaced per kind. */
export function planChurn(s: Scenario): Planned[] {
  const out: Planned[] = [];
  const durMs = s.durationSeconds * 1000;
  const every = (perSecond: number, kind: ChangeType | 'alt') => {
    if (perSecond <= 0) return;
    const step = 1000 / perSecond;
    let k = 0;
    for (let t = step / 2; t < durMs; t += step) out.push({ atMs: t, kind: kind === 'alt' ? (k++ % 2 === 0 ? 'virtualService' : 'destinationRule') : kind });
  };
  every(s.churn.endpointChangesPerSecond, 'endpoint');
  every(s.churn.configEditsPerMinute / 60, 'alt');
  every(s.churn.globalEditsPerMinute / 60, 'global');
  for (let k = 0; k < s.churn.scaleUps.count; k++) out.push({ atMs: (durMs * (k + 0.5)) / s.churn.scaleUps.count, kind: 'scaleUp' });
  if (s.churn.reconnectStorm) out.push({ atMs: s.churn.reconnectStorm.atSeconds * 1000, kind: 'storm' });
  return out.sort((a, b) => a.atMs - b.atMs);
}

export class ChurnDriver {
  readonly changes: ChangeRecord[] = [];
  readonly storms: StormRecord[] = [];
  private readonly markers = new MarkerAllocator();
  private readonly rnd: () => number;
  private readonly routed: ServiceModel[];
  private nextId = 1;
  private podSeq = 0;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly writer: MeshWriter, private readonly scenario: Scenario, private readonly mesh: MeshModel, private readonly hooks: ChurnHooks) {
    this.rnd = mulberry32(scenario.seed ^ 0xc4);
    this.routed = mesh.services.filter((s) => s.routing);
  }

  /** Run the programme from now; resolves when the last planned event is applied or stop() is called. */
  async run(): Promise<void> {
    const start = wallNow();
    for (const ev of planChurn(this.scenario)) {
      const wait = start + ev.atMs - wallNow();
      if (wait > 0) await this.sleep(wait);
      if (this.stopped) return;
      if (ev.kind === 'storm') {
        const rec: StormRecord = { id: this.nextId++, plannedMs: ev.atMs, at: wallNow(), fraction: this.scenario.churn.reconnectStorm!.fraction };
        this.storms.push(rec);
        await this.hooks.storm(rec.id, rec.fraction);
      } else {
        await this.apply(ev.kind, ev.atMs);
      }
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(() => { this.wake = undefined; resolve(); }, ms);
    });
  }

  private pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.rnd() * list.length)]!;
  }

  private async apply(type: ChangeType, plannedMs: number): Promise<void> {
    if (type === 'global') return this.applyGlobal(plannedMs);
    const routedChange = type === 'virtualService' || type === 'destinationRule';
    const svc = this.pick(routedChange ? this.routed : this.mesh.services);
    let marker: string;
    let file: string;
    let write: (visible: () => void) => Promise<void>;
    switch (type) {
      case 'endpoint': {
        marker = this.markers.ip();
        const replaceable = svc.pods.map((p, i) => (p.proxied ? -1 : i)).filter((i) => i >= 0);
        const fresh = { name: `${svc.name}-r${this.podSeq++}`, ip: marker, proxied: false };
        if (replaceable.length > 0) svc.pods[this.pick(replaceable)] = fresh; // a pod restarted with a new IP
        else svc.pods.push(fresh); // every pod runs a simulated proxy: add one instead
        file = servicePath(svc);
        write = (visible) => this.writer.writeService(svc, visible);
        break;
      }
      case 'scaleUp': {
        const added = Array.from({ length: this.scenario.churn.scaleUps.endpoints }, () => ({ name: `${svc.name}-s${this.podSeq++}`, ip: this.markers.ip(), proxied: false }));
        marker = added[0]!.ip;
        svc.pods.push(...added);
        file = servicePath(svc);
        write = (visible) => this.writer.writeService(svc, visible);
        break;
      }
      case 'virtualService':
        marker = this.markers.token();
        svc.routing!.vsToken = marker;
        file = routingPath(svc);
        write = (visible) => this.writer.writeRouting(svc, 'VirtualService', visible);
        break;
      case 'destinationRule':
        marker = this.markers.token();
        svc.routing!.drSubset = marker;
        file = routingPath(svc);
        write = (visible) => this.writer.writeRouting(svc, 'DestinationRule', visible);
        break;
      default:
        throw new Error(`unexpected change type ${type}`);
    }
    const id = this.nextId++;
    const namespaces = this.scenario.sidecarScoping === 'namespace' ? [svc.namespace] : null;
    // endpoints and scale-ups show up in EDS, VirtualServices in RDS, DestinationRules in CDS:
    // a later marker implies an earlier one only within the same object and the same xDS type
    const chain = `${file}#${type === 'scaleUp' ? 'endpoint' : type}`;
    await this.hooks.register({ changeId: id, marker, chain, seq: id, namespaces });
    const rec: ChangeRecord = { id, type, file, marker, plannedMs, appliedAt: wallNow(), namespaces };
    await write(() => { rec.appliedAt = wallNow(); });
    this.changes.push(rec);
  }

  /**
   * The istio-system ServiceEntry gets a fresh host: every proxy (namespaces null) must receive a
   * cluster named after it. The workers measure the bytes of the responses carrying it (`bytes`).
   */
  private async applyGlobal(plannedMs: number): Promise<void> {
    const g = this.mesh.global;
    if (!g) throw new Error('global churn needs the mesh built with churn.globalEditsPerMinute > 0');
    const marker = this.markers.globalToken();
    g.host = `${marker}.global.load-test.internal`;
    const id = this.nextId++;
    const file = globalPath();
    await this.hooks.register({ changeId: id, marker, chain: `${file}#global`, seq: id, namespaces: null, bytes: true });
    const rec: ChangeRecord = { id, type: 'global', file, marker, plannedMs, appliedAt: wallNow(), namespaces: null };
    await this.writer.writeGlobal(g, () => { rec.appliedAt = wallNow(); });
    this.changes.push(rec);
  }
}
