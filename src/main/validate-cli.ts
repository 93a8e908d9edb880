/**
 * `istiod-ts validate -f FILE|DIR|- [-f ...]`: checks config files offline the way `istioctl
 * validate` does, with the very validators file mode applies (shared/istio/config-document.ts),
 * so a file that passes here is one the server accepts. One line per problem, with file, line,
 * object and field; then a verdict per file and a summary.
 *
 * Exit codes: 0 all valid (warnings allowed), 1 something invalid, 2 usage error or an input that
 * cannot be read (nothing is validated then). Main thread only (reads files and stdin).
 */
import { Dirent } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { ValidationIssue, formatIssue } from '../shared/istio/validation';
import { DEFAULT_NAMESPACE, checkDocument } from '../shared/istio/config-document';
import { ISTIO_SYSTEM_NAMESPACE, checkDeploymentLabels, checkServicePortNaming } from '../shared/istio/istioctl-checks';
import { Issues, Obj } from '../shared/istio/validate-fields';
import { keyOf } from '../shared/model/objects';
import { SourceDocument, parseDocuments } from './sources/yaml-documents';

export const VALIDATE_HELP = `istiod-ts validate: check Istio and Kubernetes config files offline, as istioctl validate does.

Usage:
  istiod-ts validate -f FILE [-f DIR ...] [flags]
  kubectl get virtualservices -A -o yaml | istiod-ts validate -f -

Flags:
  -f, --filename NAME      a YAML/JSON file, a directory (searched recursively for .yaml, .yml and
                           .json), or - for standard input; repeatable, or comma-separated
  -n, --namespace NS       namespace of objects that name none (default '${DEFAULT_NAMESPACE}')
  -i, --istioNamespace NS  Istio's own namespace, exempt from the Service and Deployment checks
                           (default '${ISTIO_SYSTEM_NAMESPACE}')
      --strict             objects of kinds istiod-ts does not validate are errors, not notes
  -h, --help               this text

Output: one line per problem, "error: FILE:LINE: KIND NAMESPACE/NAME: FIELD: REASON" (or
"warning:", or "note:" for skipped objects), then "FILE" is valid per valid file and a summary.
Exit code 0 when everything is valid, 1 when something is invalid, 2 on a usage error or an
unreadable input.
`;

const CONFIG_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);
const STDIN = '-';
const STDIN_NAME = '<stdin>';

interface Args { filenames: string[]; namespace: string; istioNamespace: string; strict: boolean; help: boolean }
interface Input { name: string; text: string }
type Severity = 'error' | 'warning' | 'note';

/** What validate writes to; tests and embedders may pass their own. */
export interface ValidateIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  readStdin: () => Promise<string>;
}

/** Set when stdout's reader went away (`| head`): the rest of the report is dropped, the exit code stays. */
let stdoutClosed = false;

const processIo: ValidateIo = {
  stdout: (s) => {
    if (stdoutClosed) return;
    if (process.stdout.listenerCount('error') === 0) {
      process.stdout.on('error', (e: NodeJS.ErrnoException) => { if (e.code === 'EPIPE') stdoutClosed = true; else throw e; });
    }
    process.stdout.write(s);
  },
  stderr: (s) => { process.stderr.write(s); },
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
};

class UsageError extends Error {}

/** Runs the command; resolves to the process exit code. */
export async function validateMain(argv: readonly string[], io: ValidateIo = processIo): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.stderr(`istiod-ts validate: ${e.message}\n(see istiod-ts validate --help)\n`);
    return 2;
  }
  if (args.help) { io.stdout(VALIDATE_HELP); return 0; }
  const { inputs, problems } = await readInputs(args.filenames, io);
  if (problems.length > 0) {
    for (const p of problems) io.stderr(`istiod-ts validate: ${p}\n`);
    return 2;
  }
  const report = new Report(io);
  for (const input of inputs) validateInput(input, args, report);
  report.finish(inputs.map((i) => i.name));
  return report.exitCode();
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { filenames: [], namespace: DEFAULT_NAMESPACE, istioNamespace: ISTIO_SYSTEM_NAMESPACE, strict: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    const eq = raw.startsWith('--') ? raw.indexOf('=') : -1;
    const flag = eq >= 0 ? raw.slice(0, eq) : raw;
    const inline = eq >= 0 ? raw.slice(eq + 1) : undefined;
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = argv[++i];
      if (v === undefined || (v.startsWith('-') && v !== STDIN)) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '-f': case '--filename': {
        const names = value().split(',').map((s) => s.trim()).filter((s) => s !== '');
        if (names.length === 0) throw new UsageError(`${flag} needs a file name`);
        a.filenames.push(...names);
        break;
      }
      case '-n': case '--namespace': a.namespace = value(); break;
      case '-i': case '--istioNamespace': case '--istio-namespace': a.istioNamespace = value(); break;
      case '--strict': a.strict = true; break;
      case '-h': case '--help': a.help = true; break;
      default:
        if (/^-f./.test(raw)) { a.filenames.push(...raw.slice(2).replace(/^=/, '').split(',').filter((s) => s !== '')); break; }
        if (raw.startsWith('-')) throw new UsageError(`unknown flag ${flag}`);
        throw new UsageError(`unexpected argument "${raw}" (name files with -f)`);
    }
  }
  if (!a.help && a.filenames.length === 0) throw new UsageError('no input: name files with -f FILE (or -f - for standard input)');
  if (a.filenames.filter((f) => f === STDIN).length > 1) throw new UsageError('standard input (-f -) can be named only once');
  return a;
}

/** Expands directories (sorted, hidden entries skipped) and reads every file; collects what cannot be read. */
async function readInputs(filenames: readonly string[], io: ValidateIo): Promise<{ inputs: Input[]; problems: string[] }> {
  const inputs: Input[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  const add = async (name: string) => {
    const key = path.resolve(name);
    if (seen.has(key)) return;
    seen.add(key);
    try {
      inputs.push({ name, text: await readFile(name, 'utf8') });
    } catch (e) {
      problems.push(`cannot read "${name}": ${reason(e)}`);
    }
  };
  const walk = async (dir: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (e) {
      problems.push(`cannot read directory "${dir}": ${reason(e)}`);
      return;
    }
    entries.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const child = path.join(dir, e.name);
      // File symlinks are followed (ConfigMap volumes), directory symlinks are not (no cycles).
      const isFile = e.isFile() || (e.isSymbolicLink() && (await stat(child).catch(() => undefined))?.isFile() === true);
      if (e.isDirectory()) await walk(child);
      else if (isFile && CONFIG_EXTENSIONS.has(path.extname(e.name).toLowerCase())) await add(child);
    }
  };
  for (const name of filenames) {
    if (name === STDIN) {
      inputs.push({ name: STDIN_NAME, text: await io.readStdin() });
      continue;
    }
    const st = await stat(name).catch((e: unknown) => e as Error);
    if (st instanceof Error) problems.push(`cannot read "${name}": ${reason(st)}`);
    else if (st.isDirectory()) await walk(name);
    else await add(name);
  }
  return { inputs, problems };
}

function validateInput(input: Input, args: Args, report: Report): void {
  report.startFile(input.name);
  const parsed = parseDocuments(input.text);
  if (!parsed.ok) {
    const { line, column, reason: why } = parsed.error;
    report.fileProblem('error', `${input.name}:${line}: invalid YAML: ${why} (column ${column})`);
    return;
  }
  for (const doc of parsed.documents) validateDocument(input.name, doc, args, report);
}

function validateDocument(file: string, doc: SourceDocument, args: Args, report: Report): void {
  const checked = checkDocument(doc.value, args.namespace);
  const at = (issue: ValidationIssue) => `${file}:${doc.lineOf(issue.path)}`;
  if (checked.status === 'not-object') {
    report.object(false, [{ severity: 'error', text: `${file}:${doc.line}: document is not an object (got ${describe(doc.value)})` }]);
    return;
  }
  if (checked.status === 'checked') {
    const o = checked.object;
    const iss = new Issues();
    if (checked.info.group === '' && checked.info.kind === 'Service') checkServicePortNaming(o as unknown as Obj, iss, args.istioNamespace);
    // istioctl's port rules add nothing at a port the Kubernetes rules already rejected.
    const portKey = (i: ValidationIssue) => JSON.stringify(i.path.slice(0, 3));
    const rejectedPorts = new Set(checked.errors.map(portKey));
    const errors = [...checked.errors, ...iss.errors.filter((e) => !rejectedPorts.has(portKey(e)))];
    const name = objectName(o as unknown as Obj, args.namespace);
    const byLine = (list: ValidationIssue[]) => list.map((i) => ({ line: doc.lineOf(i.path), i })).sort((a, b) => a.line - b.line).map((x) => x.i);
    const lines = [
      ...byLine(errors).map((e) => ({ severity: 'error' as const, text: `${at(e)}: ${name}: ${formatIssue(e)}` })),
      ...byLine(checked.warnings).map((w) => ({ severity: 'warning' as const, text: `${at(w)}: ${name}: ${formatIssue(w)}` })),
    ];
    if (typeof o.metadata?.name === 'string') {
      const first = report.define(keyOf(o), `${file}:${doc.line}`);
      if (first) lines.push({ severity: 'warning', text: `${file}:${doc.line}: ${name}: also defined at ${first}, the later one wins` });
    }
    report.object(errors.length === 0, lines);
    return;
  }
  const o = doc.value as Obj;
  const name = objectName(o, args.namespace);
  if (checked.kind === undefined || checked.apiVersion === undefined || checked.info) {
    // No apiVersion/kind, or a kind we know in a version we do not: the server would skip it too.
    report.object(false, [{ severity: 'error', text: `${file}:${doc.line}: ${checked.kind ? `${name}: ` : ''}${checked.reason}` }]);
    return;
  }
  if (checked.kind === 'Deployment' && checked.apiVersion.startsWith('apps/')) {
    const iss = new Issues();
    const meta = o.metadata as Obj | undefined;
    checkDeploymentLabels({ ...o, metadata: { ...meta, namespace: meta?.namespace ?? args.namespace } }, iss, args.istioNamespace);
    report.object(true, iss.warnings.map((w) => ({ severity: 'warning' as const, text: `${file}:${doc.lineOf(w.path)}: ${name}: ${formatIssue(w)}` })));
    return;
  }
  const istioKind = checked.apiVersion.split('/')[0]!.endsWith('istio.io');
  const why = istioKind ? `istiod-ts has no validator for ${checked.kind} (${checked.apiVersion})` : 'not an Istio kind';
  if (args.strict) report.object(false, [{ severity: 'error', text: `${file}:${doc.line}: ${name}: ${why} (--strict)` }]);
  else report.skipped(`${file}:${doc.line}: ${name}: skipped, ${why}`);
}

/** "VirtualService default/reviews"; cluster-scoped objects have no namespace part. */
function objectName(o: Obj, defaultNamespace: string): string {
  const kind = typeof o.kind === 'string' && o.kind !== '' ? o.kind : 'object';
  const md = (typeof o.metadata === 'object' && o.metadata !== null ? o.metadata : {}) as Obj;
  const name = typeof md.name === 'string' && md.name !== '' ? md.name : '<unnamed>';
  const ns = typeof md.namespace === 'string' && md.namespace !== '' ? md.namespace : defaultNamespace;
  return kind === 'Namespace' ? `${kind} ${name}` : `${kind} ${ns}/${name}`;
}

function describe(v: unknown): string {
  return Array.isArray(v) ? 'a list' : typeof v === 'string' ? 'a string' : typeof v === 'number' ? 'a number' : typeof v;
}

function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err?.code) {
    case 'ENOENT': return 'no such file or directory';
    case 'EACCES': return 'permission denied';
    case 'EISDIR': return 'is a directory';
    default: return err instanceof Error ? err.message : String(e);
  }
}

/** Collects counts while printing problems as they are found. */
class Report {
  private objects = 0;
  private invalid = 0;
  private skippedCount = 0;
  private errors = 0;
  private warnings = 0;
  private readonly perFile = new Map<string, { errors: number; warnings: number; objects: number }>();
  private current = { errors: 0, warnings: 0, objects: 0 };
  private readonly definitions = new Map<string, string>();

  constructor(private readonly io: ValidateIo) {}

  startFile(name: string): void {
    this.current = { errors: 0, warnings: 0, objects: 0 };
    this.perFile.set(name, this.current);
  }

  /** A problem with the file as a whole (its objects are unknown). */
  fileProblem(severity: Severity, text: string): void {
    this.line(severity, text);
  }

  object(valid: boolean, lines: ReadonlyArray<{ severity: Severity; text: string }>): void {
    this.objects++;
    this.current.objects++;
    if (!valid) this.invalid++;
    for (const l of lines) this.line(l.severity, l.text);
  }

  skipped(text: string): void {
    this.objects++;
    this.current.objects++;
    this.skippedCount++;
    this.line('note', text);
  }

  /** Remembers where an object key was first defined; returns that place when seen before. */
  define(key: string, where: string): string | undefined {
    const first = this.definitions.get(key);
    if (first === undefined) this.definitions.set(key, where);
    return first;
  }

  finish(files: readonly string[]): void {
    for (const f of files) {
      const s = this.perFile.get(f);
      if (!s) continue;
      if (s.errors > 0) this.io.stdout(`"${f}" is invalid (${plural(s.errors, 'error')})\n`);
      else if (s.warnings > 0) this.io.stdout(`"${f}" is valid (${plural(s.warnings, 'warning')})\n`);
      else this.io.stdout(`"${f}" is valid\n`);
    }
    const fileCount = plural(this.perFile.size, 'file');
    const extra = [this.warnings > 0 ? plural(this.warnings, 'warning') : '', this.skippedCount > 0 ? `${this.skippedCount} skipped` : ''].filter(Boolean);
    if (this.errors === 0) {
      this.io.stdout(`✔ validated ${plural(this.objects - this.skippedCount, 'object')} in ${fileCount}${extra.length ? `: ${extra.join(', ')}` : ''}\n`);
    } else {
      const invalid = this.invalid > 0 ? `${this.invalid} of ${plural(this.objects, 'object')} invalid` : 'invalid input';
      this.io.stdout(`✘ ${invalid} in ${fileCount}: ${[plural(this.errors, 'error'), ...extra].join(', ')}\n`);
    }
  }

  exitCode(): number {
    return this.errors > 0 ? 1 : 0;
  }

  private line(severity: Severity, text: string): void {
    if (severity === 'error') { this.errors++; this.current.errors++; }
    if (severity === 'warning') { this.warnings++; this.current.warnings++; }
    this.io.stdout(`${severity}: ${text}\n`);
  }
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
