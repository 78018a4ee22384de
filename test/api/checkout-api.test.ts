/**
 * The checkout API, row by row of docs/api.md#idempotency, on real Postgres and the real Temporal dev server
 * with the real workflows; the three services are the in-memory fakes (end-to-end tests run
 * the real ones).
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Pool } from 'pg';
import { checkoutIdFor } from '../../src/saga/keys';
import { apiCaller } from '../support/api-client';
import { eventually } from '../support/eventually';
import type { FakeServices } from '../support/fake-services';
import { startApiStack, type ApiStack } from '../support/api-stack';
import { countRuns } from '../support/temporal';
import { sampleCheckoutRequest } from '../../tools/support/samples';

const KEY_A = 'sk_test_a';
const KEY_B = 'sk_test_b';
let stack: ApiStack;
let pool: Pool;
let base: string;
let client: Client;
let services: FakeServices;
let seq = 0;

const newKey = () => `api-${Date.now()}-${seq++}`;
const checkout = sampleCheckoutRequest;

const call = apiCaller(() => base, KEY_A);

const runsOf = (workflowId: string, opts?: { expectSome: boolean }) => countRuns(client, `WorkflowId = '${workflowId}'`, opts);

/** What Temporal's retention does to a closed run: it is gone, history and all. */
async function forgetRun(workflowId: string): Promise<void> {
  await client.workflowService.deleteWorkflowExecution({ namespace: 'default', workflowExecution: { workflowId } });
  await eventually(() =>
    client.workflow
      .getHandle(workflowId)
      .describe()
      .then(
        () => false,
        (err: unknown) => err instanceof WorkflowNotFoundError,
      ),
    // The server deletes a closed run's history in the background: 10–20 s on the dev server.
    60_000,
  );
}

const recordedOutcome = async (id: string) =>
  (await pool.query<{ final_state: { status: string } | null }>('SELECT final_state FROM checkouts WHERE id = $1', [id])).rows[0]?.final_state ?? null;

beforeAll(async () => {
  stack = await startApiStack({ name: 'api', apiKeys: `${KEY_A}:merchant_a,${KEY_B}:merchant_b` });
  ({ pool, base, client, services } = stack);
}, 120_000);

afterAll(() => stack?.close());

describe('POST /checkouts', () => {
  test('no key or a malformed key → 400 problem', async () => {
    for (const key of [undefined, '', 'x'.repeat(256), 'naïve']) {
      const res = await call('POST', '/checkouts', { key, body: checkout() });
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(res.body.type).toMatch(/^https:\/\/.+\/idempotency-key-(missing|invalid)$/);
    }
  });

  test.each([
    ['a float amount', checkout({ items: [{ sku: 'SKU-1', quantity: 1, unitAmount: 19.99 }] })],
    ['an unknown currency', checkout({ currency: 'XYZ' })],
    ['a zero total', checkout({ items: [{ sku: 'SKU-1', quantity: 1, unitAmount: 0 }] })],
    ['a total over the limit', checkout({ items: [{ sku: 'SKU-1', quantity: 1000, unitAmount: 100_000_000 }] })],
    ['an unknown field', checkout({ coupon: 'FREE' })],
    ['a missing field', { currency: 'USD' }],
    ['no items', checkout({ items: [] })],
    ['a bad e-mail', checkout({ email: 'not-an-email' })],
  ])('bad body (%s) → 400, nothing started', async (_name, body) => {
    const key = newKey();
    const res = await call('POST', '/checkouts', { key, body });
    expect(res.status).toBe(400);
    expect(res.body.type).toMatch(/validation-error$/);
    const id = checkoutIdFor('merchant_a', key);
    expect((await pool.query('SELECT 1 FROM checkouts WHERE id = $1', [id])).rowCount).toBe(0);
    expect(await runsOf(id, { expectSome: false })).toBe(0);
  });

  test('missing or unknown API key → 401 problem', async () => {
    expect((await call('POST', '/checkouts', { key: newKey(), body: checkout(), apiKey: null })).status).toBe(401);
    const res = await call('POST', '/checkouts', { key: newKey(), body: checkout(), apiKey: 'sk_nope' });
    expect(res.status).toBe(401);
    expect(res.body.type).toMatch(/unauthorized$/);
  });

  test('new key → 202 with Location and the checkout resource', async () => {
    const key = newKey();
    const res = await call('POST', '/checkouts', { key, body: checkout() });
    expect(res.status).toBe(202);
    const id = checkoutIdFor('merchant_a', key);
    expect(res.headers.get('location')).toBe(`/checkouts/${id}`);
    expect(res.body).toMatchObject({ id, amount: 3998, currency: 'USD', customerId: 'cus_123' });
    expect(res.body.temporal.workflowId).toBe(id);
    expect(res.body.temporal.url).toContain(`/workflows/${id}`);
  });

  test('same key and body again, after completion → the same checkout, replayed, never a second run', async () => {
    const key = newKey();
    const first = await call('POST', '/checkouts', { key, body: checkout(), prefer: 'wait=20' });
    expect(first.status).toBe(201);
    expect(first.body.status).toBe('completed');
    const again = await call('POST', '/checkouts', { key, body: checkout() });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.id).toBe(first.body.id);
    expect(again.body.status).toBe('completed');
    expect(await runsOf(first.body.id)).toBe(1);
    expect(services.count(`payment POST /charges ${first.body.id}:charge`)).toBe(1);
  });

  test('20 concurrent identical POSTs → one workflow, one charge, one checkout', async () => {
    const key = newKey();
    const results = await Promise.all(Array.from({ length: 20 }, () => call('POST', '/checkouts', { key, body: checkout() })));
    const id = checkoutIdFor('merchant_a', key);
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(202));
    expect(new Set(results.map((r) => r.body.id))).toEqual(new Set([id]));
    expect(results.filter((r) => r.headers.get('idempotent-replayed') === 'true')).toHaveLength(19);
    expect(await runsOf(id)).toBe(1);
    const done = await call('GET', `/checkouts/${id}`);
    expect(done.body.id).toBe(id);
    await call('POST', '/checkouts', { key, body: checkout(), prefer: 'wait=20' });
    expect(services.count(`payment POST /charges ${id}:charge`)).toBe(1);
  });

  test('same key, different body → 422, and the original is untouched', async () => {
    const key = newKey();
    const first = await call('POST', '/checkouts', { key, body: checkout() });
    const res = await call('POST', '/checkouts', { key, body: checkout({ customerId: 'cus_other' }) });
    expect(res.status).toBe(422);
    expect(res.body.type).toMatch(/idempotency-key-reused$/);
    const again = await call('POST', '/checkouts', { key, body: checkout() });
    expect(again.body.id).toBe(first.body.id);
  });

  test('after Temporal forgot the run, the record decides: the same checkout, never a second run', async () => {
    const key = newKey();
    const first = await call('POST', '/checkouts', { key, body: checkout(), prefer: 'wait=20' });
    expect(first.body.status).toBe('completed');
    await forgetRun(first.body.id);

    const again = await call('POST', '/checkouts', { key, body: checkout(), prefer: 'wait=5' });
    expect([again.status, again.headers.get('idempotent-replayed'), again.body.status]).toEqual([201, 'true', 'completed']);
    expect(again.body.id).toBe(first.body.id);
    expect((await call('POST', '/checkouts', { key, body: checkout({ currency: 'EUR' }) })).status).toBe(422);
    // No second run: Temporal knows no run of this id at all.
    await expect(client.workflow.getHandle(first.body.id).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
    expect(services.count(`payment POST /charges ${first.body.id}:charge`)).toBe(1);
  });

  test('the same key from two merchants → two checkouts', async () => {
    const key = newKey();
    const a = await call('POST', '/checkouts', { key, body: checkout() });
    const b = await call('POST', '/checkouts', { key, body: checkout(), apiKey: KEY_B });
    expect(a.body.id).not.toBe(b.body.id);
    expect(b.headers.get('idempotent-replayed')).toBeNull();
  });

  test('Prefer: wait → 201 when completed, 200 with the status when failed', async () => {
    const ok = await call('POST', '/checkouts', { key: newKey(), body: checkout(), prefer: 'wait=20' });
    expect(ok.status).toBe(201);
    expect(ok.headers.get('preference-applied')).toBe('wait=20');
    expect(ok.body).toMatchObject({ status: 'completed', failure: null });
    expect(ok.body.chargeId).toEqual(expect.any(String));
    expect(ok.body.orderId).toEqual(expect.any(String));

    const declined = await call('POST', '/checkouts', { key: newKey(), body: checkout({ paymentMethod: 'tok_chargeDeclined' }), prefer: 'wait=20' });
    expect(declined.status).toBe(200);
    expect(declined.body.status).toBe('failed');
    expect(declined.body.failure.code).toBe('card-declined');
  });
});

describe('the checkout record decides, whatever Temporal still keeps', () => {
  test('a run nobody waited for has its outcome recorded when it ends; GET answers after Temporal forgot it', async () => {
    const created = await call('POST', '/checkouts', { key: newKey(), body: checkout() });
    expect(created.status).toBe(202);
    // The recorder first looks 10 s after the start (a waiting request would have recorded it before).
    expect(await eventually(() => recordedOutcome(created.body.id), 60_000)).toMatchObject({ status: 'completed' });
    await forgetRun(created.body.id);
    const res = await call('GET', `/checkouts/${created.body.id}`);
    expect([res.status, res.body.status, res.body.chargeId]).toEqual([200, 'completed', expect.any(String)]);
  }, 120_000);

  test('the record is written before the run starts: a failure after the start leaves the record, and the run charges what it holds', async () => {
    // The one write after the start (marking it started) fails, as a commit after the start used to.
    await pool.query(`CREATE OR REPLACE FUNCTION fail_start_mark() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF OLD.started_at IS NULL AND NEW.started_at IS NOT NULL THEN RAISE EXCEPTION 'injected: cannot mark started'; END IF; RETURN NEW; END $$`);
    await pool.query('CREATE TRIGGER fail_start_mark BEFORE UPDATE ON checkouts FOR EACH ROW EXECUTE FUNCTION fail_start_mark()');
    const key = newKey();
    try {
      const first = await call('POST', '/checkouts', { key, body: checkout() });
      expect(first.status).toBe(202);
      expect((await call('GET', `/checkouts/${first.body.id}`)).status).toBe(200);
      const changed = await call('POST', '/checkouts', { key, body: checkout({ items: [{ sku: 'SKU-1', quantity: 9, unitAmount: 1999 }] }) });
      expect(changed.status).toBe(422);
    } finally {
      await pool.query('DROP TRIGGER fail_start_mark ON checkouts');
    }
    const again = await call('POST', '/checkouts', { key, body: checkout(), prefer: 'wait=20' });
    expect([again.status, again.body.amount]).toEqual([201, 3998]);
    expect(await runsOf(again.body.id)).toBe(1);
    expect(services.count(`payment POST /charges ${again.body.id}:charge`)).toBe(1);
  });
});

describe('GET /checkouts/{id}', () => {
  test('shows the checkout with steps and their derived keys; another merchant gets 404', async () => {
    const key = newKey();
    const created = await call('POST', '/checkouts', { key, body: checkout(), prefer: 'wait=20' });
    const res = await call('GET', `/checkouts/${created.body.id}`);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('completed');
    expect(res.body.steps.map((s: { key: string }) => s.key)).toEqual(
      expect.arrayContaining([`${created.body.id}:charge`, `${created.body.id}:order`, `${created.body.id}:notify`]),
    );
    const other = await call('GET', `/checkouts/${created.body.id}`, { apiKey: KEY_B });
    expect(other.status).toBe(404);
    expect((await call('GET', '/checkouts/nope')).status).toBe(400);
  });
});

describe('POST /checkouts/{id}/refunds', () => {
  test('a retried refund is one refund; refunds never exceed the charge', async () => {
    const created = await call('POST', '/checkouts', { key: newKey(), body: checkout(), prefer: 'wait=20' });
    const id = created.body.id;
    const refundKey = newKey();
    const first = await call('POST', `/checkouts/${id}/refunds`, { key: refundKey, body: { amount: 500 } });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ amount: 500, status: 'succeeded' });
    const retry = await call('POST', `/checkouts/${id}/refunds`, { key: refundKey, body: { amount: 500 } });
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(retry.body).toEqual(first.body);
    expect(services.calls.filter((c) => c.startsWith('payment POST /refunds') && c.includes(first.body.id))).toHaveLength(1);

    const rest = await call('POST', `/checkouts/${id}/refunds`, { key: newKey(), body: {} });
    expect(rest.status).toBe(201);
    expect(rest.body.amount).toBe(3998 - 500);
    const over = await call('POST', `/checkouts/${id}/refunds`, { key: newKey(), body: { amount: 1 } });
    expect(over.status).toBe(409);
    expect(over.body.type).toMatch(/refund-exceeds-charge$/);
  });

  test('a refund needs a key and a completed checkout', async () => {
    const declined = await call('POST', '/checkouts', { key: newKey(), body: checkout({ paymentMethod: 'tok_chargeDeclined' }), prefer: 'wait=20' });
    expect((await call('POST', `/checkouts/${declined.body.id}/refunds`, { body: {} })).status).toBe(400);
    const res = await call('POST', `/checkouts/${declined.body.id}/refunds`, { key: newKey(), body: {} });
    expect(res.status).toBe(409);
    expect(res.body.type).toMatch(/invalid-state$/);
  });
});

describe('operations endpoints', () => {
  test('/healthz, /metrics and /docs', async () => {
    expect((await call('GET', '/healthz', { apiKey: null })).body).toEqual({ status: 'ok' });
    const metrics = await fetch(`${base}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/http_requests_total\{.*route="\/checkouts".*\} \d+/);
    const docs = await call('GET', '/docs', { apiKey: null });
    expect(docs.body.openapi).toMatch(/^3\./);
    expect(Object.keys(docs.body.paths)).toEqual(expect.arrayContaining(['/checkouts', '/checkouts/{id}', '/checkouts/{id}/refunds']));
    expect(docs.body.paths['/checkouts'].post.requestBody.content['application/json'].schema.required).toContain('paymentMethod');
  });
});
