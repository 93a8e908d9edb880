/**
 * Command line: `istiod-ts discovery [flags]` runs the control plane; `istiod-ts load-test ...`
 * runs the load tester and `istiod-ts tune ...` its knob grid (load-test/, loaded only for those
 * subcommands); `istiod-ts validate -f FILE` checks config files offline (validate-cli.ts).
 * Startup errors print one clear line and exit 2.
 */
import { helpText, loadConfig } from './config';
import { startDiscovery } from './index';
import { MeshError } from '../shared/errors';

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === 'load-test') {
    const { loadTestMain } = await import('../../load-test/run/cli');
    process.exitCode = await loadTestMain(rest);
    return;
  }
  if (command === 'validate') {
    const { validateMain } = await import('./validate-cli');
    process.exitCode = await validateMain(rest);
    return;
  }
  if (command === 'proxy-status' || command === 'proxy-config') {
    const { proxyStatusMain, proxyConfigMain } = await import('./sre-cli');
    if (rest.includes('--help') || rest.includes('-h')) { process.stdout.write(helpText()); return; }
    process.exitCode = await (command === 'proxy-status' ? proxyStatusMain(rest) : proxyConfigMain(rest));
    return;
  }
  if (command === 'tune') {
    const { tuneMain } = await import('../../load-test/tune/cli');
    process.exitCode = await tuneMain(rest);
    return;
  }
  if (!command || command === '--help' || command === '-h' || command === 'help' || rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(helpText());
    if (!command) process.exitCode = 2;
    return;
  }
  if (command !== 'discovery') {
    process.stderr.write(`istiod-ts: unknown command '${command}' (try: istiod-ts discovery --help, istiod-ts validate --help, istiod-ts load-test --help, istiod-ts tune --help)\n`);
    process.exitCode = 2;
    return;
  }
  let discovery;
  try {
    discovery = await startDiscovery(loadConfig(rest));
  } catch (e) {
    const msg = e instanceof MeshError || e instanceof Error ? e.message : String(e);
    process.stderr.write(`istiod-ts: ${msg}\n`);
    process.exit(2);
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(JSON.stringify({ time: new Date().toISOString(), level: 'info', scope: 'default', msg: 'shutting down', signal }) + '\n');
    // Graceful shutdown (lifecycle.ts) is bounded by ISTIOD_SHUTDOWN_TIMEOUT; past it, exit 1 anyway.
    const force = setTimeout(() => process.exit(1), discovery!.config.shutdownTimeoutMs + 1000);
    force.unref();
    discovery!.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
