/**
 * Scoped JSON logs: `--log_output_level model:debug,ads:info,push:info,default:warn` sets levels per scope at
 * start, and PUT /scopej/<scope> changes one at run time.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseLogOutputLevel, setLogLevels, setLogSink } from '../../src/main/log';
import { httpGet, request, SimProxies, startOpsServer } from '../helpers/ops';
import { teardown } from '../helpers/teardown';
import { waitFor } from '../helpers/wait-for';

test('--log_output_level syntax', () => {
  assert.deepEqual(parseLogOutputLevel('ads:debug,push:info'), { default: undefined, scopes: { ads: 'debug', push: 'info' } });
  assert.deepEqual(parseLogOutputLevel('warn'), { default: 'warn', scopes: {} });
  assert.deepEqual(parseLogOutputLevel('default:error, ca:none'), { default: 'error', scopes: { ca: 'none' } });
  assert.throws(() => parseLogOutputLevel('ads:loud'), /--log_output_level: unknown level 'loud' in 'ads:loud'/);
});

test('levels per scope from the flag, then changed at run time through /scopej', async (t) => {
  const onClose = teardown(t);
  const lines: Array<Record<string, unknown>> = [];
  onClose(setLogSink((l) => lines.push(JSON.parse(l))));
  onClose(() => setLogLevels({ default: 'error', scopes: { ads: 'error', push: 'error', model: 'error' } }));
  const srv = await startOpsServer({ flags: ['--log_output_level', 'model:debug,ads:info,push:info,default:warn'] });
  onClose(() => srv.close());
  const sims = new SimProxies(srv.grpcTarget, 1).start();
  onClose(() => sims.stop());
  await waitFor(() => lines.some((l) => l['scope'] === 'ads' && l['msg'] === 'stream opened'), 10_000, 'ads info lines');
  assert.ok(lines.some((l) => l['scope'] === 'model' && l['level'] === 'debug' && l['msg'] === 'config file loaded'), 'model at debug');
  for (const l of lines) {
    assert.equal(typeof l['time'], 'string');
    assert.equal(typeof l['msg'], 'string');
    if (l['scope'] === 'push' || l['scope'] === 'ads') assert.notEqual(l['level'], 'debug', `${l['scope']} stays at info`);
    if (l['scope'] === 'default' || l['scope'] === 'http') assert.ok(l['level'] === 'warn' || l['level'] === 'error', JSON.stringify(l));
  }
  const scopes = (await httpGet(`${srv.http}/scopej`)).json<Array<{ name: string; output_level: string }>>();
  assert.deepEqual(scopes.filter((s) => ['ads', 'push', 'default'].includes(s.name)).map((s) => [s.name, s.output_level]),
    [['default', 'warn'], ['ads', 'info'], ['push', 'info']]);

  // push:debug at run time: the next push logs at debug
  const r = await request('PUT', `${srv.http}/scopej/push`, '{"output_level":"debug"}');
  assert.equal(r.status, 200);
  const mark = lines.length;
  const pushed = srv.discovery.pushed();
  fs.writeFileSync(path.join(srv.configDir, 'log.yaml'), 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: log, namespace: bookinfo}\n' +
    'spec: {hosts: [log.example.com], ports: [{number: 443, name: tls, protocol: TLS}], resolution: DNS, location: MESH_EXTERNAL}\n');
  await pushed;
  assert.ok(lines.slice(mark).some((l) => l['scope'] === 'push' && l['level'] === 'debug' && l['msg'] === 'snapshot published'), 'push debug lines after the change');
  assert.ok(!lines.slice(mark).some((l) => l['scope'] === 'ads' && l['level'] === 'debug'), 'ads stays at info');
});
