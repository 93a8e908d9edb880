/**
 * One time base for every thread of the load tester: wall-clock milliseconds with sub-millisecond
 * resolution. `performance.timeOrigin` differs per thread but `timeOrigin + now()` is the same
 * instant everywhere, so a change stamped on the coordinator and an ACK stamped in a worker can
 * be subtracted.
 */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}
