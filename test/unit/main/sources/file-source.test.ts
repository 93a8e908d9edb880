import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FileSource } from '../../../../src/main/sources/file-source';
import { ModelStore } from '../../../../src/main/model/store';
import { Logger } from '../../../../src/main/log';
import { K8sObject } from '../../../../src/shared/model/objects';
import { sleep, waitFor } from '../../../helpers/wait-for';

// ---- fixtures ------------------------------------------------------------------------------------

interface LogRecord { level: string; msg: string; fields: Record<string, unknown> }

function recordingLogger(): Logger & { records: LogRecord[]; warnings(msg?: string): LogRecord[] } {
  const records: LogRecord[] = [];
  const rec = (level: string) => (msg: string, fields: Record<string, unknown> = {}) => { records.push({ level, msg, fields }); };
  return {
    records,
    warnings: (msg) => records.filter((r) => r.level === 'warn' && (msg === undefined || r.msg === msg)),
    debug: rec('debug'), info: rec('info'), warn: rec('warn'), error: rec('error'),
    enabled: () => true,
  };
}

/** Store that also records which origins were replaced, in order. */
class RecordingStore extends ModelStore {
  readonly origins: Array<{ origin: string; count: number }> = [];
  override replaceOrigin(origin: string, objects: readonly K8sObject[]) {
    this.origins.push({ origin, count: objects.length });
    return super.replaceOrigin(origin, objects);
  }
  /** "Kind/namespace/name" of every current object, sorted. */
  names(): string[] {
    return [...this.all()].map((o) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`).sort();
  }
  find(kind: string, name: string): K8sObject | undefined {
    return [...this.all()].find((o) => o.kind === kind && o.metadata.name === name);
  }
}

const serviceYaml = (name: string, port = 80, ns?: string) => `apiVersion: v1
kind: Service
metadata:
  name: ${name}${ns ? `\n  namespace: ${ns}` : ''}
spec:
  ports:
  - name: http
    port: ${port}
`;

const destinationRuleYaml = (name: string, host = name) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ${name}
spec:
  host: ${host}
  subsets:
  - name: v1
    labels:
      version: v1
`;

const virtualServiceYaml = (name: string, weights: [number, number]) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${name}
spec:
  hosts:
  - ${name}
  http:
  - route:
    - destination:
        host: ${name}
        subset: v1
      weight: ${weights[0]}
    - destination:
        host: ${name}
        subset: v2
      weight: ${weights[1]}
`;

const docs = (...parts: string[]) => parts.join('---\n');

interface Harness { dir: string; store: RecordingStore; log: ReturnType<typeof recordingLogger>; source: FileSource }

const running: Harness[] = [];
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'file-source-test-'));
  dirs.push(dir);
  return dir;
}

/** Creates a temp dir holding `files` (relative path → text), then starts a FileSource on it. */
async function startWith(files: Record<string, string> = {}, debounceMs = 20): Promise<Harness> {
  const dir = await tempDir();
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), text);
  }
  const store = new RecordingStore();
  const log = recordingLogger();
  const source = new FileSource({ dir, store, log, debounceMs });
  const h = { dir, store, log, source };
  running.push(h);
  await source.start();
  return h;
}

afterEach(async () => {
  for (const h of running.splice(0)) await h.source.stop();
});

after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const has = (store: RecordingStore, name: string) => store.names().includes(name);

// ---- tests ---------------------------------------------------------------------------------------

describe('FileSource', () => {
  it('loads the whole tree on start, recursively, and reports synced', async () => {
    const { source, store } = await startWith({
      'svc.yaml': serviceYaml('reviews'),
      'istio/rules/dr.yml': destinationRuleYaml('reviews'),
      'json/svc.json': JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'ratings', namespace: 'prod' }, spec: { ports: [{ port: 9080 }] } }),
      'README.md': '# not config',
      '.hidden/svc.yaml': serviceYaml('hidden'),
    });
    assert.equal(source.synced, true);
    assert.deepEqual(store.names(), ['DestinationRule/default/reviews', 'Service/default/reviews', 'Service/prod/ratings']);
    assert.deepEqual(store.origins.map((o) => o.origin).sort(), ['istio/rules/dr.yml', 'json/svc.json', 'svc.yaml']);
    assert.deepEqual(source.errors(), []);
  });

  it('rejects start() when the directory does not exist', async () => {
    const source = new FileSource({ dir: path.join(await tempDir(), 'missing'), store: new ModelStore(), log: recordingLogger() });
    await assert.rejects(source.start(), /does not exist/);
  });

  it('applies a file added while running', async () => {
    const { dir, store } = await startWith();
    await writeFile(path.join(dir, 'a.yaml'), serviceYaml('added'));
    await waitFor(() => has(store, 'Service/default/added'), 5000, 'added service');
  });

  it('applies a changed file', async () => {
    const { dir, store } = await startWith({ 'a.yaml': serviceYaml('svc', 80) });
    await writeFile(path.join(dir, 'a.yaml'), serviceYaml('svc', 8080));
    await waitFor(() => store.find('Service', 'svc')?.spec.ports[0].port === 8080, 5000, 'port 8080');
  });

  it('removes the objects of a deleted file', async () => {
    const { dir, store } = await startWith({ 'a.yaml': serviceYaml('a'), 'b.yaml': serviceYaml('b') });
    await unlink(path.join(dir, 'a.yaml'));
    await waitFor(() => !has(store, 'Service/default/a'), 5000, 'a removed');
    assert.ok(has(store, 'Service/default/b'));
  });

  it('treats a rename as delete of the old origin plus add of the new one', async () => {
    const { dir, store, source } = await startWith({ 'old.yaml': serviceYaml('svc') });
    await rename(path.join(dir, 'old.yaml'), path.join(dir, 'new.yaml'));
    await waitFor(() => store.origins.some((o) => o.origin === 'new.yaml' && o.count === 1), 5000, 'new origin');
    assert.ok(store.origins.some((o) => o.origin === 'old.yaml' && o.count === 0), 'old origin emptied');
    const removal = store.origins.findIndex((o) => o.origin === 'old.yaml' && o.count === 0);
    const addition = store.origins.findIndex((o) => o.origin === 'new.yaml');
    assert.ok(removal < addition, 'removal is applied before the addition');
    assert.deepEqual(store.names(), ['Service/default/svc']);
    assert.deepEqual(source.errors(), []);
  });

  it('keeps the last good objects of a broken file and logs exactly one line with file and line', async () => {
    const { dir, store, log, source } = await startWith({ 'a.yaml': serviceYaml('svc', 80) });
    const broken = 'apiVersion: v1\nkind: Service\nmetadata:\n  name: svc\nspec:\n  ports: [\n';
    await writeFile(path.join(dir, 'a.yaml'), broken);
    await waitFor(() => source.errors().length > 0, 5000, 'syntax error reported');
    await writeFile(path.join(dir, 'a.yaml'), broken); // same text again: no new report
    await sleep(200);
    const lines = log.warnings('invalid config file');
    assert.equal(lines.length, 1, JSON.stringify(log.records));
    assert.equal(lines[0]!.fields.file, 'a.yaml');
    assert.equal(typeof lines[0]!.fields.line, 'number');
    assert.ok((lines[0]!.fields.line as number) >= 6, `line ${lines[0]!.fields.line}`);
    assert.equal(typeof lines[0]!.fields.reason, 'string');
    assert.equal(store.find('Service', 'svc')?.spec.ports[0].port, 80, 'last good version stays');

    await writeFile(path.join(dir, 'a.yaml'), serviceYaml('svc', 81));
    await waitFor(() => store.find('Service', 'svc')?.spec.ports[0].port === 81, 5000, 'fixed file applied');
    assert.deepEqual(source.errors(), []);
  });

  it('reports an invalid object with the line of the offending field while the rest of the file applies', async () => {
    const { dir, store, log, source } = await startWith({ 'mesh.yaml': docs(serviceYaml('reviews'), virtualServiceYaml('reviews', [50, 50])) });
    assert.ok(has(store, 'VirtualService/default/reviews'));

    // The second weight is on line 26: 8 Service lines, '---', then line 17 of the VirtualService.
    await writeFile(path.join(dir, 'mesh.yaml'), docs(serviceYaml('reviews', 9080), virtualServiceYaml('reviews', [50, -5])));
    await waitFor(() => store.find('Service', 'reviews')?.spec.ports[0].port === 9080, 5000, 'valid object applied');
    const [line, ...more] = log.warnings('invalid config object');
    assert.equal(more.length, 0);
    assert.equal(line!.fields.file, 'mesh.yaml');
    assert.equal(line!.fields.line, 26);
    assert.equal(line!.fields.kind, 'VirtualService');
    assert.equal(line!.fields.name, 'reviews');
    assert.equal(line!.fields.field, 'spec.http[0].route[1].weight');
    assert.match(String(line!.fields.reason), /out of range/);
    assert.equal(store.find('VirtualService', 'reviews')?.spec.http[0].route[1].weight, 50, 'last good version kept');
    assert.deepEqual(source.errors().map((e) => [e.file, e.line, e.severity]), [['mesh.yaml', 26, 'error']]);
  });

  it('skips an invalid object that never was valid', async () => {
    const { store, log } = await startWith({ 'a.yaml': docs(serviceYaml('good'), serviceYaml('bad', 0)) });
    assert.deepEqual(store.names(), ['Service/default/good']);
    assert.equal(log.warnings('invalid config object')[0]!.fields.action, 'skipped');
  });

  it('loads every document of a multi-document file and expands kind: List', async () => {
    const list = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod', namespace: 'ignored' } },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'listed' }, spec: { ports: [{ port: 1 }] } },
    ] });
    const { store } = await startWith({ 'two.yaml': docs(serviceYaml('one'), '# only a comment\n', destinationRuleYaml('two'), list + '\n') });
    assert.deepEqual(store.names(), ['DestinationRule/default/two', 'Namespace//prod', 'Service/default/listed', 'Service/default/one']);
    assert.equal(store.find('Namespace', 'prod')!.metadata.namespace, undefined, 'cluster-scoped kinds lose their namespace');
  });

  it('warns once about an unknown kind and skips it', async () => {
    const { store, log } = await startWith({ 'a.yaml': docs(serviceYaml('svc'), 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n') });
    assert.deepEqual(store.names(), ['Service/default/svc']);
    const lines = log.warnings('unsupported config object');
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.fields.kind, 'Widget');
    assert.equal(lines[0]!.fields.line, 10);
  });

  it('picks up a nested subdirectory created after start', async () => {
    const { dir, store } = await startWith();
    await mkdir(path.join(dir, 'team/a/b'), { recursive: true });
    await writeFile(path.join(dir, 'team/a/b/svc.yaml'), serviceYaml('deep'));
    await waitFor(() => has(store, 'Service/default/deep'), 5000, 'nested file');
    await writeFile(path.join(dir, 'team/a/b/svc.yaml'), serviceYaml('deep', 90));
    await waitFor(() => store.find('Service', 'deep')?.spec.ports[0].port === 90, 5000, 'nested change');
    await rm(path.join(dir, 'team'), { recursive: true });
    await waitFor(() => !has(store, 'Service/default/deep'), 5000, 'nested directory removed');
  });

  it('follows an atomic save (temp file + rename) and later in-place edits of the same file', async () => {
    const { dir, store } = await startWith({ 'a.yaml': serviceYaml('svc', 80) });
    await writeFile(path.join(dir, '.a.yaml.swp'), serviceYaml('svc', 81));
    await rename(path.join(dir, '.a.yaml.swp'), path.join(dir, 'a.yaml'));
    await waitFor(() => store.find('Service', 'svc')?.spec.ports[0].port === 81, 5000, 'atomic save');
    await writeFile(path.join(dir, 'a.yaml'), serviceYaml('svc', 82));
    await waitFor(() => store.find('Service', 'svc')?.spec.ports[0].port === 82, 5000, 'in-place edit after atomic save');
  });

  it('coalesces a burst of writes into one reload', async () => {
    const { dir, store } = await startWith({}, 200); // a quiet period well above the gap between writes
    for (let i = 1; i <= 20; i++) await writeFile(path.join(dir, 'burst.yaml'), serviceYaml('burst', i));
    await waitFor(() => store.find('Service', 'burst')?.spec.ports[0].port === 20, 5000, 'last write applied');
    const loads = store.origins.filter((o) => o.origin === 'burst.yaml').length;
    assert.equal(loads, 1, `expected the burst to be coalesced, got ${loads} reloads`);
  });

  it('stops watching after stop()', async () => {
    const h = await startWith();
    await h.source.stop();
    await writeFile(path.join(h.dir, 'late.yaml'), serviceYaml('late'));
    await sleep(150);
    assert.deepEqual(h.store.names(), []);
  });
});
