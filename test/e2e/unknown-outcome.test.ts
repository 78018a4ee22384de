/**
 * An unknown outcome is learned without causing it (issue 8, item 7), through every process.
 *
 * The payment service refuses every charge before doing anything (`charge:before=1`), so the
 * charge step keeps retrying with no answer; the checkout is cancelled meanwhile, so the saga
 * must find out whether the customer was charged. Then the payment service comes back healthy.
 * Re-issuing the charge to learn its outcome would charge the customer now and refund them at
 * once (a phantom charge on their statement); the fenced lookup finds that nothing happened and
 * closes the key, so no charge, no refund, and a late original is refused.
 */
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import { DEV_API_KEY, DEV_MERCHANT as tenant } from '../../src/platform/config';
import { createPool } from '../../src/platform/db/pool';
import { stepKey } from '../../src/saga/keys';
import type { CheckoutState } from '../../src/saga/types';
import { startStack, type Stack } from '../../tools/dev/sandbox/stack';
import { sampleCheckoutRequest } from '../../tools/support/samples';
import { collectAuditInput } from '../../tools/audit/collect';
import { auditInvariants } from '../../tools/audit/invariants';
import { connectClient } from '../support/temporal';

jest.setTimeout(180_000);

let stack: Stack;
let client: Client;
let closeClient: () => Promise<void>;
let payment: Pool;

beforeAll(async () => {
  stack = await startStack({ env: { LOG_LEVEL: 'warn' }, envFor: { payment: { FAULTS: 'charge:before=1', FAULTS_SEED: '1' } } });
  ({ client, close: closeClient } = await connectClient());
  payment = createPool(stack.config.databaseUrls.payment, 2);
}, 180_000);

afterAll(async () => {
  await payment?.end();
  await closeClient?.();
  await stack?.stop();
});

const rows = async (sql: string, params: unknown[]) => (await payment.query(sql, params)).rows;

test('charge reply lost and the charge never happened → cancelled with no charge and no refund; the late original is refused', async () => {
  const res = await fetch(`${stack.urls.api}/checkouts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${DEV_API_KEY}`, 'idempotency-key': `e2e-${randomBytes(6).toString('hex')}`, 'content-type': 'application/json' },
    body: JSON.stringify(sampleCheckoutRequest({ email: 'lost@example.com' })),
  });
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };
  const handle = client.workflow.getHandle(id);

  // Wait until the charge has been tried and refused at least once: its outcome is now unknown.
  for (;;) {
    const pending = (await handle.describe()).raw.pendingActivities ?? [];
    if (pending.some((a) => (a.attempt ?? 0) >= 2)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await handle.cancel();
  // Give a reconciliation the chance to reach the (still faulty) service, then heal it: a saga
  // that re-issued the charge would now get it performed.
  await new Promise((r) => setTimeout(r, 1_500));
  await stack.restart('payment', { FAULTS: '' });

  const state = (await handle.result()) as CheckoutState;
  expect(state).toMatchObject({ status: 'failed', failure: { code: 'cancelled' }, chargeId: null, refundId: null });
  expect(state.steps.find((s) => s.name === 'charge')).toMatchObject({ status: 'failed', error: { code: 'idempotency-key-fenced' } });

  const chargeKey = stepKey(id, 'charge');
  expect(await rows('SELECT id FROM charges WHERE tenant = $1 AND idempotency_key = $2', [tenant, chargeKey])).toEqual([]);
  expect(await rows('SELECT id FROM refunds WHERE tenant = $1 AND idempotency_key = $2', [tenant, stepKey(id, 'charge.refund')])).toEqual([]);
  expect(await rows('SELECT state FROM idempotency_keys WHERE tenant = $1 AND key = $2', [tenant, chargeKey])).toEqual([{ state: 'fenced' }]);

  // The original charge request, arriving late (a retry from a worker that still had it): refused.
  const late = await fetch(`${stack.urls.payment}/charges`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${stack.config.serviceToken}`,
      'x-tenant-id': tenant,
      'idempotency-key': chargeKey,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ amount: state.amount, currency: state.currency, paymentMethod: 'tok_visa', customerId: state.customerId }),
  });
  expect(late.status).toBe(410);
  expect(((await late.json()) as { type: string }).type).toMatch(/idempotency-key-fenced$/);
  expect(await rows('SELECT id FROM charges WHERE tenant = $1 AND idempotency_key = $2', [tenant, chargeKey])).toEqual([]);

  // The audit judges it (the run's history says when compensation began) and finds no phantom.
  const audit = auditInvariants(await collectAuditInput(stack.config));
  expect(audit.invariants.find((i) => i.id === 'no-phantom')).toMatchObject({ checked: 1, violations: 0 });
  expect(audit.violations).toEqual([]);
});
