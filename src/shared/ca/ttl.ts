/**
 * Certificate lifetime rules of Istio's CA (security/pkg/pki/ca Sign): a requested lifetime
 * <= 0 gets DEFAULT_WORKLOAD_CERT_TTL; one above MAX_WORKLOAD_CERT_TTL is an error (not clamped).
 * Pure.
 */
export type TtlResult = { ok: true; ms: number } | { ok: false; message: string };

export function resolveTtl(requestedSeconds: number, defaultMs: number, maxMs: number): TtlResult {
  if (!Number.isFinite(requestedSeconds) || requestedSeconds <= 0) return { ok: true, ms: defaultMs };
  const ms = requestedSeconds * 1000;
  if (ms > maxMs) return { ok: false, message: `requested TTL ${formatDuration(ms)} is greater than the max allowed TTL ${formatDuration(maxMs)}` };
  return { ok: true, ms };
}

/** Go-style duration text (`2160h0m0s`) so messages read like Istio's. */
export function formatDuration(ms: number): string {
  const totalS = Math.floor(ms / 1000);
  const h = Math.floor(totalS / 3600);
  const m = Math.floor((totalS % 3600) / 60);
  const s = totalS % 60;
  return h > 0 ? `${h}h${m}m${s}s` : m > 0 ? `${m}m${s}s` : `${s}s`;
}
