/**
 * The xDS Node a simulated proxy presents: Istio's sidecar node ID and the metadata istio-agent
 * puts in a sidecar's bootstrap (namespace, labels, service account, workload, interception
 * mode, ...). One function, so the load tester and the fidelity test (which gives a real Envoy
 * the same node) cannot drift apart.
 */
import { ProxySpec } from '../protocol';
import { NodeSpec } from './xds-codec';

export interface NodeOptions { istioVersion: string; clusterId: string }

export function proxyNode(spec: ProxySpec, opts: NodeOptions): NodeSpec {
  return {
    id: spec.nodeId,
    cluster: `${spec.service}.${spec.namespace}`,
    locality: { region: 'region-1', zone: 'zone-a' },
    metadata: {
      NAME: spec.podName,
      NAMESPACE: spec.namespace,
      LABELS: spec.labels,
      ISTIO_VERSION: opts.istioVersion,
      CLUSTER_ID: opts.clusterId,
      INTERCEPTION_MODE: 'REDIRECT',
      SERVICE_ACCOUNT: spec.serviceAccount,
      WORKLOAD_NAME: spec.service,
      MESH_ID: 'cluster.local',
      INSTANCE_IPS: spec.ip,
      OWNER: `kubernetes://apis/apps/v1/namespaces/${spec.namespace}/deployments/${spec.service}`,
      POD_PORTS: '[{"name":"http","containerPort":8080,"protocol":"TCP"}]',
      ENVOY_STATUS_PORT: 15021,
      ENVOY_PROMETHEUS_PORT: 15090,
    },
  };
}
