/**
 * The checkout API past the default pool size (docs/api.md#idempotency): many clients waiting on
 * checkouts at once, bursts of refunds, duplicates arriving while the first request waits, and a
 * run ended from outside. The API runs with its production pool (CHECKOUT_POOL_SIZE connections)
 * on real Postgres and the real Temporal dev server with the real workflows; the services are the
 * in-memory fakes, each call taking a little time so that runs overlap as under real load.
 */
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import { CHECKOUT_POOL_SIZE } from '../../src/services/checkout-api/store';
import { mapLimit } from '../../tools/support/concurrency';
import { sampleCheckoutRequest } from '../../tools/support/samples';
import { apiCaller, type ApiAnswer } from '../support/api-client';
import { eventually } from '../support/eventually';
import type { FakeServices } from '../support/fake-services';
import { startApiStack, type ApiStack } from '../support/api-stack';

const API_KEY = 'sk_test_load';
let stack: ApiStack;
let pool: Pool;
let base: string;
let client: Client;
let services: FakeServices;
let seq = 0;
const newKey = () => `load-${Date.now()}-${seq++}`;

const call = apiCaller(() => base, API_KEY);

beforeAll(async () => {
  stack = await startApiStack({ name: 'api_load', apiKeys: `${API_KEY}:merchant_load`, poolSize: CHECKOUT_POOL_SIZE, services: { latencyMs: 100 } });
  ({ pool, base, client, services } = stack);
}, 120_000);

afterAll(() => stack?.close());

describe.each([40, 100])('200 checkouts, %i clients waiting at once', (concurrency) => {
  test('every one completes, each charged once; a GET during the burst answers within a second', async () => {
    const done = await call('POST', '/checkouts', { key: newKey(), body: sampleCheckoutRequest(), prefer: 'wait=30' });
    expect(done.status).toBe(201);

    const gets: ApiAnswer[] = [];
    let bursting = true;
    const probing = (async () => {
      while (bursting) {
        gets.push(await call('GET', `/checkouts/${done.body.id}`));
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    const answers = await mapLimit(Array.from({ length: 200 }), concurrency, () =>
      call('POST', '/checkouts', { key: newKey(), body: sampleCheckoutRequest(), prefer: 'wait=30' }),
    );
    bursting = false;
    await probing;

    // Every client got an answer, none an error: 201 completed, or — on a machine so loaded that
    // a run outlasts its client's 30 s — 202, and that checkout then completes.
    expect(answers.filter((a) => a.status !== 201 && a.status !== 202)).toEqual([]);
    expect(new Set(answers.map((a) => a.body.id)).size).toBe(200);
    for (const late of answers.filter((a) => a.status === 202)) {
      await eventually(async () => (await call('GET', `/checkouts/${late.body.id}`)).body.status === 'completed', 60_000);
    }
    for (const a of answers) expect(services.count(`payment POST /charges ${a.body.id}:charge`)).toBe(1);
    expect(gets.length).toBeGreaterThan(0);
    expect(gets.map((g) => g.status)).toEqual(gets.map(() => 200));
    expect(Math.max(...gets.map((g) => g.ms))).toBeLessThan(1_000);
    // Nothing was left holding a connection: the pool is idle again.
    await eventually(() => pool.idleCount === pool.totalCount);
  }, 240_000);
});

test('100 concurrent refund requests, most for checkouts that do not exist, all get an answer', async () => {
  const real = await call('POST', '/checkouts', { key: newKey(), body: sampleCheckoutRequest(), prefer: 'wait=30' });
  const answers = await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      i % 10 === 0
        ? call('POST', `/checkouts/${real.body.id}/refunds`, { key: newKey(), body: { amount: 100 } })
        : call('POST', `/checkouts/chk_${randomBytes(20).toString('hex')}/refunds`, { key: newKey(), body: { amount: 100 } }),
    ),
  );
  const statuses = answers.map((a) => a.status);
  expect(statuses.filter((s) => s === 404)).toHaveLength(90);
  // Ten refunds of 1.00 against a charge of 39.98: every one fits.
  expect(statuses.filter((s) => s === 201)).toHaveLength(10);
}, 120_000);

test('a duplicate sent while the first request waits gets the checkout as it stands, never 409', async () => {
  // A run that takes longer than a duplicate would once wait for a lease (IDEMPOTENCY_WAIT_MS, 5 s).
  services.latencyMs = 2_500;
  try {
    const key = newKey();
    const body = sampleCheckoutRequest();
    const first = call('POST', '/checkouts', { key, body, prefer: 'wait=30' });
    await new Promise((r) => setTimeout(r, 300)); // the first is recorded and waiting
    const [plain, waiting] = await Promise.all([
      call('POST', '/checkouts', { key, body }),
      call('POST', '/checkouts', { key, body, prefer: 'wait=30' }),
    ]);
    const original = await first;
    expect([original.status, original.body.status]).toEqual([201, 'completed']);
    expect([plain.status, plain.headers.get('idempotent-replayed'), plain.body.id]).toEqual([202, 'true', original.body.id]);
    expect(plain.ms).toBeLessThan(5_000);
    expect([waiting.status, waiting.headers.get('idempotent-replayed'), waiting.body.status]).toEqual([201, 'true', 'completed']);
    expect(services.count(`payment POST /charges ${original.body.id}:charge`)).toBe(1);
  } finally {
    services.latencyMs = 100;
  }
}, 60_000);

test('a run an operator terminates shows as terminated, saying what may be left behind', async () => {
  const created = await call('POST', '/checkouts', { key: newKey(), body: sampleCheckoutRequest() });
  await eventually(() => services.count(`payment POST /charges ${created.body.id}:charge`) === 1);
  await client.workflow.getHandle(created.body.id).terminate('operator: testing');
  const res = await eventually(async () => {
    const read = await call('GET', `/checkouts/${created.body.id}`);
    return read.body.status === 'terminated' ? read : null;
  });
  expect(res.body.failure).toMatchObject({ code: 'run-terminated', message: expect.stringMatching(/charge ch_\d+ may be left behind/) });
  const recorded = await eventually(async () => (await pool.query('SELECT final_state FROM checkouts WHERE id = $1', [created.body.id])).rows[0]?.final_state);
  expect(recorded.status).toBe('terminated');
}, 60_000);
