/**
 * AuthorizationPolicy validation, after Istio's ValidateAuthorizationPolicy and
 * pkg/config/security: what the webhook and `istioctl validate` reject, with the path of the
 * offending field, and Istio's warnings. (Kept beside the authorization goldens: the fixtures those
 * use pass through the same validator.)
 */
import { describe, it } from 'node:test';
import { assertError, assertValid, assertWarning, object } from '../../shared/istio/validation-builders';

const ap = (spec: unknown, meta?: Record<string, unknown>) => object('security.istio.io/v1', 'AuthorizationPolicy', { spec }, meta);
const r0 = (...rest: (string | number)[]) => ['spec', 'rules', 0, ...rest];

describe('AuthorizationPolicy', () => {
  it('accepts the documented shapes: allow-nothing, allow-all rule, full rules, every when key', () => {
    assertValid(ap({}));
    assertValid(ap({ rules: [{}] }));
    assertValid(ap({ action: 'DENY', selector: { matchLabels: { app: 'httpbin' } }, rules: [{ to: [{ operation: { paths: ['/admin/*'], ports: ['8080'] } }] }] }));
    assertValid(ap({
      rules: [{
        from: [{ source: { principals: ['cluster.local/ns/a/sa/b'], namespaces: ['a'], ipBlocks: ['10.0.0.0/8', '::1'], notRemoteIpBlocks: ['1.2.3.4'], requestPrincipals: ['iss/sub'] } },
          { source: { serviceAccounts: ['sleep', 'bar/curl'] } }],
        to: [{ operation: { hosts: ['*.example.com'], methods: ['GET'], paths: ['/items/{*}/x', '/files/{**}'], notPorts: ['80'] } }],
        when: ['request.headers[x-a]', 'source.ip', 'remote.ip', 'source.namespace', 'source.serviceAccount', 'source.principal', 'request.auth.principal',
          'request.auth.audiences', 'request.auth.presenter', 'request.auth.claims[groups]', 'destination.ip', 'destination.port', 'connection.sni',
          'experimental.envoy.filters.a.b[c]', 'request.experimental.inline.headers[x-b]']
          .map((key) => ({ key, values: [key.endsWith('.ip') ? '10.0.0.1' : key === 'destination.port' ? '80' : 'v'] })),
      }],
    }));
    assertValid(ap({ action: 'CUSTOM', provider: { name: 'ext' }, rules: [{ to: [{ operation: { paths: ['/x'] } }] }] }));
  });

  it('checks actions and providers as Istio does', () => {
    assertError(ap({ action: 'LOG' }), ['spec', 'action'], /unsupported value "LOG"/);
    assertError(ap({ action: 'DENY' }), ['spec', 'rules'], /DENY action without `rules` is meaningless/);
    assertError(ap({ action: 'DENY', rules: [] }), ['spec', 'rules'], /DENY action without `rules` is meaningless/);
    assertError(ap({ action: 'CUSTOM', provider: { name: 'ext' } }), ['spec', 'rules'], /CUSTOM action without `rules`/);
    assertError(ap({ action: 'CUSTOM', rules: [{}] }), ['spec', 'provider', 'name'], /`provider.name` must not be empty/);
    assertError(ap({ action: 'ALLOW', provider: { name: 'ext' }, rules: [{}] }), ['spec', 'provider'], /must not be with non CUSTOM action, found ALLOW/);
    assertError(ap({ action: 'CUSTOM', provider: { name: 'ext' }, rules: [{ from: [{ source: { principals: ['a'] } }] }] }), r0('from', 0, 'source', 'principals'), /From.Principals is currently not supported with CUSTOM/);
    assertError(ap({ action: 'CUSTOM', provider: { name: 'ext' }, rules: [{ when: [{ key: 'request.auth.claims[iss]', values: ['x'] }] }] }), r0('when', 0, 'key'), /not supported with CUSTOM/);
  });

  it('checks selectors and target references', () => {
    assertError(ap({ selector: { matchLabels: { app: 'a' } }, targetRefs: [{ kind: 'Gateway', group: 'gateway.networking.k8s.io', name: 'gw' }] }), ['spec'], /only one of targetRefs or workloadSelector/);
    assertError(ap({ selector: { matchLabels: { app: 'a*' } } }), ['spec', 'selector', 'matchLabels', 'app'], /wildcard is not supported in selector/);
    assertWarning(ap({ selector: {} }), ['spec', 'selector'], /workload selector specified without labels/);
    assertError(ap({ targetRef: { kind: 'Deployment', name: 'x' } }), ['spec', 'targetRef'], /targetRef must be to one of/);
    assertError(ap({ targetRefs: [{ kind: 'Service', group: '', name: '' }] }), ['spec', 'targetRefs', 0, 'name'], /targetRef name must be set/);
    assertError(ap({ targetRefs: [{ kind: 'Service', group: '', name: 'a', namespace: 'b' }] }), ['spec', 'targetRefs', 0, 'namespace'], /cross namespace referencing/);
    assertValid(ap({ targetRefs: [{ kind: 'Service', group: '', name: 'httpbin' }], rules: [{}] }));
  });

  it('requires non-empty from/to entries, sources and operations', () => {
    assertError(ap({ rules: [{ from: [] }] }), r0('from'), /`from` must not be empty, found at rule 0/);
    assertError(ap({ rules: [{ to: [] }] }), r0('to'), /`to` must not be empty/);
    assertError(ap({ rules: [{ from: [{}] }] }), r0('from', 0, 'source'), /`from.source` must not be nil/);
    assertError(ap({ rules: [{ from: [{ source: {} }] }] }), r0('from', 0, 'source'), /`from.source` must not be empty/);
    assertError(ap({ rules: [{ to: [{ operation: {} }] }] }), r0('to', 0, 'operation'), /`to.operation` must not be empty/);
    assertError(ap({ rules: [null] }), r0(), /`rule` must not be nil, found at rule 0/);
    assertError(ap({ rules: [{ from: [{ source: { namespaces: ['a'], serviceAccounts: ['b'] } }] }] }), r0('from', 0, 'source'), /cannot set serviceAccounts with namespaces or principals/);
  });

  it('checks values: no empty strings, IPs and CIDRs, numeric ports, service accounts, path templates', () => {
    assertError(ap({ rules: [{ from: [{ source: { principals: [''] } }] }] }), r0('from', 0, 'source', 'principals', 0), /empty value not allowed, found in Principals/);
    assertError(ap({ rules: [{ from: [{ source: { ipBlocks: ['10.0.0.0/33'] } }] }] }), r0('from', 0, 'source', 'ipBlocks', 0), /bad CIDR range/);
    assertError(ap({ rules: [{ from: [{ source: { notRemoteIpBlocks: ['not-an-ip'] } }] }] }), r0('from', 0, 'source', 'notRemoteIpBlocks', 0), /bad IP address/);
    assertError(ap({ rules: [{ to: [{ operation: { ports: ['http'] } }] }] }), r0('to', 0, 'operation', 'ports', 0), /bad port \(http\)/);
    assertError(ap({ rules: [{ to: [{ operation: { notPorts: ['70000'] } }] }] }), r0('to', 0, 'operation', 'notPorts', 0), /bad port/);
    assertError(ap({ rules: [{ to: [{ operation: { ports: [80] } }] }] }), r0('to', 0, 'operation', 'ports', 0), /must be a string/);
    assertError(ap({ rules: [{ from: [{ source: { serviceAccounts: ['a/b/c'] } }] }] }), r0('from', 0, 'source', 'serviceAccounts', 0), /expected format 'serviceAccount' or 'namespace\/serviceAccount'/);
    assertError(ap({ rules: [{ from: [{ source: { serviceAccounts: ['sa-*'] } }] }] }), r0('from', 0, 'source', 'serviceAccounts', 0), /wildcard not allowed/);
    assertError(ap({ rules: [{ to: [{ operation: { paths: ['/a/{**}/b/{*}'] } }] }] }), r0('to', 0, 'operation', 'paths', 0), /\{\*\*\} is not the last operator/);
    assertError(ap({ rules: [{ to: [{ operation: { paths: ['/a/{id}'] } }] }] }), r0('to', 0, 'operation', 'paths', 0), /beyond a supported path template/);
  });

  it('checks when conditions: known keys, map keys, values present, typed values', () => {
    const when = (w: unknown) => ap({ rules: [{ when: [w] }] });
    assertError(when({ key: '', values: ['a'] }), r0('when', 0, 'key'), /`key` must not be empty/);
    assertError(when({ key: 'source.ip' }), r0('when', 0), /at least one of `values` or `notValues` must be set for key source.ip/);
    assertError(when({ key: 'request.headers', values: ['a'] }), r0('when', 0, 'key'), /should have format a\[b\]/);
    assertError(when({ key: 'destination.labels[app]', values: ['a'] }), r0('when', 0, 'key'), /replaced by the workload selector/);
    assertError(when({ key: 'destination.namespace', values: ['a'] }), r0('when', 0, 'key'), /replaced by the metadata.namespace/);
    assertError(when({ key: 'destination.user', values: ['a'] }), r0('when', 0, 'key'), /only supported in v1alpha1/);
    assertError(when({ key: 'source.labels[app]', values: ['a'] }), r0('when', 0, 'key'), /unknown attribute: source.labels\[app\]/);
    assertError(when({ key: 'source.ip', values: ['1.2.3'] }), r0('when', 0, 'values', 0), /bad IP address/);
    assertError(when({ key: 'destination.port', notValues: ['-1'] }), r0('when', 0, 'notValues', 0), /bad port/);
    assertError(when({ key: 'source.serviceAccount', values: ['a/b/c'] }), r0('when', 0, 'values', 0), /expected format/);
  });

  it('rejects unknown fields at any depth', () => {
    assertError(ap({ rulez: [] }), ['spec', 'rulez'], /unknown field "rulez"/);
    assertError(ap({ rules: [{ from: [{ source: { principal: ['a'] } }] }] }), r0('from', 0, 'source', 'principal'), /unknown field "principal"/);
    assertError(ap({ rules: [{ to: [{ operation: { method: ['GET'] } }] }] }), r0('to', 0, 'operation', 'method'), /unknown field "method"/);
    assertError(ap({ rules: [{ when: [{ key: 'source.ip', value: ['1.2.3.4'] }] }] }), r0('when', 0, 'value'), /unknown field "value"/);
    assertError(ap({ provider: { name: 'x', kind: 'y' }, action: 'CUSTOM', rules: [{}] }), ['spec', 'provider', 'kind'], /unknown field "kind"/);
  });

  it('warns that a DENY rule made only of HTTP attributes denies every TCP port in scope', () => {
    assertWarning(ap({ action: 'DENY', rules: [{ to: [{ operation: { methods: ['POST'] } }] }] }), r0(), /deny all traffic to TCP ports/);
    assertWarning(ap({ action: 'DENY', rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] }), r0(), /deny all traffic to TCP ports/);
  });
});
