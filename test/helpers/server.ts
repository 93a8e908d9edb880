/**
 * Start a real istiod-ts in this process on loopback with ephemeral ports (grpc on 127.0.0.1:0,
 * HTTP servers disabled unless asked), on a config dir the test owns.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../src/main/config';
import { Discovery, StartOptions, startDiscovery } from '../../src/main/index';

export interface TestServer { discovery: Discovery; grpcTarget: string; configDir: string; close(): Promise<void> }

export function tempDir(prefix = 'istiod-ts-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Write `files` (relative path → YAML text) into `dir`. */
export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    const p = path.join(dir, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, text);
  }
}

export async function startTestServer(opts: {
  configDir?: string;
  files?: Record<string, string>;
  env?: Record<string, string>;
  flags?: string[];
  start?: StartOptions;
} = {}): Promise<TestServer> {
  const configDir = opts.configDir ?? tempDir();
  if (opts.files) writeFiles(configDir, opts.files);
  const env = { PILOT_DEBOUNCE_AFTER: '20ms', ISTIOD_CONFIG_WORKERS: '2', ...opts.env };
  const config = loadConfig([
    '--configDir', configDir, '--grpcAddr', '127.0.0.1:0', '--httpAddr', '', '--monitoringAddr', '',
    '--secureGRPCAddr', '', '--httpsAddr', '', '--log_output_level', process.env['TEST_LOG_LEVEL'] ?? 'default:error',
    ...(opts.flags ?? []),
  ], env);
  const discovery = await startDiscovery(config, opts.start);
  return { discovery, configDir, grpcTarget: `127.0.0.1:${discovery.ports.grpc}`, close: () => discovery.close() };
}

export { freePort } from '../../load-test/run/ports';
