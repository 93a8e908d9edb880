/**
 * Route builders take VirtualService specs the server validated, but a spec reaching them through
 * another path (an older snapshot, a relaxed validator) must never crash generation: odd values
 * degrade to Istio's defaults or drop the clause, and the output still passes the validator.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { ConfigModel } from '../../../../src/shared/model/service';
import { buildRoutes, virtualServiceRoutes } from '../../../../src/workers/generators/routes';
import { tcpTargets, tlsTargets } from '../../../../src/workers/generators/tcp-routes';
import { validateResource } from '../../../../src/shared/envoy/validate';
import { NS, REVIEWS, snapshotOf } from './golden-virtual-service-common';

const ODD_SPECS: unknown[] = [
  {},
  { http: null, tcp: 'x', tls: 7 },
  { http: [null, 1, 'x', { match: null }, { match: [null, 5, { uri: null, headers: null }] }] },
  { http: [{ route: [{ destination: null }] }, { route: [] }, { route: 'nope' }] },
  { http: [{ route: [{ destination: { host: 'reviews' }, weight: -5 }, { destination: { host: 'reviews' }, weight: 'x' }] }] },
  { http: [{ redirect: { redirectCode: 399 }, match: [{ uri: { exact: '/a' } }] }, { directResponse: { status: 'x', body: 3 } }] },
  { http: [{ timeout: 'forever', retries: { attempts: 'x', perTryTimeout: 3 }, fault: { delay: { fixedDelay: 'soon' }, abort: { grpcStatus: 'NOPE' } }, route: [{ destination: { host: 'reviews' } }] }] },
  { http: [{ corsPolicy: { allowOrigins: [null, { exact: 1 }], maxAge: 'x' }, headers: { request: { set: null, remove: 'x' } }, mirror: 'x', mirrors: [null], route: [{ destination: { host: 'reviews' } }] }] },
  { http: [{ delegate: { name: 'missing' } }, { delegate: null, route: [{ destination: { host: 'reviews' } }] }] },
  { tcp: [null, { match: [null, { destinationSubnets: 'x' }], route: [{ destination: { host: 'details' } }] }], tls: [{ match: [{ sniHosts: null }, null], route: null }] },
];

test('route builders never throw on odd VirtualService specs, and what they emit is valid', () => {
  const snap = snapshotOf('');
  const svc = snap.servicesByHost(REVIEWS)[0]!;
  for (const [i, spec] of ODD_SPECS.entries()) {
    const vs: ConfigModel = { group: 'networking.istio.io', kind: 'VirtualService', namespace: NS, name: `odd-${i}`, revision: '', labels: {}, spec };
    for (const proxyless of [false, true]) {
      let routes: Record<string, unknown>[] = [];
      assert.doesNotThrow(() => { routes = buildRoutes(snap, NS, vs, svc, 9080, { proxyless }); }, `spec ${i} (proxyless ${proxyless})`);
      assert.doesNotThrow(() => virtualServiceRoutes(snap, NS, vs, 9080, { proxyless, gateway: 'istio-system/gw' }));
      const rc = { name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routes }] };
      assert.deepEqual(validateResource('type.googleapis.com/envoy.config.route.v3.RouteConfiguration', rc), [], `spec ${i}: ${JSON.stringify(routes)}`);
    }
    assert.doesNotThrow(() => tcpTargets(snap, NS, vs, 3306, {}));
    assert.doesNotThrow(() => tlsTargets(snap, NS, vs, 9443, {}));
  }
});
