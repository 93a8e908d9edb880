/**
 * The scenes of the sidecar golden tests (YAML + node), shared by the golden assertions and the
 * real-Envoy ACK runs.
 */
import { Scene, sidecarId } from './golden-sidecar-common';

/** Outbound listeners: HTTP, TCP with VIP, TLS by SNI, HTTP+TCP on one port, VirtualService tcp/tls routes. */
export const OUTBOUND: Scene = { nodeId: sidecarId('10.1.0.9', 'productpage-1', 'bookinfo'), yaml: `
apiVersion: v1
kind: Namespace
metadata: {name: bookinfo}
---
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo}
spec: {clusterIP: 10.96.0.10, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: other}
spec: {clusterIP: 10.96.0.11, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: tcp-echo, namespace: bookinfo}
spec: {clusterIP: 10.96.0.30, ports: [{name: tcp, port: 9000}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: bookinfo}
spec: {clusterIP: 10.96.0.31, ports: [{name: http-web, port: 9000}]}
---
apiVersion: v1
kind: Service
metadata: {name: admin, namespace: bookinfo}
spec: {clusterIP: 10.96.0.32, ports: [{name: http-admin, port: 7000}]}
---
apiVersion: v1
kind: Service
metadata: {name: legacy, namespace: bookinfo}
spec: {clusterIP: None, ports: [{name: tcp-legacy, port: 7000}]}
---
apiVersion: v1
kind: Service
metadata: {name: cassandra, namespace: bookinfo}
spec: {clusterIP: None, ports: [{name: http, port: 9080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: legacy-1, namespace: bookinfo, labels: {kubernetes.io/service-name: legacy}}
addressType: IPv4
ports: [{name: tcp-legacy, port: 7000}]
endpoints: [{addresses: [10.1.7.1]}, {addresses: [10.1.7.2]}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ftp, namespace: bookinfo}
spec:
  hosts: [ftp.example.com]
  ports: [{number: 7000, name: tcp, protocol: TCP}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: bookinfo}
spec:
  hosts: [api.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
  location: MESH_EXTERNAL
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: pay, namespace: bookinfo}
spec:
  hosts: [pay.example.com]
  ports: [{number: 443, name: https, protocol: HTTPS}]
  resolution: DNS
  location: MESH_EXTERNAL
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: tcp-echo, namespace: bookinfo}
spec:
  host: tcp-echo
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tcp-echo, namespace: bookinfo}
spec:
  hosts: [tcp-echo]
  tcp:
  - route:
    - {destination: {host: tcp-echo, subset: v1}, weight: 80}
    - {destination: {host: tcp-echo, subset: v2}, weight: 20}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: bookinfo}
spec:
  hosts: [api.example.com]
  tls:
  - match: [{port: 443, sniHosts: [api.example.com]}]
    route:
    - {destination: {host: api.example.com, port: {number: 443}}, weight: 90}
    - {destination: {host: pay.example.com, port: {number: 443}}, weight: 10}
` };

/** ServiceEntry resolutions, addresses, endpoints and workloadSelector (WorkloadEntries and Pods); a VirtualService for a host without a service. */
export const SERVICE_ENTRIES: Scene = {
  nodeId: sidecarId('10.2.0.9', 'client-1', 'shop'),
  yaml: `
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: inventory, namespace: shop}
spec:
  hosts: [inventory.shop.internal]
  addresses: [240.0.0.10]
  ports: [{number: 7070, name: http, protocol: HTTP, targetPort: 8080}]
  location: MESH_INTERNAL
  resolution: STATIC
  workloadSelector: {labels: {app: inventory}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: inventory-vm-1, namespace: shop}
spec: {address: 10.3.0.1, labels: {app: inventory, version: v1}, locality: us-east/us-east-1a, serviceAccount: inventory}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: billing-vm-1, namespace: shop}
spec: {address: 10.3.0.9, labels: {app: billing}}
---
apiVersion: v1
kind: Pod
metadata: {name: inventory-pod-1, namespace: shop, labels: {app: inventory, version: v2}}
spec: {serviceAccountName: inventory, containers: [{name: app, image: inventory}]}
status: {podIP: 10.3.0.2}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ledger, namespace: shop}
spec:
  hosts: [ledger.shop.internal]
  addresses: [240.0.0.11]
  ports: [{number: 5432, name: tcp-pg, protocol: TCP}]
  location: MESH_INTERNAL
  resolution: STATIC
  endpoints:
  - {address: 10.3.1.1}
  - {address: 10.3.1.2, ports: {tcp-pg: 15432}, weight: 3}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: mirror, namespace: shop}
spec:
  hosts: [mirror.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
  endpoints:
  - {address: us.mirror.example.com, locality: us-east/us-east-1a}
  - {address: eu.mirror.example.com, locality: eu-west/eu-west-1a, weight: 2}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: httpbin, namespace: shop}
spec:
  hosts: [httpbin.org]
  ports: [{number: 80, name: http, protocol: HTTP}, {number: 443, name: https, protocol: HTTPS}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: old-store, namespace: shop}
spec:
  hosts: [old-store.example.com]
  http:
  - route: [{destination: {host: httpbin.org, port: {number: 80}}}]
---
apiVersion: v1
kind: Service
metadata: {name: docs, namespace: shop}
spec: {type: ExternalName, externalName: docs.example.org, ports: [{name: http, port: 8000}]}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: cdn, namespace: shop}
spec:
  hosts: [cdn.example.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS_ROUND_ROBIN
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: corp, namespace: shop}
spec:
  hosts: [corp.internal]
  addresses: [192.168.0.0/16]
  ports: [{number: 3306, name: tcp-mysql, protocol: TCP}]
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: cache, namespace: shop}
spec:
  hosts: [cache.shop.internal]
  ports: [{number: 6379, name: tcp-redis, protocol: TCP}]
  location: MESH_INTERNAL
  resolution: NONE
  workloadSelector: {labels: {app: cache}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: cache-1, namespace: shop}
spec: {address: 10.3.2.1, labels: {app: cache}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: cache-2, namespace: shop}
spec: {address: 10.3.2.2, labels: {app: cache}}
`,
};

/** The proxy's own workload: reviews-v1 (10.1.0.5) serves three ports of `reviews`. */
export const INBOUND: Scene = {
  nodeId: sidecarId('10.1.0.5', 'reviews-v1', 'bookinfo'),
  yaml: `
apiVersion: v1
kind: Namespace
metadata: {name: bookinfo}
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo}
spec:
  clusterIP: 10.96.0.10
  selector: {app: reviews}
  ports:
  - {name: http, port: 9080, targetPort: 9080}
  - {name: grpc, port: 9090, targetPort: 9091}
  - {name: tcp-metrics, port: 9100, targetPort: 9100}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v1, namespace: bookinfo, labels: {app: reviews, version: v1}}
spec: {serviceAccountName: reviews, containers: [{name: reviews, image: reviews}]}
status: {podIP: 10.1.0.5}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: reviews-1, namespace: bookinfo, labels: {kubernetes.io/service-name: reviews}}
addressType: IPv4
ports: [{name: http, port: 9080}, {name: grpc, port: 9091}, {name: tcp-metrics, port: 9100}]
endpoints:
- addresses: [10.1.0.5]
  targetRef: {kind: Pod, name: reviews-v1, namespace: bookinfo}
`,
};

/** The same workload with a Sidecar whose ingress listeners replace the service ports. */
export const INGRESS: Scene = {
  nodeId: INBOUND.nodeId,
  metadata: { LABELS: { app: 'reviews', version: 'v1' } },
  yaml: `${INBOUND.yaml}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: reviews, namespace: bookinfo}
spec:
  workloadSelector: {labels: {app: reviews}}
  ingress:
  - port: {number: 9080, protocol: HTTP, name: http}
    defaultEndpoint: 127.0.0.1:8080
  - port: {number: 19443, protocol: TCP, name: tcp-admin}
    bind: 127.0.0.1
    captureMode: NONE
    defaultEndpoint: unix:///var/run/reviews/admin.sock
  egress:
  - hosts: ["./*"]
`,
};

/**
 * Sidecar scoping: frontend's default Sidecar (an egress port listener bound on 127.0.0.1 with
 * captureMode NONE, a catch-all importing ./* and one backend host, REGISTRY_ONLY), a
 * workload-selected Sidecar for app=web-canary (everything, ALLOW_ANY through an egress proxy), and
 * the root namespace's default Sidecar for every other namespace.
 */
export const SCOPE_YAML = `
apiVersion: v1
kind: Namespace
metadata: {name: frontend}
---
apiVersion: v1
kind: Namespace
metadata: {name: backend}
---
apiVersion: v1
kind: Namespace
metadata: {name: legacy}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: frontend}
spec: {clusterIP: 10.96.1.10, ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: backend}
spec: {clusterIP: 10.96.2.10, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: backend}
spec: {clusterIP: 10.96.2.20, ports: [{name: tcp-pg, port: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: search, namespace: backend}
spec: {clusterIP: 10.96.2.30, ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: old, namespace: legacy}
spec: {clusterIP: 10.96.3.10, ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: egress, namespace: istio-system}
spec: {clusterIP: 10.96.9.10, ports: [{name: http, port: 80}]}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: frontend}
spec:
  egress:
  - port: {number: 9080, protocol: HTTP, name: http-api}
    bind: 127.0.0.1
    captureMode: NONE
    hosts: [backend/api.backend.svc.cluster.local]
  - hosts: ["./*", backend/db.backend.svc.cluster.local, "~/*"]
  outboundTrafficPolicy: {mode: REGISTRY_ONLY}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: canary, namespace: frontend}
spec:
  workloadSelector: {labels: {app: web-canary}}
  egress:
  - hosts: ["*/*"]
  outboundTrafficPolicy:
    mode: ALLOW_ANY
    egressProxy: {host: egress.istio-system.svc.cluster.local, port: {number: 80}}
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: default, namespace: istio-system}
spec:
  egress:
  - hosts: ["./*", istio-system/*]
`;

export const SCOPE_FRONTEND: Scene = { yaml: SCOPE_YAML, nodeId: sidecarId('10.4.0.1', 'web-1', 'frontend'), metadata: { LABELS: { app: 'web' } } };
export const SCOPE_CANARY: Scene = { yaml: SCOPE_YAML, nodeId: sidecarId('10.4.0.2', 'web-canary-1', 'frontend'), metadata: { LABELS: { app: 'web-canary' } } };
export const SCOPE_LEGACY: Scene = { yaml: SCOPE_YAML, nodeId: sidecarId('10.4.0.3', 'old-1', 'legacy') };

/** Mesh-wide REGISTRY_ONLY without a Sidecar. */
export const REGISTRY_ONLY: Scene = {
  yaml: OUTBOUND.yaml, nodeId: OUTBOUND.nodeId, mesh: { outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' } },
};

/**
 * Undeclared protocols (Istio protocol sniffing): an unnamed port on a VIP, a headless service with
 * an unprefixed port name, an unnamed well-known MongoDB port (TCP, never sniffed), an HTTP service
 * sharing the port; the proxy's own workload serves the sniffed port.
 */
export const SNIFFING: Scene = {
  nodeId: sidecarId('10.5.0.5', 'legacy-1', 'web'),
  yaml: `
apiVersion: v1
kind: Namespace
metadata: {name: web}
---
apiVersion: v1
kind: Service
metadata: {name: legacy, namespace: web}
spec: {clusterIP: 10.96.5.10, selector: {app: legacy}, ports: [{port: 8000, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: legacy-1, namespace: web, labels: {kubernetes.io/service-name: legacy}}
addressType: IPv4
ports: [{port: 8080}]
endpoints: [{addresses: [10.5.0.5]}]
---
apiVersion: v1
kind: Service
metadata: {name: stateful, namespace: web}
spec: {clusterIP: None, ports: [{name: web, port: 8000}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: stateful-1, namespace: web, labels: {kubernetes.io/service-name: stateful}}
addressType: IPv4
ports: [{name: web, port: 8000}]
endpoints: [{addresses: [10.5.0.7]}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: web}
spec: {clusterIP: 10.96.5.20, ports: [{port: 27017}]}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: web}
spec: {clusterIP: 10.96.5.30, ports: [{name: http, port: 8000}]}
`,
};
