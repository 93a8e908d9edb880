/**
 * Kubernetes mode of the load tester: the scenario's mesh written into an API server, churn as
 * API writes, cleanup of exactly what the run created. The objects are the renderer's (the same
 * the file mode writes as YAML), with three changes a real API server needs:
 *
 * - Services carry no spec.clusterIP: the cluster allocates one from its service CIDR (the
 *   renderer's 172.20.x.x would be refused by most clusters). Markers never contain a cluster IP.
 * - Pods get a scheduling gate (`istiod-ts.io/load-test`), so no scheduler binds them and no
 *   kubelet runs them or rewrites their status; their status (podIP) is written through the
 *   status subresource after the create, as the API server drops status on create.
 * - Namespaces the load tester creates carry the label `istiod-ts.io/load-test: "true"`; one that
 *   already exists is kept (it gets the rendered labels; istio-system is left alone), and counts as
 *   the load tester's when it carries that label (an earlier run with --keep), so cleanup deletes it.
 *
 * Churn: an endpoint change creates the new pod, replaces the EndpointSlice and deletes the pod it
 * replaced; a scale-up creates the new pods and replaces the slice; config edits replace the
 * VirtualService or DestinationRule, global edits the istio-system ServiceEntry. The change is stamped just before its first write.
 */
import { KubeClient, KubeObject, isStatus } from '../../src/main/kube/client';
import { MeshWriter } from '../scenario/churn';
import { GlobalModel, MeshModel, ServiceModel } from '../scenario/mesh-model';
import { MeshObject, globalObjects, namespaceObjects, routingObjects, serviceObjects, sidecarObjects } from '../scenario/render';
import { Scenario } from '../scenario/schema';
import { ApiWriter, ObjectRef, WriteCounts, mapLimit, refOf } from './api-writer';

export const SCHEDULING_GATE = 'istiod-ts.io/load-test';
/** label of the namespaces the load tester created */
export const OWNER_LABEL = 'istiod-ts.io/load-test';
export const CONTROL_PLANE_NAMESPACE = 'istio-system';
const ISTIO_NETWORKING = 'networking.istio.io/v1';

/** What the run did to the cluster (the JSON result's `kube`). */
export interface KubeSummary {
  server: string;
  namespaces: string[];
  /** namespaces the load tester created, in this run or an earlier one with --keep (label istiod-ts.io/load-test): cleanup deletes them */
  namespacesCreated: string[];
  objects: WriteCounts;
  /** objects in the API server after setup, by kind */
  meshObjects: Record<string, number>;
  setupMs: number;
  cleanup: 'deleted' | 'kept' | 'pending' | string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The renderer's object as the API server should receive it (see the file comment). */
export function forCluster(o: MeshObject): MeshObject {
  const copy = structuredClone(o);
  delete copy['status'];
  if (o.kind === 'Service') delete (copy['spec'] as Record<string, unknown>)['clusterIP'];
  if (o.kind === 'Pod') (copy['spec'] as Record<string, unknown>)['schedulingGates'] = [{ name: SCHEDULING_GATE }];
  return copy;
}

export class KubeMesh implements MeshWriter {
  readonly api: ApiWriter;
  readonly namespacesCreated: string[] = [];
  readonly meshObjects: Record<string, number> = {};
  /** per service (ns/name): the pod names written */
  private readonly pods = new Map<string, Set<string>>();

  constructor(client: KubeClient, private readonly concurrency = 16, private readonly namespaceWaitMs = 120_000) {
    this.api = new ApiWriter(client);
  }

  get server(): string { return this.api.client.server; }

  /** Namespaces first, then every object, `concurrency` requests in flight. Returns the number of objects written. */
  async create(scenario: Scenario, mesh: MeshModel): Promise<number> {
    await this.preflight(scenario, mesh);
    const namespaces = namespaceObjects(mesh);
    await mapLimit(namespaces, this.concurrency, (ns) => this.ensureNamespace(ns));
    const objects: MeshObject[] = [];
    for (const svc of mesh.services) {
      objects.push(...serviceObjects(svc));
      if (svc.routing) objects.push(...routingObjects(svc));
      this.pods.set(`${svc.namespace}/${svc.name}`, new Set(svc.pods.map((p) => p.name)));
    }
    if (scenario.sidecarScoping === 'namespace') for (const ns of mesh.namespaces) objects.push(...sidecarObjects(ns));
    if (mesh.global) objects.push(...globalObjects(mesh.global));
    await mapLimit(objects, this.concurrency, (o) => this.put(o));
    for (const o of objects) this.meshObjects[o.kind] = (this.meshObjects[o.kind] ?? 0) + 1;
    return namespaces.length + objects.length;
  }

  async writeService(svc: ServiceModel, visible: () => void): Promise<void> {
    const key = `${svc.namespace}/${svc.name}`;
    const known = this.pods.get(key) ?? new Set<string>();
    const objects = serviceObjects(svc);
    const current = new Set(svc.pods.map((p) => p.name));
    const added = objects.filter((o) => o.kind === 'Pod' && !known.has(o.metadata.name));
    const removed = [...known].filter((name) => !current.has(name));
    const slice = objects.find((o) => o.kind === 'EndpointSlice')!;
    visible();
    await mapLimit(added, this.concurrency, (p) => this.put(p));
    await this.api.replace(forCluster(slice));
    await mapLimit(removed, this.concurrency, async (name) => {
      const ref: ObjectRef = { apiVersion: 'v1', kind: 'Pod', namespace: svc.namespace, name };
      await this.api.delete(ref, true);
      this.api.forget(ref);
    });
    this.pods.set(key, current);
  }

  async writeRouting(svc: ServiceModel, kind: 'VirtualService' | 'DestinationRule', visible: () => void): Promise<void> {
    const obj = routingObjects(svc).find((o) => o.kind === kind)!;
    visible();
    await this.api.replace(forCluster(obj));
  }

  async writeGlobal(g: GlobalModel, visible: () => void): Promise<void> {
    const obj = globalObjects(g)[0]!;
    visible();
    await this.api.replace(forCluster(obj));
  }

  /**
   * Deletes what the run created: every object it wrote into a namespace that was there before,
   * then the namespaces it created (the API server deletes their contents). `keepNamespaces`
   * survive even when the run created them (istio-system while a server the run did not start
   * still uses it).
   */
  async cleanup(keepNamespaces: readonly string[] = []): Promise<void> {
    this.api.resume();
    const created = new Set(this.namespacesCreated);
    const loose = [...this.api.written.values()].filter((r) => r.kind !== 'Namespace' && !(r.namespace && created.has(r.namespace) && !keepNamespaces.includes(r.namespace)));
    await mapLimit(loose.reverse(), this.concurrency, (r) => this.api.delete(r, r.kind === 'Pod'));
    const drop = this.namespacesCreated.filter((ns) => !keepNamespaces.includes(ns));
    await mapLimit(drop, this.concurrency, (name) => this.api.delete({ apiVersion: 'v1', kind: 'Namespace', name }));
  }

  /** Interrupts create(): requests in flight finish, no new ones start (cleanup still works). */
  abort(): void { this.api.stop(); }

  summary(setupMs: number, cleanup: KubeSummary['cleanup'], mesh: MeshModel): KubeSummary {
    return {
      server: this.server, namespaces: [...mesh.namespaces], namespacesCreated: [...this.namespacesCreated],
      objects: { ...this.api.counts }, meshObjects: { ...this.meshObjects }, setupMs: Math.round(setupMs), cleanup,
    };
  }

  /** The Istio kinds the mesh needs must be served (networking.istio.io/v1): say so before writing anything. */
  private async preflight(scenario: Scenario, mesh: MeshModel): Promise<void> {
    const needed = [
      ...(mesh.services.some((s) => s.routing) ? ['destinationrules', 'virtualservices'] : []),
      ...(scenario.sidecarScoping === 'namespace' ? ['sidecars'] : []),
      ...(mesh.global ? ['serviceentries'] : []),
    ];
    if (needed.length === 0) return;
    let served: string[];
    try {
      const list = await this.api.call<{ resources?: Array<{ name: string }> }>('GET', `/apis/${ISTIO_NETWORKING}`, `discovery of ${ISTIO_NETWORKING}`);
      served = (list.resources ?? []).map((r) => r.name);
    } catch (e) {
      if (!isStatus(e, 404)) throw e;
      served = [];
    }
    const missing = needed.filter((r) => !served.includes(r));
    if (missing.length > 0) {
      throw new Error(`${this.server} does not serve ${missing.join(', ')} in ${ISTIO_NETWORKING}: install Istio's CRDs (v1.22 or later serves v1) before a load test in Kubernetes mode`);
    }
  }

  private async put(o: MeshObject): Promise<void> {
    await this.api.apply(forCluster(o));
    if (o.kind === 'Pod' && o['status'] !== undefined) await this.api.patchStatus(refOf(o), o['status']);
  }

  /**
   * Creates the namespace (with the owner label); an existing one gets the rendered labels
   * (istio-system is left as it is) and is the load tester's when it has the owner label; one
   * still terminating (a previous run's cleanup on a real cluster) is waited for.
   */
  private async ensureNamespace(rendered: MeshObject): Promise<void> {
    const name = rendered.metadata.name;
    const ns: MeshObject = { ...rendered, metadata: { ...rendered.metadata, labels: { ...(rendered.metadata.labels ?? {}), [OWNER_LABEL]: 'true' } } };
    const deadline = Date.now() + this.namespaceWaitMs;
    for (;;) {
      try {
        await this.api.call('POST', '/api/v1/namespaces', `create Namespace ${name}`, ns);
        this.api.counts.created++;
        this.namespacesCreated.push(name);
        return;
      } catch (e) {
        if (!isStatus(e, 409)) throw e;
      }
      let existing: KubeObject & { status?: { phase?: string } };
      try {
        existing = await this.api.call('GET', `/api/v1/namespaces/${encodeURIComponent(name)}`, `read Namespace ${name}`);
      } catch (e) {
        if (isStatus(e, 404)) continue; // deleted in between: create it
        throw e;
      }
      if (existing.status?.phase === 'Terminating') {
        if (Date.now() > deadline) throw new Error(`Namespace ${name} is still terminating after ${this.namespaceWaitMs / 1000} s (a previous run's cleanup?); wait for it or pick another --namespace-prefix`);
        await sleep(1000);
        continue;
      }
      const ours = existing.metadata.labels?.[OWNER_LABEL] === 'true';
      if (ours) this.namespacesCreated.push(name);
      if (name === CONTROL_PLANE_NAMESPACE) return;
      const labels = { ...(existing.metadata.labels ?? {}), ...(rendered.metadata.labels ?? {}) };
      await this.api.call('PUT', `/api/v1/namespaces/${encodeURIComponent(name)}`, `replace Namespace ${name}`, { ...existing, metadata: { ...existing.metadata, labels } });
      this.api.counts.replaced++;
      return;
    }
  }
}
