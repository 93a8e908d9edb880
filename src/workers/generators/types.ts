/**
 * The generator contract. A generator is a pure function of (snapshot, projected context, names):
 * no globals, no env, no clock, no I/O. It returns resources as plain objects with proto field
 * names; the worker entry encodes and hashes them.
 */
import { SnapshotView } from '../../shared/snapshot/snapshot-view';
import { GenContext } from '../../shared/generation';

export interface Generated {
  readonly name: string;
  readonly resource: Record<string, unknown>;
}

/** `names` null = wildcard (every resource of the type the context can see). */
export type Generator = (snap: SnapshotView, ctx: Partial<GenContext>, names: readonly string[] | null) => Generated[];

export const ROOT_NAMESPACE = 'istio-system';
export const DEFAULT_DOMAIN_SUFFIX = 'cluster.local';

/** Duration as protobufjs wants it. */
export function duration(ms: number): { seconds: number; nanos: number } {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

export const ADS_CONFIG_SOURCE = { ads: {}, resource_api_version: 'V3' } as const;
