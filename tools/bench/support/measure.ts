/**
 * What every benchmark of tools/bench shares: closed-loop clients, percentiles, the machine it
 * ran on (CPU model and count, load average) and appending a section to tools/bench/RESULTS.md.
 *
 * Benchmarks are never timed tests: on a shared 2-core machine absolute figures are mostly the
 * other work's noise, so every bench runs its sides in alternating rounds and reports ratios.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const RESULTS_FILE = path.join(__dirname, '..', 'RESULTS.md');

export interface Stats {
  count: number;
  p50: number;
  p95: number;
  mean: number;
}

/** Nearest-rank percentile of sorted samples. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function stats(samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length);
  return { count: sorted.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95), mean };
}

export interface DriveResult {
  /** Latency of each request in ms. */
  latencies: number[];
  /** Wall time of the whole batch in s. */
  seconds: number;
  /** Requests per second over the batch. */
  rate: number;
}

/**
 * `count` requests, `concurrency` clients each sending its next one as soon as the last answered
 * (closed loop, as shoppers waiting on their checkout); `send(i)` for i = 0..count-1.
 */
export async function drive(count: number, concurrency: number, send: (i: number) => Promise<void>): Promise<DriveResult> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      for (let i = next++; i < count; i = next++) {
        const t = performance.now();
        await send(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { latencies, seconds, rate: count / seconds };
}

/** 1-minute load average: on a small machine, other work running beside the bench skews it. */
export const load1 = (): string => os.loadavg()[0]!.toFixed(1);

/** "2 × AMD EPYC 7B13, Node v20.20.2". */
export function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} × ${cpus[0]?.model.trim() ?? 'unknown CPU'}, ${os.type()} ${os.release()}, Node ${process.version}`;
}

export const ratio = (a: number, b: number, digits = 2): string => (b > 0 && Number.isFinite(a) ? `${(a / b).toFixed(digits)}×` : 'n/a');
export const fixed = (v: number, digits = 1): string => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');

/** A Markdown table from a header row and body rows (first column left-aligned, the rest right). */
export function markdownTable(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

/** Appends a section (a `## title (date)` heading, then `body`) to RESULTS.md; not with `--no-record` (a trial run). */
export function appendResults(title: string, body: string): void {
  if (process.argv.includes('--no-record')) return;
  const section = `## ${title} (${new Date().toISOString().slice(0, 10)})\n\n${body.trim()}\n`;
  const existing = fs.existsSync(RESULTS_FILE) ? fs.readFileSync(RESULTS_FILE, 'utf8') : '# Benchmark results\n';
  fs.writeFileSync(RESULTS_FILE, `${existing.trimEnd()}\n\n${section}`);
}

/** The command line as typed, for the results: `npm run bench:checkout -- --rounds 4`. */
export function commandLine(script: string): string {
  const args = process.argv.slice(2);
  return `npm run ${script}${args.length ? ` -- ${args.join(' ')}` : ''}`;
}

/** `--name value` from argv, parsed by `parse`; `fallback` when absent. */
export function option<T>(name: string, fallback: T, parse: (raw: string) => T): T {
  const i = process.argv.indexOf(`--${name}`);
  if (i === -1) return fallback;
  const raw = process.argv[i + 1];
  if (raw === undefined) throw new Error(`--${name} needs a value`);
  return parse(raw);
}

export const intList = (raw: string): number[] =>
  raw.split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`not a positive integer: ${s}`);
    return n;
  });

export const positiveInt = (raw: string): number => intList(raw)[0]!;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
