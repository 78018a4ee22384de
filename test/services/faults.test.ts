/**
 * Fault injection (docs/api.md#faults) on a real service: `before` fails with no effect and no claimed key;
 * `after` commits the effect and stores the answer, then loses the reply, so the retry
 * replays it; `delay` answers late with the effect already committed.
 */
import type { Pool } from 'pg';
import { idempotencyMigrations } from '../../src/platform/idempotency/plugin';
import { buildApp, migrations } from '../../src/services/payment/app';
import { freshDatabase } from '../support/db';
import { count, newKey, startService } from './support';

let pool: Pool;
beforeAll(async () => {
  ({ pool } = await freshDatabase('faults', [idempotencyMigrations, migrations]));
});
afterAll(async () => pool.end());

const body = { amount: 500, currency: 'EUR', paymentMethod: 'tok_visa', customerId: 'cus_f' };
const charges = (key: string) => count(pool, 'SELECT count(*) AS n FROM charges WHERE idempotency_key = $1', [key]);
const keyRecords = (key: string) => count(pool, 'SELECT count(*) AS n FROM idempotency_keys WHERE key = $1', [key]);

test('before → 503 injected-fault, no effect, key not claimed; other routes unaffected', async () => {
  const svc = await startService('payment', migrations, buildApp, { pool, env: { FAULTS: 'charge:before=1' } });
  try {
    const key = newKey();
    const res = await svc.call('POST', '/charges', { key, body });
    expect(res.status).toBe(503);
    expect(res.body.type).toMatch(/injected-fault$/);
    expect(await charges(key)).toBe(0);
    expect(await keyRecords(key)).toBe(0);
    expect((await svc.call('GET', '/charges/ch_x')).status).toBe(404);
  } finally {
    await svc.close();
  }
});

test('after → the connection drops with the charge committed; the retry replays it', async () => {
  const key = newKey();
  const faulty = await startService('payment', migrations, buildApp, { pool, env: { FAULTS: 'charge:after=1' } });
  try {
    await expect(faulty.call('POST', '/charges', { key, body })).rejects.toThrow();
    expect(await charges(key)).toBe(1);
  } finally {
    await faulty.close();
  }
  const healthy = await startService('payment', migrations, buildApp, { pool });
  try {
    const retry = await healthy.call('POST', '/charges', { key, body });
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await charges(key)).toBe(1);
  } finally {
    await healthy.close();
  }
});

test('delay → the answer comes late, the effect is already committed when it does', async () => {
  const svc = await startService('payment', migrations, buildApp, { pool, env: { FAULTS: 'charge:delay=800' } });
  try {
    const key = newKey();
    const started = Date.now();
    const pending = svc.call('POST', '/charges', { key, body });
    await new Promise((r) => setTimeout(r, 400));
    expect(await charges(key)).toBe(1);
    const res = await pending;
    expect(res.status).toBe(201);
    expect(Date.now() - started).toBeGreaterThanOrEqual(750);
  } finally {
    await svc.close();
  }
});

test('a malformed FAULTS spec stops the service from starting', async () => {
  await expect(startService('payment', migrations, buildApp, { pool, env: { FAULTS: 'charge:explode=1' } })).rejects.toThrow(/FAULTS/);
});
