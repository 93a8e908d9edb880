/** grpc-js-xds channel/server option that carries a bootstrap JSON instead of GRPC_XDS_BOOTSTRAP. */
export const BOOTSTRAP_OPTION = 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config';

/** gRPC xDS bootstrap JSON for proxyless clients, shaped like Istio's grpc-agent bootstrap. */
export function grpcBootstrap(serverTarget: string, opts: { podName: string; namespace: string; ip?: string }): string {
  return JSON.stringify({
    xds_servers: [{ server_uri: serverTarget, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: {
      id: `sidecar~${opts.ip ?? '127.0.0.1'}~${opts.podName}.${opts.namespace}~${opts.namespace}.svc.cluster.local`,
      // grpc-js-xds refuses a bootstrap whose node has no locality
      locality: { region: '', zone: '', sub_zone: '' },
      metadata: { GENERATOR: 'grpc', NAMESPACE: opts.namespace, ISTIO_VERSION: '1.30.0', CLUSTER_ID: 'Kubernetes' },
    },
    server_listener_resource_name_template: 'xds.istio.io/grpc/lds/inbound/%s',
  });
}
