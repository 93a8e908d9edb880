/**
 * `istiod-ts validate` end to end: the built CLI on files, directories, comma lists and standard
 * input, with the report lines, per-file verdicts, summary and exit codes users script against.
 * Also checks that what the command accepts is what file mode applies (same validators).
 */
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CliResult, REPO_ROOT, runCli } from '../helpers/run-cli';
import { ModelStore } from '../../src/main/model/store';
import { FileSource } from '../../src/main/sources/file-source';
import type { Logger } from '../../src/main/log';

const TIMEOUT_MS = 20_000;

const VALID_VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews, subset: v1}
      weight: 90
    - destination: {host: reviews, subset: v2}
      weight: 10
`;

const INVALID_VS = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ratings
  namespace: prod
spec:
  hosts: [ratings]
  http:
  - route:
    - destination: {host: ratings}
    retries:
      attempts: 3
      retryOn: 5xx,sometimes
`;

const MIXED = `apiVersion: v1
kind: List
items:
- apiVersion: networking.istio.io/v1
  kind: DestinationRule
  metadata: {name: reviews}
  spec:
    host: reviews
    trafficPolicy:
      loadBalancer: {simple: ROUND_ROBIN, consistentHash: {useSourceIp: true}}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web}
  spec: {template: {metadata: {labels: {app: web, version: v1}}}}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: settings}
`;

let dir: string;

function write(rel: string, text: string): string {
  const file = path.join(dir, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

function validate(...args: string[]): Promise<CliResult> {
  return runCli(['validate', ...args], TIMEOUT_MS);
}

/** The CLI with `input` on standard input (run-cli.ts leaves stdin closed). */
function validateStdin(input: string, ...args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'istiod-ts.js'), 'validate', ...args], { cwd: REPO_ROOT });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('validate did not finish')); }, TIMEOUT_MS);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    child.stdin.end(input);
  });
}

describe('istiod-ts validate', () => {
  before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'validate-cli-')); });
  after(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  it('accepts valid files with exit 0, a verdict per file and a summary', async () => {
    const a = write('ok/reviews.yaml', VALID_VS);
    const r = await validate('-f', a);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stdout, `"${a}" is valid\n✔ validated 1 object in 1 file\n`);
  });

  it('reports each problem with file, line, object and field, and exits 1', async () => {
    const ok = write('mixed/a-ok.yaml', VALID_VS);
    const bad = write('mixed/b-bad.yaml', `${VALID_VS.replace('reviews', 'other').replace('[reviews]', '[other]')}---\n${INVALID_VS}`);
    const r = await validate('--filename', `${ok},${bad}`);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.ok(lines.includes(`error: ${bad}:26: VirtualService prod/ratings: spec.http[0].retries.retryOn: "sometimes" is not a valid retryOn policy`), r.stdout);
    assert.ok(lines.includes(`"${ok}" is valid`));
    assert.ok(lines.includes(`"${bad}" is invalid (1 error)`));
    assert.equal(lines[lines.length - 1], '✘ 1 of 3 objects invalid in 2 files: 1 error');
  });

  it('walks directories recursively, expands Lists, checks Deployments and notes skipped kinds', async () => {
    write('tree/nested/deeper/mixed.yml', MIXED);
    write('tree/notes.txt', 'not config');
    write('tree/.hidden/ignored.yaml', 'garbage: [');
    const r = await validate('-f', path.join(dir, 'tree'));
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const file = path.join(dir, 'tree/nested/deeper/mixed.yml');
    assert.match(r.stdout, new RegExp(`error: ${file}:10: DestinationRule default/reviews: spec.trafficPolicy.loadBalancer: only one of simple or consistentHash`));
    assert.match(r.stdout, new RegExp(`note: ${file}:15: ConfigMap default/settings: skipped, not an Istio kind`));
    assert.doesNotMatch(r.stdout, /Deployment/);
    assert.match(r.stdout, /✘ 1 of 3 objects invalid in 1 file: 1 error, 1 skipped\n$/);
  });

  it('treats skipped kinds as errors with --strict', async () => {
    const f = write('strict/cm.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n');
    const r = await validate('--strict', '-f', f);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /error: .*cm\.yaml:1: ConfigMap default\/c: not an Istio kind \(--strict\)/);
  });

  it('applies istioctl\'s Service port naming rule outside the Istio namespace', async () => {
    const svc = (ns: string) => `apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: ${ns}}\nspec:\n  ports:\n  - {port: 80, name: web}\n`;
    const r = await validate('-f', write('svc/app.yaml', svc('shop')));
    assert.equal(r.code, 1);
    assert.match(r.stdout, /svc\/app\.yaml:6: Service shop\/web: spec\.ports\[0\]\.name: port name "web" does not follow the Istio naming convention/);
    const system = await validate('-f', write('svc/system.yaml', svc('istio-system')));
    assert.equal(system.code, 0, system.stdout);
  });

  it('reports YAML syntax errors with file and line', async () => {
    const f = write('broken.yaml', 'apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n   bad: indent\n');
    const r = await validate('-f', f);
    assert.equal(r.code, 1);
    assert.match(r.stdout, new RegExp(`^error: ${f}:\\d: invalid YAML: .+ \\(column \\d+\\)$`, 'm'));
    assert.match(r.stdout, /"[^"]*broken\.yaml" is invalid \(1 error\)/);
  });

  it('reads standard input with -f -', async () => {
    const r = await validateStdin(INVALID_VS, '-f', '-');
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^error: <stdin>:13: VirtualService prod\/ratings: spec\.http\[0\]\.retries\.retryOn/m);
    const ok = await validateStdin(VALID_VS, '-f', '-', '-n', 'team-a');
    assert.equal(ok.code, 0, ok.stdout);
    assert.match(ok.stdout, /"<stdin>" is valid/);
  });

  it('exits 2 on usage errors and unreadable inputs, naming the problem', async () => {
    const none = await validate();
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no input: name files with -f/);
    const flag = await validate('--frobnicate', '-f', 'x.yaml');
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /unknown flag --frobnicate/);
    const missing = await validate('-f', path.join(dir, 'nope.yaml'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read "[^"]*nope\.yaml": no such file or directory/);
    assert.equal(missing.stdout, '');
    const help = await validate('--help');
    assert.equal(help.code, 0);
    assert.match(help.stdout, /-f, --filename/);
  });

  it('agrees with file mode: what validate rejects, the file source skips', async () => {
    const cfg = write('filemode/routes.yaml', `${VALID_VS}---\n${INVALID_VS}`);
    const cli = await validate('-f', cfg);
    assert.equal(cli.code, 1);
    const store = new ModelStore();
    const source = new FileSource({ dir: path.dirname(cfg), store, log: { debug() {}, info() {}, warn() {}, error() {}, enabled: () => false } satisfies Logger });
    await source.start();
    try {
      const errors = source.errors();
      assert.equal(errors.length, 1);
      assert.equal(errors[0]!.line, 26);
      assert.equal(errors[0]!.name, 'ratings');
      assert.match(cli.stdout, new RegExp(`:${errors[0]!.line}: VirtualService prod/ratings: ${errors[0]!.field!.replace(/[[\].]/g, '\\$&')}`));
    } finally {
      await source.stop();
    }
  });
});
