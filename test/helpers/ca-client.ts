/**
 * Test-side tools for the CA (issue 6): key pairs and CSRs of every kind (@peculiar/x509 over
 * WebCrypto), JWKS files and signed service-account tokens, and a CreateCertificate client over
 * real gRPC + TLS. Also used by bench/ca-signing.ts.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '../../src/main/config';
import { Discovery, startDiscovery } from '../../src/main/index';
import { tempDir, writeFiles } from './server';
import * as grpc from '@grpc/grpc-js';
import * as x509 from '@peculiar/x509';
import { CA_METHOD_PATH, IstioCertificateRequest, IstioCertificateResponse, decodeResponse, encodeRequest } from '../../src/main/ca/ca-proto';

const { webcrypto } = crypto;
type EcKeyGenParams = crypto.webcrypto.EcKeyGenParams;
type RsaHashedKeyGenParams = crypto.webcrypto.RsaHashedKeyGenParams;

export type CsrKeyKind = 'ec-p256' | 'ec-p384' | 'rsa-2048' | 'rsa-3072' | 'rsa-4096' | 'rsa-1024' | 'ed25519';

const KEY_ALGS: Record<CsrKeyKind, RsaHashedKeyGenParams | EcKeyGenParams | { name: 'Ed25519' }> = {
  'ec-p256': { name: 'ECDSA', namedCurve: 'P-256' },
  'ec-p384': { name: 'ECDSA', namedCurve: 'P-384' },
  'rsa-2048': { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
  'rsa-3072': { name: 'RSASSA-PKCS1-v1_5', modulusLength: 3072, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
  'rsa-4096': { name: 'RSASSA-PKCS1-v1_5', modulusLength: 4096, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
  'rsa-1024': { name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
  ed25519: { name: 'Ed25519' },
};

export interface CsrWithKey { csrPem: string; keyPem: string }

/** A PKCS#10 CSR for a fresh key of `kind`; `sans` are put in the CSR (the CA must ignore them). */
export async function makeCsr(kind: CsrKeyKind = 'ec-p256', opts: { sans?: string[]; subject?: string } = {}): Promise<CsrWithKey> {
  const alg = KEY_ALGS[kind];
  const keys = await webcrypto.subtle.generateKey(alg as EcKeyGenParams, true, ['sign', 'verify']) as crypto.webcrypto.CryptoKeyPair;
  const signingAlgorithm = alg.name === 'ECDSA' ? { ...alg, hash: (alg as EcKeyGenParams).namedCurve === 'P-384' ? 'SHA-384' : 'SHA-256' } : alg;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: opts.subject ?? 'O=istiod-ts-test',
    keys,
    signingAlgorithm,
    extensions: opts.sans ? [new x509.SubjectAlternativeNameExtension(opts.sans.map((s) => ({ type: 'url' as const, value: s })))] : [],
  } as never, webcrypto as never);
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = crypto.createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }) as string;
  return { csrPem: csr.toString('pem'), keyPem };
}

/** The same CSR with one bit of its signature flipped: well-formed, but the signature is wrong. */
export function corruptCsrSignature(csrPem: string): string {
  const der = Buffer.from(csrPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  der[der.length - 5] ^= 0x01;
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN CERTIFICATE REQUEST-----\n${b64}\n-----END CERTIFICATE REQUEST-----\n`;
}

// ---- tokens ---------------------------------------------------------------------------------------

export interface TokenSigner {
  readonly kid: string;
  readonly alg: 'RS256' | 'ES256';
  readonly privateKey: crypto.KeyObject;
  /** the public JWK, for a JWKS file */
  readonly jwk: Record<string, unknown>;
}

export function newTokenSigner(alg: 'RS256' | 'ES256' = 'RS256', kid = `test-${alg.toLowerCase()}`): TokenSigner {
  const { privateKey, publicKey } = alg === 'RS256'
    ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
    : crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { kid, alg, privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' } };
}

export function jwksJson(signers: TokenSigner[]): string {
  return JSON.stringify({ keys: signers.map((s) => s.jwk) });
}

export const TEST_ISSUER = 'https://kubernetes.default.svc.cluster.local';

/** A Kubernetes-style projected service-account token; `claims` override the defaults. */
export function signToken(signer: TokenSigner, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const body = {
    iss: TEST_ISSUER,
    aud: ['istio-ca'],
    iat: now,
    nbf: now,
    exp: now + 3600,
    sub: 'system:serviceaccount:default:sleep',
    'kubernetes.io': { namespace: 'default', serviceaccount: { name: 'sleep', uid: '1b2c' }, pod: { name: 'sleep-1', uid: '3d4e' } },
    ...claims,
  };
  const h = Buffer.from(JSON.stringify({ alg: signer.alg, kid: signer.kid, typ: 'JWT', ...header })).toString('base64url');
  const p = Buffer.from(JSON.stringify(body)).toString('base64url');
  const sig = signer.alg === 'ES256'
    ? crypto.sign('sha256', Buffer.from(`${h}.${p}`), { key: signer.privateKey, dsaEncoding: 'ieee-p1363' })
    : crypto.sign('sha256', Buffer.from(`${h}.${p}`), signer.privateKey);
  return `${h}.${p}.${sig.toString('base64url')}`;
}

/** A token for `ns`/`sa` (both claim forms set). */
export function tokenFor(signer: TokenSigner, ns: string, sa: string, claims: Record<string, unknown> = {}): string {
  return signToken(signer, { sub: `system:serviceaccount:${ns}:${sa}`, 'kubernetes.io': { namespace: ns, serviceaccount: { name: sa } }, ...claims });
}

// ---- gRPC client ----------------------------------------------------------------------------------

export const ISTIOD_NAME = 'istiod.istio-system.svc';

export interface TlsClientOptions {
  /** PEM roots to verify the server with */
  rootPem: string;
  /** mTLS: client key + chain */
  clientKeyPem?: string;
  clientChainPem?: string;
  /** the name the server certificate must carry (default istiod.istio-system.svc) */
  serverName?: string;
}

export function tlsChannel(target: string, o: TlsClientOptions): grpc.Client {
  const creds = grpc.credentials.createSsl(
    Buffer.from(o.rootPem),
    o.clientKeyPem ? Buffer.from(o.clientKeyPem) : null,
    o.clientChainPem ? Buffer.from(o.clientChainPem) : null,
  );
  const name = o.serverName ?? ISTIOD_NAME;
  return new grpc.Client(target, creds, { 'grpc.ssl_target_name_override': name, 'grpc.default_authority': name });
}

export type CaCallResult =
  | { ok: true; response: IstioCertificateResponse }
  | { ok: false; code: grpc.status; details: string };

export function createCertificate(client: grpc.Client, req: IstioCertificateRequest, token?: string, timeoutMs = 10_000): Promise<CaCallResult> {
  const md = new grpc.Metadata();
  if (token !== undefined) md.set('authorization', `Bearer ${token}`);
  return new Promise((resolve) => {
    client.makeUnaryRequest(CA_METHOD_PATH, encodeRequest, decodeResponse, req, md, { deadline: Date.now() + timeoutMs }, (err, res) => {
      if (err) resolve({ ok: false, code: err.code, details: err.details });
      else resolve({ ok: true, response: res! });
    });
  });
}

// ---- a server with the CA ---------------------------------------------------------------------------


export interface CaTestServer {
  discovery: Discovery;
  /** 127.0.0.1:<secure port> */
  secureTarget: string;
  /** 127.0.0.1:<plaintext port> */
  grpcTarget: string;
  stateDir: string;
  signer: TokenSigner;
  /** the current trust bundle (root-cert.pem) */
  roots(): string;
  close(): Promise<void>;
}

/**
 * istiod-ts on loopback with the secure port, the CA and a JWKS holding `signer`'s key. The state
 * folder survives close() so a test can restart on it.
 */
export async function startCaServer(opts: { stateDir?: string; env?: Record<string, string>; flags?: string[]; signer?: TokenSigner; files?: Record<string, string> } = {}): Promise<CaTestServer> {
  const work = tempDir('istiod-ts-ca-');
  const stateDir = opts.stateDir ?? path.join(work, 'state');
  const signer = opts.signer ?? newTokenSigner('RS256');
  fs.writeFileSync(path.join(work, 'jwks.json'), jwksJson([signer]));
  const configDir = path.join(work, 'config');
  fs.mkdirSync(configDir);
  if (opts.files) writeFiles(configDir, opts.files);
  const config = loadConfig([
    '--configDir', configDir, '--grpcAddr', '127.0.0.1:0', '--secureGRPCAddr', '127.0.0.1:0', '--httpAddr', '', '--monitoringAddr', '', '--httpsAddr', '',
    '--stateDir', stateDir, '--jwksFile', path.join(work, 'jwks.json'), '--jwtIssuer', TEST_ISSUER,
    '--log_output_level', process.env['TEST_LOG_LEVEL'] ?? 'default:error',
    ...(opts.flags ?? []),
  ], { PILOT_DEBOUNCE_AFTER: '20ms', ISTIOD_CONFIG_WORKERS: '1', ISTIOD_CA_WORKERS: '1', ROOT_CA_DIR: '', ...opts.env });
  const discovery = await startDiscovery(config);
  return {
    discovery, stateDir, signer,
    secureTarget: `127.0.0.1:${discovery.ports.secureGrpc}`,
    grpcTarget: `127.0.0.1:${discovery.ports.grpc}`,
    roots: () => discovery.ca!.ca.bundle.rootBundlePem,
    close: () => discovery.close(),
  };
}
