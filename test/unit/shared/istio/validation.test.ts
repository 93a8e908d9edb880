import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationIssue, formatPath, validateObject } from '../../../../src/shared/istio/validation';
import { K8sObject } from '../../../../src/shared/model/objects';

// ---- builders ------------------------------------------------------------------------------------

const ISTIO = 'networking.istio.io/v1';

function object(apiVersion: string, kind: string, body: Record<string, unknown>, meta: Record<string, unknown> = {}): K8sObject {
  return { apiVersion, kind, metadata: { name: 'x', namespace: 'default', ...meta }, ...body } as K8sObject;
}
const istio = (kind: string, spec: unknown, meta?: Record<string, unknown>) => object(ISTIO, kind, { spec }, meta);
const service = (spec: unknown, meta?: Record<string, unknown>) => object('v1', 'Service', { spec }, meta);

const route = (host: string, weight?: number) => ({ destination: { host }, ...(weight === undefined ? {} : { weight }) });
const virtualService = (http: unknown[], extra: Record<string, unknown> = {}) => istio('VirtualService', { hosts: ['reviews'], http, ...extra });

function errorsOf(obj: K8sObject): ValidationIssue[] {
  const r = validateObject(obj);
  assert.equal(r.ok, false, 'expected the object to be rejected');
  return r.ok ? [] : r.errors;
}

/** Asserts that some error sits at `path` and its message matches `message`. */
function assertError(obj: K8sObject, path: (string | number)[], message: RegExp): void {
  const errors = errorsOf(obj);
  const at = errors.filter((e) => formatPath(e.path) === formatPath(path));
  assert.ok(at.some((e) => message.test(e.message)),
    `expected an error at ${formatPath(path)} matching ${message}, got ${JSON.stringify(errors)}`);
}

function assertValid(obj: K8sObject): string[] {
  const r = validateObject(obj);
  assert.ok(r.ok, `expected valid, got ${JSON.stringify(r.ok ? [] : r.errors)}`);
  return r.ok ? r.warnings : [];
}

// ---- tests ---------------------------------------------------------------------------------------

describe('validateObject: envelope and metadata', () => {
  it('requires metadata.name and a DNS-1123 subdomain', () => {
    assertError(istio('Sidecar', { egress: [{ hosts: ['./*'] }] }, { name: undefined }), ['metadata', 'name'], /required/);
    assertError(istio('Sidecar', { egress: [{ hosts: ['./*'] }] }, { name: 'Bad_Name' }), ['metadata', 'name'], /DNS-1123 subdomain/);
    assertValid(istio('Sidecar', { egress: [{ hosts: ['./*'] }] }, { name: 'a.b-c' }));
  });

  it('requires Service names to be DNS-1035 labels and Namespace names DNS-1123 labels', () => {
    assertError(service({ ports: [{ port: 80 }] }, { name: '1abc' }), ['metadata', 'name'], /DNS-1035/);
    assertError(object('v1', 'Namespace', {}, { name: 'a.b', namespace: undefined }), ['metadata', 'name'], /DNS-1123 label/);
    assertValid(object('v1', 'Namespace', {}, { name: 'prod', namespace: undefined }));
  });

  it('requires a namespace for namespaced kinds', () => {
    assertError(service({ ports: [{ port: 80 }] }, { namespace: undefined }), ['metadata', 'namespace'], /required/);
    assertError(service({ ports: [{ port: 80 }] }, { namespace: 'Not_OK' }), ['metadata', 'namespace'], /DNS-1123 label/);
  });

  it('rejects non-string label values as Kubernetes does', () => {
    assertError(service({ ports: [{ port: 80 }] }, { labels: { version: 1 } }), ['metadata', 'labels', 'version'], /must be a string/);
    assertError(service({ ports: [{ port: 80 }] }, { labels: { 'bad key!': 'v' } }), ['metadata', 'labels', 'bad key!'], /invalid label key/);
    assertValid(service({ ports: [{ port: 80 }] }, { labels: { 'app.kubernetes.io/name': 'reviews', version: 'v1' } }));
  });

  it('rejects unknown kinds and versions', () => {
    assertError(object('foo/v1', 'Bar', {}), ['kind'], /unsupported kind/);
    assertError({ ...istio('Sidecar', {}), apiVersion: 'networking.istio.io/v9' }, ['apiVersion'], /unsupported version/);
  });

  it('rejects unknown top-level spec fields of Istio kinds, hinting at snake_case', () => {
    assertError(istio('DestinationRule', { host: 'reviews', hots: 1 }), ['spec', 'hots'], /^unknown field "hots"$/);
    assertError(istio('DestinationRule', { host: 'reviews', traffic_policy: {} }), ['spec', 'traffic_policy'], /did you mean "trafficPolicy"/);
  });

  it('never throws on garbage input', () => {
    for (const junk of [null, 42, 'str', [], { kind: 5 }, { apiVersion: 'v1', kind: 'Service', metadata: 'x' },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'a', namespace: 'b' }, spec: [] },
      { apiVersion: ISTIO, kind: 'VirtualService', metadata: { name: 'a', namespace: 'b' }, spec: { hosts: 'x', http: [null, 1, { route: 'r' }] } }]) {
      const r = validateObject(junk as unknown as K8sObject);
      assert.equal(r.ok, false);
    }
  });
});

describe('validateObject: Service', () => {
  it('accepts a typical service', () => {
    assertValid(service({ selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080, targetPort: 'http-web' }, { name: 'grpc', port: 9090, targetPort: 9091, protocol: 'TCP' }] }));
  });

  it('checks port range, protocol and targetPort', () => {
    assertError(service({ ports: [{ port: 70000 }] }), ['spec', 'ports', 0, 'port'], /1\.\.65535/);
    assertError(service({ ports: [{ port: 80, protocol: 'HTTP' }] }), ['spec', 'ports', 0, 'protocol'], /TCP, UDP, SCTP/);
    assertError(service({ ports: [{ port: 80, targetPort: '8080' }] }), ['spec', 'ports', 0, 'targetPort'], /port number or a port name/);
    assertError(service({ ports: [{ port: 80, targetPort: 0 }] }), ['spec', 'ports', 0, 'targetPort'], /1\.\.65535/);
  });

  it('requires port names when there is more than one port, and unique ones', () => {
    assertError(service({ ports: [{ name: 'a', port: 80 }, { port: 81 }] }), ['spec', 'ports', 1, 'name'], /required/);
    assertError(service({ ports: [{ name: 'a', port: 80 }, { name: 'a', port: 81 }] }), ['spec', 'ports', 1, 'name'], /duplicate/);
  });

  it('requires ports unless headless or ExternalName', () => {
    assertError(service({}), ['spec', 'ports'], /at least one port/);
    assertValid(service({ clusterIP: 'None' }));
    assertValid(service({ type: 'ExternalName', externalName: 'db.example.com' }));
  });
});

describe('validateObject: EndpointSlice and Pod', () => {
  const slice = (body: Record<string, unknown>, labels: Record<string, string> = { 'kubernetes.io/service-name': 'reviews' }) =>
    object('discovery.k8s.io/v1', 'EndpointSlice', body, { labels });

  it('accepts a typical slice', () => {
    assertValid(slice({ addressType: 'IPv4', endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: true } }], ports: [{ name: 'http', port: 9080, protocol: 'TCP' }] }));
  });

  it('requires the service-name label, addressType and addresses that match it', () => {
    assertError(slice({ addressType: 'IPv4', endpoints: [] }, {}), ['metadata', 'labels'], /kubernetes\.io\/service-name/);
    assertError(slice({ endpoints: [] }), ['addressType'], /required/);
    assertError(slice({ addressType: 'IPv4', endpoints: [{ addresses: [] }] }), ['endpoints', 0, 'addresses'], /at least one/);
    assertError(slice({ addressType: 'IPv4', endpoints: [{ addresses: ['fd00::1'] }] }), ['endpoints', 0, 'addresses', 0], /not a valid IPv4/);
    assertValid(slice({ addressType: 'IPv6', endpoints: [{ addresses: ['fd00::1'] }] }));
  });

  it('checks an optional pod IP', () => {
    assertValid(object('v1', 'Pod', { spec: {} }));
    assertValid(object('v1', 'Pod', { status: { podIP: '10.1.2.3' } }));
    assertError(object('v1', 'Pod', { status: { podIP: '10.1.2' } }), ['status', 'podIP'], /invalid IP/);
  });
});

describe('validateObject: ServiceEntry and WorkloadEntry', () => {
  const se = (spec: Record<string, unknown>) => istio('ServiceEntry', { hosts: ['api.example.com'], ports: [{ number: 443, name: 'https', protocol: 'TLS' }], ...spec });

  it('accepts typical entries', () => {
    assertValid(se({ resolution: 'DNS', location: 'MESH_EXTERNAL' }));
    assertValid(se({ resolution: 'STATIC', endpoints: [{ address: '10.0.0.1', ports: { https: 8443 } }] }));
    assertValid(istio('WorkloadEntry', { address: '10.0.0.9', labels: { app: 'vm' } }));
  });

  it('requires hosts and valid ports', () => {
    assertError(istio('ServiceEntry', { ports: [{ number: 80, name: 'http' }] }), ['spec', 'hosts'], /at least one host/);
    assertError(se({ ports: [{ number: 0, name: 'http' }] }), ['spec', 'ports', 0, 'number'], /1\.\.65535/);
    assertError(se({ ports: [{ number: 80 }] }), ['spec', 'ports', 0, 'name'], /required/);
    assertError(se({ ports: [{ number: 80, name: 'http', protocol: 'FTP' }] }), ['spec', 'ports', 0, 'protocol'], /unrecognized protocol/);
    assertError(se({ hosts: ['*'] }), ['spec', 'hosts', 0], /invalid host/);
  });

  it('checks resolution, location and endpoints', () => {
    assertError(se({ resolution: 'MAGIC' }), ['spec', 'resolution'], /NONE, STATIC, DNS/);
    assertError(se({ location: 'NEARBY' }), ['spec', 'location'], /MESH_EXTERNAL/);
    assertError(se({ resolution: 'STATIC', endpoints: [{ ports: { https: 8443 } }] }), ['spec', 'endpoints', 0, 'address'], /required/);
    assertError(se({ resolution: 'STATIC', endpoints: [{ address: 'db.example.com' }] }), ['spec', 'endpoints', 0, 'address'], /not a valid IP/);
    assertError(se({ resolution: 'STATIC', endpoints: [{ address: '10.0.0.1', ports: { grpc: 9000 } }] }), ['spec', 'endpoints', 0, 'ports', 'grpc'], /not defined by the service entry/);
    assertError(se({ resolution: 'NONE', endpoints: [{ address: '10.0.0.1' }] }), ['spec', 'endpoints'], /no endpoints/);
  });

  it('allows workloadSelector or endpoints, not both', () => {
    assertValid(se({ resolution: 'STATIC', workloadSelector: { labels: { app: 'vm' } } }));
    assertError(se({ resolution: 'STATIC', workloadSelector: { labels: { app: 'vm' } }, endpoints: [{ address: '10.0.0.1' }] }),
      ['spec', 'workloadSelector'], /only one of workloadSelector or endpoints/);
  });

  it('requires a WorkloadEntry address unless a network is set', () => {
    assertError(istio('WorkloadEntry', { labels: { app: 'vm' } }), ['spec', 'address'], /required/);
    assertValid(istio('WorkloadEntry', { network: 'remote' }));
  });
});

describe('validateObject: VirtualService', () => {
  it('accepts a weighted split that sums to 100 without warnings', () => {
    assert.deepEqual(assertValid(virtualService([{ route: [route('reviews', 80), route('reviews', 20)], timeout: '1.5s' }])), []);
  });

  it('requires destination.host', () => {
    assertError(virtualService([{ route: [{ destination: { subset: 'v1' } }] }]), ['spec', 'http', 0, 'route', 0, 'destination', 'host'], /required/);
  });

  it('rejects negative and non-integer weights, at the weight itself; weights are relative as in Istio', () => {
    assertError(virtualService([{ route: [route('a', 80), route('b', -1)] }]), ['spec', 'http', 0, 'route', 1, 'weight'], /weight -1 is out of range/);
    assertError(virtualService([{ route: [route('a', 50.5), route('b', 49.5)] }]), ['spec', 'http', 0, 'route', 0, 'weight'], /integer/);
    assert.deepEqual(assertValid(virtualService([{ route: [route('a', 150), route('b', 0)] }])), ['spec.http[0].route: total destination weight 150 != 100']);
  });

  it('rejects a zero total with several destinations and warns when the total is not 100', () => {
    assertError(virtualService([{ route: [route('a'), route('b')] }]), ['spec', 'http', 0, 'route'], /total destination weight = 0/);
    const warnings = assertValid(virtualService([{ route: [route('a', 60), route('b', 60)] }]));
    assert.deepEqual(warnings, ['spec.http[0].route: total destination weight 120 != 100']);
  });

  it('checks uri matches: exactly one of exact/prefix/regex, and a valid regex', () => {
    assertValid(virtualService([{ match: [{ uri: { prefix: '/api' } }, { uri: { regex: '(?i)/v[0-9]+/.*' } }], route: [route('a')] }]));
    assertError(virtualService([{ match: [{ uri: { prefix: '/a', exact: '/a' } }], route: [route('a')] }]), ['spec', 'http', 0, 'match', 0, 'uri'], /only one of/);
    assertError(virtualService([{ match: [{ uri: {} }], route: [route('a')] }]), ['spec', 'http', 0, 'match', 0, 'uri'], /one of exact, prefix or regex is required/);
    assertError(virtualService([{ match: [{ uri: { suffix: '.js' } }], route: [route('a')] }]), ['spec', 'http', 0, 'match', 0, 'uri', 'suffix'], /unknown field/);
    assertError(virtualService([{ match: [{ uri: { regex: '/(a' } }], route: [route('a')] }]), ['spec', 'http', 0, 'match', 0, 'uri', 'regex'], /invalid regex/);
    assertValid(virtualService([{ match: [{ headers: { 'x-canary': {} } }], route: [route('a')] }]));
  });

  it('parses timeouts as Go durations', () => {
    assertValid(virtualService([{ route: [route('a')], timeout: '100ms', retries: { attempts: 3, perTryTimeout: '2s' } }]));
    assertError(virtualService([{ route: [route('a')], timeout: '10 seconds' }]), ['spec', 'http', 0, 'timeout'], /invalid duration/);
    assertError(virtualService([{ route: [route('a')], timeout: '-1s' }]), ['spec', 'http', 0, 'timeout'], /negative/);
  });

  it('requires hosts unless the VirtualService is a delegate', () => {
    const delegate = istio('VirtualService', { http: [{ route: [route('a')] }] });
    assert.match(assertValid(delegate)[0]!, /delegate/);
    assertError(istio('VirtualService', { gateways: ['gw'], http: [{ route: [route('a')] }] }), ['spec', 'gateways'], /delegate/);
    assertError(istio('VirtualService', { tcp: [{ route: [route('a')] }] }), ['spec', 'tcp'], /delegate/);
    assertError(virtualService([], { hosts: ['*'] }), ['spec', 'hosts', 0], /mesh gateway/);
  });

  it('requires some action on each http route', () => {
    assertError(virtualService([{ match: [{ uri: { prefix: '/' } }] }]), ['spec', 'http', 0], /route, redirect, directResponse or delegate is required/);
    assertError(virtualService([{ route: [route('a')], redirect: { uri: '/b' } }]), ['spec', 'http', 0, 'redirect'], /both route and redirect/);
  });

  it('checks tcp and tls routes', () => {
    assertValid(virtualService([], { http: undefined, tcp: [{ match: [{ port: 3306 }], route: [route('db')] }] }));
    assertError(virtualService([], { http: undefined, tls: [{ route: [route('a')] }] }), ['spec', 'tls', 0, 'match'], /at least one match/);
  });
});

describe('validateObject: DestinationRule', () => {
  const dr = (spec: Record<string, unknown>) => istio('DestinationRule', { host: 'reviews.default.svc.cluster.local', ...spec });

  it('accepts a typical rule', () => {
    assertValid(dr({
      trafficPolicy: { loadBalancer: { simple: 'LEAST_REQUEST' }, connectionPool: { tcp: { connectTimeout: '250ms' } }, tls: { mode: 'ISTIO_MUTUAL' } },
      subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' }, trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 'x-user' } } } }],
    }));
  });

  it('requires host', () => {
    assertError(istio('DestinationRule', { subsets: [] }), ['spec', 'host'], /host is required/);
  });

  it('requires subset names, unique', () => {
    assertError(dr({ subsets: [{ labels: { version: 'v1' } }] }), ['spec', 'subsets', 0, 'name'], /required/);
    assertError(dr({ subsets: [{ name: 'v1' }, { name: 'v1' }] }), ['spec', 'subsets', 1, 'name'], /duplicate subset name/);
  });

  it('checks load balancer and tls enums and consistentHash', () => {
    assertError(dr({ trafficPolicy: { loadBalancer: { simple: 'FASTEST' } } }), ['spec', 'trafficPolicy', 'loadBalancer', 'simple'], /ROUND_ROBIN/);
    assertError(dr({ trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 'x', useSourceIp: true } } } }),
      ['spec', 'trafficPolicy', 'loadBalancer', 'consistentHash'], /exactly one of/);
    assertError(dr({ trafficPolicy: { loadBalancer: { consistentHash: { httpCookie: { ttl: '10s' } } } } }),
      ['spec', 'trafficPolicy', 'loadBalancer', 'consistentHash', 'httpCookie', 'name'], /required/);
    assertError(dr({ trafficPolicy: { tls: { mode: 'STRICT' } } }), ['spec', 'trafficPolicy', 'tls', 'mode'], /ISTIO_MUTUAL/);
    assertError(dr({ trafficPolicy: { tls: { mode: 'MUTUAL' } } }), ['spec', 'trafficPolicy', 'tls', 'clientCertificate'], /required/);
  });

  it('checks port level settings', () => {
    assertError(dr({ trafficPolicy: { portLevelSettings: [{ loadBalancer: { simple: 'RANDOM' } }] } }),
      ['spec', 'trafficPolicy', 'portLevelSettings', 0, 'port'], /must have valid port/);
    assertValid(dr({ trafficPolicy: { portLevelSettings: [{ port: { number: 80 }, loadBalancer: { simple: 'RANDOM' } }] } }));
  });
});

describe('validateObject: Sidecar and Gateway', () => {
  it('accepts a typical sidecar', () => {
    assertValid(istio('Sidecar', {
      workloadSelector: { labels: { app: 'reviews' } },
      ingress: [{ port: { number: 9080, protocol: 'HTTP', name: 'http' }, defaultEndpoint: '127.0.0.1:8080', captureMode: 'IPTABLES' }],
      egress: [{ port: { number: 3306, protocol: 'TCP', name: 'mysql' }, bind: '127.0.0.1', hosts: ['*/db.example.com'] }, { hosts: ['./*', 'istio-system/*'] }],
      outboundTrafficPolicy: { mode: 'REGISTRY_ONLY' },
    }));
  });

  it('requires egress hosts in namespace/host form', () => {
    assertError(istio('Sidecar', { egress: [{ hosts: ['reviews.default.svc'] }] }), ['spec', 'egress', 0, 'hosts', 0], /namespace\/dnsName/);
    assertError(istio('Sidecar', { egress: [{ hosts: [] }] }), ['spec', 'egress', 0, 'hosts'], /at least one host/);
  });

  it('checks ports, bind, captureMode and outbound policy', () => {
    // Istio sniffs the protocol when it is unset; an unknown one is an error.
    assertValid(istio('Sidecar', { egress: [{ port: { number: 80, name: 'http' }, hosts: ['./*'] }] }));
    assertError(istio('Sidecar', { egress: [{ port: { number: 80, protocol: 'QUIC' }, hosts: ['./*'] }] }), ['spec', 'egress', 0, 'port', 'protocol'], /unrecognized protocol/);
    assertError(istio('Sidecar', { egress: [{ port: { number: 80, protocol: 'HTTP', name: 'http' }, bind: 'localhost', hosts: ['./*'] }] }), ['spec', 'egress', 0, 'bind'], /valid IP/);
    assertError(istio('Sidecar', { egress: [{ captureMode: 'EBPF', hosts: ['./*'] }] }), ['spec', 'egress', 0, 'captureMode'], /DEFAULT, IPTABLES, NONE/);
    assertError(istio('Sidecar', { outboundTrafficPolicy: { mode: 'OPEN' } }), ['spec', 'outboundTrafficPolicy', 'mode'], /REGISTRY_ONLY, ALLOW_ANY/);
    assertError(istio('Sidecar', {}), ['spec'], /empty configuration/);
  });

  it('checks gateway servers, ports and hosts', () => {
    const gw = (servers: unknown) => istio('Gateway', { selector: { istio: 'ingressgateway' }, servers });
    assertValid(gw([{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*.example.com', 'prod/api.example.com'] }]));
    assertError(gw([]), ['spec', 'servers'], /at least one server/);
    assertError(gw([{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: [] }]), ['spec', 'servers', 0, 'hosts'], /at least one host/);
    assertError(gw([{ port: { number: 80, protocol: 'HTTP' }, hosts: ['*'] }]), ['spec', 'servers', 0, 'port', 'name'], /must be set/);
    assertError(gw([{ port: { number: 443, name: 'https', protocol: 'HTTPS' }, hosts: ['*'] }]), ['spec', 'servers', 0, 'tls'], /TLS settings/);
  });
});
