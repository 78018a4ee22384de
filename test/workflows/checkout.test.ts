/**
 * The checkout and refund sagas against a real Temporal dev server, with the services replaced
 * by in-memory fakes that keep the idempotency contract (`fake-services.ts`).
 */
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime, DefaultLogger } from '@temporalio/worker';
import { stepKey } from '../../src/saga/keys';
import type { CheckoutInput, CheckoutState, RefundState } from '../../src/saga/types';
import { checkoutWorkflow, getStateQuery } from '../../src/workflows/checkout';
import { refundWorkflow } from '../../src/workflows/refund';
import * as attrs from '../../src/workflows/search-attributes';
import { checkoutSearchAttributes } from '../../src/workflows/search-attributes';
import { FakeServices, gate } from './fake-services';
import { eventually } from '../support/eventually';
import { createTestEnv, startWorkflowWorker } from './temporal-env';
import { sampleCheckoutInput } from '../../tools/support/samples';

jest.setTimeout(120_000);

const taskQueue = `checkout-workflows-${randomUUID()}`;
let env: TestWorkflowEnvironment;
let stopWorker: (() => Promise<void>) | undefined;
const services = new FakeServices();

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR') }); // activity failures are the point of several tests
  env = await createTestEnv();
  stopWorker = await startWorkflowWorker(env, taskQueue, services);
});

afterAll(async () => {
  await stopWorker?.();
  await env?.teardown();
});

function checkout(overrides: Partial<CheckoutInput> = {}): CheckoutInput {
  return sampleCheckoutInput({ checkoutId: `chk_test_${randomUUID()}`, ...overrides });
}

function start(input: CheckoutInput) {
  // Started as the API starts it: with its search attributes, which the workflow then keeps current.
  return env.client.workflow.start(checkoutWorkflow, {
    args: [input],
    taskQueue,
    workflowId: input.checkoutId,
    typedSearchAttributes: checkoutSearchAttributes(input),
  });
}

const run = async (input: CheckoutInput): Promise<CheckoutState> => (await start(input)).result();

/** The activities called for a checkout, with the key each carried. */
const trail = (checkoutId: string) => services.callsFor(checkoutId).map((c) => [c.activity, c.key]);

/** The keys of each search attribute upsert the run made (Temporal's own TemporalChangeVersion aside). */
async function upsertedSearchAttributes(workflowId: string): Promise<string[][]> {
  const { events } = await env.client.workflow.getHandle(workflowId).fetchHistory();
  return (events ?? [])
    .map((e) => Object.keys(e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields ?? {}))
    .filter((keys) => keys.length > 0 && !keys.includes('TemporalChangeVersion'));
}

async function searchAttribute<T>(workflowId: string, key: { name: string }): Promise<T | undefined> {
  const description = await env.client.workflow.getHandle(workflowId).describe();
  return description.typedSearchAttributes.get(key as never) as T | undefined;
}

test('success: charged, ordered, e-mail accepted by the outbox; every call carries its own derived key', async () => {
  const input = checkout();
  const state = await run(input);
  const key = (name: Parameters<typeof stepKey>[1]) => stepKey(input.checkoutId, name);

  expect(state).toMatchObject({
    status: 'completed',
    amount: 3998,
    currency: 'USD',
    chargeId: expect.stringMatching(/^ch_/),
    orderId: expect.stringMatching(/^ord_/),
    refundId: null,
    notificationId: expect.stringMatching(/^ntf_/),
    notificationStatus: 'pending', // accepted by the outbox, which owns delivery from here
    failure: null,
    compensationsFailing: false,
  });
  expect(state.steps.map((s) => [s.name, s.key, s.status])).toEqual([
    ['charge', key('charge'), 'succeeded'],
    ['order', key('order'), 'succeeded'],
    ['notify', key('notify'), 'succeeded'],
  ]);
  expect(trail(input.checkoutId)).toEqual([
    ['createCharge', key('charge')],
    ['createOrder', key('order')],
    ['sendNotification', key('notify')], // and no wait for delivery
  ]);
  expect(await searchAttribute(input.checkoutId, attrs.CheckoutStatus)).toBe('completed');
  expect(await searchAttribute(input.checkoutId, attrs.CheckoutAmount)).toBe(3998);
  expect(await searchAttribute(input.checkoutId, attrs.CustomerId)).toBe('cus_123');
  expect(await searchAttribute(input.checkoutId, attrs.MerchantId)).toBe('merchant_a');
  expect(await env.client.workflow.getHandle(input.checkoutId).query(getStateQuery)).toEqual(state);
  // Set at start; upserted once, when the status changed meaning (completed): not at every step.
  expect(await upsertedSearchAttributes(input.checkoutId)).toEqual([['CheckoutStatus']]);
});

test.each([
  ['tok_chargeDeclined', 'card-declined'],
  ['tok_insufficientFunds', 'insufficient-funds'],
])('decline (%s): failed with %s, not retried, nothing to compensate', async (paymentMethod, code) => {
  const input = checkout({ paymentMethod });
  const state = await run(input);

  expect(state).toMatchObject({ status: 'failed', chargeId: null, refundId: null, failure: { code } });
  expect(state.steps.map((s) => [s.name, s.status])).toEqual([
    ['charge', 'failed'],
    ['order', 'pending'],
    ['notify', 'pending'],
  ]);
  expect(trail(input.checkoutId)).toEqual([['createCharge', stepKey(input.checkoutId, 'charge')]]);
  expect(await searchAttribute(input.checkoutId, attrs.CheckoutStatus)).toBe('failed');
});

test('out of stock: the order is rejected, the full charge is refunded with its own key, checkout failed', async () => {
  const input = checkout({ items: [{ sku: 'OUT-OF-STOCK', quantity: 1, unitAmount: 3998 }] });
  const state = await run(input);

  expect(state).toMatchObject({
    status: 'failed',
    chargeId: expect.stringMatching(/^ch_/),
    orderId: null,
    refundId: expect.stringMatching(/^re_/),
    failure: { code: 'out-of-stock' },
  });
  // The rejected order took no effect, so there is nothing to cancel: only the refund runs.
  expect(trail(input.checkoutId)).toEqual([
    ['createCharge', stepKey(input.checkoutId, 'charge')],
    ['createOrder', stepKey(input.checkoutId, 'order')],
    ['refundCharge', stepKey(input.checkoutId, 'charge.refund')],
  ]);
  const refund = services.callsFor(input.checkoutId).find((c) => c.activity === 'refundCharge');
  expect(refund?.args).toMatchObject({ request: { chargeId: state.chargeId, amount: 3998 } });
  expect(state.steps.at(-1)).toMatchObject({ name: 'charge.refund', status: 'succeeded', outcome: state.refundId });
  expect(await searchAttribute(input.checkoutId, attrs.CheckoutStatus)).toBe('failed');
  expect(await upsertedSearchAttributes(input.checkoutId)).toEqual([['CheckoutStatus'], ['CheckoutStatus']]); // compensating, failed
});

test('an e-mail bound to be dead-lettered: the checkout completes once the outbox took it, nothing refunded', async () => {
  const input = checkout({ email: 'someone@bounce.test' });
  const state = await run(input);

  expect(state).toMatchObject({ status: 'completed', refundId: null, notificationStatus: 'pending' });
  expect(services.callsFor(input.checkoutId).map((c) => c.activity)).not.toContain('refundCharge');
  expect(services.callsFor(input.checkoutId).map((c) => c.activity)).not.toContain('cancelOrder');
});

test('cancelled while the order call is in flight: looks the order up (never re-creating it), then compensates in reverse order', async () => {
  const input = checkout();
  const held = gate();
  // The order call hangs before its effect: its outcome is unknown to the saga.
  services.on(input.checkoutId, 'createOrder', (n) => (n === 1 ? held.promise : undefined));
  const handle = await start(input);
  await eventually(() => services.callsFor(input.checkoutId).some((c) => c.activity === 'createOrder'));

  await handle.cancel();
  const state = await handle.result();

  expect(state).toMatchObject({
    status: 'failed',
    failure: { code: 'cancelled' },
    chargeId: expect.stringMatching(/^ch_/),
    orderId: null,
    refundId: expect.stringMatching(/^re_/),
  });
  const key = (name: Parameters<typeof stepKey>[1]) => stepKey(input.checkoutId, name);
  expect(trail(input.checkoutId)).toEqual([
    ['createCharge', key('charge')],
    ['createOrder', key('order')],
    ['lookupOrder', key('order')], // same key: no order was made, and now none can be
    ['refundCharge', key('charge.refund')],
  ]);
  expect(state.steps.map((s) => [s.name, s.status, s.error?.code ?? null])).toEqual([
    ['charge', 'succeeded', null],
    ['order', 'failed', 'idempotency-key-fenced'],
    ['notify', 'pending', null],
    ['order.cancel', 'skipped', null],
    ['charge.refund', 'succeeded', null],
  ]);
  held.open(); // the late original meets the fenced key (proven against the real services in test/e2e)
  expect(await searchAttribute(input.checkoutId, attrs.CheckoutStatus)).toBe('failed');
});

test('cancelled before anything was charged: failed, cancelled, no compensating call', async () => {
  const input = checkout();
  const held = gate();
  services.on(input.checkoutId, 'createCharge', (n) => {
    if (n === 1) return held.promise;
    throw ApplicationFailure.nonRetryable('The card was declined', 'card-declined');
  });
  const handle = await start(input);
  await eventually(() => services.callsFor(input.checkoutId).length > 0);
  await handle.cancel();
  const state = await handle.result();
  held.open();

  // The charge's outcome was unknown, so its key was looked up: it never ran, so it is fenced
  // and there is nothing to refund.
  expect(state).toMatchObject({ status: 'failed', failure: { code: 'cancelled' }, chargeId: null, refundId: null });
  expect(trail(input.checkoutId).map(([a]) => a)).toEqual(['createCharge', 'lookupCharge']);
  expect(state.steps.find((s) => s.name === 'charge.refund')).toMatchObject({ status: 'skipped' });
});

test('a compensation that keeps failing is flagged until it succeeds', async () => {
  const input = checkout({ items: [{ sku: 'OUT-OF-STOCK', quantity: 1, unitAmount: 3998 }] });
  const released = gate();
  services.on(input.checkoutId, 'refundCharge', async (n) => {
    if (n <= 2) throw ApplicationFailure.retryable('payment service unavailable', 'unavailable');
    await released.promise; // hold the third attempt until the test has seen the flag
  });
  const handle = await start(input);

  const failing = await eventually(async () => {
    const s = await handle.query(getStateQuery);
    return s.compensationsFailing ? s : undefined;
  });
  expect(failing.status).toBe('compensating');
  expect(failing.steps.at(-1)).toMatchObject({ name: 'charge.refund', error: { code: 'unavailable' } });
  await eventually(() => searchAttribute<boolean>(input.checkoutId, attrs.CompensationFailing));
  expect(await searchAttribute(input.checkoutId, attrs.CheckoutStatus)).toBe('compensating');

  released.open();
  const state = await handle.result();
  expect(state).toMatchObject({ status: 'failed', failure: { code: 'out-of-stock' }, refundId: expect.stringMatching(/^re_/), compensationsFailing: false });
  expect(state.steps.at(-1)).toMatchObject({ name: 'charge.refund', status: 'succeeded', attempts: 2, error: null });
  expect(services.callsFor(input.checkoutId).filter((c) => c.activity === 'refundCharge')).toHaveLength(3);
  expect(await searchAttribute(input.checkoutId, attrs.CompensationFailing)).toBe(false);
});

test('a key held past a database outage (in use until its 30 s lease ends) delays the step, it does not fail the checkout', async () => {
  const input = checkout();
  const heldUntil = Date.now() + 35_000;
  services.on(input.checkoutId, 'createOrder', () => {
    if (Date.now() < heldUntil) throw ApplicationFailure.retryable('A request with this Idempotency-Key is still in progress', 'idempotency-key-in-use');
  });
  const state = await run(input);
  expect(state).toMatchObject({ status: 'completed', orderId: expect.stringMatching(/^ord_/), failure: null });
  expect(services.callsFor(input.checkoutId).filter((c) => c.activity === 'createOrder').length).toBeGreaterThan(10);
}, 120_000);

describe('refund workflow', () => {
  const refund = (amount: number) => ({
    refundId: `rfd_test_${randomUUID()}`,
    checkoutId: 'chk_x',
    merchantId: 'merchant_a',
    chargeId: 'ch_1',
    amount,
    currency: 'USD',
  });

  test('refunds with the refund key', async () => {
    const input = refund(500);
    const state: RefundState = await env.client.workflow.execute(refundWorkflow, { args: [input], taskQueue, workflowId: input.refundId });
    expect(state).toMatchObject({ status: 'succeeded', paymentRefundId: expect.stringMatching(/^re_/), key: `${input.refundId}:refund`, failure: null });
  });

  test('a refund over the charge ends failed, not retried', async () => {
    const input = refund(1_000_000);
    const state = await env.client.workflow.execute(refundWorkflow, { args: [input], taskQueue, workflowId: input.refundId });
    expect(state).toMatchObject({ status: 'failed', paymentRefundId: null, failure: { code: 'refund-exceeds-charge' } });
  });
});
