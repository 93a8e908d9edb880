/**
 * Renders deploy/ kustomizations as an SRE would (`kubectl kustomize DIR`), returning the objects.
 * The renderer: $KUSTOMIZE (a `kustomize` binary: `kustomize build DIR`), else `kustomize` on
 * PATH, else `kubectl kustomize` when the machine's kubectl embeds kustomize v4 or newer (older
 * kubectl, e.g. Debian bookworm's 1.20, cannot render components). .ci/run provides one.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';

export type K8sObject = Record<string, any> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [k: string]: any } };

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const DEPLOY_DIR = path.join(REPO_ROOT, 'deploy');

function onPath(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir, bin);
    try { fs.accessSync(p, fs.constants.X_OK); return p; } catch { /* next */ }
  }
  return undefined;
}

let cached: { cmd: string; args: string[] } | undefined;

/** The command that renders a kustomization directory (appended as the last argument). */
export function kustomizeCommand(): { cmd: string; args: string[] } {
  if (cached) return cached;
  const explicit = process.env.KUSTOMIZE || onPath('kustomize');
  if (explicit) return (cached = { cmd: explicit, args: ['build'] });
  const kubectl = onPath('kubectl');
  if (kubectl) {
    const out = execFileSync(kubectl, ['version', '--client'], { encoding: 'utf8' });
    const m = /Kustomize Version: v(\d+)/.exec(out);
    if (m && Number(m[1]) >= 4) return (cached = { cmd: kubectl, args: ['kustomize'] });
  }
  throw new Error('no kustomize renderer: set KUSTOMIZE, put kustomize on PATH, or install a kubectl with kustomize v4+ (.ci/run does this)');
}

/** Renders `deploy/<rel>` (e.g. 'overlays/production') and returns its objects in output order. */
export function render(rel: string): K8sObject[] {
  const { cmd, args } = kustomizeCommand();
  const out = execFileSync(cmd, [...args, path.join(DEPLOY_DIR, rel)], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return parseAllDocuments(out).map((d) => {
    if (d.errors.length) throw new Error(`kustomize output of ${rel}: ${d.errors[0].message}`);
    return d.toJS() as K8sObject;
  }).filter((o) => o && typeof o === 'object');
}

/** Every overlay under deploy/overlays. */
export function overlays(): string[] {
  const dir = path.join(DEPLOY_DIR, 'overlays');
  return fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => `overlays/${e.name}`).sort();
}

export function findObject(objs: K8sObject[], kind: string, name?: string): K8sObject | undefined {
  return objs.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
}
