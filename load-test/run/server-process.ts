/**
 * The server under test as a child process (`istiod-ts discovery`), so the server and the load
 * generator never share an event loop: a busy generator cannot slow the server's loop, and
 * the server's CPU and RSS can be read for its process alone. Loopback only, ephemeral ports.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort } from './ports';


export interface ServerProcess {
  readonly pid: number;
  readonly grpcTarget: string;
  readonly monitoringAddr: string;
  readonly logFile: string;
  /** resolves when the process exits (for any reason) */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly hasExited: () => boolean;
  /** SIGTERM, then SIGKILL after `graceMs` */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  /** file mode: the config dir the server watches */
  configDir?: string;
  /** Kubernetes mode: the kubeconfig the server reads the mesh through (instead of configDir) */
  kubeconfig?: string;
  stateDir: string;
  logFile: string;
  env: Readonly<Record<string, string>>;
  /** the launcher; default: bin/istiod-ts.js of this checkout */
  bin?: string;
  readyTimeoutMs?: number;
}


/** dist/load-test/run → the package root. */
export function packageRoot(): string {
  return path.resolve(__dirname, '..', '..', '..');
}

async function httpOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

function tail(file: string, lines = 20): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export async function spawnServer(opts: SpawnOptions): Promise<ServerProcess> {
  const [grpcPort, monitoringPort] = [await freePort(), await freePort()];
  const bin = opts.bin ?? path.join(packageRoot(), 'bin', 'istiod-ts.js');
  const grpcTarget = `127.0.0.1:${grpcPort}`;
  const monitoringAddr = `127.0.0.1:${monitoringPort}`;
  const log = fs.openSync(opts.logFile, 'a');
  const child: ChildProcess = spawn(process.execPath, [
    bin, 'discovery',
    ...(opts.kubeconfig ? ['--configDir', '', '--kubeconfig', opts.kubeconfig] : ['--configDir', opts.configDir ?? '']),
    '--grpcAddr', grpcTarget,
    '--monitoringAddr', monitoringAddr,
    '--httpAddr', '',
    '--secureGRPCAddr', '',
    '--httpsAddr', '',
    '--stateDir', opts.stateDir,
    '--log_output_level', 'default:warn',
  ], { env: { ...process.env, ...opts.env }, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  let exitedFlag = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => { exitedFlag = true; resolve({ code, signal }); });
  });
  const stop = async (graceMs = 5000): Promise<void> => {
    if (exitedFlag) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => { if (!exitedFlag) child.kill('SIGKILL'); }, graceMs);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (exitedFlag) {
      const { code, signal } = await exited;
      throw new Error(`server exited during startup (code ${code}, signal ${signal}); last log lines:\n${tail(opts.logFile)}`);
    }
    if (await httpOk(`http://${monitoringAddr}/ready`)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`server did not become ready on ${monitoringAddr} within ${opts.readyTimeoutMs ?? 60_000} ms; last log lines:\n${tail(opts.logFile)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { pid: child.pid!, grpcTarget, monitoringAddr, logFile: opts.logFile, exited, hasExited: () => exitedFlag, stop };
}
