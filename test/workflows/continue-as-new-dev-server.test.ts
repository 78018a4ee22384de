/**
 * Continue-as-new of a compensating checkout on a real Temporal dev server (the harness's CLI,
 * a server of its own), told to suggest a new run early (`limit.historyCount.suggestContinueAsNew`),
 * so the chain is a few seconds long: the server's own suggestion is honoured, and the continued
 * runs keep what the Java test server cannot show (compensation-continue-as-new.test.ts covers the
 * week): their search attributes, `getState` through the workflow id, a visibility query that
 * finds the failing checkout.
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { stepKey } from '../../src/saga/keys';
import type { CheckoutState } from '../../src/saga/types';
import { checkoutWorkflow, getStateQuery } from '../../src/workflows/checkout';
import * as attrs from '../../src/workflows/search-attributes';
import { checkoutSearchAttributes, SEARCH_ATTRIBUTES } from '../../src/workflows/search-attributes';
import { eventually } from '../support/eventually';
import { sampleCheckoutInput } from '../../tools/support/samples';
import { startWorkflowWorker } from './temporal-env';
import { FakeServices, gate } from './fake-services';

jest.setTimeout(120_000);

/** Far below COMPENSATION_HISTORY_LIMIT: the server's suggestion, not the workflow's own bound, ends each run. */
const SUGGEST_AT = 20;

const taskQueue = `compensation-can-dev-${randomUUID()}`;
let env: TestWorkflowEnvironment;
let stopWorker: (() => Promise<void>) | undefined;
const services = new FakeServices();

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const cliPath = process.env.TEMPORAL_CLI_PATH;
  if (!cliPath) throw new Error('TEMPORAL_CLI_PATH is not set: run the tests through jest (global setup locates the CLI)');
  env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: cliPath },
      ip: '127.0.0.1',
      ui: false,
      searchAttributes: [...SEARCH_ATTRIBUTES],
      extraArgs: ['--dynamic-config-value', `limit.historyCount.suggestContinueAsNew=${SUGGEST_AT}`],
    },
  });
  stopWorker = await startWorkflowWorker(env, taskQueue, services);
}, 60_000);

afterAll(async () => {
  await stopWorker?.();
  await env?.teardown();
});

test("a failing refund continues as new when the server suggests it; the continued run searches, answers getState and ends like the first", async () => {
  const input = sampleCheckoutInput({ checkoutId: `chk_can_${randomUUID()}`, items: [{ sku: 'OUT-OF-STOCK', quantity: 1, unitAmount: 3998 }] });
  const held = gate();
  // Rounds 1–3 fail (2 attempts each, pauses of 1, 2 and 4 s); round 4 is held until the test has looked.
  services.on(input.checkoutId, 'refundCharge', async (n) => {
    if (n <= 6) throw ApplicationFailure.retryable('payment service unavailable', 'unavailable');
    await held.promise;
  });
  const handle = await env.client.workflow.start(checkoutWorkflow, {
    args: [input],
    taskQueue,
    workflowId: input.checkoutId,
    typedSearchAttributes: checkoutSearchAttributes(input),
  });

  // Round 4 is in flight: by now the run has continued as new at least once.
  await eventually(() => services.callsFor(input.checkoutId).filter((c) => c.activity === 'refundCharge').length >= 7, 60_000);
  const current = await handle.describe(); // the workflow id alone: the chain's open run, as the API reads it
  expect(current.status.name).toBe('RUNNING');
  expect(current.runId).not.toBe(handle.firstExecutionRunId);
  const { events } = await env.client.workflow.getHandle(input.checkoutId, current.runId).fetchHistory();
  expect(events![0]!.workflowExecutionStartedEventAttributes!.continuedExecutionRunId).toBeTruthy();

  // The continued run searches as the checkout stands, with every attribute the API started the first with.
  expect(Object.fromEntries(SEARCH_ATTRIBUTES.map((k) => [k.name, current.typedSearchAttributes.get(k as never)]))).toEqual({
    CheckoutStatus: 'compensating',
    CustomerId: 'cus_123',
    MerchantId: 'merchant_a',
    CheckoutAmount: 3998,
    CompensationFailing: true,
  });
  const failingQuery = `WorkflowId = "${input.checkoutId}" AND ${attrs.CheckoutStatus.name} = "compensating" AND ${attrs.CompensationFailing.name} = true AND ExecutionStatus = "Running"`;
  const found = await eventually(async () => {
    const ids: string[] = [];
    for await (const run of env.client.workflow.list({ query: failingQuery })) ids.push(run.runId);
    return ids.length > 0 ? ids : undefined;
  });
  expect(found).toEqual([current.runId]);

  // getState through the workflow id: the checkout as it stands, the failing refund at its fourth round.
  const state = await handle.query(getStateQuery);
  expect(state).toMatchObject({ status: 'compensating', compensationsFailing: true, failure: { code: 'out-of-stock' }, chargeId: expect.stringMatching(/^ch_/) });
  expect(state.steps.find((s) => s.name === 'charge.refund')).toMatchObject({
    key: stepKey(input.checkoutId, 'charge.refund'),
    status: 'running',
    attempts: 4,
    error: { code: 'unavailable' },
  });

  held.open();
  const result: CheckoutState = await handle.result();
  expect(result).toMatchObject({ status: 'failed', refundId: expect.stringMatching(/^re_/), compensationsFailing: false });
  expect(result.steps.find((s) => s.name === 'charge.refund')).toMatchObject({ status: 'succeeded', attempts: 4 });
  expect(services.effectsFor(input.checkoutId).map((e) => e.key)).toEqual([stepKey(input.checkoutId, 'charge'), stepKey(input.checkoutId, 'charge.refund')]);
  const ended = await handle.describe();
  expect(ended.typedSearchAttributes.get(attrs.CheckoutStatus)).toBe('failed');
  expect(ended.typedSearchAttributes.get(attrs.CompensationFailing)).toBe(false);
  expect(ended.typedSearchAttributes.get(attrs.CustomerId)).toBe('cus_123');
});
