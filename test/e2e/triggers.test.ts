/**
 * End to end through every process (API, worker, payment, order, notification, mailbox) over
 * real HTTP, real Postgres, the real Temporal dev server and real SMTP: one test per trigger
 * of docs/api.md#test-triggers, each checked at the services themselves, not only at the API.
 */
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { DEV_API_KEY } from '../../src/platform/config';
import { stepKey } from '../../src/saga/keys';
import { startStack, type Stack } from '../../tools/dev/sandbox/stack';
import { apiCaller } from '../support/api-client';
import { eventually } from '../support/eventually';
import { connectClient, countRuns } from '../support/temporal';
import { sampleCheckoutRequest } from '../../tools/support/samples';

let stack: Stack;
let client: Client;
let closeClient: () => Promise<void>;

beforeAll(async () => {
  stack = await startStack({
    // Dead-letter a bounced e-mail after 3 quick attempts rather than the production schedule.
    env: { OUTBOX_MAX_ATTEMPTS: '3', OUTBOX_BACKOFF_BASE_MS: '100', OUTBOX_BACKOFF_MAX_MS: '200', LOG_LEVEL: 'warn' },
  });
  ({ client, close: closeClient } = await connectClient());
}, 180_000);

afterAll(async () => {
  await closeClient?.();
  await stack?.stop();
});

/** A fresh e-mail address per checkout, so mailbox counts belong to one checkout. */
const body = (over: Record<string, unknown> = {}) =>
  sampleCheckoutRequest({ email: `buyer-${randomBytes(3).toString('hex')}@example.com`, ...over });

const call = apiCaller(() => stack.urls.api, DEV_API_KEY);

async function checkout(payload: Record<string, unknown>, key = `e2e-${randomBytes(6).toString('hex')}`) {
  return { ...(await call('POST', '/checkouts', { key, body: payload, prefer: 'wait=30' })), key };
}

/** A GET on a service, as the worker would make it. */
async function service(base: string, path: string) {
  const res = await fetch(`${base}${path}`, {
    headers: { authorization: `Bearer ${stack.config.serviceToken}`, 'x-tenant-id': 'merchant_dev' },
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

async function mailFor(to: string) {
  const res = await fetch(`${stack.urls.mailbox}/messages?to=${encodeURIComponent(to)}`);
  const json = (await res.json()) as { messages?: unknown[] } | unknown[];
  return (Array.isArray(json) ? json : json.messages ?? []) as { messageId: string }[];
}

test('tok_visa → completed: one captured charge, one order, one confirmation e-mail', async () => {
  const payload = body();
  const res = await checkout(payload);
  expect(res.status).toBe(201);
  expect(res.body).toMatchObject({ status: 'completed', amount: 3998, failure: null, refundId: null });

  const charge = await service(stack.urls.payment, `/charges/${res.body.chargeId}`);
  expect(charge.body).toMatchObject({ status: 'captured', amount: 3998, amountRefunded: 0 });
  const order = await service(stack.urls.order, `/orders/${res.body.orderId}`);
  expect(order.body.status).toBe('created');
  // The checkout completed once the outbox accepted the e-mail; the dispatcher sends it after.
  await eventually(async () => (await mailFor(payload.email)).length > 0);
  expect(await mailFor(payload.email)).toHaveLength(1);
  expect(res.body.steps.find((s: { name: string }) => s.name === 'charge').key).toBe(stepKey(res.body.id, 'charge'));

  // A resubmission is the same checkout, and nothing happens twice.
  const again = await checkout(payload, res.key);
  expect(again.headers.get('idempotent-replayed')).toBe('true');
  expect(again.body.chargeId).toBe(res.body.chargeId);
  expect(await mailFor(payload.email)).toHaveLength(1);

  // Listed in Temporal (and so in the Web UI) under its search attributes.
  expect(await countRuns(client, `WorkflowId = '${res.body.id}' AND CheckoutStatus = 'completed'`)).toBe(1);
});

test.each([
  ['tok_chargeDeclined', 'card-declined'],
  ['tok_insufficientFunds', 'insufficient-funds'],
])('%s → failed with %s, not retried, nothing to compensate', async (paymentMethod, code) => {
  const payload = body({ paymentMethod });
  const res = await checkout(payload);
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ status: 'failed', chargeId: null, orderId: null, refundId: null });
  expect(res.body.failure.code).toBe(code);
  const chargeStep = res.body.steps.find((s: { name: string }) => s.name === 'charge');
  expect(chargeStep.status).toBe('failed');
  expect(await mailFor(payload.email)).toHaveLength(0);
});

test('OUT-OF-STOCK → order fails, the charge is refunded in full, failed with refundId', async () => {
  const payload = body({ items: [{ sku: 'OUT-OF-STOCK', quantity: 1, unitAmount: 500 }] });
  const res = await checkout(payload);
  expect(res.status).toBe(200);
  expect(res.body.status).toBe('failed');
  expect(res.body.failure.code).toBe('out-of-stock');
  expect(res.body.refundId).toEqual(expect.any(String));
  const charge = await service(stack.urls.payment, `/charges/${res.body.chargeId}`);
  expect(charge.body.amountRefunded).toBe(500);
  const refundStep = res.body.steps.find((s: { name: string }) => s.name === 'charge.refund');
  expect(refundStep).toMatchObject({ key: stepKey(res.body.id, 'charge.refund'), status: 'succeeded' });
  expect(await mailFor(payload.email)).toHaveLength(0);
});

test('an @bounce.test address → completed, notification dead-lettered, no refund', async () => {
  const payload = body({ email: `nobody-${randomBytes(3).toString('hex')}@bounce.test` });
  const res = await checkout(payload);
  expect(res.status).toBe(201);
  expect(res.body).toMatchObject({ status: 'completed', refundId: null });
  // Completed once the outbox accepted the e-mail; GET reports its delivery as the outbox sees it.
  const dead = await eventually(async () => {
    const read = await fetch(`${stack.urls.api}/checkouts/${res.body.id}`, { headers: { authorization: `Bearer ${DEV_API_KEY}` } });
    const checkout = (await read.json()) as Record<string, any>;
    return checkout.notification.status === 'dead' ? checkout : undefined;
  });
  expect(dead).toMatchObject({ status: 'completed', notification: { id: res.body.notification.id, status: 'dead' } });
  const notification = await service(stack.urls.notification, `/notifications/${res.body.notification.id}`);
  expect(notification.body.status).toBe('dead');
  const charge = await service(stack.urls.payment, `/charges/${res.body.chargeId}`);
  expect(charge.body.amountRefunded).toBe(0);
  expect(await mailFor(payload.email)).toHaveLength(0);
});
