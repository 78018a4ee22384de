/**
 * A compensation that keeps failing for a week, on Temporal's time-skipping test server (the
 * Java TestServer, found by ./time-skipping-server.ts): the run continues as new whenever its
 * history reaches COMPENSATION_HISTORY_LIMIT, each continued run goes on from the round the one
 * before had reached, and the refund is finally made once, under the one derived key.
 */
import { randomUUID } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { stepKey } from '../../src/saga/keys';
import { COMPENSATION_HISTORY_LIMIT } from '../../src/saga/saga';
import { COMPENSATION_ATTEMPTS_PER_ROUND } from '../../src/workflows/policies';
import type { CheckoutInput, CheckoutState, CompensationResume } from '../../src/saga/types';
import { checkoutWorkflow, getStateQuery } from '../../src/workflows/checkout';
import * as attrs from '../../src/workflows/search-attributes';
import { checkoutSearchAttributes, SEARCH_ATTRIBUTES } from '../../src/workflows/search-attributes';
import { sampleCheckoutInput } from '../../tools/support/samples';
import { startWorkflowWorker } from './temporal-env';
import { FakeServices } from './fake-services';
import { createTimeSkippingEnv, locateTestServer } from './time-skipping-server';

// A week of rounds is ~10,000 activity calls and ~110 runs through one worker: a few minutes.
jest.setTimeout(900_000);

const WEEK_MS = 7 * 24 * 60 * 60 * 1000;
/** Every run of the chain stays far below Temporal's limits (10,240 warns, 51,200 terminates). */
const HISTORY_BOUND = 2_000;

const taskQueue = `compensation-can-${randomUUID()}`;
let env: TestWorkflowEnvironment;
let stopWorker: (() => Promise<void>) | undefined;
const services = new FakeServices();

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') }); // thousands of failed refunds are the point
  const path = await locateTestServer({ log: (m) => process.stderr.write(`[test-server] ${m}\n`) });
  env = await createTimeSkippingEnv(path);
  const namespace = env.namespace ?? 'default';
  // The workflow upserts the project's search attributes; register them as the setup step would.
  await env.connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(SEARCH_ATTRIBUTES.map((key) => [key.name, encodeSearchAttributeIndexedValueType(key.type)!])),
  });
  stopWorker = await startWorkflowWorker(env, taskQueue, services);
}, 300_000);

afterAll(async () => {
  await stopWorker?.();
  await env?.teardown();
});

type History = Awaited<ReturnType<ReturnType<typeof env.client.workflow.getHandle>['fetchHistory']>>;

/** Every run of the checkout, first to last, with its history (followed back through continuedExecutionRunId). */
async function runsOf(workflowId: string): Promise<{ runId: string; history: History }[]> {
  const runs: { runId: string; history: History }[] = [];
  for (let runId: string | undefined = (await env.client.workflow.getHandle(workflowId).describe()).runId; runId; ) {
    const history = await env.client.workflow.getHandle(workflowId, runId).fetchHistory();
    runs.unshift({ runId, history });
    runId = history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
  }
  return runs;
}

function startedWith(history: History) {
  const started = history.events![0]!.workflowExecutionStartedEventAttributes!;
  const args = (started.input?.payloads ?? []).map((p) => defaultPayloadConverter.fromPayload(p));
  return { input: args[0] as CheckoutInput, resume: args[1] as CompensationResume | undefined };
}

/** How a run ended, by its last event: `continued-as-new`, `completed`, or something else. */
function endOf(history: History): string {
  const last = history.events!.at(-1)!;
  if (last.workflowExecutionContinuedAsNewEventAttributes) return 'continued-as-new';
  if (last.workflowExecutionCompletedEventAttributes) return 'completed';
  return `event type ${last.eventType}`;
}

test('a refund that fails for a week: the run continues as new with its saga state, every history stays bounded, the refund is made once with its key', async () => {
  const input = sampleCheckoutInput({ checkoutId: `chk_week_${randomUUID()}`, items: [{ sku: 'OUT-OF-STOCK', quantity: 1, unitAmount: 3998 }] });
  const refundKey = stepKey(input.checkoutId, 'charge.refund');
  const startedAt = await env.currentTimeMs();
  const failUntil = startedAt + WEEK_MS;
  // The payment service answers every refund with a 503 for a week (of the server's clock), then recovers.
  services.on(input.checkoutId, 'refundCharge', () => {
    if (Context.current().info.currentAttemptScheduledTimestampMs < failUntil) {
      throw ApplicationFailure.retryable('payment service unavailable', 'unavailable');
    }
  });

  const handle = await env.client.workflow.start(checkoutWorkflow, {
    args: [input],
    taskQueue,
    workflowId: input.checkoutId,
    typedSearchAttributes: checkoutSearchAttributes(input),
  });
  const wallStart = Date.now();
  const state: CheckoutState = await handle.result(); // follows the chain; time is skipped while it waits
  const wallMs = Date.now() - wallStart;

  // The outcome: out of stock, refunded in full, nothing failing any more.
  expect(state).toMatchObject({
    status: 'failed',
    failure: { code: 'out-of-stock' },
    chargeId: expect.stringMatching(/^ch_/),
    refundId: expect.stringMatching(/^re_/),
    compensationsFailing: false,
  });
  const refundStep = state.steps.find((s) => s.name === 'charge.refund')!;
  expect(refundStep).toMatchObject({ key: refundKey, status: 'succeeded', outcome: state.refundId, error: null });

  // Exactly one refund was made, under the derived key, of the charge, in full; every attempt
  // in every run carried that same key and body.
  const refundCalls = services.callsFor(input.checkoutId).filter((c) => c.activity === 'refundCharge');
  expect(new Set(refundCalls.map((c) => c.key))).toEqual(new Set([refundKey]));
  expect(new Set(refundCalls.map((c) => JSON.stringify((c.args as { request: unknown }).request)))).toEqual(
    new Set([JSON.stringify({ chargeId: state.chargeId, amount: 3998 })]),
  );
  expect(services.effectsFor(input.checkoutId).filter((e) => e.key === refundKey)).toEqual([{ key: refundKey, id: state.refundId }]);
  // The charge and the order were each asked once, in the first run: a continued run takes no forward step.
  expect(services.callsFor(input.checkoutId).filter((c) => c.activity !== 'refundCharge').map((c) => c.activity)).toEqual(['createCharge', 'createOrder']);

  // The chain: the run continued as new many times, each history bounded; from the first run's
  // start to the last one's end, a week of the server's clock and at most one pause more.
  const runs = await runsOf(input.checkoutId);
  const lengths = runs.map((r) => r.history.events!.length);
  const simulatedMs = optionalTsToMs(runs.at(-1)!.history.events!.at(-1)!.eventTime)! - optionalTsToMs(runs[0]!.history.events![0]!.eventTime)!;
  expect(simulatedMs).toBeGreaterThanOrEqual(WEEK_MS);
  expect(simulatedMs).toBeLessThan(WEEK_MS + 5 * 60_000);
  expect(runs.length).toBeGreaterThan(50);
  expect(Math.max(...lengths)).toBeLessThan(HISTORY_BOUND);
  for (const run of runs.slice(0, -1)) expect(endOf(run.history)).toBe('continued-as-new');
  expect(endOf(runs.at(-1)!.history)).toBe('completed');

  // Each continued run was handed the saga state and resumed exactly where the one before stopped:
  // the same input, the refund still to do, the round count (and so the pause) carried on.
  let rounds = 0;
  for (const [i, run] of runs.entries()) {
    const { input: given, resume } = startedWith(run.history);
    expect(given).toEqual(input);
    if (i === 0) {
      expect(resume).toBeUndefined();
      continue;
    }
    expect(resume).toMatchObject({ pending: ['charge.refund'], previousRuns: i, state: { status: 'compensating', chargeId: state.chargeId, compensationsFailing: true } });
    expect(resume!.failedRounds).toBeGreaterThan(rounds);
    rounds = resume!.failedRounds;
    expect(resume!.state.steps.find((s) => s.name === 'charge.refund')).toMatchObject({ key: refundKey, status: 'running', attempts: rounds });
  }
  // No round lost or repeated across the runs: every failed round made its two attempts
  // (COMPENSATION_ATTEMPTS_PER_ROUND), the round that succeeded one.
  const totalRounds = refundStep.attempts;
  expect(totalRounds).toBeGreaterThan(rounds);
  expect(refundCalls).toHaveLength((totalRounds - 1) * COMPENSATION_ATTEMPTS_PER_ROUND + 1);

  // The first run searched as compensating and failing when it handed over. (The Java test server
  // drops the attributes a continue-as-new command carries, so the continued runs' own attributes
  // are checked on a real dev server: continue-as-new-dev-server.test.ts.)
  const first = await env.client.workflow.getHandle(input.checkoutId, runs[0]!.runId).describe();
  expect(first.typedSearchAttributes.get(attrs.CheckoutStatus)).toBe('compensating');
  expect(first.typedSearchAttributes.get(attrs.CompensationFailing)).toBe(true);

  // The last run answers getState with the result, and its search attributes say failed, not failing.
  expect(await handle.query(getStateQuery)).toEqual(state);
  const described = await handle.describe();
  expect(described.typedSearchAttributes.get(attrs.CheckoutStatus)).toBe('failed');
  expect(described.typedSearchAttributes.get(attrs.CompensationFailing)).toBe(false);
  expect(described.runId).toBe(runs.at(-1)!.runId);

  console.info(
    `a week of failing refunds: ${runs.length} runs, ${totalRounds} rounds, events per run max ${Math.max(...lengths)} ` +
      `(first ${lengths[0]}, last ${lengths.at(-1)}, total ${lengths.reduce((a, b) => a + b, 0)}; limit ${COMPENSATION_HISTORY_LIMIT}), ` +
      `simulated ${(simulatedMs / 86_400_000).toFixed(3)} days in ${(wallMs / 1000).toFixed(0)} s of wall time`,
  );
});
