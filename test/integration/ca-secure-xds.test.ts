/**
 * ADS on the secure port (issue 6, --secureGRPCAddr): TLS with our serving certificate; with
 * XDS_AUTH the caller authenticates (bearer JWT or mTLS certificate from our CA), and with
 * PILOT_ENABLE_XDS_IDENTITY_CHECK its namespace/service account must match the proxy's.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { messageType } from '../../src/shared/envoy/proto';
import { jsonToStruct } from '../../src/shared/envoy/struct';
import { CLUSTER_TYPE_URL } from '../../src/shared/resources';
import { CaTestServer, createCertificate, makeCsr, startCaServer, tlsChannel, tokenFor } from '../helpers/ca-client';

const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';

type Outcome = { response: { type_url: string } } | { status: grpc.status; details: string };

/** Open one SotW stream, ask for CDS as `ns`/`sa`, and report the first response or the final status. */
function firstCds(client: grpc.Client, opts: { token?: string; ns?: string; sa?: string }): Promise<Outcome> {
  const req = messageType('envoy.service.discovery.v3.DiscoveryRequest');
  const res = messageType('envoy.service.discovery.v3.DiscoveryResponse');
  const md = new grpc.Metadata();
  if (opts.token) md.set('authorization', `Bearer ${opts.token}`);
  const ns = opts.ns ?? 'default';
  const call = client.makeBidiStreamRequest(ADS, (m: object) => Buffer.from(req.encode(req.fromObject(m)).finish()), (b: Buffer) => res.toObject(res.decode(b)) as { type_url: string }, md);
  return new Promise((resolve) => {
    const timer = setTimeout(() => { call.cancel(); resolve({ status: grpc.status.DEADLINE_EXCEEDED, details: 'no answer in 5 s' }); }, 5000);
    call.on('data', (r: { type_url: string }) => { clearTimeout(timer); resolve({ response: r }); call.cancel(); });
    call.on('error', () => {});
    call.on('status', (s: grpc.StatusObject) => { clearTimeout(timer); resolve({ status: s.code, details: s.details }); });
    call.write({
      type_url: CLUSTER_TYPE_URL,
      node: { id: `sidecar~10.0.0.7~app-1.${ns}~${ns}.svc.cluster.local`, metadata: jsonToStruct({ NAMESPACE: ns, ...(opts.sa ? { SERVICE_ACCOUNT: opts.sa } : {}) }) },
    });
  });
}

const ok = (o: Outcome) => 'response' in o && o.response.type_url === CLUSTER_TYPE_URL;
const statusOf = (o: Outcome) => ('status' in o ? o.status : grpc.status.OK);

async function withServer(env: Record<string, string>, fn: (s: CaTestServer, c: grpc.Client) => Promise<void>): Promise<void> {
  const s = await startCaServer({ env });
  const c = tlsChannel(s.secureTarget, { rootPem: s.roots() });
  try { await fn(s, c); } finally { c.close(); await s.close(); }
}

describe('secure xDS', () => {
  it('serves ADS over TLS to a caller whose token matches the proxy namespace and service account', () => withServer({}, async (s, c) => {
    const o = await firstCds(c, { token: tokenFor(s.signer, 'default', 'sleep'), sa: 'sleep' });
    assert.ok(ok(o), JSON.stringify(o));
    const md = await s.discovery.metrics.registry.getSingleMetricAsString('pilot_xds');
    assert.match(md, /pilot_xds/);
  }));

  it('refuses a caller without credentials: UNAUTHENTICATED', () => withServer({}, async (_s, c) => {
    const o = await firstCds(c, {});
    assert.equal(statusOf(o), grpc.status.UNAUTHENTICATED, JSON.stringify(o));
  }));

  it('refuses an identity that does not match the proxy: PERMISSION_DENIED', () => withServer({}, async (s, c) => {
    const wrongSa = await firstCds(c, { token: tokenFor(s.signer, 'default', 'sleep'), sa: 'admin' });
    assert.equal(statusOf(wrongSa), grpc.status.PERMISSION_DENIED, JSON.stringify(wrongSa));
    assert.match((wrongSa as { details: string }).details, /no identities \(spiffe:\/\/cluster.local\/ns\/default\/sa\/sleep\) matched default\/admin/);
    const wrongNs = await firstCds(c, { token: tokenFor(s.signer, 'prod', 'sleep'), ns: 'default' });
    assert.equal(statusOf(wrongNs), grpc.status.PERMISSION_DENIED);
    assert.equal(s.discovery.ads.connections.size, 0, 'refused streams are never registered');
  }));

  it('authenticates an mTLS client by its certificate from our CA', () => withServer({}, async (s, c) => {
    const csr = await makeCsr();
    const r = await createCertificate(c, { csr: csr.csrPem }, tokenFor(s.signer, 'default', 'sleep'));
    assert.ok(r.ok);
    const mtls = tlsChannel(s.secureTarget, { rootPem: s.roots(), clientKeyPem: csr.keyPem, clientChainPem: r.response.cert_chain.join('') });
    try {
      assert.ok(ok(await firstCds(mtls, { sa: 'sleep' })));
      assert.equal(statusOf(await firstCds(mtls, { sa: 'admin' })), grpc.status.PERMISSION_DENIED);
    } finally {
      mtls.close();
    }
  }));

  it('XDS_AUTH=false serves anyone on the TLS port', () => withServer({ XDS_AUTH: 'false' }, async (_s, c) => {
    assert.ok(ok(await firstCds(c, { sa: 'whatever' })));
  }));

  it('PILOT_ENABLE_XDS_IDENTITY_CHECK=false authenticates but does not match identities', () => withServer({ PILOT_ENABLE_XDS_IDENTITY_CHECK: 'false' }, async (s, c) => {
    assert.ok(ok(await firstCds(c, { token: tokenFor(s.signer, 'prod', 'x'), sa: 'admin' })));
    assert.equal(statusOf(await firstCds(c, {})), grpc.status.UNAUTHENTICATED);
  }));

  it('leaves the plaintext port as it was (no authentication: for secure networks only)', () => withServer({}, async (s) => {
    const plain = new grpc.Client(s.grpcTarget, grpc.credentials.createInsecure());
    try {
      assert.ok(ok(await firstCds(plain, { sa: 'anything' })));
    } finally {
      plain.close();
    }
  }));

  it('ENABLE_CA_SERVER=false still serves TLS xDS (serving certificate from the root) but not the CA', () => withServer({ ENABLE_CA_SERVER: 'false', XDS_AUTH: 'false' }, async (s, c) => {
    assert.ok(ok(await firstCds(c, {})));
    const r = await createCertificate(c, { csr: (await makeCsr()).csrPem }, tokenFor(s.signer, 'default', 'sleep'));
    assert.equal(r.ok, false);
    assert.equal((r as { code: number }).code, grpc.status.UNIMPLEMENTED);
  }));
});
