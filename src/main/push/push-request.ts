/**
 * A PushRequest says what changed and why (Istio's PushRequest). Requests merge: reasons add up,
 * the changed-config sets union, and the earliest start time is kept (convergence is measured
 * from the first event of a batch).
 */
export type TriggerReason = 'config' | 'endpoint' | 'service' | 'proxy' | 'debug' | 'global';

export interface PushRequest {
  /** changed object keys (`group/Kind/ns/name`) */
  readonly configsUpdated: ReadonlySet<string>;
  /** true when only endpoints changed (EndpointSlice, WorkloadEntry address, Pod readiness) */
  readonly endpointsOnly: boolean;
  readonly reasons: Readonly<Partial<Record<TriggerReason, number>>>;
  /** ms timestamp (injected clock) of the first event merged into this request */
  readonly start: number;
  /** push to every proxy even when nothing it watches changed */
  readonly forced: boolean;
}

export function mergePushRequests(a: PushRequest, b: PushRequest): PushRequest {
  const reasons: Partial<Record<TriggerReason, number>> = { ...a.reasons };
  for (const [k, v] of Object.entries(b.reasons) as Array<[TriggerReason, number]>) reasons[k] = (reasons[k] ?? 0) + v;
  return {
    configsUpdated: new Set([...a.configsUpdated, ...b.configsUpdated]),
    endpointsOnly: a.endpointsOnly && b.endpointsOnly,
    reasons,
    start: Math.min(a.start, b.start),
    forced: a.forced || b.forced,
  };
}
