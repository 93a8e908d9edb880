/**
 * Writing the mesh into the server's config dir. Every write is atomic (temp file + rename in
 * the same directory), so the server's file watcher never reads a half-written file; the temp
 * name starts with '.' and does not end in .yaml, so the watcher ignores it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MeshWriter } from './churn';
import { GlobalModel, MeshModel, ServiceModel } from './mesh-model';
import { globalPath, namespacesPath, renderGlobal, renderNamespaces, renderRouting, renderService, renderSidecar, routingPath, servicePath, sidecarPath } from './render';
import { Scenario } from './schema';

let tmpSeq = 0;

export function atomicWrite(dir: string, rel: string, text: string): void {
  const file = path.join(dir, rel);
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${tmpSeq++}.tmp`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/** Write the whole mesh; returns the number of files written. */
export function writeMesh(dir: string, scenario: Scenario, mesh: MeshModel): number {
  let n = 0;
  const put = (rel: string, text: string) => { atomicWrite(dir, rel, text); n++; };
  put(namespacesPath(), renderNamespaces(mesh));
  for (const svc of mesh.services) {
    put(servicePath(svc), renderService(svc));
    if (svc.routing) put(routingPath(svc), renderRouting(svc));
  }
  if (scenario.sidecarScoping === 'namespace') for (const ns of mesh.namespaces) put(sidecarPath(ns), renderSidecar(ns));
  if (mesh.global) put(globalPath(), renderGlobal(mesh.global));
  return n;
}

/** Churn in file mode: the touched file re-rendered whole and renamed into place. */
export class FileMeshWriter implements MeshWriter {
  constructor(private readonly dir: string) {}

  async writeService(svc: ServiceModel, visible: () => void): Promise<void> {
    const text = renderService(svc);
    visible();
    atomicWrite(this.dir, servicePath(svc), text);
  }

  async writeRouting(svc: ServiceModel, _kind: 'VirtualService' | 'DestinationRule', visible: () => void): Promise<void> {
    const text = renderRouting(svc);
    visible();
    atomicWrite(this.dir, routingPath(svc), text);
  }

  async writeGlobal(g: GlobalModel, visible: () => void): Promise<void> {
    const text = renderGlobal(g);
    visible();
    atomicWrite(this.dir, globalPath(), text);
  }
}
