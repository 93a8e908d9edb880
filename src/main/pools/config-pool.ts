/**
 * The config-generation pool (Piscina). Workers get the snapshot arena once, through workerData;
 * jobs then carry only a root reference. Separate from the CA pool by design.
 */
import * as path from 'node:path';
import { Piscina } from 'piscina';
import { ConfigGenToMain, ConfigWorkerData, MainToConfigGen } from '../../shared/protocol';

export interface ConfigPool {
  run(msg: MainToConfigGen, signal?: AbortSignal): Promise<ConfigGenToMain>;
  stats(): { threads: number; queueSize: number; completed: number; utilization: number };
  close(): Promise<void>;
}

export function createConfigPool(arena: SharedArrayBuffer, threads: number): ConfigPool {
  const workerData: ConfigWorkerData = { arena };
  const pool = new Piscina<MainToConfigGen, ConfigGenToMain>({
    filename: path.join(__dirname, '..', '..', 'workers', 'config-worker.js'),
    workerData,
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: 60_000,
  });
  return {
    run: (msg, signal) => pool.run(msg, signal ? { signal } : {}),
    stats: () => ({ threads: pool.threads.length, queueSize: pool.queueSize, completed: pool.completed, utilization: pool.utilization }),
    close: () => pool.destroy(),
  };
}
