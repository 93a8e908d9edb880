/**
 * Kubernetes mode CA authentication end to end: a workload's bearer token is checked by the API
 * test server's TokenReview, and the real CA (signing worker pool, CreateCertificate service over
 * gRPC + TLS) issues a certificate for exactly the service account the API server named.
 *
 * startDiscovery does not build the Kubernetes authenticator yet (the synchronous Authenticators
 * of authenticate.ts cannot hold an asynchronous one), so this file composes the CA service the
 * way the proposed wiring does: authenticate (client certificate, then TokenReview), then hand the
 * caller to caServiceImplementation. API-server outages answer UNAVAILABLE.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { KubeTestServer, startKubeTestServer } from '../helpers/kube-apiserver';
import { createCertificate, makeCsr, tlsChannel } from '../helpers/ca-client';
import { tempDir } from '../helpers/server';
import { AuthResult, Authenticators, clientCertAuthenticator } from '../../src/main/ca/authenticate';
import { KubeJwtAuthenticator, kubeJwtAuthenticator } from '../../src/main/ca/kube-authenticator';
import { CA_SERVICE, IstioCertificateRequest, IstioCertificateResponse } from '../../src/main/ca/ca-proto';
import { caServiceImplementation } from '../../src/main/ca/ca-service';
import { CertificateAuthority } from '../../src/main/ca/certificate-authority';
import { CaPool, createCaPool } from '../../src/main/ca/ca-pool';
import { issueServingCert } from '../../src/main/ca/serving-cert';
import { RotatingServerCredentials } from '../../src/main/ca/tls-credentials';
import { Metrics } from '../../src/main/http/metrics';
import { loadConfig } from '../../src/main/config';

const SA_GROUPS = (ns: string) => ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'];
type Call = grpc.ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>;

/** The CA service with the client-certificate authenticator, then the TokenReview one. */
function kubeCaService(ca: CertificateAuthority, kube: KubeJwtAuthenticator, metrics: Metrics): grpc.UntypedServiceImplementation {
  const sync = new Authenticators([clientCertAuthenticator()]);
  const CreateCertificate = (call: Call, cb: grpc.sendUnaryData<IstioCertificateResponse>) => {
    void (async () => {
      let peerCertificate;
      try { peerCertificate = call.getAuthContext()?.sslPeerCertificate; } catch { peerCertificate = undefined; }
      const first = sync.authenticate({ metadata: call.metadata, peerCertificate });
      let authenticators = sync;
      if (!first.ok) {
        const k = await kube.authenticate({ metadata: call.metadata });
        if (k && 'unavailable' in k && k.unavailable) {
          metrics.citadel.csr.inc();
          metrics.citadel.authnFailures.inc();
          cb({ code: grpc.status.UNAVAILABLE, details: `request authenticate failure (${kube.name}: ${k.reason})` } as grpc.ServiceError, null);
          return;
        }
        const result: AuthResult | undefined = k;
        if (result) authenticators = new Authenticators([{ name: kube.name, authenticate: () => result }]);
      }
      const impl = caServiceImplementation({ ca, authenticators, metrics: metrics.citadel }) as unknown as { CreateCertificate: typeof CreateCertificate };
      impl.CreateCertificate(call, cb);
    })();
  };
  return { CreateCertificate } as grpc.UntypedServiceImplementation;
}

describe('CreateCertificate with TokenReview authentication', () => {
  let kubeServer: KubeTestServer;
  let pool: CaPool;
  let ca: CertificateAuthority;
  let server: grpc.Server;
  let client: grpc.Client;
  let kube: KubeJwtAuthenticator;
  let metrics: Metrics;
  let target: string;
  const rootPem = () => ca.bundle.rootBundlePem;

  before(async () => {
    kubeServer = await startKubeTestServer();
    kubeServer.addToken('sleep-token', { username: 'system:serviceaccount:default:sleep', groups: SA_GROUPS('default') }, ['istio-ca']);
    kubeServer.addToken('reviews-token', { username: 'system:serviceaccount:prod:reviews', groups: SA_GROUPS('prod') }, ['istio-ca']);
    kubeServer.addToken('user-token', { username: 'jane@example.com', groups: ['system:authenticated'] }, ['istio-ca']);
    kubeServer.addToken('api-token', { username: 'system:serviceaccount:default:sleep', groups: SA_GROUPS('default') }, ['https://kubernetes.default.svc.cluster.local']);

    const config = loadConfig([], { ROOT_CA_DIR: '', CITADEL_SELF_SIGNED_ROOT_CERT_CHECK_INTERVAL: '0' });
    pool = createCaPool(1);
    ca = await CertificateAuthority.start({ config: config.ca, trustDomain: 'cluster.local', stateDir: path.join(tempDir('istiod-ts-ca-tr-'), 'state'), pool });
    metrics = new Metrics();
    kube = kubeJwtAuthenticator({ client: kubeServer.client(), audiences: config.ca.tokenAudiences, trustDomain: () => 'cluster.local', clusterId: config.kube.clusterId, cacheTtlMs: 0 });
    server = new grpc.Server();
    server.addService(CA_SERVICE, kubeCaService(ca, kube, metrics));
    const creds = new RotatingServerCredentials(issueServingCert(ca, ['istiod.istio-system.svc'], 3600_000));
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? reject(e) : resolve(p))));
    target = `127.0.0.1:${port}`;
    client = tlsChannel(target, { rootPem: rootPem() });
  });

  after(async () => {
    client?.close();
    await new Promise<void>((resolve) => (server ? server.tryShutdown(() => resolve()) : resolve()));
    ca?.close();
    await pool?.close();
    await kubeServer?.close();
  });

  it('issues a certificate for the service account the API server names, not the CSR\'s', async () => {
    const csr = await makeCsr('ec-p256', { sans: ['spiffe://cluster.local/ns/kube-system/sa/admin'] });
    const r = await createCertificate(client, { csr: csr.csrPem, validity_duration: 3600 }, 'sleep-token');
    assert.ok(r.ok, JSON.stringify(r));
    const leaf = new crypto.X509Certificate(r.response.cert_chain[0]!);
    const root = new crypto.X509Certificate(rootPem());
    assert.ok(leaf.checkIssued(root) && leaf.verify(root.publicKey));
    assert.equal(leaf.subjectAltName, 'URI:spiffe://cluster.local/ns/default/sa/sleep');
    assert.ok(kubeServer.requests.some((q) => q.path.includes('tokenreviews')), 'the API server was asked');

    const r2 = await createCertificate(client, { csr: csr.csrPem }, 'reviews-token');
    assert.ok(r2.ok);
    assert.equal(new crypto.X509Certificate(r2.response.cert_chain[0]!).subjectAltName, 'URI:spiffe://cluster.local/ns/prod/sa/reviews');
  });

  it('refuses unknown tokens, non-service-account users and other audiences with UNAUTHENTICATED', async () => {
    const csr = (await makeCsr('ec-p256')).csrPem;
    const cases: Array<[string | undefined, RegExp]> = [
      [undefined, /^request authenticate failure \(no credentials/],
      ['forged-token', /KubeJWTAuthenticator: (the token is not authenticated|the service account authentication returns an error)/],
      ['user-token', /not a service account/],
      ['api-token', /KubeJWTAuthenticator: .*(audience|not authenticated|returns an error)/],
    ];
    for (const [token, reason] of cases) {
      const r = await createCertificate(client, { csr }, token);
      assert.ok(!r.ok, `${token}: ${JSON.stringify(r)}`);
      assert.equal(r.code, grpc.status.UNAUTHENTICATED, `${token}: ${r.details}`);
      assert.match(r.details, /^request authenticate failure/);
      assert.match(r.details, reason, `${token}: ${r.details}`);
    }
  });

  it('still authenticates an mTLS client by its certificate, without a TokenReview', async () => {
    const csr = await makeCsr('ec-p256');
    const r = await createCertificate(client, { csr: csr.csrPem }, 'reviews-token');
    assert.ok(r.ok);
    const mtls = tlsChannel(target, { rootPem: rootPem(), clientKeyPem: csr.keyPem, clientChainPem: r.response.cert_chain.join('') });
    try {
      const before = kube.stats().reviews;
      const again = await createCertificate(mtls, { csr: (await makeCsr('ec-p256')).csrPem });
      assert.ok(again.ok, JSON.stringify(again));
      assert.equal(new crypto.X509Certificate(again.response.cert_chain[0]!).subjectAltName, 'URI:spiffe://cluster.local/ns/prod/sa/reviews');
      assert.equal(kube.stats().reviews, before);
    } finally {
      mtls.close();
    }
  });

  it('answers UNAVAILABLE while the API server is down, and issues again once it is back', async () => {
    const csr = (await makeCsr('ec-p256')).csrPem;
    await kubeServer.stop();
    try {
      const r = await createCertificate(client, { csr }, 'sleep-token');
      assert.ok(!r.ok);
      assert.equal(r.code, grpc.status.UNAVAILABLE, r.details);
      assert.match(r.details, /kubernetes API unavailable: /);
    } finally {
      await kubeServer.start();
    }
    const ok = await createCertificate(client, { csr }, 'sleep-token');
    assert.ok(ok.ok, JSON.stringify(ok));
  });
});
