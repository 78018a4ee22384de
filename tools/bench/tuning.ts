/**
 * `npm run bench:tuning`: does a worker setting (or an API setting) make checkouts cheaper? Each
 * variant is measured on its own against the production settings, side by side in one run on one
 * dev server: per round, every variant in turn (the order rotating from round to round) restarts
 * the workers (and the API, for an API variant) with its settings, warms up untimed, then runs one
 * batch of checkouts through the API (`Prefer: wait=30`) and one of the no-op baseline.
 *
 * Then, with the production settings, the local-activity question on its own: the saga's three
 * real service calls as normal activities against the same calls as local activities
 * (tools/bench/workflows/saga-shape.ts), alternated.
 *
 *   npm run bench:tuning -- [--variants production,wft-slots-10,…] [--rounds 3] [--concurrency 10,50] [--per-client 6] [--no-local]
 */
import { actionsOf, compare, type Pooled } from './support/compare';
import { appendResults, commandLine, fixed, intList, load1, machine, markdownTable, option, positiveInt, ratio } from './support/measure';
import type { SideName } from './support/sides';
import { startBenchStack, type BenchStack } from './support/stack';
import { describeVariant, type WorkerVariant } from './support/worker-options';
import { runTool } from '../support/run-tool';

interface Variant {
  /** Worker settings on top of the production worker's. */
  worker: WorkerVariant;
  /** Env of the checkout API on top of the stack's. */
  api?: Record<string, string>;
  /** The checkout workflow as it will be once its patches are retired (tools/bench/workflows/patches-retired.ts). */
  patchesRetired?: boolean;
  why: string;
}

const CATALOGUE: Record<string, Variant> = {
  production: { worker: {}, why: 'the settings src/worker/main.ts runs with' },
  'wft-slots-10': { worker: { maxConcurrentWorkflowTaskExecutions: 10 }, why: 'fewer workflow tasks at once on two cores (default 40)' },
  'wft-slots-100': { worker: { maxConcurrentWorkflowTaskExecutions: 100, maxConcurrentWorkflowTaskPolls: 20 }, why: 'more workflow tasks and pollers at once' },
  'pollers-2': { worker: { maxConcurrentWorkflowTaskPolls: 2, maxConcurrentActivityTaskPolls: 2 }, why: 'fewer long polls open (default 10 each)' },
  'pollers-autoscaling': {
    worker: { workflowTaskPollerBehavior: { type: 'autoscaling' }, activityTaskPollerBehavior: { type: 'autoscaling' } },
    why: 'the SDK scales its pollers to the backlog',
  },
  'sticky-ratio-1': { worker: { nonStickyToStickyPollRatio: 1 }, why: 'as many normal-queue polls as sticky ones (default 0.2)' },
  'cache-20': { worker: { maxCachedWorkflows: 20 }, why: 'a cache smaller than the runs in flight: evictions and replays (to show the cache matters)' },
  'patches-retired': {
    worker: {},
    patchesRetired: true,
    why: 'the checkout workflow once its patches are retired (every patched() true, no markers, no TemporalChangeVersion upserts): what the patches cost each new run',
  },
  'no-outcome-sweep': {
    worker: {},
    api: { CHECKOUT_OUTCOME_SWEEP_MS: '3600000' },
    why: "diagnostic, not a setting to ship: the API's outcome sweep (every 2 s) off, to show what its describe + query of open runs costs",
  },
};

const VARIANTS = option('variants', ['production', 'wft-slots-10', 'pollers-2', 'pollers-autoscaling', 'patches-retired', 'no-outcome-sweep'], (raw) => raw.split(','));
const ROUNDS = option('rounds', 3, positiveInt);
const CONCURRENCY = option('concurrency', [10, 50], intList);
const PER_CLIENT = option('per-client', 6, positiveInt);
const LOCAL = !process.argv.includes('--no-local');

for (const v of VARIANTS) if (!CATALOGUE[v]) throw new Error(`unknown variant ${v}; known: ${Object.keys(CATALOGUE).join(', ')}`);

async function apply(stack: BenchStack, current: { name: string | undefined }, name: string): Promise<void> {
  if (current.name === name) return;
  const before = current.name === undefined ? undefined : CATALOGUE[current.name]!;
  const next = CATALOGUE[name]!;
  await stack.restartWorkers(next.worker, { patchesRetired: next.patchesRetired });
  if (JSON.stringify(before?.api ?? {}) !== JSON.stringify(next.api ?? {})) await stack.restartProcess('api', next.api ?? {});
  current.name = name;
}

const perRun = (p: Pooled, names: string[]) => names.reduce((s, n) => s + (p.cpuPerRun[n] ?? 0), 0) * 1000;

async function main(): Promise<void> {
  const stack = await startBenchStack({ label: 'tuning', noopWorker: true, workerVariant: {} });
  const loadBefore = load1();
  process.stderr.write(`stack ready (logs: ${stack.logDir}); load average ${loadBefore}\n`);
  const current = { name: 'production' as string | undefined };
  const sections: string[] = [];
  try {
    for (const concurrency of CONCURRENCY) {
      const got = new Map<string, { checkout: Pooled[]; baseline: Pooled[] }>(VARIANTS.map((v) => [v, { checkout: [], baseline: [] }]));
      for (let round = 1; round <= ROUNDS; round++) {
        const order = VARIANTS.map((_, i) => VARIANTS[(i + round - 1) % VARIANTS.length]!);
        for (const name of order) {
          await apply(stack, current, name);
          await compare(stack, { sides: ['checkout', 'baseline'], concurrency, rounds: 1, perClient: 2, log: () => undefined });
          const pooled = await compare(stack, {
            sides: round % 2 ? ['checkout', 'baseline'] : ['baseline', 'checkout'],
            concurrency,
            rounds: 1,
            perClient: PER_CLIENT,
            log: (l) => process.stderr.write(`${name.padEnd(20)}${l}\n`),
          });
          got.get(name)!.checkout.push(pooled.get('checkout')!);
          got.get(name)!.baseline.push(pooled.get('baseline')!);
        }
      }
      const merge = (ps: Pooled[]) => {
        const runs = ps.reduce((s, p) => s + p.runs, 0);
        const seconds = ps.reduce((s, p) => s + p.runs / p.rate, 0);
        const avg = (pick: (p: Pooled) => Record<string, number>) => {
          const out: Record<string, number> = {};
          for (const p of ps) for (const [k, v] of Object.entries(pick(p))) out[k] = (out[k] ?? 0) + (v * p.runs) / runs;
          return out;
        };
        // Percentiles of the pooled rounds: the mean of the rounds' percentiles (each round the same size).
        const mean = (pick: (p: Pooled) => number) => ps.reduce((s, p) => s + pick(p), 0) / ps.length;
        return {
          ...ps[0]!,
          runs,
          rate: runs / seconds,
          p50: mean((p) => p.p50),
          p95: mean((p) => p.p95),
          cpuPerRun: avg((p) => p.cpuPerRun),
          requestsPerRun: avg((p) => p.requestsPerRun),
          workflowIds: ps.flatMap((p) => p.workflowIds),
        };
      };
      const prod = merge(got.get('production')!.checkout);
      const rows: string[][] = [];
      for (const name of VARIANTS) {
        const c = merge(got.get(name)!.checkout);
        const b = merge(got.get(name)!.baseline);
        const actions = await actionsOf(stack.client!, c, 10);
        rows.push([
          `${name}${name === 'production' ? '' : ` (${describeVariant(CATALOGUE[name]!.worker)}${CATALOGUE[name]!.api ? `; API ${JSON.stringify(CATALOGUE[name]!.api)}` : ''})`}`,
          fixed(c.rate),
          ratio(c.rate, prod.rate),
          fixed(c.p50, 0),
          ratio(c.p50, prod.p50),
          fixed(c.p95, 0),
          fixed(perRun(c, ['temporal']), 1),
          fixed(perRun(c, ['worker']), 1),
          fixed(perRun(c, Object.keys(c.cpuPerRun)), 1),
          fixed(c.requestsPerRun.QueryWorkflow ?? 0, 2),
          `${fixed(actions.actions, 1)} (${fixed(actions.events, 0)} events)`,
          `${ratio(c.rate, b.rate)} / ${ratio(c.p50, b.p50)}`,
        ]);
      }
      sections.push(
        `${concurrency} clients, ${ROUNDS} rounds, ${concurrency * PER_CLIENT} checkouts per variant per round:\n\n` +
          markdownTable(
            ['variant', 'checkouts/s', 'vs production', 'p50 ms', 'vs production', 'p95 ms', 'Temporal CPU ms/checkout', 'worker CPU ms/checkout', 'all CPU ms/checkout', 'queries/checkout', 'actions/checkout (history)', 'vs its no-op baseline (throughput / p50)'],
            rows,
          ),
      );
    }

    if (LOCAL) {
      await apply(stack, current, 'production');
      const local: string[][] = [];
      let markers = '';
      for (const concurrency of CONCURRENCY) {
        const sides: SideName[] = ['sagaShape', 'localSagaShape'];
        await compare(stack, { sides, concurrency, rounds: 1, perClient: 2, log: () => undefined });
        const pooled = await compare(stack, { sides, concurrency, rounds: ROUNDS, perClient: PER_CLIENT });
        const [remote, la] = [pooled.get('sagaShape')!, pooled.get('localSagaShape')!];
        const all = (p: Pooled) => perRun(p, Object.keys(p.cpuPerRun));
        for (const [label, p] of [['normal activities', remote], ['local activities', la]] as const) {
          local.push([
            String(concurrency),
            label,
            fixed(p.rate),
            ratio(p.rate, remote.rate),
            fixed(p.p50, 0),
            ratio(p.p50, remote.p50),
            fixed(p.p95, 0),
            fixed(perRun(p, ['temporal']), 1),
            fixed(perRun(p, ['worker']), 1),
            fixed(all(p), 1),
          ]);
        }
        if (!markers) {
          const [a, b] = [await actionsOf(stack.client!, remote, 10), await actionsOf(stack.client!, la, 10)];
          markers =
            `Per run from history: normal activities ${fixed(a.events, 0)} events, ${fixed(a.workflowTasks, 1)} workflow tasks, ${fixed(a.actions, 1)} actions; ` +
            `local activities ${fixed(b.events, 0)} events, ${fixed(b.workflowTasks, 1)} workflow tasks, ${fixed(b.actions, 1)} actions (${fixed(b.markers, 0)} markers in ${fixed(b.markerTasks, 1)} tasks).`;
        }
      }
      sections.push(
        'Local activities, measured on their own: the saga\'s three real service calls (tools/bench/workflows/saga-shape.ts) as normal and as local activities, production settings:\n\n' +
          markdownTable(['clients', 'calls as', 'runs/s', 'vs normal', 'p50 ms', 'vs normal', 'p95 ms', 'Temporal CPU ms/run', 'worker CPU ms/run', 'all CPU ms/run'], local) +
          `\n\n${markers}`,
      );
    }

    const body = [
      `Command: \`${commandLine('bench:tuning')}\` — one dev server; per round every variant in turn (order rotating), each restarting`,
      'both workers with its settings (tools/bench/checkout-worker.ts and tools/bench/noop-worker.ts, production settings plus the variant),',
      'an untimed warm-up, then one batch of checkouts and one of the no-op baseline.',
      `Machine: ${machine()}; load average ${loadBefore} before, ${load1()} after.`,
      '',
      'Variants: ' + VARIANTS.map((v) => `\`${v}\`: ${CATALOGUE[v]!.why}`).join('; ') + '.',
      '',
      sections.join('\n\n'),
    ].join('\n');
    console.log(`\n${body}\n`);
    appendResults('Worker tuning and local activities, each measured on its own (`tools/bench/tuning.ts`)', body);
  } finally {
    await stack.stop();
  }
}

runTool(main);
