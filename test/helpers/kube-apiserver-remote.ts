/**
 * KubeTestTarget over a real API server (KUBE_TEST_APISERVER + KUBECONFIG): the same
 * create/update/remove/get/list surface as the local test server, done over HTTP with KubeClient.
 * What it creates (namespaces included) is deleted again on close(). No outage controls.
 */
import { KubeClient, KubeObject, isStatus, loadKubeConfig } from '../../src/main/kube/client';
import { clientWithToken, type KubeTestTarget } from './kube-apiserver';
import { ResourceDef, findByKind, splitApiVersion } from './kube-apiserver-resources';

type Obj = Record<string, any>;

function collectionPath(d: ResourceDef, version: string, namespace?: string): string {
  const base = d.group ? `/apis/${d.group}/${version}` : `/api/${version}`;
  return d.namespaced && namespace ? `${base}/namespaces/${encodeURIComponent(namespace)}/${d.resource}` : `${base}/${d.resource}`;
}

function objectPath(d: ResourceDef, version: string, namespace: string | undefined, name: string): string {
  return `${collectionPath(d, version, namespace)}/${encodeURIComponent(name)}`;
}

export function remoteTarget(kubeconfigPath: string, server: string): KubeTestTarget {
  const client = new KubeClient(loadKubeConfig({ kubeconfig: kubeconfigPath }));
  if (/^https?:\/\//.test(server) && server.replace(/\/+$/, '') !== client.server) {
    throw new Error(`KUBE_TEST_APISERVER=${server} but the current context of KUBECONFIG=${kubeconfigPath} points at ${client.server}`);
  }
  const created: Array<{ apiVersion: string; kind: string; namespace?: string; name: string }> = [];
  const nsDef = findByKind('v1', 'Namespace');

  const ensureNamespace = async (ns: string): Promise<void> => {
    if (created.some((c) => c.kind === 'Namespace' && c.name === ns)) return;
    try {
      await client.request('POST', collectionPath(nsDef, 'v1'), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
      created.push({ apiVersion: 'v1', kind: 'Namespace', name: ns });
    } catch (e) {
      if (!isStatus(e, 409)) throw e;
    }
  };

  const target: KubeTestTarget = {
    local: false,
    url: client.server,
    kubeconfigPath,
    client: () => new KubeClient(loadKubeConfig({ kubeconfig: kubeconfigPath })),
    clientAs: (token) => clientWithToken(kubeconfigPath, token),
    async create(obj) {
      const o = structuredClone(obj) as Obj;
      const d = findByKind(o.apiVersion, o.kind);
      const { version } = splitApiVersion(o.apiVersion);
      const ns = d.namespaced ? o.metadata?.namespace : undefined;
      if (ns) await ensureNamespace(ns);
      let out = await client.request<KubeObject>('POST', collectionPath(d, version, ns), o);
      created.push({ apiVersion: o.apiVersion, kind: o.kind, namespace: ns, name: out.metadata.name });
      if (d.status && o.status !== undefined && d.resource !== 'namespaces') {
        out = await client.request<KubeObject>('PUT', `${objectPath(d, version, ns, out.metadata.name)}/status`, { ...out, status: o.status });
      }
      return out;
    },
    async update(obj) {
      const o = structuredClone(obj) as Obj;
      const d = findByKind(o.apiVersion, o.kind);
      const { version } = splitApiVersion(o.apiVersion);
      const ns = d.namespaced ? o.metadata?.namespace : undefined;
      const p = objectPath(d, version, ns, o.metadata.name);
      if (!o.metadata.resourceVersion) {
        const cur = await client.request<KubeObject>('GET', p);
        o.metadata.resourceVersion = cur.metadata.resourceVersion;
      }
      let out = await client.request<KubeObject>('PUT', p, o);
      if (d.status && o.status !== undefined && JSON.stringify(out.status) !== JSON.stringify(o.status)) {
        out = await client.request<KubeObject>('PUT', `${p}/status`, { ...out, status: o.status });
      }
      return out;
    },
    async remove(apiVersion, kind, namespace, name) {
      const d = findByKind(apiVersion, kind);
      const p = objectPath(d, splitApiVersion(apiVersion).version, namespace, name);
      try {
        // DELETE answers with a Status for many kinds: return the last state read before
        const last = await client.request<KubeObject>('GET', p);
        const answer = await client.request<KubeObject>('DELETE', p);
        return answer.kind === 'Status' ? last : answer;
      } catch (e) {
        if (isStatus(e, 404)) return undefined;
        throw e;
      }
    },
    async get(apiVersion, kind, namespace, name) {
      const d = findByKind(apiVersion, kind);
      try {
        const o = await client.request<KubeObject>('GET', objectPath(d, splitApiVersion(apiVersion).version, namespace, name));
        return o;
      } catch (e) {
        if (isStatus(e, 404)) return undefined;
        throw e;
      }
    },
    async list(apiVersion, kind) {
      const d = findByKind(apiVersion, kind);
      const l = await client.list<KubeObject>(collectionPath(d, splitApiVersion(apiVersion).version));
      return l.items.map((i) => ({ apiVersion, kind, ...i }));
    },
    async freshNamespace(prefix = 'kt') {
      const name = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
      await ensureNamespace(name);
      return name;
    },
    async serviceAccountToken(namespace, name, audiences, expirationSeconds) {
      await ensureNamespace(namespace);
      try {
        await client.request('POST', `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } });
        created.push({ apiVersion: 'v1', kind: 'ServiceAccount', namespace, name });
      } catch (e) {
        if (!isStatus(e, 409)) throw e;
      }
      const tr = await client.request<{ status: { token: string } }>('POST', `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(name)}/token`, {
        apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { ...(audiences ? { audiences } : {}), ...(expirationSeconds ? { expirationSeconds } : {}) },
      });
      return tr.status.token;
    },
    async close() {
      for (const c of created.reverse()) {
        await target.remove(c.apiVersion, c.kind, c.namespace, c.name).catch(() => undefined);
      }
      created.length = 0;
    },
  };
  return target;
}
