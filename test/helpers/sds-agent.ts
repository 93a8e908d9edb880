/**
 * A test-only SDS server standing in for the Istio node agent: serves the workload certificate
 * `default` (chain + key) and the mesh root `ROOTCA` over gRPC SDS
 * (envoy.service.secret.v3.SecretDiscoveryService StreamSecrets, SotW as Envoy uses with
 * api_type GRPC; DeltaSecrets for DELTA_GRPC), on a loopback port. An Envoy reaches it through the
 * static `sds-grpc` cluster of its bootstrap (sdsCluster below), as a sidecar reaches the agent.
 *
 * Certificates come from a real CertificateAuthority (issueWorkloadIdentity). Messages are encoded
 * with the Envoy protos the repository compiles (src/shared/envoy/proto.ts), not with encodeAny, so
 * the main-thread "no resource encodes" counter stays untouched.
 */
import * as grpc from '@grpc/grpc-js';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { messageType } from '../../src/shared/envoy/proto';
import { CertificateAuthority } from '../../src/main/ca/certificate-authority';
import { CaPool } from '../../src/main/ca/ca-pool';
import { loadConfig } from '../../src/main/config';
import { signCsr } from '../../src/workers/ca/sign-csr';
import { makeCsr } from './ca-client';

type Obj = Record<string, any>;

export const SECRET_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';
const SERVICE = '/envoy.service.secret.v3.SecretDiscoveryService/';

/** What the agent serves: the workload's certificate chain and key, and the root(s) it trusts. */
export interface WorkloadIdentity {
  /** spiffe://<td>/ns/<ns>/sa/<sa> */
  id: string;
  certChainPem: string;
  keyPem: string;
  rootPem: string;
}

/** A CA for tests (self-signed root in a temp state dir, signing in-process). */
export interface TestCa { ca: CertificateAuthority; rootPem: string; close(): void }

const inlinePool: CaPool = { run: async (job) => signCsr(job), stats: () => ({ threads: 0, queueSize: 0, completed: 0, utilization: 0 }), close: async () => {} };

export async function startTestCa(trustDomain = 'cluster.local'): Promise<TestCa> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'istiod-ts-sds-ca-'));
  const config = loadConfig([], { ROOT_CA_DIR: '', CITADEL_SELF_SIGNED_ROOT_CERT_CHECK_INTERVAL: '0' }).ca;
  const ca = await CertificateAuthority.start({ config, trustDomain, stateDir: dir, pool: inlinePool });
  return { ca, rootPem: ca.bundle.rootBundlePem || ca.bundle.caCertPem, close: () => { ca.close(); fs.rmSync(dir, { recursive: true, force: true }); } };
}

/** A workload certificate for `spiffe://<td>/ns/<ns>/sa/<sa>`, signed by the CA as istio-agent's CSR would be. */
export async function issueWorkloadIdentity(ca: TestCa, namespace: string, serviceAccount: string, trustDomain = 'cluster.local'): Promise<WorkloadIdentity> {
  const id = `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
  const csr = await makeCsr('ec-p256');
  const r = await ca.ca.sign({ csrPem: csr.csrPem, ttlSeconds: 3600, uris: [id] });
  if (!r.ok) throw new Error(`CA refused the workload CSR: ${JSON.stringify(r)}`);
  return { id, certChainPem: r.certChain.join(''), keyPem: csr.keyPem, rootPem: ca.rootPem };
}

/** The Secret resources the agent serves by name (Istio SDSDefaultResourceName / SDSRootResourceName). */
export function secretsOf(identity: WorkloadIdentity): Map<string, Obj> {
  return new Map<string, Obj>([
    ['default', { name: 'default', tls_certificate: { certificate_chain: { inline_bytes: Buffer.from(identity.certChainPem) }, private_key: { inline_bytes: Buffer.from(identity.keyPem) } } }],
    ['ROOTCA', { name: 'ROOTCA', validation_context: { trusted_ca: { inline_bytes: Buffer.from(identity.rootPem) } } }],
  ]);
}

function encode(typeName: string, obj: Obj): Buffer {
  const t = messageType(typeName);
  return Buffer.from(t.encode(t.fromObject(obj)).finish());
}
function decode(typeName: string, b: Buffer): Obj {
  const t = messageType(typeName);
  return t.toObject(t.decode(b), { longs: Number, enums: String, defaults: true }) as Obj;
}
const secretAny = (secret: Obj): Obj => ({ type_url: SECRET_TYPE, value: encode('envoy.extensions.transport_sockets.tls.v3.Secret', secret) });

function bidi(name: string, req: string, res: string): grpc.MethodDefinition<Obj, Obj> {
  return {
    path: SERVICE + name, requestStream: true, responseStream: true,
    requestSerialize: (o: Obj) => encode(req, o), requestDeserialize: (b: Buffer) => decode(req, b),
    responseSerialize: (o: Obj) => encode(res, o), responseDeserialize: (b: Buffer) => decode(res, b),
  };
}

export const SDS_SERVICE: grpc.ServiceDefinition = {
  StreamSecrets: bidi('StreamSecrets', 'envoy.service.discovery.v3.DiscoveryRequest', 'envoy.service.discovery.v3.DiscoveryResponse'),
  DeltaSecrets: bidi('DeltaSecrets', 'envoy.service.discovery.v3.DeltaDiscoveryRequest', 'envoy.service.discovery.v3.DeltaDiscoveryResponse'),
};

export interface SdsRequestLog { api: 'sotw' | 'delta'; names: string[]; nodeId: string; nack?: string }

export interface SdsAgent {
  /** `127.0.0.1:<port>` */
  readonly target: string;
  readonly port: number;
  identity: WorkloadIdentity;
  /** every request received (names asked for; NACK detail if Envoy rejected a secret) */
  readonly requests: SdsRequestLog[];
  /** serve a new identity (rotation): pushed to every open stream */
  rotate(identity: WorkloadIdentity): void;
  close(): Promise<void>;
}

/** Start an SDS server on 127.0.0.1 serving `identity`. */
export async function startSdsAgent(identity: WorkloadIdentity): Promise<SdsAgent> {
  const server = new grpc.Server();
  const requests: SdsRequestLog[] = [];
  const pushers = new Set<() => void>();
  let version = 1;
  let secrets = secretsOf(identity);
  let nonce = 0;

  const streamSecrets = (call: grpc.ServerDuplexStream<Obj, Obj>): void => {
    let names: string[] = [];
    let nodeId = '';
    let sentVersion = 0;
    const send = () => {
      const resources = names.filter((n) => secrets.has(n)).map((n) => secretAny(secrets.get(n)!));
      if (resources.length === 0) return;
      sentVersion = version;
      call.write({ version_info: String(version), resources, type_url: SECRET_TYPE, nonce: String(++nonce) });
    };
    const push = () => { if (sentVersion !== version) send(); };
    pushers.add(push);
    call.on('data', (req: Obj) => {
      nodeId = req['node']?.['id'] || nodeId;
      const asked = [...(req['resource_names'] ?? [])].map(String).sort();
      const nack = req['error_detail']?.['message'];
      requests.push({ api: 'sotw', names: asked, nodeId, ...(nack ? { nack: String(nack) } : {}) });
      const changed = asked.join('\n') !== names.join('\n');
      names = asked;
      // a new subscription (or a changed one) is answered; an ACK of the current version is not
      if (changed || !req['response_nonce'] || sentVersion !== version) send();
    });
    const done = () => { pushers.delete(push); call.end(); };
    call.on('end', done);
    call.on('error', () => pushers.delete(push));
  };

  const deltaSecrets = (call: grpc.ServerDuplexStream<Obj, Obj>): void => {
    const names = new Set<string>();
    let nodeId = '';
    let sentVersion = 0;
    const send = (only?: string[]) => {
      const list = (only ?? [...names]).filter((n) => secrets.has(n));
      if (list.length === 0) return;
      sentVersion = version;
      call.write({
        system_version_info: String(version), type_url: SECRET_TYPE, nonce: String(++nonce),
        resources: list.map((n) => ({ name: n, version: String(version), resource: secretAny(secrets.get(n)!) })),
      });
    };
    const push = () => { if (sentVersion !== version) send(); };
    pushers.add(push);
    call.on('data', (req: Obj) => {
      nodeId = req['node']?.['id'] || nodeId;
      const added = [...(req['resource_names_subscribe'] ?? [])].map(String);
      for (const n of req['resource_names_unsubscribe'] ?? []) names.delete(String(n));
      for (const n of added) names.add(n);
      const nack = req['error_detail']?.['message'];
      requests.push({ api: 'delta', names: [...names].sort(), nodeId, ...(nack ? { nack: String(nack) } : {}) });
      if (added.length > 0) send(added);
    });
    call.on('end', () => { pushers.delete(push); call.end(); });
    call.on('error', () => pushers.delete(push));
  };

  server.addService(SDS_SERVICE, { StreamSecrets: streamSecrets, DeltaSecrets: deltaSecrets } as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  const agent: SdsAgent = {
    target: `127.0.0.1:${port}`, port, identity, requests,
    rotate(next) {
      agent.identity = next;
      secrets = secretsOf(next);
      version++;
      for (const p of pushers) p();
    },
    close: () => new Promise<void>((resolve) => {
      const t = setTimeout(() => { server.forceShutdown(); resolve(); }, 1000);
      server.tryShutdown(() => { clearTimeout(t); resolve(); });
    }),
  };
  return agent;
}

/** The agent's cluster in a sidecar bootstrap (Istio's `sds-grpc`: h2 to the agent). */
export function sdsCluster(target: string): Obj {
  const colon = target.lastIndexOf(':');
  return {
    name: 'sds-grpc',
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: {
      cluster_name: 'sds-grpc',
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: target.slice(0, colon), port_value: Number(target.slice(colon + 1)) } } } }] }],
    },
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
  };
}

// ---------------------------------------------------------------- shared agent for plain tests

let shared: { agent: Promise<SdsAgent>; users: number } | undefined;
/** The shared agent's identity: issued once per process (the CA is closed right after, holding nothing open). */
let sharedIdentity: Promise<WorkloadIdentity> | undefined;

function sharedWorkloadIdentity(): Promise<WorkloadIdentity> {
  sharedIdentity ??= (async () => {
    const ca = await startTestCa();
    try { return await issueWorkloadIdentity(ca, 'default', 'default'); } finally { ca.close(); }
  })();
  sharedIdentity.catch(() => { sharedIdentity = undefined; });
  return sharedIdentity;
}

/**
 * A process-wide agent for Envoys that just need the mesh's default secrets to exist (PERMISSIVE
 * inbound chains and auto-mTLS clusters reference them): identity
 * spiffe://cluster.local/ns/default/sa/default from a throwaway CA. Reference-counted: the server
 * closes when the last user releases it, so test processes exit.
 */
export async function acquireSharedSdsAgent(): Promise<{ target: string; release(): Promise<void> }> {
  if (!shared) shared = { users: 0, agent: sharedWorkloadIdentity().then((id) => startSdsAgent(id)) };
  const s = shared;
  s.users++;
  let released = false;
  try {
    const agent = await s.agent;
    return {
      target: agent.target,
      release: async () => {
        if (released) return;
        released = true;
        if (--s.users > 0) return;
        if (shared === s) shared = undefined;
        await agent.close();
      },
    };
  } catch (e) {
    s.users--;
    if (shared === s) shared = undefined;
    throw e;
  }
}
