/**
 * Shared scene for the gateway SDS goldens: the gateway golden mesh (golden-gateway-common) plus
 * credential Secrets built from the fixed PEM fixtures in test/golden/gateway-sds/fixtures
 * (a test CA and a gw.example.com certificate it signed, a second "client" CA and its CRL; made
 * once with openssl, valid for 100 years, so goldens are stable).
 *
 * `sdsFor(yaml, node, names)` runs the server's pipeline (validation → ModelStore → Registry →
 * snapshot → Registry.contextFor → projected context) and the real worker job body
 * (runGeneration: generator, encode, hash, dependency recording) for SECRET_TYPE_URL, and decodes
 * the answer through Envoy's protos. Certificate bytes are shown in goldens as the fixture file
 * they came from (`fixture:gw.crt`), anything else as base64.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelStore } from '../../../../src/main/model/store';
import { MeshSettings, Registry } from '../../../../src/main/model/registry';
import { DEFAULT_MESH } from '../../../../src/main/mesh-config';
import { parseProxy, NodeInput } from '../../../../src/shared/model/proxy';
import { GenContext, projectContext } from '../../../../src/shared/generation';
import { SECRET_TYPE_URL } from '../../../../src/shared/resources';
import { decodeAny, encodeAny } from '../../../../src/shared/envoy/proto';
import { contentHash } from '../../../../src/shared/hash';
import { toErrorData } from '../../../../src/shared/errors';
import { runGeneration } from '../../../../src/workers/run-generation';
import { parseMesh } from '../../../helpers/golden';
import { publishSnapshot } from '../../../helpers/fixtures';
import { GW_NS, NODE_ID, NODE_META, NS, baseMesh, gateway } from './golden-gateway-common';
import { Envoy, EnvoyOptions, startEnvoy } from '../../../helpers/envoy';

export { GW_NS, NODE_ID, NODE_META, NS };

export const FIXTURE_DIR = path.join(__dirname, '..', '..', '..', '..', '..', 'test', 'golden', 'gateway-sds', 'fixtures');
export const FIXTURES = ['ca.crt', 'gw.crt', 'gw.key', 'client-ca.crt', 'client-ca.crl'] as const;
export type FixtureName = typeof FIXTURES[number];

export function fixture(name: FixtureName): Buffer {
  return fs.readFileSync(path.join(FIXTURE_DIR, name));
}

const b64 = (name: FixtureName) => fixture(name).toString('base64');

/** A Secret manifest; `data` values name fixtures (or are '' for an empty value, or `=text` for literal text). */
export function secret(namespace: string, name: string, type: string, data: Record<string, FixtureName | '' | `=${string}`>): string {
  const lines = Object.entries(data).map(([k, v]) => `  ${k}: "${v === '' ? '' : v.startsWith('=') ? Buffer.from(v.slice(1)).toString('base64') : b64(v as FixtureName)}"`);
  return `apiVersion: v1
kind: Secret
metadata: {name: ${name}, namespace: ${namespace}}
type: ${type}
data:
${lines.join('\n')}
`;
}

/** The credential Secrets of the scene (istio-system unless said otherwise). */
export function secrets(): string {
  return [
    // kubernetes.io/tls: the key pair only
    secret(GW_NS, 'gw-cert', 'kubernetes.io/tls', { 'tls.crt': 'gw.crt', 'tls.key': 'gw.key' }),
    // kubernetes.io/tls with the client CA and its CRL in ca.crt / ca.crl
    secret(GW_NS, 'mtls-cert', 'kubernetes.io/tls', { 'tls.crt': 'gw.crt', 'tls.key': 'gw.key', 'ca.crt': 'client-ca.crt', 'ca.crl': 'client-ca.crl' }),
    // generic (Opaque): cert, key, cacert
    secret(GW_NS, 'generic-cert', 'Opaque', { cert: 'gw.crt', key: 'gw.key', cacert: 'client-ca.crt' }),
    // a key pair whose CA lives in its own `<name>-cacert` Secret (which wins over the pair's ca.crt)
    secret(GW_NS, 'split-cert', 'kubernetes.io/tls', { 'tls.crt': 'gw.crt', 'tls.key': 'gw.key', 'ca.crt': 'client-ca.crt' }),
    secret(GW_NS, 'split-cert-cacert', 'Opaque', { cacert: 'ca.crt' }),
    // unusable ones
    secret(GW_NS, 'empty-cert', 'Opaque', { cert: '', key: '', cacert: '' }),
    secret(GW_NS, 'wrong-keys', 'Opaque', { username: '=admin', password: '=secret' }),
    // another namespace's credential
    secret(NS, 'app-cert', 'kubernetes.io/tls', { 'tls.crt': 'gw.crt', 'tls.key': 'gw.key' }),
  ].join('---\n');
}

/** HTTPS servers on one port (${PORT1}), one per credential, and a VirtualService for their hosts. */
export function gatewayWithCredentials(): string {
  const server = (name: string, host: string, tls: string) => `  - port: {number: \${PORT1}, name: ${name}, protocol: HTTPS}
    hosts: [${host}]
    tls: ${tls}`;
  return `${gateway([
    server('https-gw', 'gw.example.com', '{mode: SIMPLE, credentialName: gw-cert}'),
    server('https-mtls', 'mtls.example.com', '{mode: MUTUAL, credentialName: mtls-cert, subjectAltNames: [client.example.com]}'),
    server('https-generic', 'generic.example.com', '{mode: OPTIONAL_MUTUAL, credentialName: generic-cert}'),
    server('https-split', 'split.example.com', '{mode: MUTUAL, credentialName: split-cert}'),
  ].join('\n'))}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: secure, namespace: ${NS}}
spec:
  hosts: [gw.example.com, mtls.example.com, generic.example.com, split.example.com]
  gateways: [${GW_NS}/public-gw]
  http:
  - route: [{destination: {host: reviews}}]
`;
}

/** The whole scene YAML (golden ports). */
export function scene(extra = ''): string {
  return [baseMesh(), secrets(), gatewayWithCredentials().replace(/\$\{PORT1\}/g, '18443'), extra].filter((s) => s.trim()).join('\n---\n');
}

/** A router node in `namespace` (the ingress gateway by default). */
export function routerNode(namespace = GW_NS): NodeInput {
  return namespace === GW_NS ? { id: NODE_ID, metadata: NODE_META }
    : { id: `router~10.1.0.60~app-gateway-1.${namespace}~${namespace}.svc.cluster.local`, metadata: { NAMESPACE: namespace, LABELS: { istio: 'app-gateway' } } };
}

export const SIDECAR_NODE: NodeInput = { id: `sidecar~10.1.0.11~reviews-v1.${NS}~${NS}.svc.cluster.local`, metadata: { NAMESPACE: NS, LABELS: { app: 'reviews', version: 'v1' } } };

export interface SdsAnswer {
  context: GenContext;
  /** decoded Secrets, in answer order */
  secrets: Array<Record<string, any>>;
  /** name → the dependency keys its generation recorded */
  deps: Record<string, string[]>;
  /** names asked for and not answered, with the dependencies their (empty) generation recorded */
  missing: Record<string, string[]>;
}

/** Generate SDS for `node` over `yaml`, as the config worker does. */
export function sdsFor(yaml: string, node: NodeInput, names: readonly string[]): SdsAnswer {
  const store = new ModelStore();
  store.replaceOrigin('golden', parseMesh(yaml));
  const raw = Object.freeze({ ...DEFAULT_MESH }) as Record<string, unknown>;
  const mesh: MeshSettings = { domainSuffix: 'cluster.local', rootNamespace: 'istio-system', trustDomain: 'cluster.local', raw };
  const registry = new Registry(store, mesh);
  const snap = publishSnapshot(registry.build());
  const parsed = parseProxy(node);
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  const context = registry.contextFor(parsed.value);
  const res = runGeneration(snap.reader, {
    id: 1, snapshotVersion: snap.published.version, root: snap.published.root, typeUrl: SECRET_TYPE_URL,
    context: projectContext(context, SECRET_TYPE_URL), generator: context.generator, names,
  }, encodeAny, contentHash, toErrorData);
  if (res.errors.length > 0) throw new Error(`SDS generation errors: ${res.errors.map((e) => e.message).join('; ')}`);
  const bytes = new Uint8Array(res.buffer);
  const depNames = (idx: readonly number[]) => idx.map((i) => res.deps[i]!).sort();
  return {
    context,
    secrets: res.resources.map((r) => decodeAny(bytes.subarray(r.offset, r.offset + r.length)).value as Record<string, any>),
    deps: Object.fromEntries(res.resources.map((r) => [r.name, depNames(r.deps)])),
    missing: Object.fromEntries(res.missing.map((m) => [m.name, depNames(m.deps)])),
  };
}

/** Bytes fields shown as the fixture they equal (`fixture:gw.crt`), else base64. */
export function readable(v: unknown): unknown {
  if (v instanceof Uint8Array) {
    const b = Buffer.from(v);
    for (const f of FIXTURES) if (fixture(f).equals(b)) return `fixture:${f}`;
    return `base64:${b.toString('base64')}`;
  }
  if (Array.isArray(v)) return v.map(readable);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, readable(x)]));
  return v;
}

// ---------------------------------------------------------------- a gateway Envoy on the secure port

/**
 * A real Envoy whose ADS stream goes to the secure port (TLS, server name istiod.istio-system.svc,
 * verified against `rootPem`) and authenticates with a bearer JWT, as an Istio gateway's agent
 * does: gateway credentials are served over SDS only to streams whose identity was verified
 * (Istio SecretGen refuses them on the plaintext port). Same bootstrap as test/helpers/envoy.ts
 * otherwise.
 */
export function startSecureEnvoy(envoyPath: string, opts: EnvoyOptions & { rootPem: string; token: string }): Promise<Envoy> {
  return startEnvoy(envoyPath, { ...opts, xdsTls: { rootPem: opts.rootPem, token: opts.token } });
}
