import { describe, it } from 'node:test';
import { assertError, assertValid, assertWarning, gw, istio } from './validation-builders';

const https = (tls: unknown, extra: Record<string, unknown> = {}) => gw([{ port: { number: 443, name: 'https', protocol: 'HTTPS' }, hosts: ['*.example.com'], tls, ...extra }]);
const s0 = (...rest: (string | number)[]) => ['spec', 'servers', 0, ...rest];

describe('Gateway', () => {
  it('requires a DNS-1123 label as its name', () => {
    assertError(gw([{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }], { name: 'ingress.v2' }), ['metadata', 'name'], /invalid gateway name/);
  });

  it('checks server hosts: namespace/host forms, no short names, no partial wildcards, IPs allowed', () => {
    const hosts = (h: string) => gw([{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: [h] }]);
    assertValid(hosts('prod/api.example.com'));
    assertValid(hosts('./*'));
    assertValid(hosts('10.0.0.1'));
    assertError(hosts('api'), s0('hosts', 0), /short names/);
    assertError(hosts('prod/*api.example.com'), s0('hosts', 0), /partial wildcard/);
    assertError(hosts('~/api.example.com'), s0('hosts', 0), /invalid namespace value "~"/);
    assertError(hosts('Prod/api.example.com'), s0('hosts', 0), /invalid namespace value/);
  });

  it('requires key material for SIMPLE and MUTUAL unless a credential provides it', () => {
    assertValid(https({ mode: 'SIMPLE', credentialName: 'api-cert' }));
    assertValid(https({ mode: 'MUTUAL', credentialNames: ['rsa', 'ecdsa'] }));
    assertError(https({ mode: 'SIMPLE' }), s0('tls', 'serverCertificate'), /requires a server certificate/);
    assertError(https({ mode: 'MUTUAL', serverCertificate: '/c.pem', privateKey: '/k.pem' }), s0('tls', 'caCertificates'), /client CA bundle/);
    assertError(https({ mode: 'SIMPLE', credentialName: 'a', serverCertificate: '/c.pem', privateKey: '/k.pem' }), s0('tls'), /only one of/);
    assertError(https({ mode: 'ISTIO_MUTUAL', credentialName: 'a' }), s0('tls', 'credentialName'), /ISTIO_MUTUAL TLS cannot/);
    assertError(https({ mode: 'SIMPLE', serverCertificate: '/c.pem', privateKey: '/k.pem', caCrl: '/crl.pem' }), s0('tls', 'caCrl'), /CRL is not supported with SIMPLE/);
    assertWarning(https({ mode: 'PASSTHROUGH', credentialName: 'a' }), s0('tls'), /does not use certificates/);
    assertWarning(https({ mode: 'SIMPLE', credentialName: 'a', minProtocolVersion: 'TLSV1_1' }), s0('tls', 'minProtocolVersion'), /compatible ciphers/);
    assertError(https({ mode: 'SIMPLE', credentialName: 'a', minProtocolVersion: 'SSLV3' }), s0('tls', 'minProtocolVersion'), /TLSV1_2/);
  });

  it('allows only httpsRedirect on plain HTTP servers and no TLS on TCP servers', () => {
    assertValid(gw([{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'], tls: { httpsRedirect: true } }]));
    assertError(gw([{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'], tls: { mode: 'SIMPLE', credentialName: 'a' } }]), s0('tls'), /plain text HTTP/);
    assertError(gw([{ port: { number: 31400, name: 'tcp', protocol: 'TCP' }, hosts: ['*'], tls: { httpsRedirect: true } }]), s0('tls'), /non HTTPS\/TLS ports/);
  });

  it('checks ports and binds', () => {
    assertError(gw([{ port: { number: 80, name: 'http', protocol: 'HTTP', targetPort: 8080 }, hosts: ['*'] }]), s0('port', 'targetPort'), /no impact/);
    assertValid(gw([{ port: { number: 0, name: 'uds', protocol: 'HTTP' }, bind: 'unix:///var/run/gw.sock', hosts: ['*'] }]));
    assertError(gw([{ port: { number: 80, name: 'uds', protocol: 'HTTP' }, bind: 'unix:///var/run/gw.sock', hosts: ['*'] }]), s0('port', 'number'), /must be 0 for unix/);
    assertError(gw([{ port: { number: 0, name: 'uds', protocol: 'HTTP' }, bind: 'unix://relative.sock', hosts: ['*'] }]), s0('bind'), /absolute path/);
    assertError(gw([{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'], tls: { mode: 'SIMPLE', serverCert: 'x' } }]), s0('tls', 'serverCert'), /unknown field/);
  });
});

describe('Sidecar', () => {
  const egress = (listeners: unknown[]) => istio('Sidecar', { egress: listeners });

  it('requires namespace/host egress hosts with qualified names, and warns about duplicates', () => {
    assertError(egress([{ hosts: ['prod/reviews'] }]), ['spec', 'egress', 0, 'hosts', 0], /short names/);
    assertError(egress([{ hosts: ['reviews.prod.svc.cluster.local'] }]), ['spec', 'egress', 0, 'hosts', 0], /namespace\/dnsName/);
    assertValid(egress([{ hosts: ['~/*', './*', 'istio-system/*.example.com'] }]));
    assertWarning(egress([{ hosts: ['prod/*', 'prod/a.example.com'] }]), ['spec', 'egress', 0, 'hosts', 1], /duplicated egress host/);
    assertWarning(egress([{ hosts: ['*/*', './*'] }]), ['spec', 'egress', 0, 'hosts'], /select all resources/);
  });

  it('allows one catch-all egress listener, last', () => {
    assertError(egress([{ hosts: ['./*'] }, { port: { number: 80, protocol: 'HTTP' }, hosts: ['./*'] }]), ['spec', 'egress', 0], /should be the last/);
    assertError(egress([{ port: { number: 80, protocol: 'HTTP' }, hosts: ['./*'] }, { port: { number: 80, protocol: 'HTTP' }, hosts: ['./*'] }]), ['spec', 'egress', 1, 'port', 'number'], /must be unique/);
  });

  it('checks unix domain socket egress listeners', () => {
    assertValid(egress([{ port: { number: 0, protocol: 'HTTP' }, bind: 'unix:///var/run/out.sock', hosts: ['./*'] }]));
    assertError(egress([{ port: { number: 0, protocol: 'HTTP' }, bind: '127.0.0.1', hosts: ['./*'] }]), ['spec', 'egress', 0, 'bind'], /unix domain socket bind/);
    assertError(egress([{ port: { number: 0, protocol: 'HTTP' }, bind: 'unix:///s.sock', captureMode: 'IPTABLES', hosts: ['./*'] }]), ['spec', 'egress', 0, 'captureMode'], /DEFAULT\/NONE/);
  });

  it('checks ingress ports, default endpoints and TLS', () => {
    const ingress = (listener: Record<string, unknown>) => istio('Sidecar', { ingress: [{ port: { number: 9080, protocol: 'HTTP', name: 'http' }, ...listener }] });
    assertValid(ingress({ defaultEndpoint: ':8080' }));
    assertValid(ingress({ defaultEndpoint: '[::1]:8080' }));
    assertValid(ingress({ defaultEndpoint: 'unix:///var/run/app.sock' }));
    assertError(ingress({ defaultEndpoint: '10.0.0.1:8080' }), ['spec', 'ingress', 0, 'defaultEndpoint'], /must be of form/);
    assertError(ingress({ defaultEndpoint: '127.0.0.1:0' }), ['spec', 'ingress', 0, 'defaultEndpoint'], /1\.\.65535/);
    assertError(istio('Sidecar', { ingress: [{ port: { number: 9443, protocol: 'HTTPS', name: 'https' }, tls: { mode: 'ISTIO_MUTUAL' } }] }), ['spec', 'ingress', 0, 'tls', 'mode'], /cannot set mode/);
    assertError(ingress({ tls: { mode: 'SIMPLE', serverCertificate: '/c', privateKey: '/k' } }), ['spec', 'ingress', 0, 'tls'], /non HTTPS\/TLS ports/);
    assertWarning(istio('Sidecar', { ingress: [{ port: { number: 3306, protocol: 'TCP', name: 'tcp' }, connectionPool: { http: { maxRetries: 1 } } }] }),
      ['spec', 'ingress', 0, 'connectionPool', 'http'], /only TCP settings will apply/);
  });

  it('warns, not errors, when a workload selector has no labels', () => {
    assertWarning(istio('Sidecar', { workloadSelector: {}, egress: [{ hosts: ['./*'] }] }), ['spec', 'workloadSelector'], /applied to all services/);
  });

  it('checks the egress proxy', () => {
    assertValid(istio('Sidecar', { outboundTrafficPolicy: { mode: 'ALLOW_ANY', egressProxy: { host: 'egress.example.com', port: { number: 3128 } } } }));
    assertError(istio('Sidecar', { outboundTrafficPolicy: { mode: 'ALLOW_ANY', egressProxy: { host: 'egress.example.com' } } }), ['spec', 'outboundTrafficPolicy', 'egressProxy', 'port'], /non-nil/);
  });
});
