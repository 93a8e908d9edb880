/**
 * Gateway credentials over SDS (Istio pilot/pkg/xds/sds.go, credentials/kube/secrets.go):
 * - the gateway listener references `kubernetes://<credentialName>` over ADS SDS, and
 *   `kubernetes://<credentialName>-cacert` for the client CA of MUTUAL / OPTIONAL_MUTUAL;
 * - a router proxy asking for those names gets `Secret` resources built from Secrets of its own
 *   namespace: kubernetes.io/tls (tls.crt, tls.key; ca.crt, ca.crl for -cacert) and generic
 *   (cert, key; cacert); `<name>-cacert` resolves to the Secret `<name>-cacert` if it exists,
 *   else to `<name>`;
 * - another namespace's Secret is never served, nor one that is missing or lacks the keys (the
 *   resource is omitted, the others still served); sidecars get nothing;
 * - each resource depends on exactly the Secrets it read; everything is structurally valid and a
 *   real Envoy gateway on the secure port ACKs it (SDS included) and activates the listener; the
 *   plaintext port serves no credentials (Istio: only to a verified identity).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertGolden, generateFor } from '../../../helpers/golden';
import { ENVOY_PATH, ENVOY_SKIP, errorStates, rejectedStats } from '../../../helpers/envoy-ack';
import { Envoy, dumpSection } from '../../../helpers/envoy';
import { startCaServer, tokenFor } from '../../../helpers/ca-client';
import { AdsClient } from '../../../helpers/ads-client';
import { configDump } from '../../../../src/main/http/debug-xds';
import { freePort } from '../../../helpers/server';
import { waitFor } from '../../../helpers/wait-for';
import { validateResources } from '../../../../src/shared/envoy/validate';
import { SECRET_TYPE_URL } from '../../../../src/shared/resources';
import { buildSecret } from '../../../../src/workers/generators/secrets';
import { config, publishSnapshot, snapshotInput } from '../../../helpers/fixtures';
import { baseMesh } from './golden-gateway-common';
import {
  GW_NS, NODE_ID, NODE_META, NS, SIDECAR_NODE, fixture, gatewayWithCredentials, readable, routerNode, scene, sdsFor, secrets, startSecureEnvoy,
} from './golden-gateway-sds-common';

/** Every SDS name the listeners of `set` reference over ADS. */
function adsSdsNames(listeners: Array<Record<string, any>>): string[] {
  const out = new Set<string>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) { v.forEach(visit); return; }
    if (!v || typeof v !== 'object') return;
    const o = v as Record<string, any>;
    if (typeof o['name'] === 'string' && o['sds_config']?.['ads'] !== undefined) out.add(o['name']);
    for (const x of Object.values(o)) visit(x);
  };
  visit(listeners);
  return [...out].sort();
}

function assertSecretsValid(list: Array<Record<string, any>>): void {
  assert.deepEqual(validateResources({ secrets: list }), []);
}

test('gateway listener: credentialName over ADS SDS with the names Istio uses (kubernetes://<name>, -cacert for MUTUAL/OPTIONAL_MUTUAL)', () => {
  const set = generateFor(scene(), { id: NODE_ID, metadata: NODE_META });
  const l = set.listeners.find((x) => x['name'] === '0.0.0.0_18443');
  assert.ok(l, 'the HTTPS listener');
  const chains = (l['filter_chains'] as any[]).map((fc) => ({
    server_names: fc['filter_chain_match']?.['server_names'],
    common_tls_context: fc['transport_socket']?.['typed_config']?.['common_tls_context'],
    require_client_certificate: fc['transport_socket']?.['typed_config']?.['require_client_certificate'],
  }));
  assertGolden('gateway-sds/listener-sds-configs', chains);
  assert.deepEqual(adsSdsNames(set.listeners), [
    'kubernetes://generic-cert', 'kubernetes://generic-cert-cacert', 'kubernetes://gw-cert', 'kubernetes://mtls-cert',
    'kubernetes://mtls-cert-cacert', 'kubernetes://split-cert', 'kubernetes://split-cert-cacert',
  ]);
});

test('kubernetes.io/tls Secret: tls.crt/tls.key as an inline TlsCertificate, for kubernetes://<name>, kubernetes://<own-ns>/<name> and <name>', () => {
  const names = ['kubernetes://gw-cert', `kubernetes://${GW_NS}/gw-cert`, 'gw-cert'];
  const a = sdsFor(scene(), routerNode(), names);
  assert.deepEqual(a.secrets.map((s) => s['name']), names);
  assertSecretsValid(a.secrets);
  assertGolden('gateway-sds/tls-secret', readable(a.secrets));
  for (const n of names) assert.deepEqual(a.deps[n], [`cfg:Secret/${GW_NS}/gw-cert`], `${n} depends on the one Secret it read`);
});

test('generic Secret: cert/key as the key pair, cacert as -cacert (no <name>-cacert Secret: the pair\'s own Secret)', () => {
  const names = ['kubernetes://generic-cert', 'kubernetes://generic-cert-cacert'];
  const a = sdsFor(scene(), routerNode(), names);
  assertSecretsValid(a.secrets);
  assertGolden('gateway-sds/generic-secret', readable(a.secrets));
  assert.deepEqual(a.deps['kubernetes://generic-cert-cacert'], [`cfg:Secret/${GW_NS}/generic-cert`, `cfg:Secret/${GW_NS}/generic-cert-cacert`],
    'the -cacert lookup depends on both names: creating generic-cert-cacert later changes the answer');
});

test('-cacert: ca.crt + ca.crl of a kubernetes.io/tls Secret; a dedicated <name>-cacert Secret wins over the pair\'s ca.crt', () => {
  const names = ['kubernetes://mtls-cert-cacert', 'kubernetes://split-cert-cacert', 'kubernetes://split-cert'];
  const a = sdsFor(scene(), routerNode(), names);
  assertSecretsValid(a.secrets);
  assertGolden('gateway-sds/cacert', readable(a.secrets));
  const split = a.secrets.find((s) => s['name'] === 'kubernetes://split-cert-cacert')!;
  assert.equal(readable(split['validation_context']['trusted_ca']['inline_bytes']), 'fixture:ca.crt');
  assert.deepEqual(a.deps['kubernetes://split-cert-cacert'], [`cfg:Secret/${GW_NS}/split-cert-cacert`], 'found at the first name: the stripped one is not read');
});

test('another namespace\'s Secret is never served: not by kubernetes://<ns>/<name>, not read at all; its own gateway gets it', () => {
  const ingress = sdsFor(scene(), routerNode(), [`kubernetes://${NS}/app-cert`, `kubernetes://${NS}/app-cert-cacert`, 'kubernetes://gw-cert']);
  assert.deepEqual(ingress.secrets.map((s) => s['name']), ['kubernetes://gw-cert'], 'only its own namespace\'s secret');
  assert.deepEqual(ingress.missing[`kubernetes://${NS}/app-cert`], [], 'the refused name read no Secret');
  const apps = sdsFor(scene(), routerNode(NS), ['kubernetes://app-cert', `kubernetes://${GW_NS}/gw-cert`, 'kubernetes://gw-cert']);
  assert.equal(apps.context.namespace, NS);
  assert.deepEqual(apps.secrets.map((s) => s['name']), ['kubernetes://app-cert'], 'a gateway in apps: its own Secret, none of istio-system\'s');
  assertGolden('gateway-sds/other-namespace', readable({ ingress: ingress.secrets, apps: apps.secrets }));
});

test('missing or unusable Secrets are omitted (the rest is served), with Istio\'s reasons; their generations still depend on the names', () => {
  const names = ['kubernetes://missing-cert', 'kubernetes://missing-cert-cacert', 'kubernetes://empty-cert', 'kubernetes://empty-cert-cacert',
    'kubernetes://wrong-keys', 'kubernetes://wrong-keys-cacert', 'kubernetes-gateway://istio-system/gw-cert', 'builtin://', 'kubernetes://', 'kubernetes://gw-cert'];
  const a = sdsFor(scene(), routerNode(), names);
  assert.deepEqual(a.secrets.map((s) => s['name']), ['kubernetes://gw-cert']);
  assertGolden('gateway-sds/missing', { served: a.secrets.map((s) => s['name']), missing: a.missing });
  assert.deepEqual(a.missing['kubernetes://missing-cert'], [`cfg:Secret/${GW_NS}/missing-cert`], 'creating it later re-pushes this name');

  const snap = publishSnapshot(snapshotInput([], [
    { ...config('Secret', GW_NS, 'empty-cert', { type: 'Opaque', data: { cert: '', key: '', cacert: '' } }), group: '' },
    { ...config('Secret', GW_NS, 'wrong-keys', { type: 'Opaque', data: { a: 'eA==', b: 'eQ==', c: 'eg==', d: 'dw==' } }), group: '' },
  ]));
  const reason = (n: string) => { const r = buildSecret(snap.view, GW_NS, n); return r.ok ? 'served' : r.reason; };
  assert.equal(reason('kubernetes://missing-cert'), `failed to fetch key and certificate for kubernetes://missing-cert: secret ${GW_NS}/missing-cert not found`);
  assert.equal(reason('kubernetes://missing-cert-cacert'), `failed to fetch ca certificate for kubernetes://missing-cert-cacert: secret ${GW_NS}/missing-cert not found`);
  assert.equal(reason('kubernetes://empty-cert'), 'failed to fetch key and certificate for kubernetes://empty-cert: found keys "cert" and "key", but they were empty');
  assert.equal(reason('kubernetes://empty-cert-cacert'), 'failed to fetch ca certificate for kubernetes://empty-cert-cacert: found key "cacert", but it was empty');
  assert.equal(reason('kubernetes://wrong-keys'), 'failed to fetch key and certificate for kubernetes://wrong-keys: found secret, but didn\'t have expected keys (cert and key) or (tls.crt and tls.key); found: a, b, c, and 1 more...');
  assert.equal(reason('kubernetes://wrong-keys-cacert'), 'failed to fetch ca certificate for kubernetes://wrong-keys-cacert: found secret, but didn\'t have expected keys cacert or ca.crt; found: a, b, c, and 1 more...');
  assert.equal(reason(`kubernetes://${NS}/app-cert`), 'attempted to access unauthorized certificates app-cert: cross namespace secret reference requires ReferencePolicy');
  assert.equal(reason('kubernetes-gateway://istio-system/gw-cert'), 'error parsing resource name: unknown resource type: kubernetes-gateway://istio-system/gw-cert');
});

test('SDS is not a wildcard type (no names, nothing), and sidecars get nothing from us (their SDS is the node agent\'s)', () => {
  assert.deepEqual(sdsFor(scene(), routerNode(), []).secrets, []);
  const side = sdsFor(scene(), SIDECAR_NODE, ['kubernetes://app-cert', 'kubernetes://gw-cert', 'default', 'ROOTCA']);
  assert.equal(side.context.generator, 'sidecar');
  assert.deepEqual(side.secrets, []);
});

test('a real Envoy gateway on the secure port ACKs the listener and every Secret over SDS (SotW and Delta), and activates the listener', { skip: ENVOY_SKIP }, async () => {
  for (const apiType of ['GRPC', 'DELTA_GRPC'] as const) {
    const port = await freePort();
    const yaml = [baseMesh(), secrets(), gatewayWithCredentials().replace(/\$\{PORT1\}/g, String(port))].join('\n---\n');
    const server = await startCaServer({ files: { 'mesh.yaml': yaml } });
    let envoy: Envoy | undefined;
    try {
      envoy = await startSecureEnvoy(ENVOY_PATH!, {
        xdsTarget: server.secureTarget, rootPem: server.roots(), token: tokenFor(server.signer, GW_NS, 'istio-ingressgateway-service-account'),
        nodeId: NODE_ID, metadata: NODE_META, apiType,
      });
      const conn = () => [...server.discovery.ads.connections.values()].find((c) => c.proxy.id === NODE_ID);
      await waitFor(() => {
        for (const w of conn()?.watches.values() ?? []) if (w.lastError) throw new Error(`Envoy NACKed ${w.typeUrl}: ${w.lastError}`);
        const w = conn()?.watches.get(SECRET_TYPE_URL);
        return !!w && w.names.size === 7 && w.nonceSent !== '' && w.nonceAcked === w.nonceSent;
      }, 20_000, 'Envoy to ACK SDS', 50);
      assert.equal(conn()!.identityVerified, true, 'the stream was authenticated and its identity checked');
      // our /debug/config_dump of this proxy shows the secrets, never their private keys (Istio redacts them)
      const dumped = JSON.stringify(configDump(conn()!, false));
      assert.ok(dumped.includes('kubernetes://gw-cert') && dumped.includes('SecretsConfigDump'), 'the secrets are in the dump');
      const ours = (configDump(conn()!, false) as any).configs.find((c: any) => c['@type'].endsWith('SecretsConfigDump'));
      const gw = ours.dynamic_active_secrets.find((x: any) => x.name === 'kubernetes://gw-cert').secret;
      assert.deepEqual(gw.tls_certificate.private_key, { inline_bytes: Buffer.from('[redacted]').toString('base64') }, 'the private key is redacted');
      assert.ok(!dumped.includes(fixture('gw.key').toString().split('\n')[1]!), 'no private key text anywhere in the dump');
      let secretsDump: Record<string, any> = {};
      const e = envoy;
      await waitFor(async () => {
        const dump = await e.getConfigDump();
        secretsDump = dumpSection(dump, 'SecretsConfigDump');
        const listeners = dumpSection(dump, 'ListenersConfigDump')['dynamic_listeners'] ?? [];
        return (secretsDump['dynamic_active_secrets'] ?? []).filter((s: any) => s.name.startsWith('kubernetes://')).length === 7 &&
          listeners.some((l: any) => l.name === `0.0.0.0_${port}` && l.active_state);
      }, 20_000, `every secret active and listener 0.0.0.0_${port} active (${apiType})`, 100);
      assert.deepEqual((secretsDump['dynamic_active_secrets'] as any[]).map((s) => s.name).filter((n: string) => n.startsWith('kubernetes://')).sort(), [
        'kubernetes://generic-cert', 'kubernetes://generic-cert-cacert', 'kubernetes://gw-cert', 'kubernetes://mtls-cert',
        'kubernetes://mtls-cert-cacert', 'kubernetes://split-cert', 'kubernetes://split-cert-cacert',
      ]);
      assert.deepEqual(rejectedStats(await e.stats()), [], `Envoy rejected nothing (${apiType})`);
      assert.deepEqual(errorStates(await e.getConfigDump()), []);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- envoy log ---\n${envoy?.logs().slice(-8000) ?? ''}`);
    } finally {
      await envoy?.stop();
      await server.close();
    }
  }
});

test('the plaintext port never serves gateway credentials (Istio: SDS needs a verified identity)', async () => {
  const server = await startCaServer({ files: { 'mesh.yaml': scene() } });
  const ads = AdsClient.sotw(server.grpcTarget);
  try {
    const names = ['kubernetes://gw-cert', 'kubernetes://mtls-cert-cacert'];
    const r = await ads.request({ type_url: SECRET_TYPE_URL, node: { id: NODE_ID, metadata: NODE_META }, resource_names: names }, 10_000);
    assert.deepEqual(r.resources, [], 'nothing for an unauthenticated stream');
    const conn = [...server.discovery.ads.connections.values()].find((c) => c.proxy.id === NODE_ID)!;
    assert.equal(conn.identityVerified, false);
    // a verified stream with the same generation key and names is not served from the refused answer, nor the reverse
    const resolved = await server.discovery.generation.resolve(server.discovery.registry.contextFor(conn.proxy), SECRET_TYPE_URL, names);
    assert.deepEqual([...resolved.resources.keys()].sort(), names.slice().sort());
    const delta = AdsClient.delta(server.grpcTarget);
    try {
      const d = await delta.request({ type_url: SECRET_TYPE_URL, node: { id: `${NODE_ID.replace('~10.1.0.50~', '~10.1.0.51~')}`, metadata: NODE_META }, resource_names_subscribe: names }, 10_000);
      assert.deepEqual(d.resources, [], 'Delta: nothing either');
    } finally {
      delta.close();
    }
  } finally {
    ads.close();
    await server.close();
  }
});
