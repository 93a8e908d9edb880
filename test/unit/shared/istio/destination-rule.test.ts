import { describe, it } from 'node:test';
import { assertError, assertValid, assertWarning, dr } from './validation-builders';

const tp = (...rest: (string | number)[]) => ['spec', 'trafficPolicy', ...rest];
const lb = (loadBalancer: unknown) => dr({ trafficPolicy: { loadBalancer } });

describe('DestinationRule: load balancing', () => {
  it('allows one hash key and one hash algorithm, with a prime maglev table', () => {
    assertValid(lb({ consistentHash: { httpCookie: { name: 'user', ttl: '0s' }, maglev: { tableSize: 65537 } } }));
    assertError(lb({ consistentHash: { useSourceIp: true, maglev: { tableSize: 1000 } } }), tp('loadBalancer', 'consistentHash', 'maglev', 'tableSize'), /prime/);
    assertError(lb({ consistentHash: { useSourceIp: true, maglev: { tableSize: 5000011 } } }), tp('loadBalancer', 'consistentHash', 'maglev', 'tableSize'), /less than 5000011/);
    assertError(lb({ consistentHash: { useSourceIp: true, maglev: {} } }), tp('loadBalancer', 'consistentHash', 'maglev', 'tableSize'), /must be set/);
    assertError(lb({ consistentHash: { useSourceIp: true, ringHash: { minimumRingSize: 1024 }, maglev: { tableSize: 7 } } }), tp('loadBalancer', 'consistentHash'), /only one of ringHash or maglev/);
    assertWarning(lb({ consistentHash: { useSourceIp: true, minimumRingSize: 1024 } }), tp('loadBalancer', 'consistentHash', 'minimumRingSize'), /deprecated/);
  });

  it('checks locality settings: distribute weights, failover regions, overlaps', () => {
    const od = { consecutive5xxErrors: 5 };
    assertValid(dr({ trafficPolicy: { outlierDetection: od, loadBalancer: { localityLbSetting: { distribute: [{ from: 'us-west/zone1/*', to: { 'us-west/zone1/*': 80, 'us-west/zone2/*': 20 } }] } } } }));
    const locality = (localityLbSetting: unknown) => dr({ trafficPolicy: { outlierDetection: od, loadBalancer: { localityLbSetting } } });
    const at = tp('loadBalancer', 'localityLbSetting');
    assertError(locality({ distribute: [{ from: 'a/*', to: { 'b/*': 50 } }], failover: [{ from: 'a', to: 'b' }] }), at, /simultaneously specify 'distribute' and 'failover'/);
    assertError(locality({ distribute: [{ from: 'a/*', to: { 'b/*': 60, 'c/*': 30 } }] }), [...at, 'distribute', 0, 'to'], /total locality weight 90 != 100/);
    assertError(locality({ distribute: [{ from: 'a/*', to: { 'b/*': 0, 'c/*': 100 } }] }), [...at, 'distribute', 0, 'to', 'b/*'], /range \[1, 100\]/);
    assertError(locality({ distribute: [{ from: '*/z', to: { 'b/*': 100 } }] }), [...at, 'distribute', 0, 'from'], /must be in the end/);
    assertError(locality({ distribute: [{ from: 'a/*', to: { 'a/z1': 50, 'a/*': 50 } }] }), [...at, 'distribute', 0, 'to', 'a/*'], /overlap/);
    assertError(locality({ failover: [{ from: 'us-east', to: 'us-east' }] }), [...at, 'failover', 0], /different regions/);
    assertError(locality({ failover: [{ from: 'us-east/z1', to: 'eu' }] }), [...at, 'failover', 0], /only specify region/);
    assertError(locality({ failover: [{ from: 'a', to: 'b' }], failoverPriority: ['topology.kubernetes.io/zone'] }), [...at, 'failoverPriority'], /topology label/);
    assertWarning(dr({ trafficPolicy: { loadBalancer: { localityLbSetting: { failover: [{ from: 'a', to: 'b' }] } } } }), at, /outlier detection policy must be provided/);
  });

  it('checks warmup', () => {
    assertError(lb({ simple: 'ROUND_ROBIN', warmup: { minimumPercent: 10 } }), tp('loadBalancer', 'warmup', 'duration'), /required/);
    assertError(lb({ simple: 'ROUND_ROBIN', warmup: { duration: '10s', aggression: 0.5 } }), tp('loadBalancer', 'warmup', 'aggression'), /greater than or equal to 1/);
  });
});

describe('DestinationRule: connection pool, outlier detection, tunnel', () => {
  it('requires some connection pool setting and consistent HTTP upgrade options', () => {
    assertError(dr({ trafficPolicy: { connectionPool: {} } }), tp('connectionPool'), /at least one field/);
    assertError(dr({ trafficPolicy: { connectionPool: { http: { h2UpgradePolicy: 'UPGRADE', useClientProtocol: true } } } }), tp('connectionPool', 'http'), /useClientProtocol/);
    assertError(dr({ trafficPolicy: { connectionPool: { http: { maxRetries: -1 } } } }), tp('connectionPool', 'http', 'maxRetries'), /non-negative/);
    assertValid(dr({ trafficPolicy: { connectionPool: { tcp: { idleTimeout: '0s', tcpKeepalive: { time: '7200s', interval: '75s', probes: 9 } } } } }));
  });

  it('checks outlier detection rules and deprecations', () => {
    assertError(dr({ trafficPolicy: { outlierDetection: { consecutiveLocalOriginFailures: 3 } } }), tp('outlierDetection', 'consecutiveLocalOriginFailures'), /split external local origin errors/);
    assertValid(dr({ trafficPolicy: { outlierDetection: { consecutiveLocalOriginFailures: 3, splitExternalLocalOriginErrors: true } } }));
    assertWarning(dr({ trafficPolicy: { outlierDetection: { consecutiveErrors: 5 } } }), tp('outlierDetection', 'consecutiveErrors'), /deprecated/);
    assertError(dr({ trafficPolicy: { outlierDetection: { maxEjectionPercent: 150 } } }), tp('outlierDetection', 'maxEjectionPercent'), /out of range/);
  });

  it('checks tunnel settings and their exclusion with proxyProtocol', () => {
    assertValid(dr({ trafficPolicy: { tunnel: { protocol: 'CONNECT', targetHost: 'proxy.example.com', targetPort: 8443 } } }));
    assertError(dr({ trafficPolicy: { tunnel: { protocol: 'PUT', targetHost: '10.0.0.1', targetPort: 8443 } } }), tp('tunnel', 'protocol'), /CONNECT/);
    assertError(dr({ trafficPolicy: { tunnel: { targetHost: 'proxy', targetPort: 8443 }, proxyProtocol: { version: 'V1' } } }), tp(), /tunnel and proxyProtocol/);
    assertError(dr({ trafficPolicy: { tunnel: { targetHost: '10.0.0.1' } } }), tp('tunnel', 'targetPort'), /required/);
  });

  it('rejects tunnel, proxyProtocol and unknown fields at port level', () => {
    assertError(dr({ trafficPolicy: { portLevelSettings: [{ port: { number: 80 }, tunnel: { targetHost: 'a.b', targetPort: 1 } }] } }), tp('portLevelSettings', 0, 'tunnel'), /unknown field/);
    assertError(dr({ trafficPolicy: { portLevelSettings: [{ port: { number: 80 } }] } }), tp('portLevelSettings', 0), /at least one field/);
  });
});

describe('DestinationRule: TLS, subsets, selector and exportTo', () => {
  it('checks client TLS against credentialName and insecureSkipVerify', () => {
    assertValid(dr({ trafficPolicy: { tls: { mode: 'MUTUAL', credentialName: 'client-cert' } } }));
    assertError(dr({ trafficPolicy: { tls: { mode: 'SIMPLE', credentialName: 'c', caCertificates: '/ca.pem' } } }), tp('tls', 'credentialName'), /cannot specify client certificates/);
    assertError(dr({ trafficPolicy: { tls: { mode: 'SIMPLE', insecureSkipVerify: true, subjectAltNames: ['a'] } } }), tp('tls', 'insecureSkipVerify'), /InsecureSkipVerify|insecureSkipVerify/);
    assertError(dr({ trafficPolicy: { tls: { mode: 'SIMPLE', credentialName: 'configmap://other/ca' } } }), tp('tls', 'credentialName'), /namespace must match/);
  });

  it('warns about subsets without labels and checks subset names', () => {
    assertWarning(dr({ subsets: [{ name: 'all' }] }), ['spec', 'subsets', 0, 'labels'], /no labels/);
    assertError(dr({ subsets: [{ name: 'v1.0', labels: { version: 'v1' } }] }), ['spec', 'subsets', 0, 'name'], /invalid/);
  });

  it('keeps workload-selected rules in their namespace and checks exportTo', () => {
    assertError(dr({ workloadSelector: { matchLabels: { app: 'a' } }, exportTo: ['*'] }), ['spec', 'exportTo'], /beyond current namespace/);
    assertValid(dr({ workloadSelector: { matchLabels: { app: 'a' } }, exportTo: ['.'] }));
    assertError(dr({ exportTo: ['default', '.'] }), ['spec', 'exportTo', 1], /\. and current namespace default/);
    assertError(dr({ exportTo: ['*', 'team-a'] }), ['spec', 'exportTo'], /both public/);
    assertError(dr({ exportTo: ['~'] }), ['spec', 'exportTo', 0], /only allowed for ServiceEntry/);
    assertWarning(dr({ workloadSelector: {} }), ['spec', 'workloadSelector'], /without labels/);
  });
});
