/**
 * Go `time.ParseDuration` syntax, the format Istio and Envoy users already write in YAML and env
 * knobs: an optional sign, then one or more `<decimal><unit>` groups ("300ms", "1.5h", "2h45m",
 * ".5s"), where unit is ns, us (µs, μs), ms, s, m or h. A bare "0" is valid. Pure, no I/O.
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  'µs': 1e-3, // U+00B5 micro sign
  'μs': 1e-3, // U+03BC Greek mu
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

// One `<number><unit>` group. The number needs a digit on at least one side of the dot (Go rejects ".s").
const GROUP = /(\d+\.?\d*|\.\d+)([a-zµμ]+)/y;

/** Milliseconds (possibly fractional or negative), or undefined when `s` is not a Go duration. */
export function parseGoDuration(s: string): number | undefined {
  if (typeof s !== 'string' || s.length === 0) return undefined;
  let i = 0;
  let sign = 1;
  if (s[0] === '-' || s[0] === '+') {
    sign = s[0] === '-' ? -1 : 1;
    i = 1;
  }
  const body = s.slice(i);
  if (body === '0') return 0;
  if (body.length === 0) return undefined;
  let total = 0;
  let pos = 0;
  while (pos < body.length) {
    GROUP.lastIndex = pos;
    const m = GROUP.exec(body);
    if (!m) return undefined;
    const factor = UNIT_MS[m[2]!];
    if (factor === undefined) return undefined;
    total += Number(m[1]) * factor;
    pos = GROUP.lastIndex;
  }
  if (!Number.isFinite(total)) return undefined;
  return total === 0 ? 0 : sign * total; // no -0
}
