/**
 * What kube-apiserver v1.37 fills in on writes (defaulting and the default admission plugins), as
 * observed on scripts/kube-apiserver: Service type/ClusterIP/families/ports, Pod spec defaults and
 * Pending status, EndpointSlice endpoint conditions and port defaults, Secret stringData folded
 * into base64 data with type Opaque. HTTP writes only, except the Secret folding (stringData is
 * write-only: it never exists in storage, whoever writes).
 */
type Obj = Record<string, any>;

function defaultService(obj: Obj, allocateIp: () => string): void {
  const spec: Obj = (obj.spec = { ...(obj.spec ?? {}) });
  spec.type ??= 'ClusterIP';
  spec.sessionAffinity ??= 'None';
  if (spec.type !== 'ExternalName') {
    if (!spec.clusterIP) spec.clusterIP = allocateIp();
    spec.clusterIPs ??= [spec.clusterIP];
    // a headless Service without selector gets both families, as kube-apiserver v1.37 answers
    const dual = spec.clusterIP === 'None' && !spec.selector;
    spec.ipFamilies ??= dual ? ['IPv4', 'IPv6'] : ['IPv4'];
    spec.ipFamilyPolicy ??= dual ? 'RequireDualStack' : 'SingleStack';
    spec.internalTrafficPolicy ??= 'Cluster';
  }
  if (Array.isArray(spec.ports)) spec.ports = spec.ports.map((p: Obj) => ({ ...p, protocol: p.protocol ?? 'TCP', targetPort: p.targetPort ?? p.port }));
  obj.status = { loadBalancer: {} };
}

function imagePullPolicy(image: string | undefined): string {
  const ref = (image ?? '').split('@')[0]!;
  const tag = ref.lastIndexOf(':') > ref.lastIndexOf('/') ? ref.slice(ref.lastIndexOf(':') + 1) : '';
  return image?.includes('@') || (tag !== '' && tag !== 'latest') ? 'IfNotPresent' : 'Always';
}

function defaultContainers(list: unknown): unknown {
  if (!Array.isArray(list)) return list;
  return list.map((c: Obj) => ({
    ...c,
    ...(Array.isArray(c.ports) ? { ports: c.ports.map((p: Obj) => ({ ...p, protocol: p.protocol ?? 'TCP' })) } : {}),
    resources: c.resources ?? {},
    terminationMessagePath: c.terminationMessagePath ?? '/dev/termination-log',
    terminationMessagePolicy: c.terminationMessagePolicy ?? 'File',
    imagePullPolicy: c.imagePullPolicy ?? imagePullPolicy(c.image),
  }));
}

function defaultPod(obj: Obj): void {
  const spec: Obj = (obj.spec = { ...(obj.spec ?? {}) });
  spec.containers = defaultContainers(spec.containers);
  if (spec.initContainers) spec.initContainers = defaultContainers(spec.initContainers);
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.securityContext ??= {};
  spec.schedulerName ??= 'default-scheduler';
  const tolerations: Obj[] = spec.tolerations ?? [];
  for (const key of ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']) {
    if (!tolerations.some((t) => t.key === key)) tolerations.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 });
  }
  spec.tolerations = tolerations;
  spec.priority ??= 0;
  spec.enableServiceLinks ??= true;
  spec.preemptionPolicy ??= 'PreemptLowerPriority';
  const limited = (spec.containers ?? []).some((c: Obj) => Object.keys(c.resources?.requests ?? {}).length + Object.keys(c.resources?.limits ?? {}).length > 0);
  obj.status = { phase: 'Pending', qosClass: limited ? 'Burstable' : 'BestEffort' };
}

function defaultEndpointSlice(obj: Obj): void {
  if (Array.isArray(obj.endpoints)) obj.endpoints = obj.endpoints.map((e: Obj) => ({ ...e, conditions: e.conditions ?? {} }));
  if (Array.isArray(obj.ports)) obj.ports = obj.ports.map((p: Obj) => ({ name: p.name ?? '', protocol: p.protocol ?? 'TCP', ...p }));
}

/** Defaults of an object created over HTTP. */
export function applyCreateDefaults(d: { resource: string; group: string }, obj: Obj, allocateIp: () => string): void {
  if (d.group !== '' && d.group !== 'discovery.k8s.io') return;
  if (d.resource === 'services') defaultService(obj, allocateIp);
  else if (d.resource === 'pods') defaultPod(obj);
  else if (d.resource === 'endpointslices') defaultEndpointSlice(obj);
}

/** Defaults of an object replaced or patched over HTTP. */
export function applyUpdateDefaults(d: { resource: string; group: string }, obj: Obj): void {
  if (d.resource === 'endpointslices' && d.group === 'discovery.k8s.io') defaultEndpointSlice(obj);
}

/** /status writes: Pod podIPs follow podIP; qosClass cannot change. */
export function applyStatusDefaults(d: { resource: string; group: string }, next: Obj, cur: Obj): void {
  if (d.resource !== 'pods' || d.group !== '' || !next.status) return;
  if (next.status.podIP && !next.status.podIPs) next.status.podIPs = [{ ip: next.status.podIP }];
  if (cur.status?.qosClass) next.status.qosClass = cur.status.qosClass;
}

/** Every write of a Secret: stringData folded into data (base64), type Opaque by default. */
export function applyWriteDefaults(d: { resource: string; group: string }, obj: Obj): void {
  if (d.resource !== 'secrets' || d.group !== '') return;
  if (obj.stringData && typeof obj.stringData === 'object') {
    obj.data = { ...(obj.data ?? {}) };
    for (const [k, v] of Object.entries(obj.stringData)) obj.data[k] = Buffer.from(String(v)).toString('base64');
    delete obj.stringData;
  }
  obj.type ??= 'Opaque';
}
