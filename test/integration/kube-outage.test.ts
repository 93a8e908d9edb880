/**
 * Issue 8 acceptance, outage: the API server goes away for 30 s and comes back with changes made
 * meanwhile (and its watch history compacted, so resuming watches get 410 Gone and relist). The
 * control plane keeps serving the last good model, reports Degraded on /ready, and converges with
 * no restart: no lost object, no duplicated object, the proxy gets the new config.
 * Local API test server only (a real one cannot be stopped from a test).
 */
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import { KubeTestTarget, kubeTestTarget } from '../helpers/kube-apiserver';
import { KubeDiscovery, loadInto, parseObjects, startKubeDiscovery } from '../helpers/kube-mesh';
import { exampleMeshFiles } from '../helpers/mesh-fixtures';
import { AdsClient, SotwStream, resourceName, testNode } from '../helpers/ads-client';
import { sleep, waitFor } from '../helpers/wait-for';
import { CLUSTER_TYPE_URL } from '../../src/shared/resources';

const OUTAGE_MS = 30_000;
const NODE = testNode({ namespace: 'bookinfo', ip: '10.9.0.1', pod: 'client-1' });

describe('API server outage', { skip: process.env['KUBE_TEST_APISERVER'] ? 'needs the local API test server (stop/start)' : false }, () => {
  let target: KubeTestTarget;
  let istiod: KubeDiscovery;
  let ads: SotwStream;

  before(async () => {
    target = await kubeTestTarget();
    await loadInto(target, parseObjects(...Object.values(exampleMeshFiles())));
    istiod = await startKubeDiscovery(target.kubeconfigPath, { start: { kubeBackoff: { initialMs: 100, maxMs: 2000 } } });
    ads = AdsClient.sotw(istiod.grpcTarget);
  });
  after(async () => {
    ads?.close();
    await istiod?.close();
    await target?.close();
  });

  it('keeps serving through 30 s without the API server and converges on what changed meanwhile', { timeout: 120_000 }, async () => {
    const first = await ads.request({ type_url: CLUSTER_TYPE_URL, node: NODE });
    ads.send({ type_url: CLUSTER_TYPE_URL, version_info: first.version_info, response_nonce: first.nonce });
    assert.ok(first.resources.map(resourceName).includes('outbound|9080||reviews.bookinfo.svc.cluster.local'));
    const servicesBefore = istiod.discovery.registry.current!.services.length;

    await target.stop!();
    const degraded = await waitFor(() => {
      const r = istiod.discovery.lifecycle.report();
      return r.state === 'Degraded' ? r : undefined;
    }, 15_000, 'Degraded');
    assert.equal(degraded.ready, true, 'Degraded stays ready: the last good model is served');
    assert.ok(degraded.degraded.some((d) => /kubernetes|watch|list/i.test(d)), degraded.degraded.join('; '));
    assert.equal(istiod.discovery.registry.current!.services.length, servicesBefore, 'the last good model stays in force');

    // Changes made while istiod cannot see the API server.
    const server = target.server!;
    server.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'ratings', namespace: 'bookinfo' }, spec: { clusterIP: '10.96.10.30', selector: { app: 'ratings' }, ports: [{ name: 'http', port: 9080 }] } });
    server.create({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'ratings-1', namespace: 'bookinfo', labels: { 'kubernetes.io/service-name': 'ratings' } },
      addressType: 'IPv4', ports: [{ name: 'http', port: 9080, protocol: 'TCP' }], endpoints: [{ addresses: ['10.244.3.30'], conditions: { ready: true } }] });
    const removedSvc = server.list('v1', 'Service').find((s) => s.metadata.name === 'productpage')!;
    server.remove('v1', 'Service', 'bookinfo', 'productpage');
    const vs = server.list('networking.istio.io/v1', 'VirtualService')[0]!;
    server.update({ ...vs, metadata: { ...vs.metadata, labels: { changed: 'during-outage' } } });
    server.compact(); // the watches' resourceVersions are gone: resuming gets 410 and must relist
    await sleep(Math.max(0, OUTAGE_MS - 2_000));
    assert.ok(istiod.discovery.lifecycle.report().ready, 'ready throughout the outage');

    await target.start!();
    await waitFor(() => istiod.discovery.lifecycle.report().state === 'Running', 30_000, 'Running again');

    // No lost and no duplicated object: the store holds exactly what the API server holds.
    const keysOf = (objs: Array<{ metadata: { namespace?: string; name: string } }>) => objs.map((o) => `${o.metadata.namespace}/${o.metadata.name}`).sort();
    for (const [apiVersion, kind] of [['v1', 'Service'], ['discovery.k8s.io/v1', 'EndpointSlice'], ['v1', 'Pod'], ['networking.istio.io/v1', 'VirtualService'], ['networking.istio.io/v1', 'DestinationRule'], ['networking.istio.io/v1', 'ServiceEntry']] as const) {
      const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
      assert.deepEqual(keysOf(istiod.discovery.store.list(kind, group)), keysOf(server.list(apiVersion, kind)), `${kind}s match the API server`);
    }
    // the model is rebuilt at the next (debounced) push after the store converged
    const hostnames = await waitFor(() => {
      const h = istiod.discovery.registry.current!.services.map((s) => s.service.hostname);
      return h.includes('ratings.bookinfo.svc.cluster.local') && !h.includes(`${removedSvc.metadata.name}.bookinfo.svc.cluster.local`) ? h : undefined;
    }, 10_000, 'the model rebuilt from the converged store');
    assert.equal(new Set(hostnames).size, hostnames.length, 'no duplicated service');
    const vsNow = istiod.discovery.store.list('VirtualService', 'networking.istio.io').find((o) => o.metadata.name === vs.metadata.name)!;
    assert.equal(vsNow.metadata.labels?.['changed'], 'during-outage');

    // The connected proxy converges without reconnecting.
    const pushed = await waitFor(async () => {
      const r = await ads.next(10_000);
      ads.send({ type_url: CLUSTER_TYPE_URL, version_info: r.version_info, response_nonce: r.nonce });
      const names = r.resources.map(resourceName);
      return names.includes('outbound|9080||ratings.bookinfo.svc.cluster.local') && !names.includes('outbound|9080||productpage.bookinfo.svc.cluster.local') ? names : undefined;
    }, 30_000, 'the proxy gets the changed clusters');
    assert.ok(pushed.length > 0);
  });
});
