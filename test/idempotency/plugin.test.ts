/**
 * The idempotency plugin against real Postgres over real HTTP: one test per row of docs/api.md#idempotency (at the services),
 * then the concurrency and isolation properties the issue names.
 */
import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { requestFingerprint } from '../../src/platform/idempotency/fingerprint';
import { idempotencyMigrations, purgeExpired } from '../../src/platform/idempotency/plugin';
import { freshDatabase } from '../support/db';
import { buildWidgetApp, widgetMigrations } from '../fixtures/widget-app';

let pool: Pool;
let app: FastifyInstance;
let base: string;
let seq = 0;

const newKey = () => `key-${process.pid}-${Date.now()}-${seq++}`;

async function post(key: string | undefined, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}/widgets`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key === undefined ? {} : { 'idempotency-key': key }), ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

const widgetCount = async (key: string, tenant = 'default') =>
  Number((await pool.query('SELECT count(*) FROM widgets WHERE key = $1 AND tenant = $2', [key, tenant])).rows[0].count);
const record = async (key: string) =>
  (await pool.query('SELECT * FROM idempotency_keys WHERE key = $1', [key])).rows[0] as Record<string, unknown> | undefined;

beforeAll(async () => {
  ({ pool } = await freshDatabase('idem', [idempotencyMigrations, widgetMigrations]));
  app = await buildWidgetApp(pool, { waitMs: 3_000, leaseMs: 2_000 });
  base = await app.listen({ port: 0, host: '127.0.0.1' });
});
afterAll(async () => {
  await app.close();
  await pool.end();
});

describe('docs/api.md#idempotency at the services, row by row', () => {
  test('no key → 400 problem, nothing stored', async () => {
    const res = await post(undefined, { name: 'a' });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(JSON.parse(res.text).type).toMatch(/idempotency-key-missing$/);
    expect(Number((await pool.query('SELECT count(*) FROM idempotency_keys')).rows[0].count)).toBe(0);
  });

  test('malformed key → 400; bad body → 400 and no record', async () => {
    expect((await post('x'.repeat(256), { name: 'a' })).status).toBe(400);
    expect((await post('tab\there', { name: 'a' })).status).toBe(400);
    const key = newKey();
    const res = await post(key, { name: 'a', extra: 1 });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text).type).toMatch(/validation-error$/);
    expect(await record(key)).toBeUndefined();
  });

  test('new key → handler runs; its effect and the stored response commit together', async () => {
    const key = newKey();
    const res = await post(key, { name: 'first' });
    expect(res.status).toBe(201);
    expect(res.headers.get('idempotent-replayed')).toBeNull();
    expect(await widgetCount(key)).toBe(1);
    const rec = await record(key);
    expect(rec).toMatchObject({ state: 'done', response_status: 201, owner: null });
    expect(JSON.parse(rec!.response_body as string)).toEqual(JSON.parse(res.text));
  });

  test('key done, same fingerprint → replay of status, body and allowed headers; JSON key order ignored', async () => {
    const key = newKey();
    const first = await post(key, '{"name":"w","mode":"ok"}');
    const again = await post(key, '{"mode":"ok","name":"w"}');
    expect(again.status).toBe(201);
    expect(again.text).toBe(first.text);
    expect(again.headers.get('location')).toBe(first.headers.get('location'));
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await widgetCount(key)).toBe(1);
  });

  test('key done, different fingerprint → 422, record untouched; the original still replays', async () => {
    const key = newKey();
    const first = await post(key, { name: 'original' });
    const before = await record(key);
    const mismatch = await post(key, { name: 'changed' });
    expect(mismatch.status).toBe(422);
    expect(JSON.parse(mismatch.text).type).toMatch(/idempotency-key-reused$/);
    expect(await record(key)).toEqual(before);
    const original = await post(key, { name: 'original' });
    expect(original.status).toBe(201);
    expect(original.text).toBe(first.text);
    expect(await widgetCount(key)).toBe(1);
  });

  test('key in flight → a duplicate waits for it, then replays', async () => {
    const key = newKey();
    const body = { name: 'slow', mode: 'slow', delayMs: 400 };
    const [a, b] = await Promise.all([post(key, body), new Promise((r) => setTimeout(r, 50)).then(() => post(key, body))]);
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect(b.text).toBe(a.text);
    expect(b.headers.get('idempotent-replayed')).toBe('true');
    expect(await widgetCount(key)).toBe(1);
  });

  test('key in flight past the wait bound → 409 with Retry-After, and the original completes', async () => {
    const key = newKey();
    const body = { name: 'slower', mode: 'slow', delayMs: 1_500 };
    const shortWait = await buildWidgetApp(pool, { waitMs: 200 });
    const shortBase = await shortWait.listen({ port: 0, host: '127.0.0.1' });
    try {
      const original = post(key, body);
      await new Promise((r) => setTimeout(r, 100));
      const res = await fetch(`${shortBase}/widgets`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify(body),
      });
      expect(res.status).toBe(409);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(((await res.json()) as { type: string }).type).toMatch(/idempotency-key-in-use$/);
      expect((await original).status).toBe(201);
      expect(await widgetCount(key)).toBe(1);
    } finally {
      await shortWait.close();
    }
  });

  test('holder crashed (lease expired, no live transaction) → the next request takes over, effect once', async () => {
    const key = newKey();
    // What a SIGKILLed holder leaves behind: a claim whose lease ran out and no transaction.
    await pool.query(
      `INSERT INTO idempotency_keys (tenant, key, fingerprint, state, owner, lease_expires_at)
       VALUES ('default', $1, $2, 'in_flight', gen_random_uuid(), now() - interval '1 second')`,
      [key, requestFingerprint('POST', '/widgets', { name: 'crashed' })],
    );
    const res = await post(key, { name: 'crashed' });
    expect(res.status).toBe(201);
    expect(await widgetCount(key)).toBe(1);
    expect((await post(key, { name: 'crashed' })).headers.get('idempotent-replayed')).toBe('true');
  });

  test('business error (4xx) → stored and replayed like a success; the handler wrote nothing', async () => {
    const key = newKey();
    const first = await post(key, { name: 'declined', mode: 'business' });
    expect(first.status).toBe(402);
    expect(first.headers.get('content-type')).toMatch(/problem\+json/);
    const again = await post(key, { name: 'declined', mode: 'business' });
    expect(again.status).toBe(402);
    expect(again.text).toBe(first.text);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('content-type')).toMatch(/problem\+json/);
    expect(await widgetCount(key)).toBe(0);
  });

  test('a 400 raised by the handler is not stored: a corrected retry under the same key runs', async () => {
    const key = newKey();
    expect((await post(key, { name: 'bad', mode: 'invalid' })).status).toBe(400);
    expect(await record(key)).toBeUndefined();
    expect((await post(key, { name: 'bad' })).status).toBe(201);
  });

  test('transient failure (5xx) → nothing stored, nothing took effect; a retry runs again', async () => {
    const key = newKey();
    const failed = await post(key, { name: 'flaky', mode: 'write-then-transient' });
    expect(failed.status).toBe(500);
    expect(await record(key)).toBeUndefined();
    expect(await widgetCount(key)).toBe(0);
    // The client retries the same request; the handler runs again (it fails again here).
    expect((await post(key, { name: 'flaky', mode: 'write-then-transient' })).status).toBe(500);
    expect(await record(key)).toBeUndefined();
    const otherKey = newKey();
    expect((await post(otherKey, { name: 'flaky', mode: 'transient' })).status).toBe(500);
    expect(await record(otherKey)).toBeUndefined();
  });

  test('key older than the retention → purged; the key is new again', async () => {
    const key = newKey();
    await post(key, { name: 'old' });
    await pool.query(`UPDATE idempotency_keys SET created_at = now() - interval '2 days' WHERE key = $1`, [key]);
    expect(await purgeExpired(pool, 24 * 3600_000)).toBeGreaterThanOrEqual(1);
    expect(await record(key)).toBeUndefined();
    const res = await post(key, { name: 'old' });
    expect(res.status).toBe(201);
    expect(res.headers.get('idempotent-replayed')).toBeNull();
    expect(await widgetCount(key)).toBe(2);
  });
});

describe('replays', () => {
  test('a replay whose answer is delayed never runs the handler (and a caller giving up is harmless)', async () => {
    const slowSend = await buildWidgetApp(pool, {}, { sendDelayMs: 300 });
    const slowBase = await slowSend.listen({ port: 0, host: '127.0.0.1' });
    const send = (signal?: AbortSignal) =>
      fetch(`${slowBase}/widgets`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ name: 'delayed' }),
        signal,
      });
    const key = newKey();
    try {
      expect((await send()).status).toBe(201);
      await expect(send(AbortSignal.timeout(100))).rejects.toThrow();
      const replayed = await send();
      expect(replayed.headers.get('idempotent-replayed')).toBe('true');
      await new Promise((r) => setTimeout(r, 400));
      expect(await widgetCount(key)).toBe(1);
    } finally {
      await slowSend.close();
    }
  });
});

describe('concurrency and isolation', () => {
  test('50 concurrent identical requests → one effect and 50 identical responses', async () => {
    const key = newKey();
    const body = { name: 'burst', mode: 'slow', delayMs: 200 };
    const results = await Promise.all(Array.from({ length: 50 }, () => post(key, body)));
    expect(await widgetCount(key)).toBe(1);
    expect(new Set(results.map((r) => `${r.status} ${r.text}`)).size).toBe(1);
    expect(results[0]!.status).toBe(201);
    expect(results.filter((r) => r.headers.get('idempotent-replayed') === 'true')).toHaveLength(49);
  });

  test('the same key from two tenants → two independent effects', async () => {
    const key = newKey();
    const a = await post(key, { name: 'shared' }, { 'x-tenant-id': 'tenant_a' });
    const b = await post(key, { name: 'shared' }, { 'x-tenant-id': 'tenant_b' });
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(b.headers.get('idempotent-replayed')).toBeNull();
    expect(JSON.parse(a.text).id).not.toBe(JSON.parse(b.text).id);
    expect(await widgetCount(key, 'tenant_a')).toBe(1);
    expect(await widgetCount(key, 'tenant_b')).toBe(1);
  });
});

describe('hostile input is a 400, never a 500 (a caller retries 500s forever)', () => {
  test.each([
    ['nested 10,000 deep', `{"name":"a","mode":${'['.repeat(10_000)}${']'.repeat(10_000)}}`, /nested deeper/],
    ['a NUL character', '{"name":"a\\u0000b"}', /NUL/],
    ['an integer beyond 2^53', '{"name":"a","delayMs":9007199254740993}', /exactly/],
  ])('%s → 400 problem+json, no record', async (_what, body, detail) => {
    const key = newKey();
    const res = await post(key, body);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(JSON.parse(res.text)).toMatchObject({ type: expect.stringMatching(/validation-error$/), detail: expect.stringMatching(detail) });
    expect(await record(key)).toBeUndefined();
  });

  test('a value the database refuses (SQLSTATE 22xxx) → 400, nothing stored; a corrected retry runs', async () => {
    const key = newKey();
    const refused = await post(key, { name: 'not-a-number', mode: 'db-refuses' });
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.text).type).toMatch(/validation-error$/);
    expect(await widgetCount(key)).toBe(0);
    expect(await record(key)).toBeUndefined();
    expect((await post(key, { name: '42', mode: 'db-refuses' })).status).toBe(201);
  });

  test('the same request through a percent-encoded path is a replay, not a 422', async () => {
    const key = newKey();
    expect((await post(key, { name: 'p' })).status).toBe(201);
    const res = await fetch(`${base}/%77idgets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify({ name: 'p' }),
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('idempotent-replayed')).toBe('true');
    expect(await widgetCount(key)).toBe(1);
  });
});
