/**
 * The knob grid of `istiod-ts tune`: `KNOB=v1,v2;KNOB2=v3,v4` → every combination, in order
 * (the last knob varies fastest). Values are passed to the spawned server's environment as given.
 */

export type Grid = ReadonlyArray<{ readonly knob: string; readonly values: readonly string[] }>;
export type Combination = Readonly<Record<string, string>>;

export const DEFAULT_GRID = 'PILOT_DEBOUNCE_AFTER=50ms,100ms,500ms;PILOT_DEBOUNCE_MAX=1s,10s;PILOT_PUSH_THROTTLE=10,100';

/** Parse a grid; throws a TypeError naming the problem. */
export function parseGrid(text: string): Grid {
  const grid: Array<{ knob: string; values: string[] }> = [];
  for (const part of text.split(';').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new TypeError(`--grid: expected KNOB=v1,v2 in '${part}'`);
    const knob = part.slice(0, eq).trim();
    if (!/^[A-Z_][A-Z0-9_]*$/.test(knob)) throw new TypeError(`--grid: '${knob}' is not an environment variable name (A-Z, 0-9, _)`);
    if (grid.some((g) => g.knob === knob)) throw new TypeError(`--grid: ${knob} appears twice`);
    const values = part.slice(eq + 1).split(',').map((v) => v.trim());
    if (values.length === 0 || values.some((v) => v === '')) throw new TypeError(`--grid: ${knob} has an empty value`);
    if (new Set(values).size !== values.length) throw new TypeError(`--grid: ${knob} repeats a value`);
    grid.push({ knob, values });
  }
  if (grid.length === 0) throw new TypeError('--grid: no knobs given');
  return grid;
}

/** Every combination of the grid's values (cartesian product). */
export function combinations(grid: Grid): Combination[] {
  let out: Array<Record<string, string>> = [{}];
  for (const { knob, values } of grid) out = out.flatMap((c) => values.map((v) => ({ ...c, [knob]: v })));
  return out;
}
