/**
 * Scenes of the AuthorizationPolicy golden tests: one workload (httpbin v1 in namespace foo, pod
 * 10.1.0.5, HTTP port 8000→80 and TCP port 9000) and policies added per case. Shared by the golden
 * assertions and the real-Envoy ACK runs.
 */
import { Scene, sidecarId } from './golden-sidecar-common';
import { GeneratedSet } from '../../../helpers/golden';

export const WORKLOAD = `
apiVersion: v1
kind: Namespace
metadata: {name: foo}
---
apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: foo}
spec:
  clusterIP: 10.96.0.20
  selector: {app: httpbin}
  ports:
  - {name: http, port: 8000, targetPort: 80}
  - {name: tcp, port: 9000, targetPort: 9000}
---
apiVersion: v1
kind: Pod
metadata: {name: httpbin-v1, namespace: foo, labels: {app: httpbin, version: v1}}
spec: {serviceAccountName: httpbin, containers: [{name: httpbin, image: httpbin}]}
status: {podIP: 10.1.0.5}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: httpbin-1, namespace: foo, labels: {kubernetes.io/service-name: httpbin}}
addressType: IPv4
ports: [{name: http, port: 80}, {name: tcp, port: 9000}]
endpoints:
- addresses: [10.1.0.5]
  targetRef: {kind: Pod, name: httpbin-v1, namespace: foo}
`;

export function scene(policies: string, mesh?: Record<string, unknown>): Scene {
  return {
    nodeId: sidecarId('10.1.0.5', 'httpbin-v1', 'foo'),
    metadata: { LABELS: { app: 'httpbin', version: 'v1' }, NAMESPACE: 'foo' },
    yaml: `${WORKLOAD}---\n${policies}`,
    mesh,
  };
}

const RBAC_NAMES = ['envoy.filters.http.rbac', 'envoy.filters.http.ext_authz', 'envoy.filters.network.rbac', 'envoy.filters.network.ext_authz'];

/** The authorization filters of the HTTP chain (port 80) and the TCP chain (port 9000) of virtualInbound. */
export function authzFilters(set: GeneratedSet): { http: unknown[]; tcp: unknown[] } {
  const vi = set.listeners.find((l) => l['name'] === 'virtualInbound');
  if (!vi) throw new Error('virtualInbound not generated');
  const chain = (port: number) => (vi['filter_chains'] as any[]).filter((c) => c.filter_chain_match?.destination_port?.value === port);
  const httpChains = chain(80);
  const tcpChains = chain(9000);
  if (httpChains.length === 0 || tcpChains.length === 0) throw new Error('inbound chains for 80 and 9000 missing');
  const hcm = httpChains[0].filters.find((f: any) => f.name === 'envoy.filters.network.http_connection_manager');
  return {
    http: (hcm.typed_config.http_filters as any[]).filter((f) => RBAC_NAMES.includes(f.name)),
    tcp: (tcpChains[0].filters as any[]).filter((f) => RBAC_NAMES.includes(f.name)),
  };
}

export const ALLOW_NOTHING = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-nothing, namespace: foo}
spec: {}
`;

/** DENY /admin (HTTP-only: denies the whole TCP port) and ALLOW GET only (dropped on TCP: deny all there). */
export const DENY_AND_ALLOW = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: foo, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  selector: {matchLabels: {app: httpbin}}
  action: DENY
  rules:
  - to: [{operation: {paths: ["/admin", "/admin/*"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-get, namespace: foo, creationTimestamp: "2026-01-02T00:00:00Z"}
spec:
  selector: {matchLabels: {app: httpbin, version: v1}}
  action: ALLOW
  rules:
  - to: [{operation: {methods: ["GET", "HEAD"], notPaths: ["/private*"]}}]
`;

/** Every source field and not-form, the supported `when` keys, TCP-compatible port rules. */
export const FULL_RULE = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: full, namespace: foo}
spec:
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/foo/sa/sleep", "cluster.local/ns/bar/*", "*/sa/admin", "*"]
        notPrincipals: ["cluster.local/ns/foo/sa/evil"]
        namespaces: ["foo", "team-*"]
        notNamespaces: ["kube-system"]
        ipBlocks: ["10.1.0.0/16", "192.168.1.1"]
        notIpBlocks: ["10.1.9.0/24"]
        remoteIpBlocks: ["203.0.113.0/24"]
        requestPrincipals: ["https://issuer.example.com/alice", "https://other.example.com/*", "*"]
    - source:
        serviceAccounts: ["sleep", "bar/curl"]
        notServiceAccounts: ["foo/evil"]
    to:
    - operation:
        hosts: ["httpbin.foo.svc.cluster.local", "*.example.com"]
        notHosts: ["admin.example.com"]
        ports: ["80", "9000"]
        notPorts: ["8080"]
        methods: ["GET", "POST"]
        notMethods: ["DELETE"]
        paths: ["/api/*", "*.json", "/exact", "/items/{*}/detail", "/files/{**}"]
        notPaths: ["/api/internal*"]
    when:
    - {key: "request.headers[x-team]", values: ["blue", "green-*"], notValues: ["*-test"]}
    - {key: "request.experimental.inline.headers[x-forwarded-client]", values: ["10.0.0.1", "*.internal"]}
    - {key: source.ip, values: ["10.1.0.0/16"]}
    - {key: remote.ip, notValues: ["198.51.100.7"]}
    - {key: source.namespace, values: ["foo"]}
    - {key: source.principal, values: ["cluster.local/ns/foo/sa/sleep"]}
    - {key: source.serviceAccount, values: ["sleep"]}
    - {key: request.auth.principal, values: ["https://issuer.example.com/alice"]}
    - {key: request.auth.audiences, values: ["httpbin", "api-*"]}
    - {key: request.auth.presenter, values: ["client-app"]}
    - {key: "request.auth.claims[groups]", values: ["admins"]}
    - {key: "request.auth.claims[nested][role]", notValues: ["guest"]}
    - {key: destination.ip, values: ["10.1.0.5"]}
    - {key: destination.port, values: ["80", "9000"]}
    - {key: connection.sni, values: ["*.foo.svc.cluster.local"]}
    - {key: "experimental.envoy.filters.network.mysql_proxy[db.table]", values: ["[update]", "select"]}
  - from: [{source: {namespaces: ["bar"]}}]
    to: [{operation: {ports: ["9000"]}}]
`;

/** Selection: mesh-wide (root namespace), namespace-wide, a matching and a non-matching selector, a targetRef, another namespace. */
export const SELECTION = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: mesh-deny, namespace: istio-system}
spec:
  action: DENY
  rules: [{from: [{source: {ipBlocks: ["192.0.2.0/24"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: root-selected, namespace: istio-system}
spec:
  selector: {matchLabels: {app: httpbin}}
  action: AUDIT
  rules: [{to: [{operation: {methods: ["DELETE"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ns-wide, namespace: foo}
spec:
  action: ALLOW
  rules: [{from: [{source: {namespaces: ["foo"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: other-app, namespace: foo}
spec:
  selector: {matchLabels: {app: sleep}}
  action: DENY
  rules: [{}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: for-gateway, namespace: foo}
spec:
  targetRefs: [{kind: Service, group: "", name: httpbin}]
  action: DENY
  rules: [{}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: elsewhere, namespace: bar}
spec:
  action: DENY
  rules: [{}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-none, namespace: foo}
spec:
  selector: {matchLabels: {version: v1}}
  action: DENY
  rules: [{to: [{operation: {ports: ["9000"]}}], from: [{source: {notPrincipals: ["*"]}}]}]
`;

/** CUSTOM through an HTTP provider (HTTP chains only) and a gRPC provider (HTTP and TCP). */
export const CUSTOM_HTTP = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext-authz, namespace: foo}
spec:
  action: CUSTOM
  provider: {name: http-authz}
  rules: [{to: [{operation: {paths: ["/headers"]}}]}]
---
apiVersion: v1
kind: Service
metadata: {name: ext-authz, namespace: foo}
spec:
  clusterIP: 10.96.0.40
  ports: [{name: http, port: 8000}, {name: grpc, port: 9001}]
`;

export const CUSTOM_MESH = {
  extensionProviders: [
    {
      name: 'http-authz',
      envoyExtAuthzHttp: {
        service: 'ext-authz.foo.svc.cluster.local', port: 8000, pathPrefix: '/check', statusOnError: '503', failOpen: false,
        includeRequestHeadersInCheck: ['x-ext-authz', 'x-prefix-*'], headersToUpstreamOnAllow: ['x-user'], headersToDownstreamOnDeny: ['content-type'],
        includeAdditionalHeadersInCheck: { 'x-from': 'istiod-ts' },
      },
    },
    { name: 'grpc-authz', envoyExtAuthzGrpc: { service: 'foo/ext-authz.foo.svc.cluster.local', port: 9001, timeout: '0.5s' } },
  ],
};

export const CUSTOM_GRPC = CUSTOM_HTTP.replace('name: http-authz', 'name: grpc-authz');
export const CUSTOM_BAD = CUSTOM_HTTP.replace('name: http-authz', 'name: nowhere');
