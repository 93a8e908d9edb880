/**
 * deploy/Dockerfile without Docker: there is no engine here, so the test parses the Dockerfile and
 * replays its stages on the host, then runs what the runtime stage would contain.
 *
 * - The file: bases pinned by tag (no `latest`), numeric non-root USER, the five Istio ports,
 *   ENTRYPOINT + CMD = `istiod-ts discovery`, production install with --omit=dev, OCI labels.
 * - The build context: every COPY source exists and survives .dockerignore (matched with Docker's
 *   rules: last match wins, `!` re-includes, a pattern matching a folder covers its content), and
 *   nothing else is sent (no node_modules, dist, .git, test/, .state).
 * - The stages, replayed: the builder is this checkout (tests run from its dist/); prod-deps gets
 *   the production closure of package-lock.json (what `npm ci --omit=dev` installs: no `dev`
 *   packages, optional ones only for this os/cpu/libc), hard-linked from node_modules, then the
 *   same prune script the image runs; runtime gets the stage's COPYs. A RUN the replay does not
 *   know fails the test, so the Dockerfile cannot drift from what is checked here.
 * - The runtime tree: no devDependency package, no test file; then it runs as the image's uid on an
 *   app folder owned by root (read-only for it) with HOME and TMPDIR on a private writable folder
 *   (the Deployment's /tmp emptyDir): file mode (examples/mesh, a simulated proxy synced, /metrics,
 *   SIGTERM exits 0) and Kubernetes mode against the API test server with --stateDir left at its
 *   default (under the read-only app folder), proving nothing is written outside TMPDIR.
 */
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { REPO_ROOT } from '../helpers/run-cli';
import { exampleMeshFiles } from '../helpers/mesh-fixtures';
import { freePort, httpGet, parsePrometheus, SimProxies } from '../helpers/ops';
import { startKubeTestServer } from '../helpers/kube-apiserver';
import { waitFor } from '../helpers/wait-for';

const DOCKERFILE = path.join(REPO_ROOT, 'deploy', 'Dockerfile');
const ISTIO_PORTS = ['15010', '15012', '15014', '15017', '8080'];

// ---------------------------------------------------------------------------------------------
// Dockerfile parsing

interface Instr { op: string; args: string; line: number }
interface Stage { name: string; base: string; instrs: Instr[] }

function parseDockerfile(text: string): { globalArgs: Record<string, string>; stages: Stage[] } {
  const instrs: Instr[] = [];
  let buf = '', start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (buf === '' && (line === '' || line.startsWith('#'))) return;
    if (buf !== '' && line.startsWith('#')) return; // comments inside a continuation are dropped
    if (buf === '') start = i + 1;
    if (line.endsWith('\\')) { buf += line.slice(0, -1) + ' '; return; }
    buf += line;
    const m = /^(\S+)\s*(.*)$/s.exec(buf)!;
    instrs.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start });
    buf = '';
  });
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of instrs) {
    if (ins.op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      assert.ok(m, `FROM at line ${ins.line}: ${ins.args}`);
      const base = m[1]!.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => globalArgs[a ?? b] ?? assert.fail(`FROM uses undefined ARG ${a ?? b}`));
      stages.push({ name: m[2] ?? String(stages.length), base, instrs: [] });
    } else if (stages.length === 0) {
      assert.equal(ins.op, 'ARG', `only ARG may precede the first FROM (line ${ins.line})`);
      const [k, v] = ins.args.split('=');
      globalArgs[k!] = v ?? '';
    } else {
      stages[stages.length - 1]!.instrs.push(ins);
    }
  }
  return { globalArgs, stages };
}

/** `KEY=value` pairs with optional double quotes (ENV, LABEL); `ENV KEY value` legacy form too. */
function keyValues(args: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([\w.\-]+)=("(?:[^"\\]|\\.)*"|\S+)/g;
  let m: RegExpExecArray | null, any = false;
  while ((m = re.exec(args))) { out[m[1]!] = m[2]!.startsWith('"') ? JSON.parse(m[2]!) : m[2]!; any = true; }
  if (!any) { const [k, ...v] = args.split(/\s+/); out[k!] = v.join(' '); }
  return out;
}

const jsonArray = (args: string): string[] => {
  assert.ok(args.startsWith('['), `exec form expected: ${args}`);
  return JSON.parse(args);
};

function copyArgs(args: string): { from?: string; srcs: string[]; dest: string } {
  const words = args.split(/\s+/);
  let from: string | undefined;
  while (words[0]?.startsWith('--')) {
    const flag = words.shift()!;
    if (flag.startsWith('--from=')) from = flag.slice('--from='.length);
    else assert.fail(`COPY flag ${flag} is not replayed by this test`);
  }
  return { from, srcs: words.slice(0, -1), dest: words[words.length - 1]! };
}

const parsed = parseDockerfile(fs.readFileSync(DOCKERFILE, 'utf8'));
const stage = (name: string): Stage => parsed.stages.find((s) => s.name === name) ?? assert.fail(`no stage ${name}`);
const runtime = parsed.stages[parsed.stages.length - 1]!;
const last = (s: Stage, op: string): Instr | undefined => s.instrs.filter((i) => i.op === op).pop();

// ---------------------------------------------------------------------------------------------
// .dockerignore (Docker's matching: cleaned paths, `*` `?` within a segment, `**` any depth,
// the last matching pattern decides, a pattern matching a parent folder matches its content)

interface IgnoreRule { re: RegExp; negate: boolean; pat: string }

function parseDockerignore(text: string): IgnoreRule[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => {
    const negate = l.startsWith('!');
    const pat = path.posix.normalize((negate ? l.slice(1) : l).trim()).replace(/^\/+|\/+$/g, '');
    let re = '';
    for (let i = 0; i < pat.length; i++) {
      const c = pat[i]!;
      if (c === '*' && pat[i + 1] === '*') { re += pat[i + 2] === '/' ? '(?:.*/)?' : '.*'; i += pat[i + 2] === '/' ? 2 : 1; }
      else if (c === '*') re += '[^/]*';
      else if (c === '?') re += '[^/]';
      else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
    return { re: new RegExp(`^${re}$`), negate, pat };
  });
}

function ignored(rules: IgnoreRule[], rel: string): boolean {
  const parts = rel.split('/');
  let out = false;
  for (const r of rules) {
    let hit = r.re.test(rel);
    for (let n = 1; !hit && n < parts.length; n++) hit = r.re.test(parts.slice(0, n).join('/'));
    if (hit) out = !r.negate;
  }
  return out;
}

/** The files `docker build .` would send: walk the repo, skipping folders no `!` rule can reach into. */
function contextFiles(rules: IgnoreRule[]): string[] {
  const negations = rules.filter((r) => r.negate).map((r) => r.pat);
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(REPO_ROOT, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (!ignored(rules, r) || negations.some((n) => n.startsWith(`${r}/`) || n === r)) walk(r);
      } else if (!ignored(rules, r)) out.push(r);
    }
  };
  walk('');
  return out.sort();
}
const ignoreText = fs.readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8');

// ---------------------------------------------------------------------------------------------
// package-lock.json: what `npm ci --omit=dev` installs here

interface LockPkg { dev?: boolean; optional?: boolean; os?: string[]; cpu?: string[]; libc?: string[]; link?: boolean }
const lock = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockPkg> };
const libc = (process.report.getReport() as any).header.glibcVersionRuntime ? 'glibc' : 'musl';
const allows = (list: string[] | undefined, v: string) => !list || (list.some((x) => x === v) || (list.every((x) => x.startsWith('!')) && !list.includes(`!${v}`)));
const fitsHere = (p: LockPkg) => allows(p.os, process.platform) && allows(p.cpu, process.arch) && allows(p.libc, libc);
const prodKeys = Object.keys(lock.packages).filter((k) => k !== '' && !lock.packages[k]!.dev && fitsHere(lock.packages[k]!));
const devKeys = Object.keys(lock.packages).filter((k) => k !== '' && lock.packages[k]!.dev);

/** Recreate `src` under `dst`: folders made, files hard-linked (fast, and read-only to the uid as the originals are root's). */
function linkTree(src: string, dst: string, skipTop: string[] = []): void {
  fs.mkdirSync(dst, { recursive: true, mode: 0o755 });
  for (const e of fs.readdirSync(src, { withFileTypes: true })) {
    if (skipTop.includes(e.name)) continue;
    const s = path.join(src, e.name), d = path.join(dst, e.name);
    if (e.isDirectory()) linkTree(s, d);
    else if (e.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(s), d);
    else {
      try { fs.linkSync(s, d); } catch { fs.copyFileSync(s, d); } // not root: protected_hardlinks refuses others' files
    }
  }
}

/** The replay of `npm ci --omit=dev`: every production package of the lock, each without its nested node_modules (those are lock entries too). */
function installProduction(dir: string): void {
  for (const k of prodKeys) {
    const src = path.join(REPO_ROOT, k);
    if (!fs.existsSync(src)) {
      assert.ok(lock.packages[k]!.optional, `${k} is a production dependency but missing from node_modules (run npm ci)`);
      continue;
    }
    linkTree(src, path.join(dir, k), ['node_modules']);
  }
}

// ---------------------------------------------------------------------------------------------
// Replaying the stages

interface Replayed { root: string; app: string; env: Record<string, string>; user: string; entrypoint: string[]; cmd: string[] }

function replay(work: string): Replayed {
  const roots = new Map<string, (p: string) => string>();
  let result: Replayed | undefined;
  for (const st of parsed.stages) {
    const isBuilder = st.name === 'builder';
    const hostRoot = path.join(work, st.name);
    let workdir = '/';
    // the builder stage is this checkout (its WORKDIR ↔ REPO_ROOT); other stages get a folder here
    const map = (p: string) => {
      const abs = path.posix.resolve(workdir, p);
      if (!isBuilder) return path.join(hostRoot, abs);
      const top = last(st, 'WORKDIR')!.args;
      assert.ok(abs === top || abs.startsWith(`${top}/`), `builder path ${abs} outside its WORKDIR`);
      return path.join(REPO_ROOT, path.posix.relative(top, abs));
    };
    if (!isBuilder) fs.mkdirSync(hostRoot, { recursive: true, mode: 0o755 });
    const env: Record<string, string> = {};
    let user = 'root', entrypoint: string[] = [], cmd: string[] = [];
    for (const ins of st.instrs) {
      const where = `${st.name} line ${ins.line}`;
      switch (ins.op) {
        case 'WORKDIR':
          workdir = path.posix.resolve(workdir, ins.args);
          if (!isBuilder) fs.mkdirSync(map('.'), { recursive: true, mode: 0o755 });
          break;
        case 'COPY': {
          const c = copyArgs(ins.args);
          for (const src of c.srcs) {
            let from: string;
            if (c.from) from = roots.get(c.from)?.(src) ?? assert.fail(`${where}: COPY --from=${c.from} names no earlier stage`);
            else {
              from = path.join(REPO_ROOT, src);
              assert.ok(fs.existsSync(from), `${where}: COPY source ${src} does not exist`);
              const rules = parseDockerignore(ignoreText);
              const files = fs.statSync(from).isDirectory() ? contextFiles(rules).filter((f) => f.startsWith(`${src.replace(/\/$/, '')}/`)) : [src];
              assert.ok(files.length > 0 && files.every((f) => !ignored(rules, f)), `${where}: COPY source ${src} is excluded by .dockerignore`);
            }
            assert.ok(fs.existsSync(from), `${where}: ${src} does not exist (tests run from dist/: is the build complete?)`);
            if (isBuilder) continue; // the checkout already holds it
            const to = c.dest.endsWith('/') || c.srcs.length > 1 ? path.join(map(c.dest), path.basename(src)) : map(c.dest);
            fs.mkdirSync(path.dirname(to), { recursive: true, mode: 0o755 });
            if (!fs.statSync(from).isDirectory()) fs.copyFileSync(from, to);
            else if (c.from && c.from !== 'builder') linkTree(from, to); // a stage of this replay: link, do not copy 80 MB
            else fs.cpSync(from, to, { recursive: true }); // the checkout's dist/ may be rewritten by a concurrent tsc
          }
          break;
        }
        case 'RUN':
          for (const command of ins.args.split('&&').map((s) => s.trim())) replayRun(st, command, map, where);
          break;
        case 'ENV': Object.assign(env, keyValues(ins.args)); break;
        case 'USER': user = ins.args; break;
        case 'ENTRYPOINT': entrypoint = jsonArray(ins.args); break;
        case 'CMD': cmd = jsonArray(ins.args); break;
        case 'ARG': case 'LABEL': case 'EXPOSE': break;
        default: assert.fail(`${where}: ${ins.op} is not replayed by this test`);
      }
    }
    roots.set(st.name, map);
    if (st === runtime) result = { root: hostRoot, app: map('.'), env, user, entrypoint, cmd };
  }
  return result!;
}

function replayRun(st: Stage, command: string, map: (p: string) => string, where: string): void {
  const words = command.split(/\s+/);
  if (words[0] === 'npm' && words[1] === 'ci') {
    assert.ok(words.includes('--ignore-scripts'), `${where}: npm ci without --ignore-scripts runs the root prepare (npm run build)`);
    if (words.includes('--omit=dev')) installProduction(map('.'));
    else assert.ok(st.name === 'builder' && fs.existsSync(path.join(REPO_ROOT, 'node_modules', 'typescript')), `${where}: a full install only in the builder (this checkout)`);
  } else if (command === 'npm run build') {
    assert.equal(st.name, 'builder', `${where}: build outside the builder`);
    for (const f of ['dist/src/main/cli.js', 'dist/generated/envoy-descriptor.json']) assert.ok(fs.existsSync(path.join(REPO_ROOT, f)), `${f} missing: npm run build`);
  } else if (words[0] === 'sh' && words.length === 2 && st.name !== 'builder') {
    const r = spawnSync('sh', [map(words[1]!)], { cwd: map('.'), encoding: 'utf8', env: { PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin` } });
    assert.equal(r.status, 0, `${where}: ${command} failed\n${r.stderr}`);
  } else {
    assert.fail(`${where}: RUN ${command} is not replayed by this test`);
  }
}

// ---------------------------------------------------------------------------------------------

function walkFiles(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(`${r}/`, ...walkFiles(dir, r)); else out.push(r);
  }
  return out;
}

/** Every entry with size, mode, owner and mtime: equal before and after a run = nothing written. */
function snapshot(dir: string): Map<string, string> {
  return new Map(walkFiles(dir).map((r) => { const s = fs.lstatSync(path.join(dir, r)); return [r, `${s.size}/${s.mode}/${s.uid}/${s.mtimeMs}`]; }));
}

/** Entries of a shared writable folder (/tmp, /dev/shm) that belong to `uid`. */
const ownedBy = (dir: string, uid: number): string[] =>
  fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => { try { return fs.lstatSync(path.join(dir, n)).uid === uid; } catch { return false; } }) : [];

function diskUsage(dir: string): number {
  const seen = new Set<number>();
  let bytes = 0;
  for (const r of walkFiles(dir)) {
    const s = fs.lstatSync(path.join(dir, r));
    if (!s.isDirectory() && !seen.has(s.ino)) { seen.add(s.ino); bytes += s.size; }
  }
  return bytes;
}

const isRoot = process.getuid?.() === 0;
const SKIP_UID = isRoot ? false : 'runs the image as its non-root uid: needs root to spawn as another user';

describe('deploy/Dockerfile', () => {
  let work: string;
  let img: Replayed;
  let uid: number, gid: number;

  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'istiod-ts-image-'));
    fs.chmodSync(work, 0o755);
    img = replay(work);
    [uid, gid] = img.user.split(':').map(Number) as [number, number];
  });
  after(() => { if (work) fs.rmSync(work, { recursive: true, force: true }); });

  it('pins every base, runs as a numeric non-root user, exposes the Istio ports, starts `istiod-ts discovery`', () => {
    assert.deepEqual(parsed.stages.map((s) => s.name), ['builder', 'prod-deps', 'runtime']);
    for (const s of parsed.stages) {
      assert.match(s.base, /^[\w./-]+:[\w.-]+(@sha256:[0-9a-f]{64})?$/, `${s.name}: FROM ${s.base} has a tag`);
      assert.doesNotMatch(s.base, /:latest\b/, `${s.name}: FROM ${s.base}`);
      assert.match(s.base, /^node:20-/, `${s.name}: Node 20 (package.json engines >=20; the uWS binary is per Node ABI)`);
    }
    assert.equal(new Set(parsed.stages.map((s) => s.base)).size, 1, 'one base for all stages: native modules built for the runtime Node');
    assert.match(img.user, /^\d+:\d+$/, 'numeric USER uid:gid (Kubernetes runAsNonRoot can only verify a numeric uid)');
    assert.notEqual(uid, 0);
    assert.notEqual(gid, 0);
    const exposed = runtime.instrs.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(/\s+/)).map((p) => p.replace(/\/tcp$/, ''));
    assert.deepEqual(exposed.sort(), [...ISTIO_PORTS].sort());
    const argv = [...img.entrypoint, ...img.cmd];
    assert.deepEqual(argv, ['node', '/app/bin/istiod-ts.js', 'discovery'], 'ENTRYPOINT + CMD = istiod-ts discovery (the Deployment args replace CMD only)');
    assert.equal(img.env['NODE_ENV'], 'production');
    const prod = stage('prod-deps').instrs.filter((i) => i.op === 'RUN').map((i) => i.args).join(' && ');
    assert.match(prod, /npm ci --omit=dev --ignore-scripts/);
    const fromRuntime = runtime.instrs.filter((i) => i.op === 'COPY' && i.args.includes('node_modules')).map((i) => copyArgs(i.args).from);
    assert.deepEqual(fromRuntime, ['prod-deps'], 'node_modules comes from the production install only');
    assert.ok(!runtime.instrs.some((i) => i.op === 'RUN'), 'the runtime stage runs nothing at build time (no npm, no cache left behind)');
    const labels = Object.assign({}, ...runtime.instrs.filter((i) => i.op === 'LABEL').map((i) => keyValues(i.args)));
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));
    const versionArg = runtime.instrs.find((i) => i.op === 'ARG' && i.args.startsWith('VERSION='))?.args.split('=')[1];
    assert.equal(versionArg, pkg.version, 'ARG VERSION default = package.json version');
    for (const k of ['title', 'description', 'version', 'licenses', 'revision', 'base.name']) assert.ok(labels[`org.opencontainers.image.${k}`], `label ${k}`);
    assert.equal(labels['org.opencontainers.image.licenses'], pkg.license);
    assert.equal(labels['org.opencontainers.image.base.name'], runtime.base.split('@')[0]);
  });

  it('sends a small build context: every COPY source, and no node_modules, dist, .git, tests or state', () => {
    const rules = parseDockerignore(ignoreText);
    for (const p of ['node_modules/yaml/package.json', 'dist/src/main/cli.js', '.git/HEAD', 'test/deploy/image.test.ts', '.state/ca-key.pem',
      'docs/operations.md', 'examples/mesh/shop.yaml', 'deploy/base/deployment.yaml', 'scripts/kube-apiserver/run.sh', 'src/node_modules/x/index.js',
      'load-test/out.log', 'bench/generation.ts', 'kubeconfig', 'npm-debug.log']) {
      assert.ok(ignored(rules, p), `${p} stays out of the context`);
    }
    const files = contextFiles(rules);
    const sources = parsed.stages.flatMap((s) => s.instrs.filter((i) => i.op === 'COPY' && !copyArgs(i.args).from).flatMap((i) => copyArgs(i.args).srcs));
    for (const f of files) assert.ok(sources.some((s) => f === s || f.startsWith(`${s.replace(/\/$/, '')}/`)), `${f} is in the context but no COPY uses it`);
    const bytes = files.reduce((n, f) => n + fs.statSync(path.join(REPO_ROOT, f)).size, 0);
    assert.ok(bytes < 5 * 1024 * 1024, `context ${files.length} files, ${(bytes / 1024).toFixed(0)} KiB`);
    process.stdout.write(`# build context: ${files.length} files, ${(bytes / 1024).toFixed(0)} KiB\n`);
  });

  it('assembles a runtime tree of production dependencies only, with no test file', () => {
    const nm = path.join(img.app, 'node_modules');
    for (const k of prodKeys) {
      if (fs.existsSync(path.join(REPO_ROOT, k))) assert.ok(fs.existsSync(path.join(img.app, k, 'package.json')), `${k} installed`);
    }
    for (const k of devKeys) assert.ok(!fs.existsSync(path.join(img.app, k)), `devDependency ${k} is not in the image`);
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));
    for (const name of Object.keys(pkg.devDependencies)) {
      if (lock.packages[`node_modules/${name}`]?.dev) assert.ok(!fs.existsSync(path.join(nm, name)), `${name}`);
    }
    const top = fs.readdirSync(img.app).sort();
    assert.deepEqual(top, ['bin', 'dist', 'node_modules', 'package.json', 'proto']);
    assert.deepEqual(fs.readdirSync(path.join(img.app, 'dist')).sort(), ['generated', 'src'], 'no dist/test, dist/bench, dist/load-test');
    const all = walkFiles(img.app);
    const testFiles = all.filter((r) => /\.(test|spec)\.[cm]?[jt]sx?$/.test(r) || /(^|\/)(test|tests|__tests__|specs)\/$/.test(r) && fs.existsSync(path.join(img.app, r, '..', 'package.json')));
    assert.deepEqual(testFiles, [], 'no test files or package test folders');
    assert.deepEqual(all.filter((r) => /\.d\.[cm]?ts$|\.map$/.test(r) && r.startsWith('node_modules/')), [], 'declarations and source maps pruned');
    const uws = all.filter((r) => r.endsWith('.node') && r.includes('uws-js-unofficial'));
    assert.deepEqual(uws, [`node_modules/@trufflesuite/uws-js-unofficial/binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`]);
    const mib = (b: number) => (b / 1024 / 1024).toFixed(1);
    process.stdout.write(`# image app tree: ${mib(diskUsage(img.app))} MiB (node_modules ${mib(diskUsage(nm))} MiB, ${prodKeys.length} lock packages)\n`);
  });

  async function runImage(name: string, args: (inContainer: (p: string) => string) => string[], env: Record<string, string>): Promise<{
    child: ChildProcess; http: string; monitoring: string; grpc: number; tmp: string; log: () => string; exited: Promise<number | null>;
  }> {
    // the emptyDir mounted at /tmp: private to the uid
    const tmp = path.join(work, `tmp-${name}`);
    fs.mkdirSync(tmp, { mode: 0o700 });
    fs.chownSync(tmp, uid, gid);
    const [grpc, httpPort, monPort] = [await freePort(), await freePort(), await freePort()];
    const inContainer = (v: string) => (v === '/tmp' || v.startsWith('/tmp/') ? tmp + v.slice(4) : v); // /tmp is the emptyDir
    const containerEnv = Object.fromEntries(Object.entries(img.env).map(([k, v]) => [k, inContainer(v)]));
    const [node, bin, ...cmd] = [...img.entrypoint, ...img.cmd];
    assert.equal(node, 'node');
    const child = spawn(process.execPath, [path.join(img.root, bin!), ...cmd, '--grpcAddr', `127.0.0.1:${grpc}`, '--secureGRPCAddr', '127.0.0.1:0',
      '--httpsAddr', '127.0.0.1:0', '--httpAddr', `127.0.0.1:${httpPort}`, '--monitoringAddr', `127.0.0.1:${monPort}`, ...args(inContainer)], {
      cwd: img.app, uid, gid, stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: '/usr/local/bin:/usr/bin:/bin', ...containerEnv, TMPDIR: tmp, ISTIOD_CONFIG_WORKERS: '1', ISTIOD_CA_WORKERS: '1', PILOT_DEBOUNCE_AFTER: '20ms', ...env },
    });
    let log = '';
    child.stdout!.on('data', (d) => { log += d; });
    child.stderr!.on('data', (d) => { log += d; });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const http = `http://127.0.0.1:${httpPort}`;
    await waitFor(async () => {
      if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}`);
      return (await httpGet(`${http}/ready`).catch(() => undefined))?.status === 200;
    }, 30_000, `${name}: /ready 200`, 100).catch((e) => { child.kill('SIGKILL'); throw new Error(`${(e as Error).message}\n${log}`); });
    return { child, http, monitoring: `http://127.0.0.1:${monPort}`, grpc, tmp, log: () => log, exited };
  }

  async function scrape(monitoring: string): Promise<void> {
    const fams = parsePrometheus((await httpGet(`${monitoring}/metrics`)).body);
    const state = fams.get('istiod_ts_lifecycle_state')!.samples.filter((s) => s.value === 1).map((s) => s.labels['state']);
    assert.deepEqual(state, ['Running']);
    assert.ok(fams.get('process_cpu_user_seconds_total'), 'process metrics');
  }

  async function stop(run: { child: ChildProcess; exited: Promise<number | null>; log(): string }): Promise<void> {
    run.child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([run.exited, new Promise((r) => { timer = setTimeout(() => r('timeout'), 20_000); })]);
    clearTimeout(timer);
    if (code === 'timeout') run.child.kill('SIGKILL');
    assert.equal(code, 0, `SIGTERM: clean exit 0\n${run.log()}`);
    assert.doesNotMatch(run.log(), /Falling back to a NodeJS implementation|not compatible with your Node\.js build/, 'the native uWS binary loads');
  }

  it('file mode: serves as the image uid from a read-only app folder, a proxy syncs, SIGTERM exits 0', { skip: SKIP_UID, timeout: 90_000 }, async () => {
    const config = path.join(work, 'config');
    fs.mkdirSync(config, { mode: 0o755 });
    for (const [f, text] of Object.entries(exampleMeshFiles())) fs.writeFileSync(path.join(config, f), text, { mode: 0o644 });
    const appBefore = snapshot(img.app);
    const sharedBefore = ['/tmp', '/dev/shm'].map((d) => ownedBy(d, uid));
    // file mode keeps the self-signed CA root in --stateDir: the Deployment points it into /tmp
    const run = await runImage('file', (c) => ['--configDir', config, '--stateDir', c('/tmp/istiod-ts')], {});
    try {
      await scrape(run.monitoring);
      const sims = new SimProxies(`127.0.0.1:${run.grpc}`, 1).start();
      try {
        await waitFor(async () => {
          const rows = (await httpGet(`${run.http}/debug/syncz`)).json<Array<Record<string, string>>>();
          return rows.some((r) => r['cluster_acked'] && r['cluster_acked'] === r['cluster_sent'] && r['listener_acked'] === r['listener_sent']);
        }, 20_000, 'the simulated proxy synced (generation ran in the worker threads)');
      } finally { sims.stop(); }
      assert.deepEqual(fs.readdirSync(path.join(run.tmp, 'istiod-ts')).sort(), ['ca-cert.pem', 'ca-key.pem', 'cert-chain.pem', 'root-cert.pem']);
      assert.ok(fs.readdirSync(run.tmp).some((n) => n.startsWith('istiod-ts-webhook-')), 'webhook serving files in TMPDIR');
      const v = spawnSync(process.execPath, [path.join(img.root, img.entrypoint[1]!), 'validate', '-f', config], { cwd: img.app, uid, gid, encoding: 'utf8', env: { PATH: '/usr/bin:/bin', TMPDIR: run.tmp, HOME: run.tmp } });
      assert.equal(v.status, 0, `istiod-ts validate in the image\n${v.stderr}`);
      // without --stateDir, file mode's CA would keep its root in ./.state under the read-only /app
      const noState = spawnSync(process.execPath, [path.join(img.root, img.entrypoint[1]!), 'discovery', '--configDir', config, '--grpcAddr', '127.0.0.1:0',
        '--secureGRPCAddr', '127.0.0.1:0', '--httpsAddr', '', '--httpAddr', '', '--monitoringAddr', ''], { cwd: img.app, uid, gid, encoding: 'utf8', timeout: 30_000, env: { PATH: '/usr/bin:/bin', TMPDIR: run.tmp, HOME: run.tmp, ISTIOD_CONFIG_WORKERS: '1' } });
      assert.equal(noState.status, 2, 'file mode needs a writable --stateDir (the Deployment passes --stateDir=/tmp/istiod-ts)');
      assert.match(noState.stderr, /EACCES: permission denied, mkdir '\.\/\.state'/);
    } finally {
      await stop(run);
    }
    assert.deepEqual(snapshot(img.app), appBefore, 'nothing under /app changed');
    assert.deepEqual(['/tmp', '/dev/shm'].map((d) => ownedBy(d, uid)), sharedBefore, 'nothing written to the host /tmp or /dev/shm');
  });

  it('Kubernetes mode: --stateDir left at its default (read-only ./.state), nothing written outside TMPDIR', { skip: SKIP_UID, timeout: 90_000 }, async () => {
    const server = await startKubeTestServer();
    try {
      await server.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'istio-system' } });
      // the pod's service-account credentials: readable by the uid only
      const kubeconfig = path.join(work, 'kubeconfig');
      fs.copyFileSync(server.kubeconfigPath, kubeconfig);
      fs.chownSync(kubeconfig, uid, gid);
      const appBefore = snapshot(img.app);
      const sharedBefore = ['/tmp', '/dev/shm'].map((d) => ownedBy(d, uid));
      const run = await runImage('kube', () => ['--configDir', '', '--kubeconfig', kubeconfig], { POD_NAME: 'istiod-image-test', POD_NAMESPACE: 'istio-system', ENABLE_DEBUG_ENDPOINT_AUTH: 'false' });
      try {
        await scrape(run.monitoring);
        const secret = await waitFor(() => server.get('v1', 'Secret', 'istio-system', 'istio-ca-secret'), 15_000, 'the CA root in Secret istio-ca-secret');
        assert.ok((secret as any).data['ca-key.pem']);
        assert.ok(!fs.existsSync(path.join(img.app, '.state')), 'no ./.state');
        const written = walkFiles(run.tmp).filter((r) => !r.endsWith('/'));
        assert.ok(written.every((r) => r.startsWith('istiod-ts-webhook-')), `only webhook serving files in TMPDIR: ${written.join(', ')}`);
      } finally {
        await stop(run);
      }
      assert.deepEqual(snapshot(img.app), appBefore, 'nothing under /app changed');
      assert.deepEqual(['/tmp', '/dev/shm'].map((d) => ownedBy(d, uid)), sharedBefore, 'nothing written to the host /tmp or /dev/shm');
    } finally {
      await server.close();
    }
  });
});
