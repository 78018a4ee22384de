/**
 * `POST /idempotency-keys/{key}/fence` (the plugin's lookup for a caller who lost an answer),
 * against real Postgres over real HTTP: it returns what a finished key stored, closes a key that
 * never ran so a late original is refused and never executed, waits for one in flight, and
 * races an original for the same key with exactly one winner.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { idempotencyMigrations } from '../../src/platform/idempotency/plugin';
import { freshDatabase } from '../support/db';
import { buildWidgetApp, widgetMigrations } from '../fixtures/widget-app';

let pool: Pool;
let app: FastifyInstance;
let base: string;
let seq = 0;

const newKey = () => `chk_${process.pid}${Date.now()}${seq++}:charge`;

async function post(path: string, key?: string, body?: unknown, tenant = 'default') {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: {
      'x-tenant-id': tenant,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(key === undefined ? {} : { 'idempotency-key': key }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, type: text.startsWith('{') ? (JSON.parse(text).type as string | undefined) : undefined };
}

const original = (key: string, body: Record<string, unknown> = { name: 'w' }, tenant?: string) => post('/widgets', key, body, tenant);
const fence = (key: string, tenant?: string) => post(`/idempotency-keys/${encodeURIComponent(key)}/fence`, undefined, undefined, tenant);
const widgets = async (key: string) => Number((await pool.query('SELECT count(*) FROM widgets WHERE key = $1', [key])).rows[0].count);
const stateOf = async (key: string) =>
  (await pool.query<{ state: string }>('SELECT state FROM idempotency_keys WHERE key = $1', [key])).rows[0]?.state;

beforeAll(async () => {
  ({ pool } = await freshDatabase('fence', [idempotencyMigrations, widgetMigrations]));
  app = await buildWidgetApp(pool, { waitMs: 3_000, leaseMs: 2_000, fenceRoute: true });
  base = await app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await app.close();
  await pool.end();
});

test('a completed key → its stored response, replayed; nothing runs again', async () => {
  const key = newKey();
  const first = await original(key);
  expect(first.status).toBe(201);
  const looked = await fence(key);
  expect(looked.status).toBe(201);
  expect(looked.text).toBe(first.text);
  expect(looked.headers.get('location')).toBe(first.headers.get('location'));
  expect(looked.headers.get('idempotent-replayed')).toBe('true');
  expect(await widgets(key)).toBe(1);
  expect(await stateOf(key)).toBe('done');
});

test('a stored business refusal → the same refusal (nothing was done)', async () => {
  const key = newKey();
  const first = await original(key, { name: 'w', mode: 'business' });
  expect(first.status).toBe(402);
  const looked = await fence(key);
  expect(looked.status).toBe(402);
  expect(looked.text).toBe(first.text);
});

test('a key that never ran → 410 fenced; the late original is refused with the same 410 and never executed', async () => {
  const key = newKey();
  const looked = await fence(key);
  expect(looked.status).toBe(410);
  expect(looked.headers.get('content-type')).toMatch(/application\/problem\+json/);
  expect(looked.type).toMatch(/\/idempotency-key-fenced$/);
  expect(await stateOf(key)).toBe('fenced');

  const late = await original(key);
  expect(late.status).toBe(410);
  expect(late.type).toMatch(/\/idempotency-key-fenced$/);
  // A different body under the key is refused the same way: the key is closed, whatever comes.
  expect((await original(key, { name: 'other' })).status).toBe(410);
  expect(await widgets(key)).toBe(0);
  // The lookup itself is repeatable.
  expect((await fence(key)).status).toBe(410);
  expect(await stateOf(key)).toBe('fenced');
});

test('a key in flight → the lookup waits for the original and returns its answer', async () => {
  const key = newKey();
  const slow = original(key, { name: 'slow', mode: 'slow', delayMs: 500 });
  await new Promise((r) => setTimeout(r, 100));
  const looked = await fence(key);
  const done = await slow;
  expect(done.status).toBe(201);
  expect(looked.status).toBe(201);
  expect(looked.text).toBe(done.text);
  expect(await widgets(key)).toBe(1);
});

test('an original that fails transiently leaves no record; the lookup then fences the key', async () => {
  const key = newKey();
  expect((await original(key, { name: 'w', mode: 'transient' })).status).toBe(500);
  expect((await fence(key)).status).toBe(410);
  expect((await original(key)).status).toBe(410);
  expect(await widgets(key)).toBe(0);
});

test('a holder that crashed (lease expired, no live transaction) is fenced; an alive one past its lease is not', async () => {
  const crashed = newKey();
  await pool.query(
    `INSERT INTO idempotency_keys (tenant, key, fingerprint, state, owner, lease_expires_at)
     VALUES ('default', $1, 'x', 'in_flight', gen_random_uuid(), now() - interval '1 second')`,
    [crashed],
  );
  expect((await fence(crashed)).status).toBe(410);
  expect(await stateOf(crashed)).toBe('fenced');

  // Alive but slower than its 2 s lease: it holds the row lock, so the lookup waits for it.
  const alive = newKey();
  const slow = original(alive, { name: 'slow', mode: 'slow', delayMs: 2_500 });
  await new Promise((r) => setTimeout(r, 2_200));
  const looked = await fence(alive);
  expect((await slow).status).toBe(201);
  expect(looked.status).toBe(201);
  expect(await widgets(alive)).toBe(1);
});

test('tenant-scoped: a lookup under another tenant neither sees nor closes the key', async () => {
  const key = newKey();
  const first = await original(key, { name: 'w' }, 'merchant_a');
  expect((await fence(key, 'merchant_b')).status).toBe(410);
  const looked = await fence(key, 'merchant_a');
  expect(looked.status).toBe(201);
  expect(looked.text).toBe(first.text);
});

test('a malformed key → 400, nothing recorded', async () => {
  const res = await post(`/idempotency-keys/${encodeURIComponent('tab\there')}/fence`);
  expect(res.status).toBe(400);
  expect(res.type).toMatch(/\/idempotency-key-invalid$/);
  expect(await stateOf('tab\there')).toBeUndefined();
});

test('lookup racing the original, 42 keys: exactly one wins each time, never both an effect and a tombstone', async () => {
  const keys = Array.from({ length: 42 }, newKey);
  const results = await Promise.all(
    keys.map(async (key, i) => {
      // Staggered from the original 10 ms ahead to the lookup 10 ms ahead, so that both sides
      // win some and the middle ones really race. (Which side wins each is up to the machine;
      // the two orders are each proven deterministically by the tests above.)
      const lead = (i % 21) - 10;
      const [o, f] = await Promise.all([
        sleep(Math.max(0, lead)).then(() => original(key)),
        sleep(Math.max(0, -lead)).then(() => fence(key)),
      ]);
      return { key, original: o, fence: f, widgets: await widgets(key) };
    }),
  );
  for (const r of results) {
    if (r.original.status === 201) {
      // The original won: the lookup saw it (waiting if it was in flight) and returns its answer.
      expect(r.fence.status).toBe(201);
      expect(r.fence.text).toBe(r.original.text);
      expect(r.widgets).toBe(1);
    } else {
      // The lookup won: the original was refused and did nothing.
      expect(r.original.status).toBe(410);
      expect(r.fence.status).toBe(410);
      expect(r.widgets).toBe(0);
    }
  }
});
