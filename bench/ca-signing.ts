/**
 * CA signing throughput (issue 6). Bounded runs; prints tables, asserts nothing.
 *
 *   node dist/bench/ca-signing.js [--ecdsa N] [--rsa N] [--grpc N] [--concurrency C] [--storm N] [--pushes N]
 *
 * 1. Signing pool alone: certificates per second for ECDSA P-256 and RSA CSRs, signed by an RSA
 *    2048 root (Istio's self-signed default) and by an ECDSA P-256 CA (a plug-in CA), with 1 and
 *    2 signing threads. Includes CSR parsing, the CSR signature check and the response chain.
 * 2. Reference: the same job done with @peculiar/x509 + @peculiar/webcrypto end to end (what the
 *    hot path would cost without the fixed DER template), single thread.
 * 3. End to end: CreateCertificate over gRPC + TLS with bearer-token authentication, C calls in
 *    flight, against a real istiod-ts (default ISTIOD_CA_WORKERS). The client runs in a child
 *    process, as workloads would: sharing the server's event loop would charge its gRPC and TLS
 *    costs to the server.
 * 4. Push latency while a CSR storm runs vs without it: N proxies watch CDS over plaintext ADS;
 *    a config change is written and the time until every proxy has its new CDS is measured.
 */
import * as crypto from 'node:crypto';
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as x509 from '@peculiar/x509';
import { Crypto } from '@peculiar/webcrypto';
import { createCaPool } from '../src/main/ca/ca-pool';
import { createSelfSignedRoot } from '../src/main/ca/self-signed-root';
import { MainToCa, SigningMaterial } from '../src/shared/ca/messages';
import { messageType } from '../src/shared/envoy/proto';
import { CLUSTER_TYPE_URL } from '../src/shared/resources';
import { CsrKeyKind, createCertificate, makeCsr, startCaServer, tlsChannel, tokenFor } from '../test/helpers/ca-client';
import { int, ms, option, table } from './common';

const H = 3600_000;

async function csrs(kind: CsrKeyKind, distinct: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < distinct; i++) out.push((await makeCsr(kind)).csrPem);
  return out;
}

async function rsaRootMaterial(): Promise<SigningMaterial> {
  const r = await createSelfSignedRoot({ org: 'cluster.local', ttlMs: 10 * 365 * 24 * H, rsaKeySize: 2048, nowMs: Date.now() });
  return { version: 1, caCertPem: r.certPem, caKeyPem: r.keyPem, certChainPem: '', rootBundlePem: r.certPem };
}

async function ecCaMaterial(): Promise<SigningMaterial> {
  const wc = crypto.webcrypto;
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await wc.subtle.generateKey(alg, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01', name: 'O=cluster.local', keys, signingAlgorithm: alg, notAfter: new Date(Date.now() + 365 * 24 * H),
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true), await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as never, false, wc as never)],
  } as never, wc as never);
  const keyPem = crypto.createPrivateKey({ key: Buffer.from(await wc.subtle.exportKey('pkcs8', keys.privateKey)), format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }) as string;
  const pem = cert.toString('pem') + '\n';
  return { version: 2, caCertPem: pem, caKeyPem: keyPem, certChainPem: '', rootBundlePem: pem };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;
}

async function poolRun(threads: number, material: SigningMaterial, pems: string[], n: number): Promise<{ rate: number; p50: number; p99: number }> {
  const pool = createCaPool(threads);
  const job = (i: number): MainToCa => ({ id: i, material, csrPem: pems[i % pems.length]!, requestedTtlSeconds: 0, defaultTtlMs: 24 * H, maxTtlMs: 2160 * H, uris: ['spiffe://cluster.local/ns/default/sa/sleep'], nowMs: Date.now() });
  await Promise.all(Array.from({ length: threads * 20 }, (_, i) => pool.run(job(i)))); // warm up (JIT, key cache)
  const lat: number[] = [];
  const t0 = performance.now();
  await Promise.all(Array.from({ length: n }, async (_, i) => {
    const s = performance.now();
    const r = await pool.run(job(i));
    if (!r.ok) throw new Error(r.error.message);
    lat.push(performance.now() - s);
  }));
  const wall = performance.now() - t0;
  await pool.close();
  lat.sort((a, b) => a - b);
  return { rate: (n / wall) * 1000, p50: pct(lat, 50), p99: pct(lat, 99) };
}

/** The whole job with @peculiar/x509 over @peculiar/webcrypto, for comparison. */
async function libraryPath(material: SigningMaterial, pems: string[], n: number): Promise<number> {
  const wc = new Crypto();
  x509.cryptoProvider.set(wc as never);
  const key = crypto.createPrivateKey(material.caKeyPem);
  const rsa = key.asymmetricKeyType === 'rsa';
  const alg = rsa ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const signingKey = await wc.subtle.importKey('pkcs8', key.export({ format: 'der', type: 'pkcs8' }), alg, false, ['sign']);
  const issuer = new x509.X509Certificate(material.caCertPem);
  const one = async (i: number) => {
    const csr = new x509.Pkcs10CertificateRequest(pems[i % pems.length]!);
    if (!(await csr.verify())) throw new Error('csr');
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: crypto.randomBytes(16).toString('hex'), issuer: issuer.subject, notBefore: new Date(), notAfter: new Date(Date.now() + 24 * H),
      publicKey: csr.publicKey, signingKey, signingAlgorithm: alg,
      extensions: [
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']),
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'spiffe://cluster.local/ns/default/sa/sleep' }], true),
      ],
    } as never);
    return cert.toString('pem');
  };
  for (let i = 0; i < 20; i++) await one(i);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await one(i);
  return (n / (performance.now() - t0)) * 1000;
}

interface ClientJob { target: string; rootPem: string; token: string; n: number; concurrency: number; pems: string[] }
interface ClientResult { rate: number; p50: number; p99: number; failures: number }

/** Child-process side: run `n` CreateCertificate calls, `concurrency` in flight; print the result as JSON. */
async function clientMode(file: string): Promise<void> {
  const job = JSON.parse(fs.readFileSync(file, 'utf8')) as ClientJob;
  const client = tlsChannel(job.target, { rootPem: job.rootPem });
  for (let i = 0; i < 10; i++) await createCertificate(client, { csr: job.pems[i % job.pems.length]! }, job.token);
  const lat: number[] = [];
  let next = 0;
  let failures = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: job.concurrency }, async () => {
    while (next < job.n) {
      const i = next++;
      const st = performance.now();
      const r = await createCertificate(client, { csr: job.pems[i % job.pems.length]! }, job.token, 120_000);
      if (!r.ok) failures++;
      lat.push(performance.now() - st);
    }
  }));
  const wall = performance.now() - t0;
  client.close();
  lat.sort((a, b) => a - b);
  const out: ClientResult = { rate: (job.n / wall) * 1000, p50: pct(lat, 50), p99: pct(lat, 99), failures };
  process.stdout.write(JSON.stringify(out));
}

/** Run the client in a child process; resolves with its result. */
function runClient(job: ClientJob): Promise<ClientResult> {
  const file = path.join(os.tmpdir(), `ca-bench-${process.pid}-${Date.now()}.json`);
  fs.writeFileSync(file, JSON.stringify(job));
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['--client', file], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    let out = '';
    child.stdout!.on('data', (d) => { out += d; });
    child.on('exit', (code) => {
      fs.rmSync(file, { force: true });
      if (code !== 0) reject(new Error(`bench client exited ${code}`));
      else resolve(JSON.parse(out) as ClientResult);
    });
  });
}

async function grpcRun(n: number, concurrency: number, pems: string[], env: Record<string, string> = {}): Promise<ClientResult & { workers: number }> {
  const s = await startCaServer({ env });
  try {
    const r = await runClient({ target: s.secureTarget, rootPem: s.roots(), token: tokenFor(s.signer, 'default', 'sleep'), n, concurrency, pems });
    return { ...r, workers: s.discovery.config.ca.workers };
  } finally {
    await s.close();
  }
}

// ---- push latency under a CSR storm --------------------------------------------------------------

const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';

function serviceYaml(i: number, port: number): string {
  return `apiVersion: v1\nkind: Service\nmetadata: {name: svc-${i}, namespace: default}\nspec:\n  ports: [{name: http, port: ${port}, targetPort: 8080}]\n  selector: {app: svc-${i}}\n`;
}

async function pushLatency(proxies: number, changes: number, stormCsrs: number, pems: string[]): Promise<{ p50: number; p99: number; max: number; stormRate?: number }> {
  // A change every ~250 ms while the storm runs; the storm must outlast the changes to matter.
  const files: Record<string, string> = {};
  for (let i = 0; i < 20; i++) files[`svc-${i}.yaml`] = serviceYaml(i, 80);
  // Admission (PILOT_MAX_REQUESTS_PER_SECOND) would pace the initial connects; not what is measured here.
  const s = await startCaServer({ files, env: { PILOT_MAX_REQUESTS_PER_SECOND: '100000', PILOT_PUSH_BURST: '100000' } });
  const within = <T>(p: Promise<T>, what: string): Promise<T> => Promise.race([p, new Promise<T>((_, rej) => setTimeout(() => rej(new Error(`bench: ${what} took over 60 s`)), 60_000).unref())]);
  const req = messageType('envoy.service.discovery.v3.DiscoveryRequest');
  const res = messageType('envoy.service.discovery.v3.DiscoveryResponse');
  const plain = new grpc.Client(s.grpcTarget, grpc.credentials.createInsecure());
  const waiters: Array<(() => void) | undefined> = [];
  const streams = Array.from({ length: proxies }, (_, p) => {
    const call = plain.makeBidiStreamRequest(ADS, (m: object) => Buffer.from(req.encode(req.fromObject(m)).finish()), (b: Buffer) => res.toObject(res.decode(b)) as { nonce: string; version_info: string });
    call.on('error', () => {});
    call.on('data', (r: { nonce: string; version_info: string }) => {
      call.write({ type_url: CLUSTER_TYPE_URL, version_info: r.version_info, response_nonce: r.nonce }); // ACK
      const w = waiters[p];
      waiters[p] = undefined;
      w?.();
    });
    return call;
  });
  const firsts = streams.map((_, p) => new Promise<void>((r) => { waiters[p] = r; }));
  streams.forEach((call, p) => call.write({ type_url: CLUSTER_TYPE_URL, node: { id: `sidecar~10.0.${p >> 8}.${p & 255}~p${p}.default~default.svc.cluster.local` } }));
  await within(Promise.all(firsts), 'initial CDS to every proxy');

  let stormDone: Promise<ClientResult> | undefined;
  if (stormCsrs > 0) {
    stormDone = runClient({ target: s.secureTarget, rootPem: s.roots(), token: tokenFor(s.signer, 'default', 'sleep'), n: stormCsrs, concurrency: 256, pems });
    await new Promise((r) => setTimeout(r, 1000)); // let the storm build up (child start + warm-up)
  }
  const lat: number[] = [];
  for (let c = 0; c < changes; c++) {
    const all = streams.map((_, p) => new Promise<void>((r) => { waiters[p] = r; }));
    const t0 = performance.now();
    fs.writeFileSync(path.join(s.discovery.config.configDir, `svc-${c % 20}.yaml`), serviceYaml(c % 20, 1000 + c));
    await within(Promise.all(all), 'a push to every proxy');
    lat.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 250));
  }
  const stormRate = stormDone ? (await stormDone).rate : undefined;
  for (const call of streams) call.cancel();
  plain.close();
  await s.close();
  lat.sort((a, b) => a - b);
  return { p50: pct(lat, 50), p99: pct(lat, 99), max: lat[lat.length - 1]!, stormRate };
}

async function main(): Promise<void> {
  const nEc = option('ecdsa', 4000);
  const nRsa = option('rsa', 2000);
  const nGrpc = option('grpc', 3000);
  const conc = option('concurrency', 64);
  const storm = option('storm', 10_000);
  const proxies = option('proxies', 100);
  const changes = option('pushes', 10);
  const only = process.argv.includes('--sections') ? process.argv[process.argv.indexOf('--sections') + 1]!.split(',') : ['1', '2', '3', '4'];
  console.log(`# CA signing (node ${process.version}, ${os.availableParallelism()} cores)\n`);
  const ec256 = await csrs('ec-p256', 64);
  const rsa2048 = await csrs('rsa-2048', 16);
  const rsa4096 = await csrs('rsa-4096', 4);
  const rsaRoot = await rsaRootMaterial();
  const ecCa = await ecCaMaterial();

  const rows: Array<Array<string | number>> = [];
  if (only.includes('1')) for (const [caName, material] of [['RSA 2048 root (self-signed default)', rsaRoot], ['ECDSA P-256 CA (plug-in)', ecCa]] as const) {
    for (const [csrName, pems, n] of [['ECDSA P-256', ec256, nEc], ['RSA 2048', rsa2048, nRsa], ['RSA 4096', rsa4096, Math.ceil(nRsa / 2)]] as const) {
      for (const threads of [1, 2]) {
        const r = await poolRun(threads, material, pems, n);
        rows.push([caName, csrName, threads, int(n), int(r.rate), ms(r.p50), ms(r.p99)]);
      }
    }
  }
  if (only.includes('1')) console.log('## 1. Signing pool (CSR parse + verify + sign + chain; latency includes pool queueing)\n');
  if (only.includes('1')) console.log(table(['CA key', 'CSR key', 'threads', 'CSRs', 'certs/s', 'p50 ms', 'p99 ms'], rows, ['l', 'l', 'r', 'r', 'r', 'r', 'r']));

  if (only.includes('2')) {
    const lib = [
      ['RSA 2048 root', 'ECDSA P-256', int(await libraryPath(rsaRoot, ec256, 500))],
      ['ECDSA P-256 CA', 'ECDSA P-256', int(await libraryPath(ecCa, ec256, 500))],
    ];
    console.log('\n## 2. Reference: @peculiar/x509 + @peculiar/webcrypto for the whole job, 1 thread, in-process\n');
    console.log(table(['CA key', 'CSR key', 'certs/s'], lib, ['l', 'l', 'r']));
  }

  const g: Array<Array<string | number>> = [];
  if (only.includes('3')) for (const [name, pems, n] of [['ECDSA P-256', ec256, nGrpc], ['RSA 2048', rsa2048, Math.ceil(nGrpc / 2)]] as const) {
    for (const workers of ['1', '2']) {
      const r = await grpcRun(n, conc, pems, { ISTIOD_CA_WORKERS: workers });
      g.push([name, r.workers, conc, int(n), int(r.rate), ms(r.p50), ms(r.p99), r.failures]);
    }
  }
  if (only.includes('3')) console.log(`\n## 3. End to end: CreateCertificate over gRPC + TLS, JWT auth, RSA 2048 root, client in a child process\n`);
  if (only.includes('3')) console.log(table(['CSR key', 'CA workers', 'in flight', 'CSRs', 'certs/s', 'p50 ms', 'p99 ms', 'failed'], g, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']));

  if (!only.includes('4')) return;
  const quiet = await pushLatency(proxies, changes, 0, ec256);
  const stormy = await pushLatency(proxies, changes, storm, ec256);
  console.log(`\n## 4. Config push to ${proxies} ADS proxies (write → every proxy has new CDS), ${changes} changes each\n`);
  console.log(table(['condition', 'p50 ms', 'p99 ms', 'max ms', 'storm certs/s'], [
    ['no CSRs', ms(quiet.p50), ms(quiet.p99), ms(quiet.max), '-'],
    [`${int(storm)}-CSR storm (ECDSA, 256 in flight)`, ms(stormy.p50), ms(stormy.p99), ms(stormy.max), int(stormy.stormRate ?? 0)],
  ], ['l', 'r', 'r', 'r', 'r']));
}

const clientArg = process.argv.indexOf('--client');
(clientArg >= 0 ? clientMode(process.argv[clientArg + 1]!) : main()).then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
