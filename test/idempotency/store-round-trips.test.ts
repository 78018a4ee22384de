/**
 * The statements the plugin sends together in one round trip (src/platform/idempotency/store.ts):
 * the handler's transaction opened with the claim locked, and committed with the stored response.
 * They go as query text with literals, not parameters, so: a lost claim must commit nothing, and
 * any key, tenant and body (quotes, backslashes, non-ASCII) must come back exactly as sent.
 */
import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { idempotencyMigrations } from '../../src/platform/idempotency/plugin';
import * as store from '../../src/platform/idempotency/store';
import { buildWidgetApp, widgetMigrations } from '../fixtures/widget-app';
import { freshDatabase } from '../support/db';

let pool: Pool;
let app: FastifyInstance;
let base: string;
let seq = 0;

beforeAll(async () => {
  ({ pool } = await freshDatabase('idem_round_trips', [idempotencyMigrations, widgetMigrations]));
  app = await buildWidgetApp(pool);
  base = await app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await app.close();
  await pool.end();
});

async function claimed(key: string): Promise<string> {
  const result = await store.claim(pool, { tenant: 'default', key, fingerprint: 'f', leaseMs: 60_000, waitMs: 0 });
  if (result.kind !== 'claimed') throw new Error(`expected a claim, got ${result.kind}`);
  return result.owner;
}

const response = { status: 201, headers: { 'content-type': 'application/json' }, body: '{"ok":true}' };
const widgets = async (key: string) => Number((await pool.query('SELECT count(*) FROM widgets WHERE key = $1', [key])).rows[0].count);
const state = async (key: string) => (await pool.query('SELECT state FROM idempotency_keys WHERE key = $1', [key])).rows[0]?.state as string | undefined;

test('a claim lost before the commit: the completion raises and nothing of the transaction commits', async () => {
  const key = `lost-${seq++}`;
  const owner = await claimed(key);
  const tx = await pool.connect();
  try {
    expect(await store.beginWithClaimLocked(tx, 'default', key, owner)).toBe(true);
    await tx.query('INSERT INTO widgets (tenant, key, name) VALUES ($1, $2, $3)', ['default', key, 'effect']);
    // Not our owner: as if the claim had been taken over.
    await expect(store.completeAndCommit(tx, 'default', key, '00000000-0000-4000-8000-000000000000', response)).rejects.toMatchObject({
      code: store.CLAIM_LOST,
    });
    await tx.query('ROLLBACK');
  } finally {
    tx.release();
  }
  expect(await widgets(key)).toBe(0);
  expect(await state(key)).toBe('in_flight');
});

test('the claim row stays locked for the transaction: another session cannot change it until the commit', async () => {
  const key = `locked-${seq++}`;
  const owner = await claimed(key);
  const tx = await pool.connect();
  const other = await pool.connect();
  try {
    expect(await store.beginWithClaimLocked(tx, 'default', key, owner)).toBe(true);
    await other.query(`SET lock_timeout = '200ms'`);
    await expect(other.query(`UPDATE idempotency_keys SET owner = gen_random_uuid() WHERE key = $1`, [key])).rejects.toMatchObject({ code: '55P03' });
    await store.completeAndCommit(tx, 'default', key, owner, response);
  } finally {
    await other.query('RESET lock_timeout');
    other.release();
    tx.release();
  }
  expect(await state(key)).toBe('done');
});

test('a key, a body and a stored response with quotes, backslashes and non-ASCII text replay exactly', async () => {
  const key = `it's a \\ "key" ${seq++} \\' ; DROP TABLE widgets; --`;
  const name = `O'Brien \\ "x" é 😀 \\'; --`;
  const send = () =>
    fetch(`${base}/widgets`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify({ name }) });
  const first = await send();
  const firstBody = await first.text();
  expect(first.status).toBe(201);
  expect(JSON.parse(firstBody).name).toBe(name);
  const again = await send();
  expect(again.headers.get('idempotent-replayed')).toBe('true');
  expect(await again.text()).toBe(firstBody);
  expect(again.headers.get('location')).toBe(first.headers.get('location'));
  expect(await widgets(key)).toBe(1);
});

test('a business refusal is stored as the answer, and its replay is the same refusal', async () => {
  const key = `refused-${seq++}`;
  const send = () =>
    fetch(`${base}/widgets`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify({ name: 'n', mode: 'business' }) });
  const first = await send();
  expect(first.status).toBeGreaterThanOrEqual(400);
  expect(await state(key)).toBe('done');
  const again = await send();
  expect(again.status).toBe(first.status);
  expect(again.headers.get('idempotent-replayed')).toBe('true');
  expect(await widgets(key)).toBe(0);
});
