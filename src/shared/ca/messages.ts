/**
 * Messages between the main thread and the CSR-signing pool (named by direction, like
 * MainToConfigGen / ConfigGenToMain in ../protocol.ts). Errors cross as data, never thrown.
 *
 * The signing material travels with every job (a few KiB, structured-cloned): workers stay
 * stateless apart from a cache of parsed keys keyed by the material itself, so a root rotation
 * needs no broadcast to the pool and a job always signs with the material it was given.
 */

/** The CA's current signing material. A new object (and version) after every rotation. */
export interface SigningMaterial {
  /** increases with every change of key or certificates */
  readonly version: number;
  /** PEM of the signing (CA) certificate */
  readonly caCertPem: string;
  /** PKCS#8 PEM of the signing key */
  readonly caKeyPem: string;
  /** cert-chain.pem: certificates between the signing cert and the root (may be empty) */
  readonly certChainPem: string;
  /** root-cert.pem: every trusted root, newest first (old and new during a rotation) */
  readonly rootBundlePem: string;
}

/** Why the pool refused a CSR; mapped to citadel_server_csr_sign_err_count{error} and a gRPC status at the edge. */
export type SignErrorCode =
  | 'CSR_TOO_LARGE'
  | 'CSR_MALFORMED'
  | 'CSR_UNSUPPORTED_KEY'
  | 'CSR_BAD_SIGNATURE'
  | 'TTL_ERROR'
  | 'CERT_GEN_ERROR';

export interface MainToCa {
  readonly id: number;
  readonly material: SigningMaterial;
  readonly csrPem: string;
  /** validity_duration as requested (seconds; <= 0 = default) */
  readonly requestedTtlSeconds: number;
  readonly defaultTtlMs: number;
  readonly maxTtlMs: number;
  /** SAN URIs to certify: the authenticated caller's identities, never the CSR's */
  readonly uris: readonly string[];
  /** SAN DNS names (the istiod serving certificate only) */
  readonly dnsNames?: readonly string[];
  /** issue time, from the main thread's clock (workers read no clock) */
  readonly nowMs: number;
}

export type CaToMain =
  | {
    readonly id: number;
    readonly ok: true;
    /** the response chain in Istio's shape: one PEM per element, trailing "\n", roots last */
    readonly certChain: readonly string[];
    readonly keyDescription: string;
    readonly notAfterMs: number;
    /** time spent in the worker on this job */
    readonly signMs: number;
  }
  | { readonly id: number; readonly ok: false; readonly error: { readonly code: SignErrorCode; readonly message: string } };
