/**
 * The CSR-signing pool (Piscina), separate from the config pool by design (ARCHITECTURE §1
 * rule 6): a CSR storm queues here and never delays a push; a push storm never delays a
 * certificate. Sized by ISTIOD_CA_WORKERS (default: half the cores, at least one), so on a small
 * machine signing cannot take every core from config generation.
 */
import * as path from 'node:path';
import { Piscina } from 'piscina';
import { CaToMain, MainToCa } from '../../shared/ca/messages';

export interface CaPool {
  run(job: MainToCa): Promise<CaToMain>;
  stats(): { threads: number; queueSize: number; completed: number; utilization: number };
  close(): Promise<void>;
}

/** Jobs waiting beyond this are refused at once (UNAVAILABLE) instead of queueing without bound. */
export const CA_POOL_MAX_QUEUE = 100_000;

export function createCaPool(threads: number): CaPool {
  const pool = new Piscina<MainToCa, CaToMain>({
    filename: path.join(__dirname, '..', '..', 'workers', 'ca-worker.js'),
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: 60_000,
    maxQueue: CA_POOL_MAX_QUEUE,
  });
  return {
    run: (job) => pool.run(job),
    stats: () => ({ threads: pool.threads.length, queueSize: pool.queueSize, completed: pool.completed, utilization: pool.utilization }),
    close: () => pool.destroy(),
  };
}
