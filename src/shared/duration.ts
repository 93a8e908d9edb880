/**
 * Go `time.ParseDuration` syntax, the format Istio and Envoy users already write in YAML and env
 * knobs: an optional sign, then one or more `<decimal><unit>` groups ("300ms", "1.5h", "2h45m",
 * ".5s"), where unit is ns, us (µs, μs), ms, s, m or h. A bare "0" is valid. Pure, no I/O.
 */

const UNIT_NS: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3, // U+00B5 micro sign
  'μs': 1e3, // U+03BC Greek mu
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
};

/** Go rejects durations beyond int64 nanoseconds (~292 years). */
const MAX_NS = 2 ** 63;

// One `<number><unit>` group. The number needs a digit on at least one side of the dot (Go rejects ".s").
const GROUP = /(\d*)(?:\.(\d*))?([a-zµμ]+)/y;

/** Milliseconds (possibly fractional, or negative with a "-" sign), or undefined if `s` is not a Go duration. */
export function parseGoDuration(s: string): number | undefined {
  if (typeof s !== 'string' || s.length === 0) return undefined;
  let body = s;
  let sign = 1;
  if (body[0] === '-' || body[0] === '+') {
    sign = body[0] === '-' ? -1 : 1;
    body = body.slice(1);
  }
  if (body === '0') return 0;
  if (body.length === 0) return undefined;
  let ns = 0;
  let pos = 0;
  while (pos < body.length) {
    GROUP.lastIndex = pos;
    const m = GROUP.exec(body);
    if (!m) return undefined;
    const [, whole = '', frac = '', unit = ''] = m;
    const unitNs = UNIT_NS[unit];
    if ((whole === '' && frac === '') || unitNs === undefined) return undefined;
    // Whole and fraction separately, so "1.1s" is exactly 1100 ms (1.1 * 1e9 is not exact in floats);
    // the fraction is truncated to whole nanoseconds like Go does.
    ns += Number(whole || '0') * unitNs;
    if (frac !== '') ns += Math.trunc((Number(frac) * unitNs) / 10 ** frac.length);
    pos = GROUP.lastIndex;
  }
  if (!(ns < MAX_NS)) return undefined;
  return ns === 0 ? 0 : (sign * ns) / 1e6;
}
