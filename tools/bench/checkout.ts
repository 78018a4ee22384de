/**
 * `npm run bench:checkout`: what a checkout costs against what the engine costs (issue goals a, b, e).
 *
 * One dev server, the whole system as `npm start` runs it (tools/bench/support/stack.ts), and
 * beside it the baseline: a workflow of three no-op activities (tools/bench/workflows/noop.ts) on
 * its own worker with the same settings as the checkout worker. Per concurrency (default 10 and 50
 * clients), `--rounds` rounds alternate a batch of baseline runs (started and awaited by a
 * Temporal client) with a batch of checkouts through the API with `Prefer: wait=30`; each batch is
 * concurrency × `--per-client` runs. Reported: throughput, p50 and p95 ratios; Temporal actions
 * per run from the histories; frontend requests per run; CPU-seconds per run of every process.
 *
 *   npm run bench:checkout -- [--rounds 4] [--concurrency 10,50] [--per-client 6] [--variant '{"maxCachedWorkflows":100}']
 *
 * `--variant` runs both workers with those settings on top of the production ones (the checkout
 * worker then is tools/bench/checkout-worker.ts). Prints the tables and appends them to RESULTS.md.
 */
import { actionsOf, actionsTable, compare, countersTable, cpuTable, headlineTable, type Pooled } from './support/compare';
import { appendResults, commandLine, intList, load1, machine, option, positiveInt } from './support/measure';
import { startBenchStack } from './support/stack';
import { describeVariant, type WorkerVariant } from './support/worker-options';
import { runTool } from '../support/run-tool';

const ROUNDS = option('rounds', 4, positiveInt);
const CONCURRENCY = option('concurrency', [10, 50], intList);
const PER_CLIENT = option('per-client', 6, positiveInt);
const VARIANT = option<WorkerVariant | undefined>('variant', undefined, (raw) => JSON.parse(raw) as WorkerVariant);
/** Untimed runs of each side first: JIT, pools, caches and task queues warm. */
const WARMUP_PER_CLIENT = 2;

async function main(): Promise<void> {
  const stack = await startBenchStack({ label: 'checkout', noopWorker: true, workerVariant: VARIANT });
  const loadBefore = load1();
  process.stderr.write(`stack ready (logs: ${stack.logDir}); load average ${loadBefore}\n`);
  try {
    const results: { concurrency: number; base: Pooled; side: Pooled }[] = [];
    for (const concurrency of CONCURRENCY) {
      process.stderr.write(`warm-up at ${concurrency} clients…\n`);
      await compare(stack, { sides: ['baseline', 'checkout'], concurrency, rounds: 1, perClient: WARMUP_PER_CLIENT, log: () => undefined });
      process.stderr.write(`${ROUNDS} rounds at ${concurrency} clients, ${concurrency * PER_CLIENT} runs per batch (load ${load1()})\n`);
      const pooled = await compare(stack, { sides: ['baseline', 'checkout'], concurrency, rounds: ROUNDS, perClient: PER_CLIENT });
      results.push({ concurrency, base: pooled.get('baseline')!, side: pooled.get('checkout')! });
    }
    const loadAfter = load1();

    // Histories are read after the timed rounds: reading them costs the server too.
    const client = stack.client!;
    const allBase = results.flatMap((r) => r.base.workflowIds);
    const allSide = results.flatMap((r) => r.side.workflowIds);
    const baseActions = await actionsOf(client, { ...results[0]!.base, workflowIds: allBase });
    const sideActions = await actionsOf(client, { ...results[0]!.side, workflowIds: allSide });
    const queries = (side: 'base' | 'side') => {
      const runs = results.reduce((s, r) => s + r[side].runs, 0);
      return results.reduce((s, r) => s + (r[side].requestsPerRun.QueryWorkflow ?? 0) * r[side].runs, 0) / runs;
    };

    const labels = { base: 'no-op workflow', side: 'checkout' };
    const columns = results.flatMap((r) => [
      { label: `no-op @${r.concurrency}`, pooled: r.base },
      { label: `checkout @${r.concurrency}`, pooled: r.side },
    ]);
    const failures = results.flatMap((r) => r.side.failures);
    const body = [
      `Command: \`${commandLine('bench:checkout')}\` — ${ROUNDS} alternating rounds per concurrency, ${PER_CLIENT} runs per client per batch,`,
      `after an untimed warm-up. Worker settings: ${describeVariant(VARIANT ?? {})}${VARIANT ? ' (tools/bench/checkout-worker.ts)' : ' (src/worker/main.ts)'}, the same for both workers.`,
      `Machine: ${machine()}; load average ${loadBefore} before, ${loadAfter} after.`,
      failures.length ? `\n**${failures.length} checkouts did not complete**: ${[...new Set(failures)].slice(0, 3).join('; ')}` : '',
      '',
      headlineTable(results, labels),
      '',
      `Temporal actions per run, counted from ${baseActions.runs} + ${sideActions.runs} sampled histories (tools/bench/support/history.ts says what counts):`,
      '',
      actionsTable(baseActions, sideActions, { base: queries('base'), side: queries('side') }, labels),
      '',
      'CPU per run (ms; each process with its children, read from /proc before and after each batch, the outbox e-mails included):',
      '',
      cpuTable(columns),
      '',
      'The dev server\'s own `action` counter per run (its estimate of billable actions, by type):',
      '',
      countersTable('server `action` counter per run', (p) => p.actionsPerRun, columns),
      '',
      'Frontend requests per run (the dev server\'s `service_requests` counters; polls include empty ones):',
      '',
      countersTable('frontend requests per run', (p) => p.requestsPerRun, columns),
    ].join('\n');
    console.log(`\n${body}\n`);
    appendResults('Checkout vs the engine\'s floor (`tools/bench/checkout.ts`)', body);
    if (!process.argv.includes('--no-record')) console.log('appended to tools/bench/RESULTS.md');
  } finally {
    await stack.stop();
  }
}

runTool(main);
