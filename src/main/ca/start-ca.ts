/**
 * Builds the certificate authority and what hangs off it, in order: the signing pool, the CA
 * (roots), the authenticators (mTLS + JWKS-verified JWT), the istiod serving certificate and the
 * rotating TLS credentials of the secure port, the CreateCertificate service, the xDS stream
 * authenticator, and the metrics. The composition root (index.ts) binds the servers and owns
 * shutdown through `close()`.
 */
import * as fs from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { Config } from '../config';
import { MeshSettings } from '../model/registry';
import { Metrics } from '../http/metrics';
import { ConfigError } from '../../shared/errors';
import { StreamAuthenticator } from '../xds/ads-server';
import { CaPool, createCaPool } from './ca-pool';
import { CertificateAuthority, RootStore } from './certificate-authority';
import { AsyncAuthenticator, Authenticators, clientCertAuthenticator, jwtAuthenticator } from './authenticate';
import { JwtVerifier, parseJwks } from './jwt';
import { ServingCertRenewer, istiodDnsNames } from './serving-cert';
import { RotatingServerCredentials } from './tls-credentials';
import { CA_SERVICE } from './ca-proto';
import { caServiceImplementation } from './ca-service';
import { xdsStreamAuthenticator } from './xds-auth';
import { scope } from '../log';

const log = scope('ca');

export interface CaRuntime {
  readonly ca: CertificateAuthority;
  readonly pool: CaPool;
  readonly authenticators: Authenticators;
  readonly serving: ServingCertRenewer;
  readonly credentials: RotatingServerCredentials;
  /** IstioCertificateService, to register on a gRPC server */
  readonly service: { definition: grpc.ServiceDefinition; implementation: grpc.UntypedServiceImplementation };
  /** ADS stream authentication for the secure port; undefined when XDS_AUTH=false */
  readonly xdsAuth?: StreamAuthenticator;
  close(): Promise<void>;
}

export async function startCa(opts: {
  config: Config; mesh: MeshSettings; metrics: Metrics; now?: () => number;
  /** run after mTLS and the JWKS JWT check: Kubernetes mode passes kubeJwtAuthenticator (TokenReview) */
  extraAuthenticators?: readonly AsyncAuthenticator[];
  /** where a self-signed root persists (default --stateDir files; Kubernetes mode: istio-ca-secret) */
  rootStore?: RootStore;
}): Promise<CaRuntime> {
  const { config, mesh, metrics } = opts;
  const c = config.ca;
  let verifier: JwtVerifier | undefined;
  let unwatch = (): void => {};
  if (c.jwksFile) {
    try {
      verifier = JwtVerifier.fromFile(c.jwksFile, { issuer: c.jwtIssuer, audiences: c.tokenAudiences, now: opts.now });
    } catch (e) {
      throw new ConfigError(`--jwksFile: ${(e as Error).message}`);
    }
    // Key rollover: re-read the JWKS when it changes; a bad new file keeps the old keys.
    const onChange = () => {
      try {
        verifier!.setKeys(parseJwks(fs.readFileSync(c.jwksFile, 'utf8'), c.jwksFile));
        log.info('reloaded the JWKS', { file: c.jwksFile });
      } catch (e) {
        log.error('JWKS reload failed; keeping the previous keys', { file: c.jwksFile, error: (e as Error).message });
      }
    };
    fs.watchFile(c.jwksFile, { interval: 2000, persistent: false }, onChange);
    unwatch = () => fs.unwatchFile(c.jwksFile, onChange);
    if (!c.jwtIssuer) log.warn('--jwtIssuer is empty: the iss claim of service-account tokens is not checked');
  } else if (!opts.extraAuthenticators?.length) {
    log.info('no --jwksFile: only mTLS client certificates authenticate CA and secure xDS callers');
  }

  const pool = createCaPool(c.workers);
  const ca = await CertificateAuthority.start({ config: c, trustDomain: mesh.trustDomain, stateDir: config.stateDir, pool, now: opts.now, rootStore: opts.rootStore });
  const authenticators = new Authenticators([
    clientCertAuthenticator(),
    ...(verifier ? [jwtAuthenticator(verifier, () => mesh.trustDomain)] : []),
  ], opts.extraAuthenticators ?? []);

  const discoveryAddress = (mesh.raw['defaultConfig'] as { discoveryAddress?: string } | undefined)?.discoveryAddress;
  const dnsNames = istiodDnsNames(c.podNamespace, discoveryAddress, c.customHosts);
  let credentials: RotatingServerCredentials | undefined;
  const serving = new ServingCertRenewer(ca, dnsNames, c.defaultCertTtlMs, (cert) => credentials?.update(cert));
  credentials = new RotatingServerCredentials(serving.current);

  metrics.observeCa({
    expiry: () => ({ ...ca.expiry(), hasChain: ca.bundle.certChainPem.trim() !== '' }),
    pool: () => pool.stats(),
  });
  log.info('CA ready', { source: ca.bundle.source, trustDomain: mesh.trustDomain, servingNames: dnsNames, signingWorkers: c.workers, jwt: Boolean(verifier), extraAuthenticators: (opts.extraAuthenticators ?? []).map((a) => a.name) });

  return {
    ca, pool, authenticators, serving, credentials,
    service: { definition: CA_SERVICE, implementation: caServiceImplementation({ ca, authenticators, metrics: metrics.citadel }) },
    xdsAuth: c.xdsAuth ? xdsStreamAuthenticator(authenticators, { identityCheck: c.xdsIdentityCheck, onFailure: (reason) => log.warn('xDS authentication failed', { reason }) }) : undefined,
    close: async () => {
      unwatch();
      serving.close();
      ca.close();
      await pool.close();
    },
  };
}
