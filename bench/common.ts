/**
 * Small helpers shared by the benchmarks: flag parsing, number formatting, markdown tables and
 * main-thread / process CPU accounting. Benchmarks print tables; they never assert.
 */
import { performance, EventLoopUtilization } from 'node:perf_hooks';

export function flag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}

export function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) return fallback;
  const n = Number(process.argv[i + 1]);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} wants a positive number, got ${process.argv[i + 1]}`);
  return n;
}

export function optionList(name: string, fallback: number[]): number[] {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) return fallback;
  return process.argv[i + 1]!.split(',').map((s) => Number(s)).filter((n) => Number.isFinite(n) && n > 0);
}

/** Markdown table (pipes), columns padded so it also reads well in a terminal. */
export function table(headers: string[], rows: Array<Array<string | number>>, align?: Array<'l' | 'r'>): string {
  const cells = rows.map((r) => r.map((c) => String(c)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length), 3));
  const al = align ?? headers.map((_, i) => (i === 0 ? 'l' : 'r'));
  const pad = (s: string, i: number) => (al[i] === 'l' ? s.padEnd(widths[i]!) : s.padStart(widths[i]!));
  const line = (r: string[]) => `| ${r.map((c, i) => pad(c, i)).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (al[i] === 'l' ? ` ${'-'.repeat(w)} ` : ` ${'-'.repeat(w - 1)}: `)).join('|')}|`;
  return [line(headers), sep, ...cells.map(line)].join('\n');
}

export function ms(x: number): string {
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

export function secs(msValue: number): string {
  return msValue >= 10_000 ? `${(msValue / 1000).toFixed(1)} s` : `${ms(msValue)} ms`;
}

export function bytes(n: number): string {
  if (n >= 1024 * 1024 * 1024) return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

export function int(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/**
 * Wall time, main-thread busy time (event-loop utilisation: time the main thread was not parked in
 * the event loop's poll) and process CPU (all threads: main + workers) of one measured section.
 */
export interface Usage { wallMs: number; mainBusyMs: number; mainUtil: number; cpuMs: number }

export class Meter {
  private readonly t0 = performance.now();
  private readonly elu0: EventLoopUtilization = performance.eventLoopUtilization();
  private readonly cpu0 = process.cpuUsage();

  stop(): Usage {
    const wallMs = performance.now() - this.t0;
    const elu = performance.eventLoopUtilization(this.elu0);
    const cpu = process.cpuUsage(this.cpu0);
    return { wallMs, mainBusyMs: elu.active, mainUtil: elu.utilization, cpuMs: (cpu.user + cpu.system) / 1000 };
  }
}

/** Let the event loop turn (so ELU is defined and pending work settles). */
export function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
