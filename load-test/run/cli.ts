/**
 * `istiod-ts load-test --scenario FILE [--target host:port --config-dir DIR [--monitoring host:port]]
 *  [--out result.json] [--html report.html] [--workers N] [--keep] [--no-floor]`
 * `istiod-ts load-test --scenario FILE --kubeconfig FILE [--target host:port] [--namespace-prefix P]
 *  [--allow-remote-cluster] ...`
 * `istiod-ts load-test --report result.json [--html report.html]`
 * `istiod-ts load-test --compare a.json b.json`
 */
import * as fs from 'node:fs';
import { compareTable, readResult } from '../report/compare';
import { renderReport } from '../report/html';
import { loadScenario } from '../scenario/schema';
import { runLoadTest } from './coordinator';
import { summaryTable } from './summary-table';

export const LOAD_TEST_HELP = `istiod-ts load-test: simulated Envoys against an istiod-ts server, with a churn programme.

Usage:
  istiod-ts load-test --scenario FILE [flags]
  istiod-ts load-test --scenario FILE --kubeconfig FILE [flags]   the mesh in a cluster instead
  istiod-ts load-test --report RESULT.json [--html FILE]   the HTML report of a saved result
  istiod-ts load-test --compare A.json B.json               two results side by side

Flags:
  --scenario FILE        scenario YAML (see load-test/scenarios/, docs/load-test.md)
  --target HOST:PORT     an already running server's plaintext xDS address; without it the
                         server is spawned as a child process on loopback
  --config-dir DIR       the running server's --configDir (required with --target in file
                         mode): the mesh is generated and churned there
  --kubeconfig FILE      Kubernetes mode: create the mesh (namespaces, Services, EndpointSlices,
                         Pods, Istio config) through this cluster's API and apply the churn
                         there as API writes; the spawned server runs with --kubeconfig FILE.
                         The objects and namespaces the run created are deleted at the end
  --namespace-prefix P   Kubernetes mode: prefix of the generated namespaces (default load-test-)
  --allow-remote-cluster Kubernetes mode: accept a kubeconfig whose API server is not on
                         loopback (127.0.0.1, localhost, [::1]); refused without it
  --monitoring HOST:PORT the running server's --monitoringAddr, for /metrics (optional)
  --out FILE             write the JSON result here (default load-test-result.json)
  --html FILE            write the HTML report here (default: --out with .html for .json)
  --workers N            simulator worker threads (default 1)
  --keep                 keep the generated config dir and server log (Kubernetes mode: and
                         the objects in the cluster)
  --no-floor             skip the fan-out floor phase the scenario asks for (floor.rounds)
`;

interface Args {
  scenario?: string; target?: string; configDir?: string; monitoring?: string; out: string; html?: string; workers: number; keep: boolean;
  kubeconfig?: string; namespacePrefix?: string; allowRemoteCluster: boolean; noFloor: boolean;
  report?: string; compare?: [string, string];
}

/** The HTML report's default path: next to the JSON, same name. */
export function defaultHtmlPath(out: string): string {
  return out.replace(/\.json$/i, '') + '.html';
}

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { out: 'load-test-result.json', workers: 1, keep: false, allowRemoteCluster: false, noFloor: false };
  const value = (i: number, name: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new TypeError(`--${name} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    const eq = raw.indexOf('=');
    const name = raw.startsWith('--') ? raw.slice(2, eq < 0 ? undefined : eq) : '';
    const inline = eq >= 0 ? raw.slice(eq + 1) : undefined;
    const take = () => inline ?? value(i++, name);
    switch (name) {
      case 'scenario': a.scenario = take(); break;
      case 'target': a.target = take(); break;
      case 'config-dir': a.configDir = take(); break;
      case 'kubeconfig': a.kubeconfig = take(); break;
      case 'namespace-prefix': a.namespacePrefix = take(); break;
      case 'allow-remote-cluster': a.allowRemoteCluster = true; break;
      case 'monitoring': a.monitoring = take(); break;
      case 'out': a.out = take(); break;
      case 'html': a.html = take(); break;
      case 'report': a.report = take(); break;
      case 'compare': {
        if (inline !== undefined) throw new TypeError('--compare takes two files: --compare A.json B.json');
        const first = value(i++, name);
        a.compare = [first, value(i++, name)];
        break;
      }
      case 'workers': {
        const v = take();
        a.workers = Number(v);
        if (!Number.isInteger(a.workers) || a.workers < 1) throw new RangeError(`--workers: expected a positive integer, got '${v}'`);
        break;
      }
      case 'keep': a.keep = true; break;
      case 'no-floor': a.noFloor = true; break;
      default: throw new TypeError(`unexpected argument '${raw}' (see istiod-ts load-test --help)`);
    }
  }
  if (a.compare || a.report) {
    if (a.compare && a.report) throw new TypeError('--compare and --report are separate modes: give one');
    if (a.scenario || a.target || a.configDir || a.monitoring || a.kubeconfig) throw new TypeError(`--${a.compare ? 'compare' : 'report'} reads saved results: it takes no --scenario, --target, --config-dir, --kubeconfig or --monitoring`);
    if (a.compare && a.html) throw new TypeError('--html is for a run or --report, not --compare');
    return a;
  }
  if (!a.scenario) throw new TypeError('--scenario FILE is required');
  if (a.kubeconfig !== undefined) {
    if (!a.kubeconfig) throw new TypeError('--kubeconfig: expected a kubeconfig file, got an empty value');
    if (a.configDir) throw new TypeError('--kubeconfig and --config-dir are two modes: the mesh goes either into a cluster or into a config dir, not both');
  } else {
    if (a.namespacePrefix !== undefined) throw new TypeError('--namespace-prefix is for Kubernetes mode: give --kubeconfig too');
    if (a.allowRemoteCluster) throw new TypeError('--allow-remote-cluster is for Kubernetes mode: give --kubeconfig too');
  }
  if (a.namespacePrefix !== undefined && a.namespacePrefix !== '' && !/^[a-z0-9][-a-z0-9]{0,39}$/.test(a.namespacePrefix)) {
    throw new TypeError(`--namespace-prefix: expected lower-case letters, digits and '-' starting with a letter or digit, at most 40 characters (namespace names are DNS labels), got '${a.namespacePrefix}'`);
  }
  if (a.target && !a.configDir && !a.kubeconfig) throw new TypeError('--target needs --config-dir (or --kubeconfig): the load tester drives the server through its config dir or its cluster');
  if (a.configDir && !a.target) throw new TypeError('--config-dir is for a running server: give --target too (without both, the server is spawned with its own dir)');
  if (a.target && !/^(127\.0\.0\.1|localhost|\[::1\]):\d+$/.test(a.target)) throw new TypeError(`--target: expected a loopback host:port such as 127.0.0.1:15010, got '${a.target}'`);
  return a;
}

/** Exit code: 0 when the run completed and every check passed, 1 when a check failed, 2 on usage or run errors. */
export async function loadTestMain(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(LOAD_TEST_HELP);
    return 0;
  }
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`istiod-ts load-test: ${(e as Error).message}\n`);
    return 2;
  }
  if (args.compare) {
    try {
      process.stdout.write(compareTable(readResult(args.compare[0]), readResult(args.compare[1]), args.compare));
      return 0;
    } catch (e) {
      process.stderr.write(`istiod-ts load-test --compare: ${(e as Error).message}\n`);
      return 2;
    }
  }
  if (args.report) {
    try {
      const html = args.html ?? defaultHtmlPath(args.report);
      fs.writeFileSync(html, renderReport(readResult(args.report)));
      process.stdout.write(`report: ${html}\n`);
      return 0;
    } catch (e) {
      process.stderr.write(`istiod-ts load-test --report: ${(e as Error).message}\n`);
      return 2;
    }
  }
  const loaded = loadScenario(args.scenario!);
  if (!loaded.ok) {
    process.stderr.write(`istiod-ts load-test: invalid scenario\n${loaded.errors.map((e) => `  ${e}`).join('\n')}\n`);
    return 2;
  }
  const tty = process.stderr.isTTY;
  let lastPrinted = 0;
  // Ctrl-C / SIGTERM: stop the run and clean up (the spawned server, the workers, and in
  // Kubernetes mode the objects written); a second one exits at once
  const interrupt = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupt.signal.aborted) process.exit(130);
    process.stderr.write(`\n${signal}: stopping the run and cleaning up (again to quit at once)\n`);
    interrupt.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const result = await runLoadTest({
      signal: interrupt.signal,
      scenario: loaded.value,
      target: args.target,
      configDir: args.configDir,
      kubeconfig: args.kubeconfig,
      namespacePrefix: args.namespacePrefix,
      allowRemoteCluster: args.allowRemoteCluster,
      monitoringAddr: args.monitoring,
      workers: args.workers,
      keep: args.keep,
      floor: !args.noFloor,
      info: (line) => process.stderr.write(`${tty ? '\r\x1b[2K' : ''}${line}\n`),
      progress: (line, final) => {
        if (tty) { process.stderr.write(`\r\x1b[2K${line}${final ? '\n' : ''}`); return; }
        // not a terminal (CI logs): one line every 5 s
        if (final || Date.now() - lastPrinted >= 5000) { lastPrinted = Date.now(); process.stderr.write(line + '\n'); }
      },
    });
    fs.writeFileSync(args.out, JSON.stringify(result, null, 2) + '\n');
    process.stdout.write('\n' + summaryTable(result));
    const html = args.html ?? defaultHtmlPath(args.out);
    fs.writeFileSync(html, renderReport(result));
    process.stdout.write(`\nresult: ${args.out}\nreport: ${html}\n`);
    const c = result.checks;
    return c.allConnected && c.everyChangeConverged && c.zeroNacks && result.floor?.complete !== false ? 0 : 1;
  } catch (e) {
    process.stderr.write(`\nistiod-ts load-test: ${e instanceof Error ? e.message : String(e)}\n`);
    return 2;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
