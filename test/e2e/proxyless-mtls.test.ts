/**
 * Proxyless gRPC mTLS end to end with grpc-js-xds on both sides. The server is an `XdsServer` with
 * `XdsServerCredentials` under a STRICT PeerAuthentication (its listener's mTLS chain reads the
 * bootstrap's `file_watcher` certificate provider); the client is a grpc-js-xds channel
 * `xds:///greeter.apps.svc.cluster.local:7070` with `XdsChannelCredentials` whose bootstrap's
 * `file_watcher` provider holds a certificate our CA issued for spiffe://cluster.local/ns/apps/sa/client.
 *
 * - A DestinationRule ISTIO_MUTUAL for the server's host gives the client's cluster an
 *   UpstreamTlsContext (grpcgen applyTLS): the call succeeds over mTLS, the server's handler sees
 *   the client's SPIFFE identity in the peer certificate, and an AuthorizationPolicy ALLOW on that
 *   principal admits it while another CA-issued identity is denied.
 * - Without the DestinationRule the client's cluster is plaintext (grpcgen has no auto mTLS for
 *   gRPC clients) and the call fails against the STRICT server.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { setLogSink } from '../../src/main/log';
import { startTestServer, freePort, tempDir } from '../helpers/server';
import { BOOTSTRAP_OPTION, grpcBootstrap } from '../helpers/xds-bootstrap';
import { callEcho, echoMethod, greeterMeshYaml } from '../helpers/grpc-echo';
import { waitFor } from '../helpers/wait-for';
import { teardown } from '../helpers/teardown';
import { issueWorkloadIdentity, startTestCa, WorkloadIdentity } from '../helpers/sds-agent';

// grpc-js-xds reads its feature flags when first loaded: enable RBAC before requiring it.
process.env['GRPC_XDS_EXPERIMENTAL_RBAC'] = 'true';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const xds = require('@grpc/grpc-js-xds') as typeof import('@grpc/grpc-js-xds');
xds.register();

const NS = 'apps';
const HOST = `greeter.${NS}.svc.cluster.local`;
const CLIENT_IP = '127.0.0.9';

function meshYaml(port: number): string {
  return `${greeterMeshYaml(NS, port)}---
apiVersion: v1
kind: Pod
metadata: {name: client-0, namespace: ${NS}, labels: {app: client}}
spec: {serviceAccountName: client, containers: [{name: client, image: client}]}
status: {podIP: ${CLIENT_IP}}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: ${NS}}
spec: {mtls: {mode: STRICT}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-client, namespace: ${NS}}
spec:
  selector: {matchLabels: {app: greeter}}
  action: ALLOW
  rules:
  - from: [{source: {principals: ["cluster.local/ns/${NS}/sa/client"]}}]
`;
}

const ISTIO_MUTUAL = `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: greeter, namespace: ${NS}}
spec:
  host: ${HOST}
  trafficPolicy:
    tls: {mode: ISTIO_MUTUAL}
`;

/** The agent's OUTPUT_CERTS layout for one identity, read by the `file_watcher` certificate provider. */
function writeCerts(dir: string, w: WorkloadIdentity): Record<string, string> {
  fs.mkdirSync(dir, { recursive: true });
  const files = { certificate_file: path.join(dir, 'cert-chain.pem'), private_key_file: path.join(dir, 'key.pem'), ca_certificate_file: path.join(dir, 'root-cert.pem') };
  fs.writeFileSync(files.certificate_file, w.certChainPem);
  fs.writeFileSync(files.private_key_file, w.keyPem);
  fs.writeFileSync(files.ca_certificate_file, w.rootPem);
  return files;
}

function bootstrapWithCerts(target: string, node: { podName: string; ip: string }, certFiles: Record<string, string>): string {
  const b = JSON.parse(grpcBootstrap(target, { podName: node.podName, namespace: NS, ip: node.ip })) as Record<string, unknown>;
  b['certificate_providers'] = { default: { plugin_name: 'file_watcher', config: { ...certFiles, refresh_interval: '900s' } } };
  return JSON.stringify(b);
}

/** One unary call on a fresh xDS channel; resolves to the reply or the gRPC status code. */
function xdsCall(bootstrap: string, name: string): Promise<string | number> {
  return callEcho(new grpc.Client(`xds:///${HOST}:7070`, new xds.XdsChannelCredentials(grpc.credentials.createInsecure()), { [BOOTSTRAP_OPTION]: bootstrap } as grpc.ChannelOptions), name);
}

test('proxyless mTLS: DestinationRule ISTIO_MUTUAL → grpc-js-xds client reaches a STRICT XdsServer with CA-issued file_watcher certificates; without it the plaintext call fails', { timeout: 90_000 }, async (t) => {
  const closeLater = teardown(t);
  const restore = setLogSink(() => undefined);
  closeLater(restore);
  const ca = await startTestCa();
  closeLater(() => ca.close());
  const certs = tempDir('proxyless-mtls-');
  closeLater(() => fs.rmSync(certs, { recursive: true, force: true }));
  const greeterId = await issueWorkloadIdentity(ca, NS, 'greeter');
  const clientId = await issueWorkloadIdentity(ca, NS, 'client');
  const otherId = await issueWorkloadIdentity(ca, NS, 'other');

  const port = await freePort();
  const server = await startTestServer({ files: { 'greeter.yaml': meshYaml(port), 'dr.yaml': ISTIO_MUTUAL } });
  closeLater(() => server.close());

  const xdsServer = new xds.XdsServer({ [BOOTSTRAP_OPTION]: bootstrapWithCerts(server.grpcTarget, { podName: 'greeter-0', ip: '127.0.0.1' }, writeCerts(path.join(certs, 'greeter'), greeterId)) } as grpc.ServerOptions);
  xdsServer.addService({ Who: echoMethod('Who') }, {
    // the peer as the server's TLS saw it: the client certificate's SANs
    Who: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const auth = call.getAuthContext();
      cb(null, Buffer.from(`${auth.transportSecurityType ?? 'none'} ${auth.sslPeerCertificate?.subjectaltname ?? ''}`));
    },
  });
  await new Promise<void>((resolve, reject) => xdsServer.bindAsync(`127.0.0.1:${port}`, new xds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()), (err) => (err ? reject(err) : resolve())));
  closeLater(() => new Promise<void>((resolve) => xdsServer.tryShutdown(() => resolve())));

  const clientBootstrap = bootstrapWithCerts(server.grpcTarget, { podName: 'client-0', ip: CLIENT_IP }, writeCerts(path.join(certs, 'client'), clientId));
  const otherBootstrap = bootstrapWithCerts(server.grpcTarget, { podName: 'client-0', ip: CLIENT_IP }, writeCerts(path.join(certs, 'other'), otherId));

  // ISTIO_MUTUAL: mTLS with the client's CA-issued certificate; the server saw its SPIFFE identity
  const reply = await waitFor(async () => { const r = await xdsCall(clientBootstrap, 'Who'); return typeof r === 'string' ? r : undefined; }, 30_000, 'an mTLS call from sa/client to succeed');
  assert.equal(reply, `ssl URI:${clientId.id}`);
  // the ALLOW on principals admits exactly that identity: another CA-issued one is denied by RBAC
  assert.equal(await xdsCall(otherBootstrap, 'Who'), grpc.status.PERMISSION_DENIED, 'sa/other is not a principal the ALLOW names');

  // the client asked for the cluster by Istio's name and ACKed it (with its UpstreamTlsContext); nothing was NACKed
  const clientConn = [...server.discovery.ads.connections.values()].find((c) => c.proxy.id.includes('client-0'));
  assert.ok(clientConn, 'the xDS client connected');
  const cds = clientConn.watches.get('type.googleapis.com/envoy.config.cluster.v3.Cluster');
  assert.ok(cds?.names.has(`outbound|7070||${HOST}`), `requested ${[...(cds?.names ?? [])].join(', ')}`);
  assert.notEqual(cds?.versionAcked ?? '', '', 'the cluster was ACKed');
  for (const c of server.discovery.ads.connections.values()) {
    for (const w of c.watches.values()) assert.equal(w.lastError, '', `no NACK for ${w.typeUrl} from ${c.proxy.id}`);
  }

  // No DestinationRule: the client's cluster is plaintext, the STRICT server refuses the connection.
  fs.rmSync(path.join(server.configDir, 'dr.yaml'));
  const code = await waitFor(async () => { const r = await xdsCall(clientBootstrap, 'Who'); return typeof r === 'number' ? r : undefined; }, 30_000, 'the plaintext call to fail');
  assert.equal(code, grpc.status.UNAVAILABLE, 'a plaintext call is refused under STRICT');
  assert.equal(await xdsCall(clientBootstrap, 'Who'), grpc.status.UNAVAILABLE);

  // and back: the rule restores mTLS
  fs.writeFileSync(path.join(server.configDir, 'dr.yaml'), ISTIO_MUTUAL);
  assert.equal(await waitFor(async () => { const r = await xdsCall(clientBootstrap, 'Who'); return typeof r === 'string' ? r : undefined; }, 30_000, 'mTLS to come back'), `ssl URI:${clientId.id}`);
  for (const c of server.discovery.ads.connections.values()) {
    for (const w of c.watches.values()) assert.equal(w.lastError, '', `no NACK for ${w.typeUrl} from ${c.proxy.id}`);
  }
});
