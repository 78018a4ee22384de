/**
 * Side-by-side rounds and their tables, shared by tools/bench/checkout.ts and the tuning rounds:
 * per concurrency, `rounds` rounds, each one batch per side, the order of the sides alternating
 * from round to round so that drift in the machine's load weighs on every side alike.
 */
import type { Client } from '@temporalio/client';
import { meanActions, type RunActions } from './history';
import { fixed, markdownTable, ratio, stats } from './measure';
import { runBatch, type Batch, type SideName } from './sides';
import type { BenchStack } from './stack';

export interface Pooled {
  side: SideName;
  concurrency: number;
  runs: number;
  /** Runs over the summed wall time of the side's batches. */
  rate: number;
  p50: number;
  p95: number;
  /** CPU-seconds per run, per process. */
  cpuPerRun: Record<string, number>;
  /** Frontend requests per run, per operation. */
  requestsPerRun: Record<string, number>;
  /** The server's `action` counter per run, per action type. */
  actionsPerRun: Record<string, number>;
  workflowIds: string[];
  failures: string[];
  /** Each round's rate, in order. */
  rates: number[];
}

export function pool(batches: Batch[]): Pooled {
  const first = batches[0]!;
  const runs = batches.reduce((s, b) => s + b.count, 0);
  const seconds = batches.reduce((s, b) => s + b.seconds, 0);
  const lat = stats(batches.flatMap((b) => b.latencies));
  const sum = (pick: (b: Batch) => Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const b of batches) for (const [k, v] of Object.entries(pick(b))) out[k] = (out[k] ?? 0) + v / runs;
    return out;
  };
  return {
    side: first.side,
    concurrency: first.concurrency,
    runs,
    rate: runs / seconds,
    p50: lat.p50,
    p95: lat.p95,
    cpuPerRun: sum((b) => b.cpu),
    requestsPerRun: sum((b) => b.requests),
    actionsPerRun: sum((b) => b.actions),
    workflowIds: batches.flatMap((b) => b.workflowIds),
    failures: batches.flatMap((b) => b.failures),
    rates: batches.map((b) => b.rate),
  };
}

export interface CompareOptions {
  sides: SideName[];
  concurrency: number;
  rounds: number;
  /** Runs per batch = concurrency × perClient. */
  perClient: number;
  log?: (line: string) => void;
}

/** Rounds of every side at one concurrency; returns each side's batches pooled. */
export async function compare(stack: BenchStack, opts: CompareOptions): Promise<Map<SideName, Pooled>> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const count = opts.concurrency * opts.perClient;
  const batches = new Map<SideName, Batch[]>(opts.sides.map((s) => [s, []]));
  for (let round = 1; round <= opts.rounds; round++) {
    // Alternate the order: A B, then B A, …
    const order = round % 2 === 1 ? opts.sides : [...opts.sides].reverse();
    for (const side of order) {
      const batch = await runBatch(stack, side, count, opts.concurrency);
      batches.get(side)!.push(batch);
      const l = stats(batch.latencies);
      log(
        `  round ${round} ${side.padEnd(14)} ${opts.concurrency} clients: ${fixed(batch.rate)} runs/s, p50 ${fixed(l.p50, 0)} ms, p95 ${fixed(l.p95, 0)} ms` +
          `${batch.failures.length ? `, ${batch.failures.length} FAILED (${batch.failures[0]})` : ''}`,
      );
    }
  }
  return new Map([...batches].map(([side, b]) => [side, pool(b)]));
}

/** Evenly spread sample of `n` workflow ids. */
export function sample(ids: string[], n: number): string[] {
  if (ids.length <= n) return ids;
  const step = ids.length / n;
  return Array.from({ length: n }, (_, i) => ids[Math.floor(i * step)]!);
}

export async function actionsOf(client: Client, pooled: Pooled, n = 30): Promise<RunActions & { runs: number }> {
  return meanActions(client, sample(pooled.workflowIds, n));
}

const ms = (v: number) => fixed(v, 0);
const mark = (ok: boolean) => (ok ? '✅' : '❌');

/** The headline: throughput and latency of `side` against `base`, per concurrency. */
export function headlineTable(rows: { concurrency: number; base: Pooled; side: Pooled }[], labels: { base: string; side: string }): string {
  return markdownTable(
    [
      'clients',
      `${labels.base} runs/s`,
      `${labels.side}/s`,
      'throughput ratio (goal ≥ 0.8×)',
      `${labels.base} p50 ms`,
      `${labels.side} p50 ms`,
      'p50 ratio (goal ≤ 1.3×)',
      `${labels.base} p95 ms`,
      `${labels.side} p95 ms`,
      'p95 ratio (goal ≤ 1.5×)',
      'per-round throughput ratios',
    ],
    rows.map(({ concurrency, base, side }) => [
      String(concurrency),
      fixed(base.rate),
      fixed(side.rate),
      `${ratio(side.rate, base.rate)} ${mark(side.rate / base.rate >= 0.8)}`,
      ms(base.p50),
      ms(side.p50),
      `${ratio(side.p50, base.p50)} ${mark(side.p50 / base.p50 <= 1.3)}`,
      ms(base.p95),
      ms(side.p95),
      `${ratio(side.p95, base.p95)} ${mark(side.p95 / base.p95 <= 1.5)}`,
      side.rates.map((r, i) => (r / base.rates[i]!).toFixed(2)).join(' '),
    ]),
  );
}

const ACTION_ROWS: [keyof RunActions, string][] = [
  ['starts', 'workflow starts'],
  ['activityAttempts', 'activity attempts (retries included)'],
  ['timers', 'timers started'],
  ['signals', 'signals'],
  ['upserts', 'search-attribute upserts'],
  ['markerTasks', 'workflow tasks with markers (one action each)'],
];

/** Actions per run from history, `queries` per run from the server's counters (not in history). */
export function actionsTable(
  base: RunActions & { runs: number },
  side: RunActions & { runs: number },
  queries: { base: number; side: number },
  labels: { base: string; side: string },
): string {
  const f = (v: number) => fixed(v, 2);
  return markdownTable(['per run', labels.base, labels.side, 'ratio'], [
    ...ACTION_ROWS.map(([k, label]) => [label, f(base[k]), f(side[k]), ratio(side[k], base[k])]),
    ['**actions counted from history**', `**${f(base.actions)}**`, `**${f(side.actions)}**`, `**${ratio(side.actions, base.actions)}** ${mark(side.actions / base.actions <= 1.5)} (goal ≤ 1.5×)`],
    ['actions without markers', f(base.actions - base.markerTasks), f(side.actions - side.markerTasks), ratio(side.actions - side.markerTasks, base.actions - base.markerTasks)],
    ['queries (not in history; server counter)', f(queries.base), f(queries.side), ratio(queries.side, queries.base)],
    ['marker events (patches, local activities)', f(base.markers), f(side.markers), ''],
    ['TemporalChangeVersion upserts (one per patch; free, still a visibility write)', f(base.versionUpserts), f(side.versionUpserts), ''],
    ['history events (not billed)', f(base.events), f(side.events), ratio(side.events, base.events)],
    ['workflow tasks (not billed)', f(base.workflowTasks), f(side.workflowTasks), ratio(side.workflowTasks, base.workflowTasks)],
    ['run, start to close (ms, mean)', fixed(base.runMs, 0), fixed(side.runMs, 0), ratio(side.runMs, base.runMs)],
    ['… activities queued, scheduled → started (ms)', fixed(base.activityQueueMs, 0), fixed(side.activityQueueMs, 0), ''],
    ['… activities running, started → closed (ms)', fixed(base.activityRunMs, 0), fixed(side.activityRunMs, 0), ''],
    ['… workflow tasks, scheduled → completed (ms)', fixed(base.workflowTaskMs, 0), fixed(side.workflowTaskMs, 0), ''],
    ['histories read', String(base.runs), String(side.runs), ''],
  ]);
}

const PROCESS_ORDER = ['temporal', 'worker', 'noop-worker', 'api', 'payment', 'order', 'notification', 'mailbox', 'postgres', 'bench'];

/** CPU-milliseconds per run, per process, for each pooled side given. */
export function cpuTable(columns: { label: string; pooled: Pooled }[]): string {
  const names = PROCESS_ORDER.filter((n) => columns.some((c) => c.pooled.cpuPerRun[n] !== undefined));
  const total = (p: Pooled) => names.reduce((s, n) => s + (p.cpuPerRun[n] ?? 0), 0);
  return markdownTable(
    ['CPU ms per run', ...columns.map((c) => c.label)],
    [
      ...names.map((n) => [n === 'bench' ? 'bench clients (this process)' : n, ...columns.map((c) => fixed((c.pooled.cpuPerRun[n] ?? 0) * 1000, 1))]),
      ['**total**', ...columns.map((c) => `**${fixed(total(c.pooled) * 1000, 1)}**`)],
    ],
  );
}

/**
 * Per-run counters (frontend requests per operation, or the server's `action` counter per type),
 * for keys that reach 0.05 per run on some side, with a total row.
 */
export function countersTable(title: string, pick: (p: Pooled) => Record<string, number>, columns: { label: string; pooled: Pooled }[]): string {
  const keys = [...new Set(columns.flatMap((c) => Object.keys(pick(c.pooled))))]
    .filter((k) => columns.some((c) => (pick(c.pooled)[k] ?? 0) >= 0.05))
    .sort();
  const total = (p: Pooled) => Object.values(pick(p)).reduce((s, v) => s + v, 0);
  return markdownTable(
    [title, ...columns.map((c) => c.label)],
    [
      ...keys.map((k) => [k, ...columns.map((c) => fixed(pick(c.pooled)[k] ?? 0, 2))]),
      ['**total**', ...columns.map((c) => `**${fixed(total(c.pooled), 2)}**`)],
    ],
  );
}
