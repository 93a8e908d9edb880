/**
 * The CA over real gRPC + TLS (issue 6 acceptance): CSR in, chain out; the leaf verifies against
 * the root, names only the caller, has Istio's key usages and the asked lifetime; every bad input
 * gets a clear status and nothing crashes; metrics count what happened.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import * as x509 from '@peculiar/x509';
import {
  CaTestServer, corruptCsrSignature, createCertificate, makeCsr, newTokenSigner, signToken, startCaServer, tlsChannel, tokenFor,
} from '../helpers/ca-client';

const ID = 'spiffe://cluster.local/ns/default/sa/sleep';

describe('IstioCertificateService over TLS', () => {
  let s: CaTestServer;
  let client: grpc.Client;
  let token: string;
  before(async () => {
    s = await startCaServer();
    client = tlsChannel(s.secureTarget, { rootPem: s.roots() });
    token = tokenFor(s.signer, 'default', 'sleep');
  });
  after(async () => {
    client.close();
    await s.close();
  });

  const leafOf = (chain: string[]) => new crypto.X509Certificate(chain[0]!);
  const rootCert = () => new crypto.X509Certificate(s.roots());

  it('signs an ECDSA P-256 CSR: the leaf verifies against the root and names only the caller', async () => {
    const csr = await makeCsr('ec-p256', { sans: ['spiffe://cluster.local/ns/kube-system/sa/admin'], subject: 'CN=admin' });
    const r = await createCertificate(client, { csr: csr.csrPem, validity_duration: 3600 }, token);
    assert.ok(r.ok, JSON.stringify(r));
    const chain = r.response.cert_chain;
    assert.equal(chain.length, 2, 'self-signed CA: [leaf, root]');
    for (const pem of chain) assert.ok(pem.endsWith('-----END CERTIFICATE-----\n'), 'one PEM per element, trailing newline');
    assert.equal(chain[1], s.roots(), 'root last');
    const leaf = leafOf(chain);
    assert.ok(leaf.verify(rootCert().publicKey));
    assert.ok(leaf.checkIssued(rootCert()));
    assert.equal(leaf.subjectAltName, `URI:${ID}`, 'the CSR asked for kube-system/admin; only the caller is certified');
    assert.deepEqual(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], 'serverAuth + clientAuth');
    assert.equal(leaf.ca, false);
    assert.equal(Date.parse(leaf.validTo) - Date.parse(leaf.validFrom), 3600_000);
    assert.ok(leaf.checkPrivateKey(crypto.createPrivateKey(csr.keyPem)), 'certifies the CSR key');
    // the key usage extension (digitalSignature + keyEncipherment, critical), read from the DER
    assert.ok(leaf.raw.includes(Buffer.from('300e0603551d0f0101ff0404030205a0', 'hex')));
  });

  it('signs RSA 2048, 3072 and 4096 CSRs', async () => {
    for (const kind of ['rsa-2048', 'rsa-3072', 'rsa-4096'] as const) {
      const csr = await makeCsr(kind);
      const r = await createCertificate(client, { csr: csr.csrPem }, token);
      assert.ok(r.ok, `${kind}: ${JSON.stringify(r)}`);
      const leaf = leafOf(r.response.cert_chain);
      assert.ok(leaf.verify(rootCert().publicKey));
      assert.equal(leaf.publicKey.asymmetricKeyDetails?.modulusLength, Number(kind.slice(4)));
    }
  });

  it('gives DEFAULT_WORKLOAD_CERT_TTL (24h) when validity_duration is unset or negative', async () => {
    const csr = (await makeCsr()).csrPem;
    for (const validity_duration of [undefined, -10]) {
      const r = await createCertificate(client, { csr, validity_duration }, token);
      assert.ok(r.ok);
      const leaf = leafOf(r.response.cert_chain);
      assert.equal(Date.parse(leaf.validTo) - Date.parse(leaf.validFrom), 24 * 3600_000);
    }
  });

  it('authenticates an mTLS client by the SPIFFE URI of a certificate we issued', async () => {
    const csr = await makeCsr('ec-p256');
    const r = await createCertificate(client, { csr: csr.csrPem }, tokenFor(s.signer, 'prod', 'reviews'));
    assert.ok(r.ok);
    const mtls = tlsChannel(s.secureTarget, { rootPem: s.roots(), clientKeyPem: csr.keyPem, clientChainPem: r.response.cert_chain.join('') });
    try {
      const renewed = await createCertificate(mtls, { csr: (await makeCsr()).csrPem }); // no token
      assert.ok(renewed.ok, JSON.stringify(renewed));
      assert.equal(leafOf(renewed.response.cert_chain).subjectAltName, 'URI:spiffe://cluster.local/ns/prod/sa/reviews');
    } finally {
      mtls.close();
    }
  });

  it('does not trust a client certificate from another CA: without a token the caller is UNAUTHENTICATED', async () => {
    const wc = crypto.webcrypto;
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = await wc.subtle.generateKey(alg, true, ['sign', 'verify']);
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01', name: 'CN=evil', keys, signingAlgorithm: alg,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'spiffe://cluster.local/ns/kube-system/sa/admin' }])],
    } as never, wc as never);
    const keyPem = crypto.createPrivateKey({ key: Buffer.from(await wc.subtle.exportKey('pkcs8', keys.privateKey)), format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }) as string;
    const evil = tlsChannel(s.secureTarget, { rootPem: s.roots(), clientKeyPem: keyPem, clientChainPem: cert.toString('pem') });
    try {
      const r = await createCertificate(evil, { csr: (await makeCsr()).csrPem });
      assert.equal(r.ok, false);
      assert.equal((r as { code: number }).code, grpc.status.UNAUTHENTICATED);
    } finally {
      evil.close();
    }
  });

  describe('bad credentials → UNAUTHENTICATED', () => {
    const cases: Array<[string, () => string | undefined, RegExp]> = [
      ['no token', () => undefined, /no credentials/],
      ['a token signed by an unknown key', () => signToken(newTokenSigner('RS256')), /bad signature/],
      ['a wrong audience', () => tokenFor(s.signer, 'default', 'sleep', { aud: 'kubernetes' }), /audience "kubernetes" not accepted/],
      ['an expired token', () => tokenFor(s.signer, 'default', 'sleep', { exp: Math.floor(Date.now() / 1000) - 600 }), /token expired/],
      ['a wrong issuer', () => tokenFor(s.signer, 'default', 'sleep', { iss: 'https://elsewhere' }), /issuer/],
      ['a token with no service account', () => signToken(s.signer, { sub: 'alice', 'kubernetes.io': undefined }), /names no Kubernetes service account/],
      ['a garbage token', () => 'not-a-jwt', /malformed token/],
    ];
    for (const [name, tok, why] of cases) {
      it(name, async () => {
        const r = await createCertificate(client, { csr: (await makeCsr()).csrPem }, tok());
        assert.equal(r.ok, false);
        const f = r as { code: number; details: string };
        assert.equal(f.code, grpc.status.UNAUTHENTICATED, f.details);
        assert.match(f.details, /^request authenticate failure/);
        assert.match(f.details, why);
      });
    }
    it('an impersonation request without a node authorizer', async () => {
      const r = await createCertificate(client, { csr: (await makeCsr()).csrPem, metadata: { fields: { ImpersonatedIdentity: { stringValue: 'spiffe://cluster.local/ns/x/sa/y' } } } }, token);
      assert.deepEqual(r, { ok: false, code: grpc.status.UNAUTHENTICATED, details: 'request impersonation authentication failure' });
    });
  });

  describe('bad CSRs → INVALID_ARGUMENT', () => {
    const cases: Array<[string, () => Promise<{ csr: string; validity_duration?: number }>, RegExp]> = [
      ['malformed PEM', async () => ({ csr: 'this is not a PEM' }), /no PEM CERTIFICATE REQUEST block/],
      ['garbage inside the PEM armour', async () => ({ csr: '-----BEGIN CERTIFICATE REQUEST-----\nMIIBIjANBgkqhkiG\n-----END CERTIFICATE REQUEST-----\n' }), /not a valid PKCS#10 request/],
      ['a CSR whose own signature is wrong', async () => ({ csr: corruptCsrSignature((await makeCsr()).csrPem) }), /signature does not verify/],
      ['an oversized CSR', async () => ({ csr: (await makeCsr()).csrPem + '\n'.repeat(64 * 1024) }), /larger than/],
      ['an unsupported key type (Ed25519)', async () => ({ csr: (await makeCsr('ed25519')).csrPem }), /unsupported CSR key type ed25519/],
      ['an unsupported key size (RSA 1024)', async () => ({ csr: (await makeCsr('rsa-1024')).csrPem }), /RSA 1024/],
      ['a TTL over MAX_WORKLOAD_CERT_TTL', async () => ({ csr: (await makeCsr()).csrPem, validity_duration: 91 * 24 * 3600 }), /requested TTL 2184h0m0s is greater than the max allowed TTL 2160h0m0s/],
      ['an empty CSR', async () => ({ csr: '' }), /no PEM/],
    ];
    for (const [name, req, why] of cases) {
      it(name, async () => {
        const r = await createCertificate(client, await req(), token);
        assert.equal(r.ok, false);
        const f = r as { code: number; details: string };
        assert.equal(f.code, grpc.status.INVALID_ARGUMENT, f.details);
        assert.match(f.details, /^CSR signing error \(/);
        assert.match(f.details, why);
      });
    }
  });

  it('is still healthy after all that, and the citadel metrics counted it', async () => {
    const r = await createCertificate(client, { csr: (await makeCsr()).csrPem }, token);
    assert.ok(r.ok);
    const text = await s.discovery.metrics.registry.metrics();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    assert.ok(value('citadel_server_csr_count') >= 20);
    assert.ok(value('citadel_server_success_cert_issuance_count') >= 8);
    assert.ok(value('citadel_server_authentication_failure_count') >= 8);
    assert.ok(value('citadel_server_id_extraction_err_count') >= 1);
    assert.ok(value('citadel_server_csr_parsing_err_count') >= 3);
    assert.match(text, /citadel_server_csr_sign_err_count\{error="CSR_ERROR"\} \d+/);
    assert.match(text, /citadel_server_csr_sign_err_count\{error="TTL_ERROR"\} 1/);
    assert.ok(value('citadel_server_root_cert_expiry_timestamp') > Date.now() / 1000 + 9 * 365 * 86400);
    assert.ok(value('citadel_server_root_cert_expiry_seconds') > 9 * 365 * 86400);
    assert.match(text, /istiod_ts_ca_sign_seconds_count \d+/);
    assert.equal(value('istiod_ts_ca_pool_threads'), 1);
  });
});

describe('CA placement', () => {
  it('is served on the plaintext port only with ISTIOD_ENABLE_PLAINTEXT_CA and no secure port (Istio fallback)', async () => {
    const s = await startCaServer({ flags: ['--secureGRPCAddr', ''], env: { ISTIOD_ENABLE_PLAINTEXT_CA: 'true' } });
    const plain = new grpc.Client(s.grpcTarget, grpc.credentials.createInsecure());
    try {
      assert.equal(s.discovery.ports.secureGrpc, 0);
      const r = await createCertificate(plain, { csr: (await makeCsr()).csrPem }, tokenFor(s.signer, 'default', 'sleep'));
      assert.ok(r.ok, JSON.stringify(r));
      assert.equal(r.response.cert_chain.at(-1), s.roots());
    } finally {
      plain.close();
      await s.close();
    }
  });


  it('is not served on the plaintext port while the secure port exists', async () => {
    const s = await startCaServer();
    const plain = new grpc.Client(s.grpcTarget, grpc.credentials.createInsecure());
    try {
      const r = await createCertificate(plain, { csr: (await makeCsr()).csrPem }, tokenFor(s.signer, 'default', 'sleep'));
      assert.equal(r.ok, false);
      assert.equal((r as { code: number }).code, grpc.status.UNIMPLEMENTED);
    } finally {
      plain.close();
      await s.close();
    }
  });
});
