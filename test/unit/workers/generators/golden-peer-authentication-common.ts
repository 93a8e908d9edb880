/**
 * Scenes for the PeerAuthentication goldens: the `reviews` workload (bookinfo) serving an HTTP port
 * (9080), a sniffed port (9090, name without protocol) and a TCP port (9100), and a `productpage`
 * client in the same namespace. Pods carry the injector's security.istio.io/tlsMode=istio label,
 * except `legacy` (no sidecar).
 */
import { Scene, sidecarId } from './golden-sidecar-common';
import { parseMesh } from '../../../helpers/golden';
import { publishSnapshot } from '../../../helpers/fixtures';
import { ModelStore } from '../../../../src/main/model/store';
import { Registry } from '../../../../src/main/model/registry';
import { DEFAULT_MESH } from '../../../../src/main/mesh-config';
import { parseProxy } from '../../../../src/shared/model/proxy';
import { sidecarInboundListeners } from '../../../../src/workers/generators/sidecar-inbound';
import { decodeAny, encodeAny } from '../../../../src/shared/envoy/proto';
import { LISTENER_TYPE_URL } from '../../../../src/shared/resources';

export const NS = 'bookinfo';
export const REVIEWS_NODE = sidecarId('10.1.0.5', 'reviews-v1', NS);
export const PRODUCTPAGE_NODE = sidecarId('10.1.0.9', 'productpage-v1', NS);
export const REVIEWS_META = { LABELS: { app: 'reviews', version: 'v1', 'security.istio.io/tlsMode': 'istio' } };
export const PRODUCTPAGE_META = { LABELS: { app: 'productpage', version: 'v1', 'security.istio.io/tlsMode': 'istio' } };

export const BASE = `
apiVersion: v1
kind: Namespace
metadata: {name: ${NS}}
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: ${NS}}
spec:
  clusterIP: 10.96.0.10
  selector: {app: reviews}
  ports:
  - {name: http, port: 9080, targetPort: 9080}
  - {name: web, port: 9090, targetPort: 9090}
  - {name: tcp-metrics, port: 9100, targetPort: 9100}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v1, namespace: ${NS}, labels: {app: reviews, version: v1, security.istio.io/tlsMode: istio}}
spec: {serviceAccountName: reviews, containers: [{name: reviews, image: reviews}]}
status: {podIP: 10.1.0.5}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-legacy, namespace: ${NS}, labels: {app: reviews, version: legacy}}
spec: {serviceAccountName: legacy, containers: [{name: reviews, image: reviews}]}
status: {podIP: 10.1.0.6}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: reviews-1, namespace: ${NS}, labels: {kubernetes.io/service-name: reviews}}
addressType: IPv4
ports: [{name: http, port: 9080}, {name: web, port: 9090}, {name: tcp-metrics, port: 9100}]
endpoints:
- addresses: [10.1.0.5]
  targetRef: {kind: Pod, name: reviews-v1, namespace: ${NS}}
- addresses: [10.1.0.6]
  targetRef: {kind: Pod, name: reviews-legacy, namespace: ${NS}}
---
apiVersion: v1
kind: Service
metadata: {name: productpage, namespace: ${NS}}
spec:
  clusterIP: 10.96.0.20
  selector: {app: productpage}
  ports:
  - {name: http, port: 9080, targetPort: 9080}
---
apiVersion: v1
kind: Pod
metadata: {name: productpage-v1, namespace: ${NS}, labels: {app: productpage, version: v1, security.istio.io/tlsMode: istio}}
spec: {serviceAccountName: productpage, containers: [{name: productpage, image: productpage}]}
status: {podIP: 10.1.0.9}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: productpage-1, namespace: ${NS}, labels: {kubernetes.io/service-name: productpage}}
addressType: IPv4
ports: [{name: http, port: 9080}]
endpoints:
- addresses: [10.1.0.9]
  targetRef: {kind: Pod, name: productpage-v1, namespace: ${NS}}
`;

/** A PeerAuthentication document. */
export function pa(name: string, namespace: string, spec: string, created = '2026-01-01T00:00:00Z'): string {
  return `---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: ${name}, namespace: ${namespace}, creationTimestamp: "${created}"}
spec:
${spec}`;
}

export function reviews(extra = '', metadata: Record<string, unknown> = REVIEWS_META): Scene {
  return { nodeId: REVIEWS_NODE, metadata, yaml: `${BASE}\n${extra}` };
}

export function productpage(extra = ''): Scene {
  return { nodeId: PRODUCTPAGE_NODE, metadata: PRODUCTPAGE_META, yaml: `${BASE}\n${extra}` };
}

/** A compact view of the inbound chains: name, match, whether they terminate mTLS, the first filter. */
export function chainSummary(listener: Record<string, any>): string[] {
  return (listener['filter_chains'] ?? []).map((fc: any) => {
    const m = fc.filter_chain_match ?? {};
    const alpn = m.application_protocols ? `[${m.application_protocols.join(',')}]` : '';
    const filter = String(fc.filters?.[fc.filters.length - 1]?.name ?? '').replace('envoy.filters.network.', '');
    return `${fc.name} port=${m.destination_port?.value ?? '*'} ${m.transport_protocol ?? ''}${alpn} ${fc.transport_socket ? 'mTLS' : 'plain'} ${filter}`;
  });
}

/**
 * The sidecar's inbound listeners generated with the proxy's whole (unprojected) context, decoded as
 * Envoy sees them: the facet pipeline must give the same (the inbound LDS facet keys on namespace
 * and labels, which namespace- and workload-level policies need).
 */
export function inboundListenersWithFullContext(scene: Scene): Array<Record<string, any>> {
  const store = new ModelStore();
  store.replaceOrigin('golden', parseMesh(scene.yaml));
  const raw = Object.freeze({ ...DEFAULT_MESH, ...(scene.mesh ?? {}) }) as Record<string, unknown>;
  const registry = new Registry(store, { domainSuffix: 'cluster.local', rootNamespace: 'istio-system', trustDomain: 'cluster.local', raw });
  const snap = publishSnapshot(registry.build());
  const parsed = parseProxy({ id: scene.nodeId, metadata: scene.metadata });
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  const ctx = registry.contextFor(parsed.value);
  return sidecarInboundListeners(snap.view, ctx, null).map((g) => decodeAny(encodeAny(LISTENER_TYPE_URL, g.resource)).value as Record<string, any>);
}
