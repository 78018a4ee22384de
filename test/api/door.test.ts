/**
 * The door: a checkout that a service would refuse is refused by the API with 400 problem+json,
 * and nothing is left behind — no checkout record, no workflow, no charge at the real payment
 * service. Every process is real (API, worker, services, mailbox) over real HTTP and Postgres.
 * A merchant id the services would refuse as a tenant stops the API at start.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { DEV_API_KEY, DEV_MERCHANT, portEnv } from '../../src/platform/config';
import { createPool } from '../../src/platform/db/pool';
import { checkoutIdFor } from '../../src/saga/keys';
import { spawnChild } from '../../tools/dev/child';
import { processSpec, ROOT } from '../../tools/dev/processes';
import { startStack, type Stack } from '../../tools/dev/sandbox/stack';
import { sampleCheckoutRequest } from '../../tools/support/samples';
import { connectClient, countRuns } from '../support/temporal';

let stack: Stack;
let client: Client;
let closeClient: () => Promise<void>;

beforeAll(async () => {
  stack = await startStack({ env: { LOG_LEVEL: 'warn' } });
  ({ client, close: closeClient } = await connectClient());
}, 180_000);

afterAll(async () => {
  await closeClient?.();
  await stack?.stop();
});

async function post(body: unknown, key = `door-${randomBytes(6).toString('hex')}`) {
  const res = await fetch(`${stack.urls.api}/checkouts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${DEV_API_KEY}`, 'idempotency-key': key, 'content-type': 'application/json', prefer: 'wait=30' },
    body: JSON.stringify(body),
  });
  return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as Record<string, any>, key };
}

async function rowCount(database: 'payment' | 'checkout', sql: string, params: unknown[] = []): Promise<number> {
  const pool = createPool(stack.config.databaseUrls[database], 1);
  try {
    return (await pool.query(sql, params)).rowCount ?? 0;
  } finally {
    await pool.end();
  }
}

describe('what a service would refuse is refused at the door, with nothing started', () => {
  test.each([
    ['an item priced 0', { items: [{ sku: 'SKU-1', quantity: 1, unitAmount: 0 }, { sku: 'SKU-2', quantity: 1, unitAmount: 500 }] }, /unitAmount/],
    ['the same SKU on two lines', { items: [{ sku: 'SKU-1', quantity: 1, unitAmount: 1999 }, { sku: 'SKU-1', quantity: 1, unitAmount: 1999 }] }, /SKU-1 appears more than once/],
    ['a total of 100,000,000 minor units', { items: [{ sku: 'SKU-1', quantity: 2, unitAmount: 50_000_000 }] }, /total must be between/],
    ['a NUL character in a string', { customerId: 'cus_\u0000' }, /NUL/],
    ['a NUL character in the e-mail', { email: 'a\u0000@example.com' }, /NUL/],
    ['a payment token the payment service does not know', { paymentMethod: 'tok_unknown' }, /paymentMethod/],
  ])('%s → 400 problem+json; no checkout, no workflow, no charge', async (_name, over, detail) => {
    const res = await post(sampleCheckoutRequest(over));
    expect([res.status, res.type]).toEqual([400, expect.stringMatching(/^application\/problem\+json/)]);
    expect(res.body).toMatchObject({ type: expect.stringMatching(/\/validation-error$/), status: 400, detail: expect.stringMatching(detail) });

    const id = checkoutIdFor(DEV_MERCHANT, res.key);
    expect(await rowCount('checkout', 'SELECT 1 FROM checkouts WHERE id = $1', [id])).toBe(0);
    expect(await countRuns(client, `WorkflowId = '${id}'`, { expectSome: false })).toBe(0);
    expect(await rowCount('payment', 'SELECT 1 FROM charges')).toBe(0);
  });

  test('the largest total the payment service takes gets through and is charged once', async () => {
    const res = await post(sampleCheckoutRequest({ items: [{ sku: 'SKU-1', quantity: 1, unitAmount: 99_999_999 }] }));
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'completed', amount: 99_999_999 });
    expect(await rowCount('payment', 'SELECT 1 FROM charges WHERE id = $1 AND amount = 99999999', [res.body.chargeId])).toBe(1);
  });

  test('a merchant id the services would refuse as a tenant (`acme corp`) stops the API at start', async () => {
    const env = { ...stack.env, API_KEYS: 'sk_test_acme:acme corp', [portEnv('api')]: '0' };
    const api = spawnChild('api-acme', process.execPath, ['--import', 'tsx', path.join(ROOT, processSpec('api').entry)], { env, cwd: ROOT, detached: false });
    expect((await api.exited).code).not.toBe(0);
    expect(api.tail().join('\n')).toMatch(/API_KEYS merchant id "acme corp" is not a valid tenant id/);
  });
});
