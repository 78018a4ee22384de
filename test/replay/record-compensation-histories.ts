/**
 * `npx tsx test/replay/record-compensation-histories.ts`
 *
 * Records the histories test/replay/compensation.test.ts replays: a compensation that fails a few
 * rounds, run by the workflow code from before `compensation-continue-as-new` (commit
 * PRE_PATCH_COMMIT, taken with `git archive`) and by the current code, on a private Temporal dev
 * server told to suggest continue-as-new early (so the chain takes seconds, not 90 rounds):
 *   - pre-patch-rounds.json: old code only; three failed rounds, then the refund;
 *   - deployed-mid-compensation.json: old code for three failed rounds, then the old worker stops
 *     and a worker with the current code takes over the open run: it records the patch marker at
 *     the next failed round and continues as new;
 *   - continued-run.json: the run that one continued as: starts from the handed-over state, refunds.
 * Written with `historyToJSON` into test/replay/compensation-histories/.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { ROOT } from '../../tools/dev/processes';
import { locateTemporalCli } from '../../tools/dev/temporal-cli';
import { sampleCheckoutInput } from '../../tools/support/samples';
import { checkoutSearchAttributes, SEARCH_ATTRIBUTES } from '../../src/workflows/search-attributes';
import { FakeServices } from '../workflows/fake-services';

/** The last commit whose checkout workflow has no `compensation-continue-as-new` branch. */
export const PRE_PATCH_COMMIT = 'b578bf0';
export const COMPENSATION_HISTORIES_DIR = path.join(ROOT, 'test', 'replay', 'compensation-histories');

const say = (line: string) => process.stderr.write(`[record] ${line}\n`);

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const old = fs.mkdtempSync(path.join(os.tmpdir(), 'pre-patch-'));
  try {
    say(`extracting src/ of ${PRE_PATCH_COMMIT} into ${old}`);
    execFileSync('sh', ['-c', `git -C '${ROOT}' archive ${PRE_PATCH_COMMIT} src | tar -x -C '${old}'`]);
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(old, 'node_modules'));
    const logger = new DefaultLogger('WARN');
    const [oldBundle, newBundle] = await Promise.all([
      bundleWorkflowCode({ workflowsPath: path.join(old, 'src', 'workflows', 'index.ts'), logger }),
      bundleWorkflowCode({ workflowsPath: path.join(ROOT, 'src', 'workflows', 'index.ts'), logger }),
    ]);
    const cliPath = await locateTemporalCli({ cliPath: process.env.TEMPORAL_CLI_PATH, log: say });
    const env = await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: cliPath },
        ip: '127.0.0.1',
        ui: false,
        searchAttributes: [...SEARCH_ATTRIBUTES],
        extraArgs: ['--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=20'],
      },
    });
    const services = new FakeServices();
    const taskQueue = `record-compensation-${randomUUID()}`;
    const workerWith = (bundle: { code: string }) =>
      Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle: bundle, activities: services.activities() });
    const write = (name: string, history: unknown) => {
      fs.mkdirSync(COMPENSATION_HISTORIES_DIR, { recursive: true });
      const json = JSON.stringify(JSON.parse(historyToJSON(history as never)), null, 2);
      fs.writeFileSync(path.join(COMPENSATION_HISTORIES_DIR, `${name}.json`), `${json}\n`);
      say(`wrote ${name}.json`);
    };
    const start = (checkoutId: string) => {
      const input = sampleCheckoutInput({ checkoutId, items: [{ sku: 'OUT-OF-STOCK', quantity: 1, unitAmount: 3998 }] });
      return env.client.workflow.start('checkoutWorkflow', { args: [input], taskQueue, workflowId: checkoutId, typedSearchAttributes: checkoutSearchAttributes(input) });
    };
    try {
      // 1. The old code alone: rounds 1–3 fail (two attempts each), round 4 refunds.
      const a = `chk_${'a'.repeat(40)}`;
      services.on(a, 'refundCharge', (n) => {
        if (n <= 6) throw ApplicationFailure.retryable('payment service unavailable', 'unavailable');
      });
      let worker = await workerWith(oldBundle);
      await worker.runUntil(async () => (await start(a)).result());
      write('pre-patch-rounds', await env.client.workflow.getHandle(a).fetchHistory());

      // 2. Deployed mid-compensation: the old worker fails rounds 1–3 and stops during the last pause (4 s).
      const b = `chk_${'b'.repeat(40)}`;
      let stopOld!: () => void;
      const oldStopped = new Promise<void>((resolve) => (stopOld = resolve));
      services.on(b, 'refundCharge', (n) => {
        if (n === 6) stopOld();
        if (n <= 6) throw ApplicationFailure.retryable('payment service unavailable', 'unavailable');
      });
      worker = await workerWith(oldBundle);
      const handle = await worker.runUntil(async () => {
        const h = await start(b);
        await oldStopped;
        return h;
      });
      say('old worker stopped; a worker with the current code takes over');
      worker = await workerWith(newBundle);
      await worker.runUntil(() => handle.result());
      const first = await env.client.workflow.getHandle(b, handle.firstExecutionRunId).fetchHistory();
      write('deployed-mid-compensation', first);
      const continuedRunId = first.events?.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
      if (!continuedRunId) throw new Error('the run did not continue as new');
      write('continued-run', await env.client.workflow.getHandle(b, continuedRunId).fetchHistory());
    } finally {
      await env.teardown();
    }
  } finally {
    fs.rmSync(old, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
