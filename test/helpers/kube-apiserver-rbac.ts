/**
 * RBAC authorization of the Kubernetes API test server, as kube-apiserver's RBAC authorizer:
 * ClusterRoleBindings (cluster-wide) and the request namespace's RoleBindings grant the rules of
 * their Role/ClusterRole to subjects (User, Group, ServiceAccount). `system:masters` may do
 * anything; discovery, /version and health are open to every authenticated user (the bootstrap
 * system:discovery and system:public-info-viewer roles). A refusal is the API server's 403.
 */
import { ApiError } from './kube-apiserver-errors';
import { RESOURCES, qualifiedResource } from './kube-apiserver-resources';
import type { KubeStore, Obj } from './kube-apiserver-store';

export interface Attributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

export interface Subject { username: string; groups?: string[] }

const def = (resource: string) => RESOURCES.find((d) => d.group === 'rbac.authorization.k8s.io' && d.resource === resource)!;

function subjectMatches(s: Obj, u: Subject, bindingNamespace?: string): boolean {
  if (s.kind === 'User') return s.name === u.username;
  if (s.kind === 'Group') return (u.groups ?? []).includes(s.name);
  if (s.kind === 'ServiceAccount') return u.username === `system:serviceaccount:${s.namespace ?? bindingNamespace}:${s.name}`;
  return false;
}

function has(list: unknown, v: string): boolean {
  return Array.isArray(list) && (list.includes('*') || list.includes(v));
}

function ruleAllows(rule: Obj, a: Attributes): boolean {
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  if (!has(rule.verbs, a.verb) || !has(rule.apiGroups, a.group)) return false;
  const resources: string[] = rule.resources ?? [];
  if (!(resources.includes('*') || resources.includes(resource) || (a.subresource !== undefined && resources.includes(`*/${a.subresource}`)))) return false;
  const names: string[] = rule.resourceNames ?? [];
  return names.length === 0 || (a.name !== undefined && names.includes(a.name));
}

function rulesOf(store: KubeStore, ref: Obj, bindingNamespace?: string): Obj[] {
  if (ref?.kind === 'ClusterRole') return store.get(def('clusterroles'), undefined, ref.name)?.rules ?? [];
  if (ref?.kind === 'Role' && bindingNamespace) return store.get(def('roles'), bindingNamespace, ref.name)?.rules ?? [];
  return [];
}

export function allowed(store: KubeStore, u: Subject, a: Attributes): boolean {
  if ((u.groups ?? []).includes('system:masters')) return true;
  for (const b of store.listRaw(def('clusterrolebindings'))) {
    if ((b.subjects ?? []).some((s: Obj) => subjectMatches(s, u)) && rulesOf(store, b.roleRef).some((r) => ruleAllows(r, a))) return true;
  }
  if (a.namespace !== undefined) {
    for (const b of store.listRaw(def('rolebindings'), a.namespace)) {
      if ((b.subjects ?? []).some((s: Obj) => subjectMatches(s, u, a.namespace)) && rulesOf(store, b.roleRef, a.namespace).some((r) => ruleAllows(r, a))) return true;
    }
  }
  return false;
}

/** Throws the API server's 403 when `u` may not do `a`. */
export function authorize(store: KubeStore, u: Subject, a: Attributes): void {
  if (allowed(store, u, a)) return;
  const d = RESOURCES.find((r) => r.group === a.group && r.resource === a.resource);
  const what = d ? qualifiedResource(d) : a.group ? `${a.resource}.${a.group}` : a.resource;
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const scope = a.namespace !== undefined ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  throw new ApiError(403, 'Forbidden', `${what}${a.name !== undefined ? ` "${a.name}"` : ''} is forbidden: User "${u.username}" cannot ${a.verb} resource "${resource}" in API group "${a.group}" ${scope}`, {
    ...(a.name !== undefined ? { name: a.name } : {}), ...(a.group ? { group: a.group } : {}), kind: a.resource,
  });
}
