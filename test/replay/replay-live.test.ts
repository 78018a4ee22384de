/**
 * `npm run replay` against the harness's real dev server: runs recorded by a real worker (the
 * services faked in memory, as in test/workflows) are fetched by a visibility query and replayed
 * against the current workflow code, then against a deliberately altered one
 * (fixtures/altered-workflows.ts: the order created before the charge).
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { checkoutWorkflow } from '../../src/workflows/checkout';
import { ROOT } from '../../tools/dev/processes';
import { sampleCheckoutInput } from '../../tools/support/samples';
import { FakeServices } from '../workflows/fake-services';
import { startWorker, temporalAddress, uniqueTaskQueue, type RunningWorker } from '../support/temporal';

jest.setTimeout(240_000);

let worker: RunningWorker;
let connection: Connection;
const runId = randomUUID().slice(0, 8);
const ids = [`chk_replay_${runId}_ok`, `chk_replay_${runId}_declined`];
const query = ids.map((id) => `WorkflowId = "${id}"`).join(' OR ');

beforeAll(async () => {
  worker = await startWorker(uniqueTaskQueue('replay-live'), new FakeServices().activities());
  connection = await Connection.connect({ address: temporalAddress() });
  const client = new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE });
  const inputs = [
    sampleCheckoutInput({ checkoutId: ids[0]! }),
    sampleCheckoutInput({ checkoutId: ids[1]!, paymentMethod: 'tok_chargeDeclined' }),
  ];
  await Promise.all(
    inputs.map(async (input) =>
      (await client.workflow.start(checkoutWorkflow, { args: [input], taskQueue: worker.taskQueue, workflowId: input.checkoutId })).result(),
    ),
  );
  // Visibility lags behind completion: wait until the query sees both runs.
  for (const deadline = Date.now() + 15_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
    const { count } = await client.workflow.count(query);
    if (count === 2) break;
  }
});

afterAll(async () => {
  await worker?.stop();
  await connection?.close();
});

function replay(...args: string[]) {
  const run = spawnSync('npm', ['run', '--silent', 'replay', '--', ...args], { cwd: ROOT, env: process.env, encoding: 'utf8' });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

test('the runs replay against the current workflow code: exit 0, each named', () => {
  const { status, output } = replay('--query', query);
  expect({ status, output }).toMatchObject({ status: 0 });
  for (const id of ids) expect(output).toMatch(new RegExp(`^ok +${id}$`, 'm'));
  expect(output).toMatch(/^replayed 2: 2 ok, 0 failed$/m);
});

test('against the altered workflow: exit 1, naming the workflow and the first mismatching event', () => {
  const altered = path.join('test', 'replay', 'fixtures', 'altered-workflows.ts');
  const { status, output } = replay('--query', `WorkflowId = "${ids[0]}"`, '--workflows', altered);
  expect({ status, output }).toMatchObject({ status: 1 });
  expect(output).toMatch(
    new RegExp(`^NONDETERMINISTIC ${ids[0]}: first mismatching event \\d+ ActivityTaskScheduled \\(createCharge\\): \\[TMPRL1100\\] Nondeterminism error: .*'createOrder'`, 'm'),
  );
  expect(output).toMatch(new RegExp(`^replayed 1: 0 ok, 1 failed \\(${ids[0]}\\)$`, 'm'));
});

test('--limit caps the number of runs fetched; a missing --query is a usage error', () => {
  expect(replay('--query', query, '--limit', '1').output).toMatch(/^replayed 1: 1 ok, 0 failed$/m);
  const usage = replay('--limit', '1');
  expect(usage).toMatchObject({ status: 2, output: expect.stringMatching(/usage: --query '<visibility query>' is required/) });
});
