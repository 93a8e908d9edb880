import { describe, it } from 'node:test';
import { assertError, assertValid, assertWarning, istio, se } from './validation-builders';

describe('ServiceEntry', () => {
  it('does not allow wildcard hosts with DNS resolution and no endpoints', () => {
    assertError(se({ hosts: ['*.example.com'], resolution: 'DNS' }), ['spec', 'hosts', 0], /must be FQDN/);
    assertValid(se({ hosts: ['*.example.com'], resolution: 'NONE' }));
    assertValid(se({ hosts: ['*.example.com'], resolution: 'DNS', endpoints: [{ address: 'proxy.example.com' }] }));
  });

  it('warns about partial wildcards and rejects all-numeric top-level domains', () => {
    assertWarning(se({ hosts: ['*api.example.com'], resolution: 'NONE' }), ['spec', 'hosts', 0], /partial wildcard/);
    assertError(se({ hosts: ['10.0.0.1'], resolution: 'NONE' }), ['spec', 'hosts', 0], /all-numeric/);
  });

  it('matches endpoints to the resolution', () => {
    assertError(se({ resolution: 'NONE', endpoints: [{ address: '10.0.0.1' }] }), ['spec', 'endpoints'], /no endpoints/);
    assertError(se({ resolution: 'STATIC', endpoints: [{ address: 'api.example.com' }] }), ['spec', 'endpoints', 0, 'address'], /not a valid IP/);
    assertError(se({ resolution: 'DNS_ROUND_ROBIN', endpoints: [{ address: 'a.example.com' }, { address: 'b.example.com' }] }), ['spec', 'endpoints'], /0 or 1 endpoint/);
    assertError(se({ resolution: 'DNS', addresses: ['10.0.0.0/24'] }), ['spec', 'addresses'], /CIDR addresses are allowed only for NONE\/STATIC/);
  });

  it('checks unix endpoints: absolute paths, no ports, exactly one service port', () => {
    assertValid(se({ resolution: 'STATIC', endpoints: [{ address: 'unix:///var/run/api.sock' }] }));
    assertError(se({ resolution: 'STATIC', endpoints: [{ address: 'unix://api.sock' }] }), ['spec', 'endpoints', 0, 'address'], /absolute path/);
    assertError(se({ resolution: 'STATIC', ports: [{ number: 80, name: 'http', protocol: 'HTTP' }, { number: 81, name: 'http-2', protocol: 'HTTP' }], endpoints: [{ address: 'unix:///a.sock' }] }),
      ['spec', 'endpoints', 0, 'address'], /exactly 1 service port/);
  });

  it('rejects multiple hosts on plain TCP ports unless resolution is NONE', () => {
    const tcp = { ports: [{ number: 5432, name: 'tcp', protocol: 'TCP' }], addresses: ['10.1.0.1'] };
    assertError(se({ ...tcp, hosts: ['a.example.com', 'b.example.com'], resolution: 'DNS' }), ['spec', 'hosts'], /non-HTTP, non-TLS/);
    assertValid(se({ ...tcp, hosts: ['a.example.com', 'b.example.com'], resolution: 'NONE' }));
  });

  it('allows exporting to no one, but only alone', () => {
    assertValid(se({ resolution: 'DNS', exportTo: ['~'] }));
    assertError(se({ resolution: 'DNS', exportTo: ['~', 'prod'] }), ['spec', 'exportTo'], /no one \(~\) and someone/);
  });

  it('rejects unknown endpoint fields and warns about a selector without labels', () => {
    assertError(se({ resolution: 'STATIC', endpoints: [{ address: '10.0.0.1', zone: 'a' }] }), ['spec', 'endpoints', 0, 'zone'], /unknown field/);
    assertWarning(se({ resolution: 'STATIC', workloadSelector: { labels: {} } }), ['spec', 'workloadSelector'], /applied to all services/);
  });

  it('warns when a WorkloadEntry has a network but no address', () => {
    assertWarning(istio('WorkloadEntry', { network: 'remote' }), ['spec', 'address'], /unset with network/);
  });
});

describe('WorkloadGroup', () => {
  const wg = (spec: unknown) => istio('WorkloadGroup', spec);
  it('accepts a template with labels, ports and a service account', () => {
    assertValid(wg({ metadata: { labels: { app: 'vm' } }, template: { ports: { http: 8080 }, serviceAccount: 'vm-sa', network: 'vm-net' } }));
  });
  it('rejects an address in the template, unknown fields and a missing template', () => {
    assertError(wg({ template: { address: '10.0.0.1' } }), ['spec', 'template', 'address'], /must not be set/);
    assertError(wg({ template: { port: 1 } }), ['spec', 'template', 'port'], /unknown field/);
    assertError(wg({ metadata: { label: {} }, template: {} }), ['spec', 'metadata', 'label'], /unknown field/);
    assertError(wg({}), ['spec', 'template'], /required/);
  });
});
