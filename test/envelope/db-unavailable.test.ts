/**
 * A database that cannot serve — unreachable, or a pool with no connection to spare — is
 * "retry later" on every route of every service: 503 problem+json with Retry-After within the
 * pool's acquire timeout, never 500 and never a hang; /healthz says not ready. (issue 8, items 1, 8)
 */
import type { Pool } from 'pg';
import { withDatabase } from '../../src/platform/config';
import { createPool } from '../../src/platform/db/pool';
import { buildApp as buildPaymentApp, migrations as paymentMigrations } from '../../src/services/payment/app';
import { freePort } from '../../tools/dev/wait';
import { clusterUrl } from '../support/db';
import { newKey, startService, type Answer, type RunningService } from '../services/support';

const ACQUIRE_TIMEOUT_MS = 300;
const charge = { amount: 1000, currency: 'USD', paymentMethod: 'tok_visa', customerId: 'cus_1' };

function expectRetryLater(res: Answer) {
  expect(res.status).toBe(503);
  expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
  expect(res.body.type).toMatch(/\/unavailable$/);
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
}

describe('a database nobody can reach', () => {
  let svc: RunningService;
  let pool: Pool;
  beforeAll(async () => {
    // Nothing listens on this port: every connect is refused.
    pool = createPool(withDatabase(clusterUrl().replace(/:\d+\//, `:${await freePort()}/`), 'gone'), 2, ACQUIRE_TIMEOUT_MS);
    svc = await startService('payment', paymentMigrations, buildPaymentApp, { pool, env: { DB_ACQUIRE_TIMEOUT_MS: String(ACQUIRE_TIMEOUT_MS) } });
  });
  afterAll(async () => {
    await svc?.close();
    await pool?.end();
  });

  test('an idempotent POST, a GET and /healthz all answer 503 + Retry-After', async () => {
    expectRetryLater(await svc.call('POST', '/charges', { key: newKey(), body: charge }));
    expectRetryLater(await svc.call('GET', '/charges/ch_nope'));
    expectRetryLater(await svc.call('GET', '/healthz', { token: null }));
  });
});

describe('a pool with no connection to spare', () => {
  let svc: RunningService;
  let pool: Pool;
  beforeAll(async () => {
    svc = await startService('payment', paymentMigrations, buildPaymentApp, { env: { DB_ACQUIRE_TIMEOUT_MS: String(ACQUIRE_TIMEOUT_MS) } });
    // The service's own tables, on a pool of one connection that the test can hold.
    pool = createPool(withDatabase(clusterUrl(), (await svc.pool.query('SELECT current_database() AS db')).rows[0].db), 1, ACQUIRE_TIMEOUT_MS);
    await svc.app.close();
    svc = await startService('payment', paymentMigrations, buildPaymentApp, { pool, env: { DB_ACQUIRE_TIMEOUT_MS: String(ACQUIRE_TIMEOUT_MS) } });
  });
  afterAll(async () => {
    await svc?.close();
    await pool?.end();
  });

  test('answers 503 + Retry-After while exhausted, and serves again once a connection is free', async () => {
    const held = await pool.connect();
    try {
      const key = newKey();
      expectRetryLater(await svc.call('POST', '/charges', { key, body: charge }));
      expectRetryLater(await svc.call('GET', '/charges/ch_nope'));
      expectRetryLater(await svc.call('GET', '/healthz', { token: null }));
    } finally {
      held.release();
    }
    const created = await svc.call('POST', '/charges', { key: newKey(), body: charge });
    expect(created.status).toBe(201);
    expect((await svc.call('GET', '/healthz', { token: null })).status).toBe(200);
  });
});
