import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import { FLAGS, KNOBS, autoConcurrency, helpText, loadConfig, parseAddr, parseFlags } from '../../../src/main/config';
import { ConfigError } from '../../../src/shared/errors';

// ---- fixtures ------------------------------------------------------------------------------------

/** Assert `fn` fails with a ConfigError whose message names every `parts` entry. */
function assertConfigError(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    assert.equal(e.code, 'MESH_CONFIG_INVALID');
    for (const p of parts) assert.ok(e.message.includes(p), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(p)}`);
    return true;
  });
}

const withEnv = (env: Record<string, string>) => loadConfig([], env);

// ---- defaults ----------------------------------------------------------------------------------

describe('loadConfig defaults', () => {
  it('uses Istio defaults for the debounce and EDS knobs', () => {
    const c = withEnv({});
    assert.equal(c.debounceAfterMs, 100);
    assert.equal(c.debounceMaxMs, 10_000);
    assert.equal(c.enableEdsDebounce, true);
  });

  it('derives the push throttle and the admission rate from the core count: min(15 + 5 x cores, 100)', () => {
    const c = withEnv({});
    const expected = Math.min(15 + 5 * os.availableParallelism(), 100);
    assert.equal(c.pushThrottle, expected);
    assert.equal(c.maxRequestsPerSecond, expected);
    assert.equal(c.configWorkers, os.availableParallelism());
  });

  it('computes the auto value at the edges', () => {
    assert.equal(autoConcurrency(1), 20);
    assert.equal(autoConcurrency(2), 25);
    assert.equal(autoConcurrency(16), 95);
    assert.equal(autoConcurrency(17), 100);
    assert.equal(autoConcurrency(64), 100);
  });

  it('listens on the Istio ports on all interfaces', () => {
    const c = withEnv({});
    assert.deepEqual(c.grpcAddr, { host: '0.0.0.0', port: 15010 });
    assert.deepEqual(c.secureGrpcAddr, { host: '0.0.0.0', port: 15012 });
    assert.deepEqual(c.monitoringAddr, { host: '0.0.0.0', port: 15014 });
    assert.deepEqual(c.httpAddr, { host: '0.0.0.0', port: 8080 });
    assert.deepEqual(c.httpsAddr, { host: '0.0.0.0', port: 15017 });
  });

  it('fills our own knobs and returns a frozen config', () => {
    const c = withEnv({});
    assert.equal(c.generationTimeoutMs, 30_000);
    assert.equal(c.snapshotArenaMaxBytes, 1024 * 1024 * 1024);
    assert.equal(c.configDir, '');
    assert.ok(Object.isFrozen(c));
  });

  it('reads only the env object it is given', () => {
    const saved = process.env['PILOT_DEBOUNCE_AFTER'];
    process.env['PILOT_DEBOUNCE_AFTER'] = 'not-a-duration';
    try {
      assert.equal(withEnv({}).debounceAfterMs, 100);
    } finally {
      if (saved === undefined) delete process.env['PILOT_DEBOUNCE_AFTER']; else process.env['PILOT_DEBOUNCE_AFTER'] = saved;
    }
  });
});

// ---- env knobs ---------------------------------------------------------------------------------

describe('loadConfig env knobs', () => {
  it('parses Go durations', () => {
    assert.equal(withEnv({ PILOT_DEBOUNCE_AFTER: '1.5s' }).debounceAfterMs, 1500);
    assert.equal(withEnv({ PILOT_DEBOUNCE_MAX: '2m' }).debounceMaxMs, 120_000);
    assert.equal(withEnv({ PILOT_DEBOUNCE_MAX: '1m30s' }).debounceMaxMs, 90_000);
    assert.equal(withEnv({ PILOT_DEBOUNCE_AFTER: '0' }).debounceAfterMs, 0);
    assert.equal(withEnv({ ISTIOD_GENERATION_TIMEOUT: '250ms' }).generationTimeoutMs, 250);
  });

  it('rejects a bad duration naming the variable and the value', () => {
    assertConfigError(() => withEnv({ PILOT_DEBOUNCE_AFTER: 'abc' }), 'PILOT_DEBOUNCE_AFTER', "'abc'");
    assertConfigError(() => withEnv({ PILOT_DEBOUNCE_MAX: '10' }), 'PILOT_DEBOUNCE_MAX', "'10'");
    assertConfigError(() => withEnv({ PILOT_DEBOUNCE_MAX: '-1s' }), 'PILOT_DEBOUNCE_MAX', '-1s');
    assertConfigError(() => withEnv({ ISTIOD_GENERATION_TIMEOUT: '' }), 'ISTIOD_GENERATION_TIMEOUT');
  });

  it('parses booleans the way Go strconv.ParseBool-ish knobs are written', () => {
    assert.equal(withEnv({ PILOT_ENABLE_EDS_DEBOUNCE: 'false' }).enableEdsDebounce, false);
    assert.equal(withEnv({ PILOT_ENABLE_EDS_DEBOUNCE: 'FALSE' }).enableEdsDebounce, false);
    assert.equal(withEnv({ PILOT_ENABLE_EDS_DEBOUNCE: '0' }).enableEdsDebounce, false);
    assert.equal(withEnv({ PILOT_ENABLE_EDS_DEBOUNCE: '1' }).enableEdsDebounce, true);
    assertConfigError(() => withEnv({ PILOT_ENABLE_EDS_DEBOUNCE: 'yes' }), 'PILOT_ENABLE_EDS_DEBOUNCE', "'yes'");
  });

  it('takes explicit throttle, rate and worker counts', () => {
    const c = withEnv({ PILOT_PUSH_THROTTLE: '7', PILOT_MAX_REQUESTS_PER_SECOND: '2.5', ISTIOD_CONFIG_WORKERS: '3' });
    assert.equal(c.pushThrottle, 7);
    assert.equal(c.maxRequestsPerSecond, 2.5);
    assert.equal(c.configWorkers, 3);
    assert.equal(withEnv({ PILOT_PUSH_THROTTLE: '7.9' }).pushThrottle, 7, 'a concurrency is a whole number');
    assert.equal(withEnv({ ISTIOD_SNAPSHOT_ARENA_MAX_MB: '64' }).snapshotArenaMaxBytes, 64 * 1024 * 1024);
  });

  it('rejects bad numbers naming the variable and the value', () => {
    assertConfigError(() => withEnv({ PILOT_PUSH_THROTTLE: 'ten' }), 'PILOT_PUSH_THROTTLE', "'ten'");
    assertConfigError(() => withEnv({ PILOT_PUSH_THROTTLE: '-1' }), 'PILOT_PUSH_THROTTLE', "'-1'");
    assertConfigError(() => withEnv({ PILOT_MAX_REQUESTS_PER_SECOND: '' }), 'PILOT_MAX_REQUESTS_PER_SECOND');
    assertConfigError(() => withEnv({ ISTIOD_CONFIG_WORKERS: 'Infinity' }), 'ISTIOD_CONFIG_WORKERS', 'Infinity');
    assertConfigError(() => withEnv({ ISTIOD_SNAPSHOT_ARENA_MAX_MB: '8' }), 'ISTIOD_SNAPSHOT_ARENA_MAX_MB', "'8'", '16');
  });
});

// ---- addresses ---------------------------------------------------------------------------------

describe('parseAddr', () => {
  it('reads :port, host:port and [v6]:port', () => {
    assert.deepEqual(parseAddr('grpcAddr', ':15010'), { host: '0.0.0.0', port: 15010 });
    assert.deepEqual(parseAddr('grpcAddr', '127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseAddr('grpcAddr', '[::1]:15010'), { host: '::1', port: 15010 });
    assert.deepEqual(parseAddr('grpcAddr', 'localhost:8080'), { host: 'localhost', port: 8080 });
    assert.deepEqual(parseAddr('grpcAddr', ':65535'), { host: '0.0.0.0', port: 65535 });
  });

  it('disables a listener for an empty address', () => {
    assert.equal(parseAddr('grpcAddr', ''), null);
  });

  it('rejects garbage naming the flag and the value', () => {
    for (const bad of ['15010', 'localhost', ':', ':abc', ':65536', '::1:15010', '[::1]', 'a:b:1', ':15010 ']) {
      assertConfigError(() => parseAddr('monitoringAddr', bad), '--monitoringAddr', `'${bad}'`);
    }
  });
});

// ---- flags -------------------------------------------------------------------------------------

describe('parseFlags and loadConfig flags', () => {
  it('accepts --flag=value and --flag value', () => {
    assert.deepEqual(parseFlags(['--configDir=/etc/mesh', '--grpcAddr', '127.0.0.1:0']), { configDir: '/etc/mesh', grpcAddr: '127.0.0.1:0' });
    const c = loadConfig(['--configDir', 'examples/mesh', '--monitoringAddr=[::1]:9999', '--httpAddr', ''], {});
    assert.equal(c.configDir, 'examples/mesh');
    assert.deepEqual(c.monitoringAddr, { host: '::1', port: 9999 });
    assert.equal(c.httpAddr, null, 'an empty value disables the listener');
  });

  it('keeps everything after the first = as the value', () => {
    assert.deepEqual(parseFlags(['--log_output_level=default:info,ads=debug']), { log_output_level: 'default:info,ads=debug' });
  });

  it('lets the last occurrence of a flag win', () => {
    assert.equal(loadConfig(['--configDir', 'a', '--configDir=b'], {}).configDir, 'b');
  });

  it('maps every Istio flag name to its config field', () => {
    const c = loadConfig([
      '--grpcAddr=:1', '--secureGRPCAddr=:2', '--monitoringAddr=:3', '--httpAddr=:4', '--httpsAddr=:5',
      '--meshConfig=mesh.yaml', '--stateDir=/var/lib/istiod', '--log_output_level=ads:debug',
    ], {});
    assert.deepEqual([c.grpcAddr?.port, c.secureGrpcAddr?.port, c.monitoringAddr?.port, c.httpAddr?.port, c.httpsAddr?.port], [1, 2, 3, 4, 5]);
    assert.deepEqual([c.meshConfigFile, c.stateDir, c.logOutputLevel], ['mesh.yaml', '/var/lib/istiod', 'ads:debug']);
  });

  it('rejects an unknown flag by name', () => {
    assertConfigError(() => parseFlags(['--grpcAdr=:15010']), '--grpcAdr');
    assertConfigError(() => loadConfig(['--nope', 'x'], {}), '--nope');
  });

  it('rejects a positional argument and a flag without its value', () => {
    assertConfigError(() => parseFlags(['discovery']), "'discovery'");
    assertConfigError(() => parseFlags(['--configDir']), '--configDir', 'needs a value');
  });

  it('names the flag when its address is bad', () => {
    assertConfigError(() => loadConfig(['--secureGRPCAddr', 'nonsense'], {}), '--secureGRPCAddr', "'nonsense'");
    assertConfigError(() => loadConfig(['--httpsAddr=:99999'], {}), '--httpsAddr');
  });
});

// ---- help --------------------------------------------------------------------------------------

describe('helpText', () => {
  it('lists every flag with its default and every env knob with its default', () => {
    const text = helpText();
    for (const f of FLAGS) {
      const line = text.split('\n').find((l) => l.trimStart().startsWith(`--${f.name} `));
      assert.ok(line, `flag --${f.name} missing from help`);
      assert.ok(line.includes(f.description) && line.includes(`'${f.default}'`), `flag --${f.name}: ${line}`);
    }
    for (const k of Object.values(KNOBS)) {
      const line = text.split('\n').find((l) => l.trimStart().startsWith(`${k.name} `));
      assert.ok(line, `knob ${k.name} missing from help`);
      assert.ok(line.includes(k.description) && line.includes(k.default), `knob ${k.name}: ${line}`);
    }
  });
});
