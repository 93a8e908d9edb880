import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertError, assertValid, assertWarning, istio, route, vs, vsRoute } from './validation-builders';

const http0 = (...rest: (string | number)[]) => ['spec', 'http', 0, ...rest];

describe('VirtualService: hosts and gateways', () => {
  it('rejects overlapping hosts, literal or by wildcard', () => {
    assertError(vs([{ route: [route('a')] }], { hosts: ['a.example.com', 'a.example.com'] }), ['spec', 'hosts', 1], /duplicate hosts/);
    assertError(vs([{ route: [route('a')] }], { hosts: ['*.example.com', 'api.example.com'] }), ['spec', 'hosts', 1], /duplicate hosts/);
    assertValid(vs([{ route: [route('a')] }], { hosts: ['a.example.com', 'b.example.com'] }));
  });

  it('accepts "*" only for gateway-bound services, and IP hosts', () => {
    assertValid(vs([{ route: [route('a')] }], { hosts: ['*'], gateways: ['istio-system/ingress'] }));
    assertError(vs([{ route: [route('a')] }], { hosts: ['*'], gateways: ['mesh', 'gw'] }), ['spec', 'hosts', 0], /mesh gateway/);
    assertValid(vs([{ route: [route('a')] }], { hosts: ['10.0.0.1'] }));
  });

  it('checks gateway names: namespace/name labels, legacy dotted names warned about', () => {
    assertError(vs([{ route: [route('a')] }], { gateways: ['Prod/gw'] }), ['spec', 'gateways', 0], /invalid value for namespace/);
    assertError(vs([{ route: [route('a')] }], { gateways: ['prod/'] }), ['spec', 'gateways', 0], /cannot be empty/);
    assertWarning(vs([{ route: [route('a')] }], { gateways: ['gw.prod'] }), ['spec', 'gateways', 0], /legacy gatewayName format.*"prod\/gw"/);
  });

  it('rejects unknown fields at any depth, hinting at snake_case', () => {
    assertError(vsRoute({ retries: { attempts: 2, per_try_timeout: '1s' } }), http0('retries', 'per_try_timeout'), /unknown field.*perTryTimeout/);
    assertError(vs([{ match: [{ uri: { prefix: '/' }, sourceNamespaces: ['a'] }], route: [route('a')] }]), http0('match', 0, 'sourceNamespaces'), /unknown field/);
    assertError(vs([{ route: [{ destination: { host: 'a', version: 'v1' } }] }]), http0('route', 0, 'destination', 'version'), /unknown field/);
  });
});

describe('VirtualService: http routes', () => {
  it('enforces one action per route and no mirror with mirrors', () => {
    assertError(vs([{ redirect: { uri: '/b' }, fault: { abort: { httpStatus: 500 } } }]), http0('fault'), /both fault and redirect/);
    assertError(vs([{ directResponse: { status: 200 }, rewrite: { uri: '/' } }]), http0('rewrite'), /both rewrite and directResponse/);
    assertError(vs([{ delegate: { name: 'd' }, route: [route('a')] }]), http0('route'), /root HTTP route must not specify route/);
    assertError(vsRoute({ mirror: { host: 'm' }, mirrors: [{ destination: { host: 'm2' } }] }), http0('mirrors'), /both mirror and mirrors/);
  });

  it('checks match fields: header names, empty prefixes, sourceNamespace, JWT claims only on gateways', () => {
    assertError(vs([{ match: [{ headers: { 'x y': { exact: 'a' } } }], route: [route('a')] }]), http0('match', 0, 'headers', 'x y'), /not a valid header name/);
    assertError(vs([{ match: [{ method: { prefix: '' } }], route: [route('a')] }]), http0('match', 0, 'method', 'prefix'), /should not be empty/);
    assertValid(vs([{ match: [{ uri: { prefix: '' } }], route: [route('a')] }]));
    assertError(vs([{ match: [{ sourceNamespace: 'Bad_NS' }], route: [route('a')] }]), http0('match', 0, 'sourceNamespace'), /invalid/);
    const claim = { match: [{ headers: { '@request.auth.claims.group': { exact: 'admin' } } }], route: [route('a')] };
    assertError(vs([claim]), http0('match', 0, 'headers', '@request.auth.claims.group'), /only supported for gateway/);
    assertValid(vs([claim], { gateways: ['istio-system/ingress'] }));
    assertValid(vs([{ match: [{ withoutHeaders: { 'x-canary': { regex: '*' } } }], route: [route('a')] }]));
  });

  it('checks retries: policies, durations, and no policy when attempts is 0', () => {
    assertValid(vsRoute({ retries: { attempts: 3, perTryTimeout: '2s', retryOn: 'gateway-error,connect-failure,503,unavailable' } }));
    assertError(vsRoute({ retries: { attempts: 3, retryOn: '5xx,teapot' } }), http0('retries', 'retryOn'), /"teapot" is not a valid retryOn policy/);
    assertError(vsRoute({ retries: { attempts: 3, retryOn: '599' } }), http0('retries', 'retryOn'), /"599"/);
    assertError(vsRoute({ retries: { attempts: 0, retryOn: '5xx' } }), http0('retries', 'attempts'), /attempts are set to 0/);
    assertError(vsRoute({ retries: { attempts: -1 } }), http0('retries', 'attempts'), /cannot be negative/);
    assertError(vsRoute({ retries: { attempts: 2, perTryTimeout: '0.5ms' } }), http0('retries', 'perTryTimeout'), /millisecond/);
  });

  it('requires timeouts of at least 1ms, as Istio does', () => {
    assertError(vsRoute({ timeout: '0s' }), http0('timeout'), /at least 1ms/);
    assertError(vsRoute({ timeout: 5 }), http0('timeout'), /duration string/);
  });

  it('checks fault injection: abort and/or delay, percentages, gRPC status names', () => {
    assertError(vsRoute({ fault: {} }), http0('fault'), /must have an abort and\/or a delay/);
    assertError(vsRoute({ fault: { abort: { httpStatus: 503, percentage: { value: 101 } } } }), http0('fault', 'abort', 'percentage', 'value'), /neither 0.0, nor in range/);
    assertError(vsRoute({ fault: { delay: { fixedDelay: '1s', percentage: { value: 0.00001 } } } }), http0('fault', 'delay', 'percentage', 'value'), /neither 0.0/);
    assertError(vsRoute({ fault: { abort: { grpcStatus: 'NOPE' } } }), http0('fault', 'abort', 'grpcStatus'), /not supported/);
    assertValid(vsRoute({ fault: { abort: { grpcStatus: 'UNAVAILABLE', percentage: { value: 10 } } } }));
    assertError(vsRoute({ fault: { delay: { exponentialDelay: '1s' } } }), http0('fault', 'delay', 'exponentialDelay'), /not supported yet/);
    assertWarning(vsRoute({ fault: { abort: { percentage: { value: 5 } } } }), http0('fault', 'abort'), /error type not set/);
  });

  it('checks mirrors and mirror percentages', () => {
    assertError(vsRoute({ mirror: { host: 'm' }, mirrorPercentage: { value: 120 } }), http0('mirrorPercentage', 'value'), /0\.\.100/);
    assertError(vsRoute({ mirrors: [{ percentage: { value: 5 } }] }), http0('mirrors', 0, 'destination'), /required for mirrors/);
    assertWarning(vsRoute({ mirror: { host: 'm' }, mirrorPercent: 5 }), http0('mirrorPercent'), /deprecated/);
  });

  it('checks CORS methods, headers and maxAge precision', () => {
    assertValid(vsRoute({ corsPolicy: { allowOrigins: [{ exact: 'https://a.example' }], allowMethods: ['GET', 'POST'], allowHeaders: ['x-token'], maxAge: '24h', allowCredentials: true } }));
    assertError(vsRoute({ corsPolicy: { allowMethods: ['FETCH'] } }), http0('corsPolicy', 'allowMethods', 0), /not a supported HTTP method/);
    assertError(vsRoute({ corsPolicy: { allowHeaders: ['x y'] } }), http0('corsPolicy', 'allowHeaders', 0), /not a valid header name/);
    assertError(vsRoute({ corsPolicy: { maxAge: '1500ms' } }), http0('corsPolicy', 'maxAge'), /seconds precision/);
    assertError(vsRoute({ corsPolicy: { allowOrigins: [{ regex: '(' }] } }), http0('corsPolicy', 'allowOrigins', 0, 'regex'), /invalid regex/);
    assertError(vsRoute({ corsPolicy: { allowCredentials: 'yes' } }), http0('corsPolicy', 'allowCredentials'), /true or false/);
  });

  it('checks header operations: names, values, one authority', () => {
    assertValid(vsRoute({ headers: { request: { set: { 'x-id': '%REQ(x-request-id)%', 'x-pct': '100%%' }, remove: ['x-debug'] } } }));
    assertError(vsRoute({ headers: { response: { set: { host: 'a' } } } }), http0('headers', 'response', 'set', 'host'), /cannot set Host/);
    assertError(vsRoute({ headers: { request: { remove: [':path'] } } }), http0('headers', 'request', 'remove', 0), /":" prefix/);
    assertError(vsRoute({ headers: { request: { add: { 'x-a': 'abc%123' } } } }), http0('headers', 'request', 'add', 'x-a'), /un-terminated/);
    assertError(vsRoute({ headers: { request: { set: { 'x-a': 'a\nb' } } } }), http0('headers', 'request', 'set', 'x-a'), /invalid/);
    assertError(vsRoute({ rewrite: { authority: 'a' }, headers: { request: { set: { ':authority': 'b' } } } }), http0('headers'), /authority header cannot be set multiple times/);
    assertError(vs([{ route: [{ ...route('a'), headers: { response: { remove: ['Host'] } } }] }]), http0('route', 0, 'headers', 'response', 'remove', 0), /cannot set Host/);
  });

  it('checks redirects, direct responses and rewrites', () => {
    assertError(vs([{ redirect: { uri: '/b', scheme: 'ftp' } }]), http0('redirect', 'scheme'), /"http" or "https"/);
    assertError(vs([{ redirect: { port: 70000 } }]), http0('redirect', 'port'), /1\.\.65535/);
    assertError(vs([{ directResponse: { status: 700 } }]), http0('directResponse', 'status'), /out of range/);
    assertWarning(vs([{ directResponse: { status: 200, body: { string: 'x'.repeat(200 * 1024) } } }]), http0('directResponse', 'body'), /large direct_responses/);
    assertError(vsRoute({ rewrite: { uri: '/a', uriRegexRewrite: { match: '^/b', rewrite: '/c' } } }), http0('rewrite'), /only contain one of uri or uriRegexRewrite/);
    assertError(vsRoute({ rewrite: { uriRegexRewrite: { match: '^/b' } } }), http0('rewrite', 'uriRegexRewrite'), /both match and rewrite/);
  });

  it('warns about unreachable rules and duplicate matches', () => {
    assertWarning(vs([{ route: [route('a')] }, { name: 'late', match: [{ uri: { prefix: '/x' } }], route: [route('b')] }]), http0().slice(0, 2).concat([1]), /"late" not used/);
    const m = [{ uri: { exact: '/a' } }];
    assertWarning(vs([{ match: m, route: [route('a')] }, { match: m, route: [route('b')] }]), ['spec', 'http', 1, 'match', 0], /duplicate match in rule #0/);
  });
});

describe('VirtualService: tcp and tls routes', () => {
  it('requires SNI hosts within the VirtualService hosts', () => {
    const tls = (sni: string) => istio('VirtualService', { hosts: ['*.example.com'], gateways: ['gw'], tls: [{ match: [{ sniHosts: [sni] }], route: [route('a')] }] });
    assertValid(tls('api.example.com'));
    assertError(tls('api.example.org'), ['spec', 'tls', 0, 'match', 0, 'sniHosts', 0], /not a compatible subset/);
    assertWarning(tls('10.0.0.1'), ['spec', 'tls', 0, 'match', 0, 'sniHosts', 0], /goes against SNI spec/);
  });

  it('requires a route on tcp and tls rules and valid subnets', () => {
    assertError(istio('VirtualService', { hosts: ['db'], tcp: [{ match: [{ port: 3306 }] }] }), ['spec', 'tcp', 0, 'route'], /TCP route is required/);
    assertError(istio('VirtualService', { hosts: ['db'], tcp: [{ match: [{ destinationSubnets: ['10.0.0.0/33'] }], route: [route('db')] }] }),
      ['spec', 'tcp', 0, 'match', 0, 'destinationSubnets', 0], /not a valid IP or CIDR/);
  });

  it('warns, not errors, on weights that do not add up to 100 (they are relative)', () => {
    assert.deepEqual(assertValid(vs([{ route: [route('a', 1), route('b', 3)] }])), ['spec.http[0].route: total destination weight 4 != 100']);
  });
});
