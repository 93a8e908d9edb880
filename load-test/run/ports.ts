/** Ports for servers whose address must be known before they start (the server under test, test peers). */
import * as fs from 'node:fs';
import * as net from 'node:net';

/**
 * A port that was free a moment ago on every address (for servers and Envoy listeners whose port must
 * be known before they start). It is drawn at random from below the kernel's ephemeral range: a port
 * the kernel hands out (`listen(0)`) is also what it gives the next outbound connection's local end, so
 * between this call and the real bind any test's client socket could take it (CI saw Envoy's gateway
 * listener fail with "cannot bind '0.0.0.0:45833': Address already in use"). Ports are never handed out
 * twice by one process; the random draw keeps parallel test processes apart.
 */
export async function freePort(): Promise<number> {
  const low = 10_000;
  const high = ephemeralLow() - 1;
  for (let attempt = 0; attempt < 200 && high > low; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (handedOut.has(port) || !(await canBind(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port in ${low}-${high} after 200 tries`);
}

const handedOut = new Set<number>();

function ephemeralLow(): number {
  try {
    const low = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 1024) return low;
  } catch { /* not Linux: the IANA dynamic range */ }
  return 49_152;
}

/** Binding the wildcard address fails if the port is in use on any address (loopback included). */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: '0.0.0.0', exclusive: true }, () => srv.close(() => resolve(true)));
  });
}
