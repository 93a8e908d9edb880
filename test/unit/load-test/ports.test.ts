/** freePort: ports the kernel will not give to an outbound connection, and never the same one twice. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { freePort } from '../../../load-test/run/ports';

const ephemeralLow = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);

test('freePort: below the ephemeral range, distinct, and bindable on the wildcard address', async () => {
  const ports = new Set<number>();
  for (let i = 0; i < 50; i++) ports.add(await freePort());
  assert.equal(ports.size, 50, 'no port handed out twice');
  for (const p of ports) assert.ok(p >= 10_000 && p < ephemeralLow, `${p} is outside 10000-${ephemeralLow - 1}`);
  const port = [...ports][0]!;
  const srv = net.createServer();
  await new Promise<void>((resolve, reject) => { srv.once('error', reject); srv.listen(port, '0.0.0.0', () => resolve()); });
  await new Promise<void>((r) => srv.close(() => r()));
});

test('freePort: skips a port that is in use on loopback (and was not handed out by it)', async (t) => {
  // a port some other process holds: bind one directly, below the ephemeral range
  const srv = net.createServer();
  let busy = 0;
  for (let p = 20_000; !busy; p++) {
    busy = await new Promise<number>((r) => { srv.once('error', () => r(0)); srv.listen(p, '127.0.0.1', () => r(p)); });
  }
  t.after(() => srv.close());
  // the first draw lands on the busy port, the second one above it
  const draws = [(busy - 10_000 + 0.5) / (ephemeralLow - 10_000), (busy + 1 - 10_000 + 0.5) / (ephemeralLow - 10_000)];
  t.mock.method(Math, 'random', () => draws.shift() ?? 0.5);
  const port = await freePort();
  assert.notEqual(port, busy, 'the busy port was handed out');
  assert.equal(port, busy + 1);
});
