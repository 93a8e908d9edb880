/**
 * The CPUs this process may use: os.availableParallelism() (the affinity mask) capped by the
 * container's CPU limit. Node 20's libuv does not read cgroup quotas, so in a pod limited to 2 CPUs
 * on a 64-core node it reports 64, and every "auto" knob (PILOT_PUSH_THROTTLE and
 * PILOT_MAX_REQUESTS_PER_SECOND = min(15 + 5 x cores, 100), ISTIOD_CONFIG_WORKERS,
 * ISTIOD_CA_WORKERS) would be sized for the node. Istio has the same problem in Go and sets
 * GOMAXPROCS from the quota (automaxprocs: floor(quota / period), at least 1); this does the same.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';

export interface CpuLimit {
  /** CPUs to size auto knobs by */
  readonly cores: number;
  /** CPUs the affinity mask allows */
  readonly available: number;
  /** the cgroup CPU limit in CPUs (quota / period), undefined when none is set */
  readonly quota?: number;
  /** where the limit was read */
  readonly source: 'cgroup2' | 'cgroup1' | 'none';
}

type Read = (path: string) => string | undefined;

const readFile: Read = (p) => {
  try { return fs.readFileSync(p, 'utf8'); } catch { return undefined; }
};

/** cgroup v2 `cpu.max` ("max 100000" or "200000 100000") → CPUs, undefined when unlimited or unreadable. */
export function parseCpuMax(text: string | undefined): number | undefined {
  const [quota, period] = (text ?? '').trim().split(/\s+/);
  if (!quota || quota === 'max') return undefined;
  const q = Number(quota);
  const p = Number(period ?? '100000');
  return q > 0 && p > 0 && Number.isFinite(q / p) ? q / p : undefined;
}

/** cgroup v1 cpu.cfs_quota_us / cpu.cfs_period_us → CPUs; -1 (or unreadable) = unlimited. */
export function parseCfs(quotaText: string | undefined, periodText: string | undefined): number | undefined {
  const q = Number((quotaText ?? '').trim());
  const p = Number((periodText ?? '').trim());
  return q > 0 && p > 0 ? q / p : undefined;
}

export function cpuLimit(read: Read = readFile, available: number = os.availableParallelism()): CpuLimit {
  let quota: number | undefined;
  let source: CpuLimit['source'] = 'none';
  const v2 = read('/sys/fs/cgroup/cpu.max');
  if (v2 !== undefined) {
    quota = parseCpuMax(v2);
    if (quota !== undefined) source = 'cgroup2';
  } else {
    for (const dir of ['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/cpu,cpuacct']) {
      quota = parseCfs(read(`${dir}/cpu.cfs_quota_us`), read(`${dir}/cpu.cfs_period_us`));
      if (quota !== undefined) { source = 'cgroup1'; break; }
    }
  }
  const cores = quota === undefined ? available : Math.max(1, Math.min(available, Math.floor(quota)));
  return Object.freeze({ cores, available, ...(quota !== undefined ? { quota } : {}), source });
}
