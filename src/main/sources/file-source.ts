/**
 * File mode: a directory tree of Kubernetes-style YAML/JSON files feeds the model store, the way
 * Istio's `--configDir` does. Each file is one store origin (its path relative to `dir`, with '/'
 * separators); a file's objects are replaced as a whole whenever its text changes.
 *
 * Input never takes the process down: a file with a syntax error is reported once and its last
 * good objects stay in force; an invalid object keeps its last good version from that file (or
 * is skipped if it never had one) while the file's other objects apply.
 *
 * Watching uses one non-recursive fs.watch per directory, not `fs.watch(dir, {recursive: true})`:
 * on Linux, Node 20 emulates recursion in JS with one inotify watch per file, and a file replaced
 * by an atomic save (write temp + rename) keeps the watch on the old inode, so later in-place
 * edits of that file are never reported (verified on Node 20.20). A directory watch reports every
 * child entry by name, whatever inode it points to.
 *
 * Main thread only. All loading runs through one promise chain, so scans and flushes never
 * interleave and each origin is replaced in event order.
 */
import { Dirent, FSWatcher, Stats, watch } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { ConfigError } from '../../shared/errors';
import { K8sObject, ObjectKey, keyOf } from '../../shared/model/objects';
import { formatIssue, formatPath } from '../../shared/istio/validation';
import { checkDocument } from '../../shared/istio/config-document';
import { Logger, scope } from '../log';
import { ModelStore } from '../model/store';
import { SourceDocument, parseDocuments } from './yaml-documents';

/** A current problem with the config files, as shown on /debug. */
export interface FileError {
  /** Path relative to the config directory, '/'-separated (the store origin). */
  file: string;
  /** 1-based line of the offending document or field, when known. */
  line?: number;
  kind?: string;
  name?: string;
  namespace?: string;
  /** Path of the offending field inside the object ("spec.http[0].route"), when known. */
  field?: string;
  reason: string;
  /** 'error': something was not applied. 'warning': applied, but worth a look. */
  severity: 'error' | 'warning';
}

export interface FileSourceOptions {
  dir: string;
  store: ModelStore;
  log?: Logger;
  /** Quiet period that coalesces a burst of fs events into one reload (default 50 ms). */
  debounceMs?: number;
}

interface FileState {
  /** Text last processed: editors fire several events per save, identical text is skipped. */
  text?: string;
  /** What this file currently contributes to the store (last good objects), by key. */
  applied: Map<ObjectKey, K8sObject>;
  problems: FileError[];
}

const CONFIG_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

export class FileSource {
  private readonly root: string;
  private readonly store: ModelStore;
  private readonly log: Logger;
  private readonly debounceMs: number;
  /** A steady stream of events must not postpone loading forever. */
  private readonly maxDelayMs: number;
  private readonly files = new Map<string, FileState>();
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private firstPendingAt = 0;
  private chain: Promise<void> = Promise.resolve();
  private state: 'new' | 'running' | 'stopped' = 'new';
  private isSynced = false;

  constructor(opts: FileSourceOptions) {
    this.root = path.resolve(opts.dir);
    this.store = opts.store;
    this.log = opts.log ?? scope('model');
    this.debounceMs = opts.debounceMs ?? 50;
    if (!Number.isFinite(this.debounceMs) || this.debounceMs < 0) throw new RangeError(`debounceMs: expected a non-negative number, got ${opts.debounceMs}`);
    this.maxDelayMs = Math.max(10 * this.debounceMs, 1000);
  }

  /** True once every file present at start() has been read once. */
  get synced(): boolean { return this.isSynced; }

  /** Watches, then loads the whole tree. Resolves when synced; rejects only if `dir` is not a directory. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error('FileSource can only be started once');
    this.state = 'running';
    const st = await stat(this.root).catch(() => undefined);
    if (!st?.isDirectory()) throw new ConfigError(`config directory ${this.root} does not exist or is not a directory`);
    await this.enqueue(() => this.scanDir(this.root));
    this.isSynced = true;
    let objects = 0;
    for (const f of this.files.values()) objects += f.applied.size;
    this.log.info('config directory synced', { dir: this.root, files: this.files.size, objects });
  }

  /** Stops watching and waits for any load in progress. */
  async stop(): Promise<void> {
    this.state = 'stopped';
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    await this.chain;
  }

  /** Current problems across all files, sorted by file and line. A fresh array. */
  errors(): FileError[] {
    const out: FileError[] = [];
    for (const f of this.files.values()) out.push(...f.problems);
    return out.sort((a, b) => a.file.localeCompare(b.file) || (a.line ?? 0) - (b.line ?? 0));
  }

  // ---- watching -------------------------------------------------------------------------------

  private watchDir(abs: string): void {
    if (this.state !== 'running' || this.watchers.has(abs)) return;
    try {
      const w = watch(abs, { persistent: true }, (_event, name) => {
        try {
          this.touch(name ? path.join(abs, name.toString()) : abs);
        } catch (err) {
          this.log.error('config watcher event failed', { dir: this.origin(abs), reason: errText(err) });
        }
      });
      // A watched directory that vanishes may error instead of reporting; rescanning it decides.
      w.on('error', (err) => {
        this.log.debug('directory watcher failed', { dir: this.origin(abs), reason: err.message });
        this.unwatch(abs);
        this.touch(abs);
      });
      this.watchers.set(abs, w);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return; // gone already; its parent's event handles it
      const hint = code === 'ENOSPC' ? ' (raise fs.inotify.max_user_watches)' : '';
      this.log.warn('cannot watch config directory', { dir: this.origin(abs), reason: `${errText(err)}${hint}` });
    }
  }

  private unwatch(abs: string): void {
    this.watchers.get(abs)?.close();
    this.watchers.delete(abs);
  }

  /** Records a changed path and (re)arms the debounce timer. Runs inside fs callbacks: must not throw. */
  private touch(abs: string): void {
    if (this.state !== 'running') return;
    this.pending.add(abs);
    const now = Date.now();
    if (this.timer === undefined) this.firstPendingAt = now;
    else clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(this.debounceMs, this.firstPendingAt + this.maxDelayMs - now));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const paths = [...this.pending];
      this.pending.clear();
      void this.enqueue(() => this.flush(paths));
    }, wait);
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.chain.then(task).catch((err: unknown) => {
      this.log.error('config directory processing failed', { dir: this.root, reason: errText(err) });
    });
    this.chain = run;
    return run;
  }

  // ---- loading --------------------------------------------------------------------------------

  private async flush(paths: string[]): Promise<void> {
    const present: Array<{ abs: string; st: Stats }> = [];
    // Removals first, so a rename never has two origins holding the same keys at once.
    for (const p of new Set(paths.map((x) => this.target(x)))) {
      if (p === undefined || this.state !== 'running') continue;
      const st = await stat(p).catch(() => undefined);
      if (st) present.push({ abs: p, st });
      else this.removeTree(p);
    }
    for (const { abs, st } of present) {
      if (this.state !== 'running') return;
      if (st.isDirectory()) {
        if (this.files.has(this.origin(abs))) this.removeFile(this.origin(abs));
        await this.scanDir(abs);
      } else if (st.isFile() && isConfigFile(abs)) {
        if (this.watchers.has(abs)) this.removeTree(abs);
        await this.loadFile(abs);
      }
    }
  }

  /**
   * The path an event should reload, or undefined to ignore it. Hidden entries (editor temp and
   * swap files) are ignored, except Kubernetes' ConfigMap volume plumbing ("..data" is swapped
   * atomically, the visible files are symlinks through it): those reload their directory.
   */
  private target(abs: string): string | undefined {
    const rel = path.relative(this.root, abs);
    if (rel.startsWith('..' + path.sep) || rel === '..' || path.isAbsolute(rel)) return undefined;
    if (rel === '') return this.root;
    const parts = rel.split(path.sep);
    const hidden = parts.findIndex((s) => s.startsWith('.'));
    if (hidden < 0) return abs;
    if (hidden === parts.length - 1 && parts[hidden]!.startsWith('..')) return path.dirname(abs);
    return undefined;
  }

  private async scanDir(abs: string): Promise<void> {
    this.watchDir(abs); // before listing, so nothing created in between is missed
    let entries: Dirent[];
    try {
      entries = await readdir(abs, { withFileTypes: true });
    } catch (err) {
      if (isGone(err)) this.removeTree(abs);
      else this.log.warn('cannot read config directory', { dir: this.origin(abs), reason: errText(err) });
      return;
    }
    const present = new Set<string>();
    for (const e of entries) {
      if (e.name.startsWith('.') || this.state !== 'running') continue;
      const child = path.join(abs, e.name);
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        // File symlinks are followed (ConfigMap volumes); directory symlinks are not (no cycles).
        const st = await stat(child).catch(() => undefined);
        isFile = st?.isFile() ?? false;
        isDir = false;
      }
      if (isDir) {
        present.add(child);
        await this.scanDir(child);
      } else if (isFile && isConfigFile(e.name)) {
        present.add(child);
        await this.loadFile(child);
      }
    }
    // Entries known from before but gone now: normally reported by events, but events can be lost.
    for (const rel of [...this.files.keys()]) {
      const f = this.absolute(rel);
      if (path.dirname(f) === abs && !present.has(f)) this.removeFile(rel);
    }
    for (const w of [...this.watchers.keys()]) {
      if (path.dirname(w) === abs && w !== abs && !present.has(w)) this.removeTree(w);
    }
  }

  private async loadFile(abs: string): Promise<void> {
    const rel = this.origin(abs);
    let text: string;
    try {
      text = await readFile(abs, 'utf8');
    } catch (err) {
      if (isGone(err)) { this.removeFile(rel); return; }
      const state = this.stateOf(rel);
      const reason = `cannot read file: ${errText(err)}`;
      if (state.problems[0]?.reason !== reason) this.log.warn('invalid config file', { file: rel, reason });
      state.text = undefined;
      state.problems = [{ file: rel, reason, severity: 'error' }];
      return;
    }
    const state = this.stateOf(rel);
    if (state.text === text) return;
    state.text = text;
    this.apply(rel, state, text);
  }

  private stateOf(rel: string): FileState {
    let state = this.files.get(rel);
    if (!state) this.files.set(rel, (state = { applied: new Map(), problems: [] }));
    return state;
  }

  /** Decodes a file's text and replaces its origin; on a syntax error the origin is left as is. */
  private apply(rel: string, state: FileState, text: string): void {
    const parsed = parseDocuments(text);
    if (!parsed.ok) {
      const { line, column, reason } = parsed.error;
      this.log.warn('invalid config file', { file: rel, line, column, reason });
      state.problems = [{ file: rel, line, reason, severity: 'error' }];
      return;
    }
    const problems: FileError[] = [];
    const next = new Map<ObjectKey, K8sObject>();
    for (const doc of parsed.documents) {
      const decoded = this.decode(rel, doc, state, problems);
      if (!decoded) continue;
      const key = keyOf(decoded);
      if (next.has(key)) {
        const p = { file: rel, line: doc.line, kind: decoded.kind, name: decoded.metadata.name, namespace: decoded.metadata.namespace };
        this.report(problems, 'duplicate config object', { ...p, reason: 'defined twice in this file, the later one wins', severity: 'warning' });
      }
      next.set(key, decoded);
    }
    state.applied = next;
    state.problems = problems;
    const changes = this.store.replaceOrigin(rel, [...next.values()]);
    this.log.debug('config file loaded', { file: rel, objects: next.size, changes: changes.length });
  }

  /** One document → the object to apply (new, or the last good one), or undefined to skip it. */
  private decode(rel: string, doc: SourceDocument, state: FileState, problems: FileError[]): K8sObject | undefined {
    // Classification, namespace defaulting and validation are shared with `istiod-ts validate`.
    const checked = checkDocument(doc.value);
    if (checked.status === 'not-object') return undefined; // not an object: ignored
    if (checked.status === 'unsupported') {
      const reason = checked.info ? `unsupported version ${checked.apiVersion} of ${checked.kind}` : `unsupported kind ${String(checked.kind)} in ${String(checked.apiVersion)}`;
      this.report(problems, 'unsupported config object', { file: rel, line: doc.line, kind: checked.kind, reason, severity: 'warning' });
      return undefined;
    }
    const { object: o, errors, warnings } = checked;
    const name = typeof o.metadata?.name === 'string' ? o.metadata.name : undefined;
    const namespace = typeof o.metadata?.namespace === 'string' ? o.metadata.namespace : undefined;
    const where = { file: rel, kind: o.kind, name, namespace };
    if (errors.length === 0) {
      if (warnings.length > 0) this.report(problems, 'config object warning', { ...where, line: doc.line, reason: warnings.map(formatIssue).join('; '), severity: 'warning' });
      return o;
    }
    const first = errors[0]!;
    const previous = name !== undefined ? state.applied.get(keyOf(o)) : undefined;
    this.report(problems, 'invalid config object', {
      ...where,
      line: doc.lineOf(first.path),
      field: formatPath(first.path) || undefined,
      reason: errors.map(formatIssue).join('; '),
      severity: 'error',
    }, previous ? 'keeping the last valid version' : 'skipped');
    return previous;
  }

  /** Records a problem and logs it: one warn line per problem each time the file's text changes. */
  private report(problems: FileError[], msg: string, p: FileError, action?: string): void {
    problems.push(p);
    const { severity: _severity, ...fields } = p;
    this.log.warn(msg, action ? { ...fields, action } : fields);
  }

  // ---- removal --------------------------------------------------------------------------------

  private removeFile(rel: string): void {
    const state = this.files.get(rel);
    if (!state) return;
    this.files.delete(rel);
    if (state.applied.size > 0) this.store.replaceOrigin(rel, []);
    this.log.debug('config file removed', { file: rel, objects: state.applied.size });
  }

  /** A path that no longer exists: a file, or a directory with everything below it. */
  private removeTree(abs: string): void {
    if (abs === this.root) {
      // Deleting every object because the directory vanished (unmounted volume, a `mv` gone
      // wrong) would take the mesh down; keep the last known configuration instead.
      this.log.error('config directory disappeared, keeping the last loaded configuration', { dir: this.root });
      return;
    }
    const rel = this.origin(abs);
    this.removeFile(rel);
    const prefix = rel + '/';
    for (const f of [...this.files.keys()]) if (f.startsWith(prefix)) this.removeFile(f);
    for (const w of [...this.watchers.keys()]) if (w === abs || w.startsWith(abs + path.sep)) this.unwatch(w);
  }

  private origin(abs: string): string {
    return path.relative(this.root, abs).split(path.sep).join('/');
  }

  private absolute(rel: string): string {
    return path.join(this.root, ...rel.split('/'));
  }
}

function isConfigFile(name: string): boolean {
  return CONFIG_EXTENSIONS.has(path.extname(name).toLowerCase());
}

function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
