/**
 * Validating admission of the Kubernetes API test server: the ValidatingWebhookConfigurations it
 * stores are called like kube-apiserver's ValidatingAdmissionWebhook plugin does, for CREATE and
 * UPDATE over HTTP (dry runs included): rules (apiGroups/apiVersions/operations/resources/scope),
 * namespaceSelector and objectSelector, an AdmissionReview v1 POSTed to `clientConfig.url` over
 * HTTPS trusting `caBundle` (`?timeout=<n>s`), denial → the webhook's Status (code ≥ 400)
 * with `admission webhook "<name>" denied the request: <message>`, call failure → failurePolicy
 * (Fail: 500 `failed calling webhook`; Ignore: admitted). `clientConfig.service` is reached as
 * kube-apiserver with endpoint routing does: through the Service's EndpointSlices (label
 * kubernetes.io/service-name; the Service's targetPort), TLS server name `<name>.<namespace>.svc`;
 * none ready → the call fails like a Service without endpoints.
 * Direct test edits (create()/update()) skip admission, as an etcd write would.
 */
import { randomUUID } from 'node:crypto';
import * as https from 'node:https';
import { ApiError } from './kube-apiserver-errors';
import { RESOURCES, ResourceDef } from './kube-apiserver-resources';
import type { KubeStore, Obj } from './kube-apiserver-store';

const VWC = RESOURCES.find((d) => d.resource === 'validatingwebhookconfigurations')!;
const NS = RESOURCES.find((d) => d.resource === 'namespaces')!;
const SVC = RESOURCES.find((d) => d.resource === 'services')!;
const SLICE = RESOURCES.find((d) => d.resource === 'endpointslices')!;

export interface AdmissionRequest {
  d: ResourceDef;
  version: string;
  operation: 'CREATE' | 'UPDATE';
  subresource?: string;
  namespace?: string;
  name: string;
  object: Obj;
  oldObject?: Obj;
  dryRun: boolean;
  user: { username: string; uid?: string; groups?: string[] };
}

function matchesAny(list: string[] | undefined, v: string): boolean {
  return (list ?? []).some((x) => x === '*' || x === v);
}

/** metav1.LabelSelector matching (matchLabels + matchExpressions). */
export function selectorMatches(sel: Obj | undefined, labels: Record<string, string> = {}): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = labels[e.key] !== undefined;
    const values: string[] = e.values ?? [];
    if (e.operator === 'In' && !(has && values.includes(labels[e.key]))) return false;
    if (e.operator === 'NotIn' && has && values.includes(labels[e.key])) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

function ruleMatches(rule: Obj, r: AdmissionRequest): boolean {
  const resource = r.subresource ? `${r.d.resource}/${r.subresource}` : r.d.resource;
  const scope = rule.scope ?? '*';
  if (scope === 'Namespaced' && !r.d.namespaced) return false;
  if (scope === 'Cluster' && r.d.namespaced) return false;
  return matchesAny(rule.apiGroups, r.d.group) && matchesAny(rule.apiVersions, r.version) && matchesAny(rule.operations, r.operation)
    && ((rule.resources ?? []) as string[]).some((x) => x === '*' || x === resource || (x === '*/*') || (r.subresource ? x === `*/${r.subresource}` || x === `${r.d.resource}/*` : false));
}

function post(url: URL, caPem: string | undefined, servername: string | undefined, body: string, timeoutMs: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, {
      method: 'POST', ...(caPem ? { ca: caPem } : {}), ...(servername ? { servername } : {}), headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'Content-Length': Buffer.byteLength(body) }, timeout: timeoutMs,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`context deadline exceeded (Client.Timeout exceeded while awaiting headers)`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** host:port of a ready endpoint of the Service a webhook names, or undefined. */
function resolveService(store: KubeStore, svc: Obj): string | undefined {
  const port = svc.port ?? 443;
  const service = store.get(SVC, svc.namespace, svc.name);
  const sp = (service?.spec?.ports ?? []).find((p: Obj) => p.port === port);
  const slices = store.listRaw(SLICE, svc.namespace).filter((o) => o.metadata.labels?.['kubernetes.io/service-name'] === svc.name);
  for (const sl of slices) {
    const ports: Obj[] = sl.ports ?? [];
    const target = typeof sp?.targetPort === 'number' ? sp.targetPort
      : typeof sp?.targetPort === 'string' ? ports.find((p) => p.name === sp.targetPort)?.port : undefined;
    const chosen = target ?? (sp?.name !== undefined ? ports.find((p) => p.name === sp.name)?.port : undefined) ?? ports[0]?.port ?? port;
    for (const e of (sl.endpoints ?? []) as Obj[]) {
      if (e.conditions?.ready === false || !e.addresses?.length) continue;
      const addr: string = e.addresses[0];
      return `${addr.includes(':') ? `[${addr}]` : addr}:${chosen}`;
    }
  }
  return undefined;
}

async function call(store: KubeStore, w: Obj, r: AdmissionRequest): Promise<void> {
  const timeoutSeconds = w.timeoutSeconds ?? 10;
  const cc = w.clientConfig ?? {};
  const fail = (why: string): void => {
    if ((w.failurePolicy ?? 'Fail') === 'Ignore') return;
    throw new ApiError(500, 'InternalError', `Internal error occurred: failed calling webhook "${w.name}": ${why}`, { causes: [{ message: `failed calling webhook "${w.name}": ${why}` }] });
  };
  let servername: string | undefined;
  let url: URL;
  if (cc.url) {
    url = new URL(cc.url);
  } else {
    const svc = cc.service ?? {};
    const ep = resolveService(store, svc);
    if (!ep) return fail(`failed to call webhook: Post "https://${svc.name}.${svc.namespace}.svc:${svc.port ?? 443}${svc.path ?? ''}?timeout=${timeoutSeconds}s": no endpoints available for service "${svc.name}"`);
    url = new URL(`https://${ep}${svc.path ?? ''}`);
    servername = `${svc.name}.${svc.namespace}.svc`;
  }
  url.searchParams.set('timeout', `${timeoutSeconds}s`);
  const target = url.toString();
  const review = {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: randomUUID(),
      kind: { group: r.d.group, version: r.version, kind: r.d.kind },
      resource: { group: r.d.group, version: r.version, resource: r.d.resource },
      ...(r.subresource ? { subResource: r.subresource } : {}),
      requestKind: { group: r.d.group, version: r.version, kind: r.d.kind },
      requestResource: { group: r.d.group, version: r.version, resource: r.d.resource },
      ...(r.subresource ? { requestSubResource: r.subresource } : {}),
      name: r.name,
      ...(r.namespace ? { namespace: r.namespace } : {}),
      operation: r.operation,
      userInfo: { username: r.user.username, ...(r.user.uid ? { uid: r.user.uid } : {}), groups: r.user.groups ?? ['system:authenticated'] },
      object: r.object,
      oldObject: r.oldObject ?? null,
      dryRun: r.dryRun,
      options: r.operation === 'CREATE' ? { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' } : { kind: 'UpdateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
  let res: { status: number; text: string };
  try {
    const ca = cc.caBundle ? Buffer.from(cc.caBundle, 'base64').toString('utf8') : undefined;
    res = await post(url, ca, servername, JSON.stringify(review), timeoutSeconds * 1000);
  } catch (e) {
    return fail(`failed to call webhook: Post "${target}": ${(e as Error).message}`);
  }
  if (res.status < 200 || res.status > 299) return fail(`failed to call webhook: the server responded with the status code ${res.status} but did not return a valid response`);
  let answer: Obj;
  try { answer = JSON.parse(res.text); } catch { return fail('received invalid webhook response: the response is not JSON'); }
  const resp = answer?.response;
  if (!resp || resp.uid !== review.request.uid) return fail(`received invalid webhook response: expected response.uid="${review.request.uid}", got "${resp?.uid ?? ''}"`);
  if (resp.allowed) return;
  const st: Obj = resp.status ?? {};
  const deniedBy = `admission webhook "${w.name}" denied the request`;
  const message = st.message ? `${deniedBy}: ${st.message}` : st.reason ? `${deniedBy}: ${st.reason}` : `${deniedBy} without explanation`;
  const code = typeof st.code === 'number' && st.code >= 400 ? st.code : 400;
  throw new ApiError(code, st.reason ?? '', message, st.details);
}

/** Runs every matching validating webhook; throws the ApiError the API server would answer. */
export async function admit(store: KubeStore, r: AdmissionRequest): Promise<void> {
  const nsLabels = r.d.namespaced && r.namespace ? store.get(NS, undefined, r.namespace)?.metadata.labels ?? {} : r.d.resource === 'namespaces' ? r.object.metadata?.labels ?? {} : {};
  for (const cfg of store.listRaw(VWC)) {
    for (const w of (cfg.webhooks ?? []) as Obj[]) {
      if (!((w.rules ?? []) as Obj[]).some((rule) => ruleMatches(rule, r))) continue;
      if ((r.d.namespaced || r.d.resource === 'namespaces') && !selectorMatches(w.namespaceSelector, nsLabels)) continue;
      const objLabels = r.object.metadata?.labels ?? {};
      const oldLabels = r.oldObject?.metadata?.labels;
      if (!selectorMatches(w.objectSelector, objLabels) && !(oldLabels && selectorMatches(w.objectSelector, oldLabels))) continue;
      if (r.dryRun && !['None', 'NoneOnDryRun'].includes(w.sideEffects)) {
        throw ApiError.badRequest(`admission webhook "${w.name}" has side effects and does not support dry run`);
      }
      await call(store, w, r);
    }
  }
}
