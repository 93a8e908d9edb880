import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { checkConnectionIdentity } from '../../../../src/main/ca/xds-auth';
import { Authenticators, sanUris, clientCertAuthenticator } from '../../../../src/main/ca/authenticate';
import { parseProxy, ProxyView } from '../../../../src/shared/model/proxy';

function proxy(ns: string, sa?: string): ProxyView {
  const r = parseProxy({ id: `sidecar~10.0.0.1~pod.${ns}~${ns}.svc.cluster.local`, metadata: sa ? { SERVICE_ACCOUNT: sa } : {} });
  assert.ok(r.ok);
  return r.value;
}

describe('xDS identity check (PILOT_ENABLE_XDS_IDENTITY_CHECK)', () => {
  const id = 'spiffe://cluster.local/ns/default/sa/sleep';
  it('accepts an identity whose namespace and service account match the proxy', () => {
    assert.equal(checkConnectionIdentity([id], proxy('default', 'sleep')), undefined);
  });
  it('checks the service account only when the proxy declares one (as Istio)', () => {
    assert.equal(checkConnectionIdentity([id], proxy('default')), undefined);
  });
  it('refuses another namespace or service account, naming both sides', () => {
    assert.equal(checkConnectionIdentity([id], proxy('prod', 'sleep')), `no identities (${id}) matched prod/sleep`);
    assert.match(checkConnectionIdentity([id], proxy('default', 'admin'))!, /matched default\/admin/);
  });
  it('ignores identities that are not SPIFFE workload identities', () => {
    assert.ok(checkConnectionIdentity(['https://example.com', 'spiffe://td/other'], proxy('default')));
  });
});

describe('authenticators', () => {
  it('reads URI SANs from node TLS subjectaltname text, quoted or not', () => {
    assert.deepEqual(sanUris('DNS:a.b, URI:spiffe://td/ns/a/sa/b, URI:"spiffe://td/ns/x,y/sa/z"'), ['spiffe://td/ns/a/sa/b', 'spiffe://td/ns/x,y/sa/z']);
    assert.deepEqual(sanUris(undefined), []);
  });
  it('authenticates a verified client certificate by its SPIFFE URI', () => {
    const a = new Authenticators([clientCertAuthenticator()]);
    const r = a.authenticate({ metadata: new grpc.Metadata(), peerCertificate: { subjectaltname: 'URI:spiffe://cluster.local/ns/a/sa/b' } as never });
    assert.deepEqual(r, { ok: true, caller: { identities: ['spiffe://cluster.local/ns/a/sa/b'], via: 'mtls' } });
  });
  it('says why when no credentials are presented', () => {
    const r = new Authenticators([clientCertAuthenticator()]).authenticate({ metadata: new grpc.Metadata() });
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /no credentials/);
  });
  it('a bearer token no authenticator can check is named as such, not as a missing credential', () => {
    const md = new grpc.Metadata();
    md.set('authorization', 'Bearer abc.def.ghi');
    const r = new Authenticators([clientCertAuthenticator()]).authenticate({ metadata: md });
    assert.equal(r.ok, false);
    assert.match((r as { reason: string }).reason, /bearer token was presented but no token authenticator is configured/);
  });
  it('refuses a certificate without a SPIFFE URI (e.g. a DNS-only serving cert) as an id-extraction failure', () => {
    const r = new Authenticators([clientCertAuthenticator()]).authenticate({ metadata: new grpc.Metadata(), peerCertificate: { subjectaltname: 'DNS:istiod.istio-system.svc' } as never });
    assert.deepEqual(r, { ok: false, reason: 'ClientCertAuthenticator: client certificate has no SPIFFE URI SAN', idExtraction: true });
  });
});
