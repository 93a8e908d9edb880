/**
 * DownstreamTlsContext for a Gateway server, after Istio's BuildListenerTLSContext
 * (pilot/pkg/networking/core/listener.go) and the credential SDS helpers (security/model):
 *
 * - `credentialName` → SDS over ADS (`{ ads: {}, resource_api_version: V3 }`, no
 *   initial_fetch_timeout: a missing Secret must not block the whole listener forever):
 *   `kubernetes://<name>` for the key pair and, for MUTUAL / OPTIONAL_MUTUAL,
 *   `kubernetes://<name>-cacert` as the validation context (Istio's SdsCaSuffix), combined with
 *   the server's subjectAltNames / verifyCertificateSpki / verifyCertificateHash. Our SDS serves
 *   both from Secrets of the gateway's namespace (secrets.ts). `builtin://` is the gateway's own
 *   workload certificate (`default` / `ROOTCA` from the agent).
 * - ISTIO_MUTUAL → the workload certificate `default` and root `ROOTCA` from the `sds-grpc` cluster
 *   (served by the istio-agent next to the gateway), client certificate required.
 * - `serverCertificate` / `privateKey` / `caCertificates` files → inline file names in
 *   tls_certificates / validation_context. (Istio ≥1.x serves these through the agent as
 *   `file-cert:` / `file-root:` SDS resources; without an agent Envoy reads the files itself.)
 *
 * ALPN is h2,http/1.1, except for a TCP server terminating ISTIO_MUTUAL, which also offers
 * istio-peer-exchange (Istio ALPNDownstreamWithMxc). minProtocolVersion, maxProtocolVersion and
 * cipherSuites go to tls_params for SIMPLE / MUTUAL / OPTIONAL_MUTUAL.
 */
import { ADS_CONFIG_SOURCE, duration } from './types';

type Obj = Record<string, unknown>;

export const TLS_TRANSPORT_SOCKET = 'envoy.transport_sockets.tls';
export const DOWNSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
export const SDS_CLUSTER = 'sds-grpc';
const ALPN_HTTP = ['h2', 'http/1.1'];
const ALPN_DOWNSTREAM_WITH_MXC = ['istio-peer-exchange', 'h2', 'http/1.1'];
const CA_SUFFIX = '-cacert';
const TLS_VERSIONS: Readonly<Record<string, string>> = { TLS_AUTO: 'TLS_AUTO', TLSV1_0: 'TLSv1_0', TLSV1_1: 'TLSv1_1', TLSV1_2: 'TLSv1_2', TLSV1_3: 'TLSv1_3' };

/**
 * Istio credentials.ToResourceName: `kubernetes://` and `kubernetes-gateway://` names are kept as
 * written (so are the agent's `file-cert:` / `file-root:` names); anything else is a Kubernetes
 * Secret of the gateway's namespace, `kubernetes://<name>` — the name our SDS (secrets.ts) serves.
 */
export function credentialResourceName(name: string): string {
  return KEPT_PREFIXES.some((p) => name.startsWith(p)) ? name : `kubernetes://${name}`;
}
const KEPT_PREFIXES = ['kubernetes://', 'kubernetes-gateway://', 'file-cert:', 'file-root:'];

/** Istio BuiltinGatewaySecretTypeURI: the gateway's own workload certificate from the agent. */
const BUILTIN_CREDENTIAL = 'builtin://';

function credentialSds(name: string): Obj {
  if (name === BUILTIN_CREDENTIAL) return agentSds('default');
  if (name === BUILTIN_CREDENTIAL + CA_SUFFIX) return agentSds('ROOTCA');
  return { name: credentialResourceName(name), sds_config: ADS_CONFIG_SOURCE };
}

/** Istio's SDS config for the agent's `default` / `ROOTCA` resources. */
export function agentSds(name: string): Obj {
  return {
    name,
    sds_config: {
      api_config_source: {
        api_type: 'GRPC', set_node_on_first_message_only: true, transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: SDS_CLUSTER } }],
      },
      resource_api_version: 'V3',
      initial_fetch_timeout: duration(0),
    },
  };
}

function sanMatchers(sans: unknown): Obj[] {
  return Array.isArray(sans) ? sans.filter((s): s is string => typeof s === 'string').map((exact) => ({ exact })) : [];
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];
}

/**
 * The DownstreamTlsContext typed_config for a terminating server (SIMPLE, MUTUAL, OPTIONAL_MUTUAL,
 * ISTIO_MUTUAL); undefined for passthrough modes. `tcpTermination`: a non-HTTP server.
 */
export function downstreamTlsContext(tls: Record<string, any>, tcpTermination: boolean): Obj | undefined {
  const mode = String(tls['mode'] ?? 'PASSTHROUGH').toUpperCase();
  if (mode === 'PASSTHROUGH' || mode === 'AUTO_PASSTHROUGH') return undefined;
  const common: Obj = { alpn_protocols: mode === 'ISTIO_MUTUAL' && tcpTermination ? ALPN_DOWNSTREAM_WITH_MXC : ALPN_HTTP };
  const requireClient = mode === 'MUTUAL' || mode === 'ISTIO_MUTUAL';
  const validateClient = requireClient || mode === 'OPTIONAL_MUTUAL';
  const sans = sanMatchers(tls['subjectAltNames']);
  const credentialNames = strings(tls['credentialNames']);
  const credentialName = typeof tls['credentialName'] === 'string' ? tls['credentialName'] : '';

  if (mode === 'ISTIO_MUTUAL') {
    common['tls_certificate_sds_secret_configs'] = [agentSds('default')];
    common['combined_validation_context'] = {
      default_validation_context: sans.length > 0 ? { match_subject_alt_names: sans } : {},
      validation_context_sds_secret_config: agentSds('ROOTCA'),
    };
  } else if (credentialNames.length > 0 || credentialName) {
    const names = credentialNames.length > 0 ? credentialNames : [credentialName];
    common['tls_certificate_sds_secret_configs'] = names.map(credentialSds);
    if (validateClient) {
      const dvc: Obj = {};
      if (sans.length > 0) dvc['match_subject_alt_names'] = sans;
      const spki = strings(tls['verifyCertificateSpki']), hash = strings(tls['verifyCertificateHash']);
      if (spki.length > 0) dvc['verify_certificate_spki'] = spki;
      if (hash.length > 0) dvc['verify_certificate_hash'] = hash;
      common['combined_validation_context'] = { default_validation_context: dvc, validation_context_sds_secret_config: credentialSds(names[0]! + CA_SUFFIX) };
    } else if (sans.length > 0) {
      common['validation_context'] = { match_subject_alt_names: sans };
    }
  } else {
    common['tls_certificates'] = [{
      certificate_chain: { filename: String(tls['serverCertificate'] ?? '') },
      private_key: { filename: String(tls['privateKey'] ?? '') },
    }];
    if (validateClient) {
      const vc: Obj = {};
      if (typeof tls['caCertificates'] === 'string' && tls['caCertificates']) vc['trusted_ca'] = { filename: tls['caCertificates'] };
      if (sans.length > 0) vc['match_subject_alt_names'] = sans;
      if (typeof tls['caCrl'] === 'string' && tls['caCrl']) vc['crl'] = { filename: tls['caCrl'] };
      common['validation_context'] = vc;
    }
  }

  if (mode !== 'ISTIO_MUTUAL') {
    const params: Obj = {};
    const min = TLS_VERSIONS[String(tls['minProtocolVersion'] ?? 'TLS_AUTO').toUpperCase()];
    const max = TLS_VERSIONS[String(tls['maxProtocolVersion'] ?? 'TLS_AUTO').toUpperCase()];
    if (min && min !== 'TLS_AUTO') params['tls_minimum_protocol_version'] = min;
    const ciphers = strings(tls['cipherSuites']);
    if (ciphers.length > 0) params['cipher_suites'] = ciphers;
    if (max && max !== 'TLS_AUTO') params['tls_maximum_protocol_version'] = max;
    if (Object.keys(params).length > 0) common['tls_params'] = params;
  }

  return { '@type': DOWNSTREAM_TLS_TYPE, common_tls_context: common, require_client_certificate: { value: requireClient } };
}

/** The transport_socket wrapping a DownstreamTlsContext. */
export function tlsTransportSocket(ctx: Obj): Obj {
  return { name: TLS_TRANSPORT_SOCKET, typed_config: ctx };
}
