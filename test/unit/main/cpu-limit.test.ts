import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { cpuLimit, parseCfs, parseCpuMax } from '../../../src/main/cpu-limit';
import { loadConfig } from '../../../src/main/config';

const files = (m: Record<string, string>) => (p: string) => m[p];

test('cgroup v2 cpu.max: a 2-CPU limit on a 64-core node sizes everything for 2', () => {
  const l = cpuLimit(files({ '/sys/fs/cgroup/cpu.max': '200000 100000\n' }), 64);
  assert.deepEqual(l, { cores: 2, available: 64, quota: 2, source: 'cgroup2' });
  const cfg = loadConfig([], {}, l);
  assert.equal(cfg.pushThrottle, 25, 'min(15 + 5 x 2, 100)');
  assert.equal(cfg.maxRequestsPerSecond, 25);
  assert.equal(cfg.configWorkers, 2);
  assert.equal(cfg.ca.workers, 1);
  // without the limit the node's 64 cores would give 100 and 64 workers
  const node = loadConfig([], {}, cpuLimit(files({ '/sys/fs/cgroup/cpu.max': 'max 100000' }), 64));
  assert.equal(node.pushThrottle, 100);
  assert.equal(node.configWorkers, 64);
});

test('fractional limits round down as automaxprocs does, never below 1; the mask caps a larger quota', () => {
  assert.equal(cpuLimit(files({ '/sys/fs/cgroup/cpu.max': '150000 100000' }), 8).cores, 1);
  assert.equal(cpuLimit(files({ '/sys/fs/cgroup/cpu.max': '50000 100000' }), 8).cores, 1);
  assert.equal(cpuLimit(files({ '/sys/fs/cgroup/cpu.max': '1600000 100000' }), 4).cores, 4);
});

test('cgroup v1 cfs quota; -1 and unreadable files mean no limit', () => {
  assert.deepEqual(cpuLimit(files({ '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '300000', '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000' }), 16),
    { cores: 3, available: 16, quota: 3, source: 'cgroup1' });
  assert.deepEqual(cpuLimit(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000' }), 16), { cores: 16, available: 16, source: 'none' });
  assert.deepEqual(cpuLimit(files({}), 2), { cores: 2, available: 2, source: 'none' });
  assert.equal(parseCpuMax('garbage'), undefined);
  assert.equal(parseCpuMax(''), undefined);
  assert.equal(parseCfs('100000', '0'), undefined);
});
