/**
 * AuthorizationPolicy end to end with the real proxyless gRPC server library: a grpc-js-xds
 * `XdsServer` fetches its listener `xds.istio.io/grpc/lds/inbound/127.0.0.1:<port>` from our ADS
 * server and enforces the RBAC filters in it (grpc-js-xds implements RBAC behind
 * GRPC_XDS_EXPERIMENTAL_RBAC=true, as Istio's grpc-agent template sets it). A DENY on one method
 * makes that method fail with PERMISSION_DENIED while the other method works; replacing it with an
 * ALLOW for that method lets it through (and, ALLOW being exclusive, now denies the other one).
 *
 * Under STRICT PeerAuthentication the server's listener is mTLS from the bootstrap's
 * `file_watcher` certificate provider, with certificates issued by our CA: a client presenting a
 * CA-issued workload certificate gets through, a plaintext client is refused, and an ALLOW on
 * `principals` admits exactly the peer whose SPIFFE identity it names. (The client here is plain
 * grpc-js with those certificates: proxyless client clusters carry no TLS yet, see clusters.ts.)
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { setLogSink } from '../../src/main/log';
import { startTestServer, freePort } from '../helpers/server';
import { BOOTSTRAP_OPTION, grpcBootstrap } from '../helpers/xds-bootstrap';
import { callEcho, echoMethod, greeterMeshYaml } from '../helpers/grpc-echo';
import { waitFor } from '../helpers/wait-for';
import { teardown } from '../helpers/teardown';
import { tempDir } from '../helpers/server';
import { CertificateAuthority } from '../../src/main/ca/certificate-authority';
import { CaPool } from '../../src/main/ca/ca-pool';
import { loadConfig } from '../../src/main/config';
import { signCsr } from '../../src/workers/ca/sign-csr';
import { makeCsr } from '../helpers/ca-client';

// grpc-js-xds reads its feature flags when first loaded: enable RBAC before requiring it.
process.env['GRPC_XDS_EXPERIMENTAL_RBAC'] = 'true';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const xds = require('@grpc/grpc-js-xds') as typeof import('@grpc/grpc-js-xds');
xds.register();

const NS = 'apps';

const meshYaml = (port: number): string => greeterMeshYaml(NS, port);

const DENY_ADMIN = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: ${NS}}
spec:
  selector: {matchLabels: {app: greeter}}
  action: DENY
  rules:
  - to: [{operation: {paths: ["/test.Echo/Admin"]}}]
`;

const ALLOW_ADMIN = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-admin, namespace: ${NS}}
spec:
  selector: {matchLabels: {app: greeter}}
  action: ALLOW
  rules:
  - to: [{operation: {paths: ["/test.Echo/Admin"], methods: ["POST"]}}]
`;

/** One unary call on a fresh connection; resolves to the reply or the gRPC status code. */
const call = (port: number, name: string) => callEcho(new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()), name);

test('grpc-js-xds XdsServer enforces AuthorizationPolicy: DENY a method → PERMISSION_DENIED, then an ALLOW lets it through', { timeout: 60_000 }, async (t) => {
  const closeLater = teardown(t);
  const restore = setLogSink(() => undefined);
  closeLater(restore);
  const port = await freePort();
  const server = await startTestServer({ files: { 'greeter.yaml': meshYaml(port), 'authz.yaml': DENY_ADMIN } });
  closeLater(() => server.close());

  const xdsServer = new xds.XdsServer({ [BOOTSTRAP_OPTION]: grpcBootstrap(server.grpcTarget, { podName: 'greeter-0', namespace: NS, ip: '127.0.0.1' }) } as grpc.ServerOptions);
  xdsServer.addService({ Who: echoMethod('Who'), Admin: echoMethod('Admin') }, {
    Who: (_c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from('who')),
    Admin: (_c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from('admin')),
  });
  // Resolves once the server listener arrived and the port is serving (A36: not before).
  await new Promise<void>((resolve, reject) => xdsServer.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  closeLater(() => new Promise<void>((resolve) => xdsServer.tryShutdown(() => resolve())));

  // The server asked for its inbound listener by Istio's name and ACKed it.
  const conn = [...server.discovery.ads.connections.values()].find((c) => c.proxy.id.includes('greeter-0'));
  assert.ok(conn, 'the XdsServer connected');
  const lds = conn.watches.get('type.googleapis.com/envoy.config.listener.v3.Listener');
  assert.ok(lds?.names.has(`xds.istio.io/grpc/lds/inbound/127.0.0.1:${port}`), `requested ${[...(lds?.names ?? [])].join(', ')}`);

  await waitFor(async () => (await call(port, 'Admin')) === grpc.status.PERMISSION_DENIED, 20_000, 'Admin to be denied');
  assert.equal(await call(port, 'Who'), 'who', 'the other method is served');
  assert.equal(await call(port, 'Admin'), grpc.status.PERMISSION_DENIED);

  // Replace the DENY with an ALLOW for Admin: Admin goes through; Who, not allowed by any rule, is denied.
  fs.rmSync(path.join(server.configDir, 'authz.yaml'));
  fs.writeFileSync(path.join(server.configDir, 'authz-allow.yaml'), ALLOW_ADMIN);
  await waitFor(async () => (await call(port, 'Admin')) === 'admin', 20_000, 'Admin to be allowed');
  assert.equal(await call(port, 'Who'), grpc.status.PERMISSION_DENIED, 'ALLOW policies deny what they do not allow');

  for (const c of server.discovery.ads.connections.values()) {
    for (const w of c.watches.values()) assert.equal(w.lastError, '', `no NACK for ${w.typeUrl}`);
  }
});

/** The signing pool, in-process (the worker's function, no threads). */
const inlinePool: CaPool = { run: async (job) => signCsr(job), stats: () => ({ threads: 0, queueSize: 0, completed: 0, utilization: 0 }), close: async () => {} };

interface Workload { certChain: string; keyPem: string }

async function issue(ca: CertificateAuthority, sa: string): Promise<Workload> {
  const csr = await makeCsr('ec-p256');
  const r = await ca.sign({ csrPem: csr.csrPem, ttlSeconds: 3600, uris: [`spiffe://cluster.local/ns/${NS}/sa/${sa}`] });
  if (!r.ok) assert.fail(`CA refused the CSR: ${JSON.stringify(r)}`);
  return { certChain: r.certChain.join(''), keyPem: csr.keyPem };
}

function tlsClient(root: string, w: Workload): grpc.ChannelCredentials {
  // the server certificate holds a SPIFFE URI, no DNS name: identity is checked by RBAC, not hostname
  return grpc.credentials.createSsl(Buffer.from(root), Buffer.from(w.keyPem), Buffer.from(w.certChain), { checkServerIdentity: () => undefined });
}

function callWith(port: number, creds: grpc.ChannelCredentials, name: string): Promise<string | number> {
  // an SNI of 127.0.0.1 is not allowed (RFC 6066): name the server, its certificate has no DNS name anyway
  return callEcho(new grpc.Client(`127.0.0.1:${port}`, creds, { 'grpc.ssl_target_name_override': 'greeter.apps', 'grpc.default_authority': 'greeter.apps' }), name);
}

const STRICT = `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: ${NS}}
spec: {mtls: {mode: STRICT}}
`;

const ALLOW_CLIENT = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-client, namespace: ${NS}}
spec:
  selector: {matchLabels: {app: greeter}}
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/${NS}/sa/client"]}}]
`;

test('grpc-js-xds XdsServer under STRICT: CA-issued certificates from file_watcher, mTLS call succeeds, plaintext refused, ALLOW on principals', { timeout: 60_000 }, async (t) => {
  const closeLater = teardown(t);
  const restore = setLogSink(() => undefined);
  closeLater(restore);
  const stateDir = tempDir('authz-ca-');
  closeLater(() => fs.rmSync(stateDir, { recursive: true, force: true }));
  const ca = await CertificateAuthority.start({
    config: { ...loadConfig([], { ROOT_CA_DIR: '', CITADEL_SELF_SIGNED_ROOT_CERT_CHECK_INTERVAL: '0' }).ca }, trustDomain: 'cluster.local', stateDir, pool: inlinePool,
  });
  closeLater(() => ca.close());
  const root = ca.bundle.caCertPem;
  const greeter = await issue(ca, 'greeter');
  const client = await issue(ca, 'client');
  const other = await issue(ca, 'other');
  // The agent's OUTPUT_CERTS layout, read by the file_watcher certificate provider.
  const certs = tempDir('authz-certs-');
  closeLater(() => fs.rmSync(certs, { recursive: true, force: true }));
  fs.writeFileSync(path.join(certs, 'cert-chain.pem'), greeter.certChain);
  fs.writeFileSync(path.join(certs, 'key.pem'), greeter.keyPem);
  fs.writeFileSync(path.join(certs, 'root-cert.pem'), root);

  const port = await freePort();
  const server = await startTestServer({ files: { 'greeter.yaml': meshYaml(port), 'strict.yaml': STRICT, 'authz.yaml': ALLOW_CLIENT } });
  closeLater(() => server.close());
  const bootstrap = JSON.parse(grpcBootstrap(server.grpcTarget, { podName: 'greeter-0', namespace: NS, ip: '127.0.0.1' })) as Record<string, unknown>;
  bootstrap['certificate_providers'] = {
    default: {
      plugin_name: 'file_watcher',
      config: { certificate_file: path.join(certs, 'cert-chain.pem'), private_key_file: path.join(certs, 'key.pem'), ca_certificate_file: path.join(certs, 'root-cert.pem'), refresh_interval: '900s' },
    },
  };
  const xdsServer = new xds.XdsServer({ [BOOTSTRAP_OPTION]: JSON.stringify(bootstrap) } as grpc.ServerOptions);
  xdsServer.addService({ Who: echoMethod('Who'), Admin: echoMethod('Admin') }, {
    Who: (_c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from('who')),
    Admin: (_c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from('admin')),
  });
  await new Promise<void>((resolve, reject) => xdsServer.bindAsync(`127.0.0.1:${port}`, new xds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()), (err) => (err ? reject(err) : resolve())));
  closeLater(() => new Promise<void>((resolve) => xdsServer.tryShutdown(() => resolve())));

  await waitFor(async () => (await callWith(port, tlsClient(root, client), 'Who')) === 'who', 20_000, 'an mTLS call from sa/client to succeed');
  assert.equal(await callWith(port, tlsClient(root, other), 'Who'), grpc.status.PERMISSION_DENIED, 'sa/other is not a principal the ALLOW names');
  assert.equal(await callWith(port, grpc.credentials.createInsecure(), 'Who'), grpc.status.UNAVAILABLE, 'a plaintext call is refused under STRICT');

  for (const c of server.discovery.ads.connections.values()) {
    for (const w of c.watches.values()) assert.equal(w.lastError, '', `no NACK for ${w.typeUrl}`);
  }
});
