/**
 * `idempotency_requests_total{route, outcome}` and `idempotency_fence_lookups_total{result}` as
 * the plugin counts them, on a real Postgres over real HTTP: one request per outcome, including
 * the two the end-to-end traffic never produces (a key in use past the wait, a lease taken over).
 */
import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { requestFingerprint } from '../../src/platform/idempotency/fingerprint';
import { idempotencyMigrations } from '../../src/platform/idempotency/plugin';
import { freshDatabase } from '../support/db';
import { parseExposition, total } from '../support/prometheus';
import { buildWidgetApp, widgetMigrations } from '../fixtures/widget-app';

let pool: Pool;
let app: FastifyInstance;
let base: string;
let seq = 0;
const newKey = () => `metrics-${process.pid}-${Date.now()}-${seq++}`;

beforeAll(async () => {
  ({ pool } = await freshDatabase('idem_metrics', [idempotencyMigrations, widgetMigrations]));
  app = await buildWidgetApp(pool, { leaseMs: 5_000, waitMs: 200, tenantOf: () => 'default', fenceRoute: true }, { metricsService: 'widgets' });
  base = await app.listen({ port: 0, host: '127.0.0.1' });
});

afterAll(async () => {
  await app?.close();
  await pool?.end();
});

const post = (key: string, body: unknown) =>
  fetch(`${base}/widgets`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify(body) });
const fence = (key: string) => fetch(`${base}/idempotency-keys/${key}/fence`, { method: 'POST' });

async function counts() {
  const samples = parseExposition(await (await fetch(`${base}/metrics`)).text());
  const outcome = (o: string) => total(samples, 'idempotency_requests_total', { route: '/widgets', outcome: o, service: 'widgets' });
  const lookup = (r: string) => total(samples, 'idempotency_fence_lookups_total', { result: r });
  return {
    new: outcome('new'),
    replayed: outcome('replayed'),
    mismatched: outcome('mismatched'),
    in_use: outcome('in_use'),
    lease_taken_over: outcome('lease_taken_over'),
    fenced: outcome('fenced'),
    lookupCompleted: lookup('completed'),
    lookupFenced: lookup('fenced'),
    lookupInUse: lookup('in_use'),
  };
}

test('each outcome of a key is counted once, under the route', async () => {
  const before = await counts();

  const key = newKey();
  expect((await post(key, { name: 'a' })).status).toBe(201); // new
  expect((await post(key, { name: 'a' })).status).toBe(201); // replayed
  expect((await post(key, { name: 'b' })).status).toBe(422); // mismatched

  // In flight past the 200 ms wait: 409.
  const slow = newKey();
  const original = post(slow, { name: 'slow', mode: 'slow', delayMs: 1_000 });
  await new Promise((r) => setTimeout(r, 100));
  expect((await post(slow, { name: 'slow', mode: 'slow', delayMs: 1_000 })).status).toBe(409); // in_use
  expect((await original).status).toBe(201); // new

  // What a SIGKILLed holder leaves: an expired lease and no transaction. The next request takes it over.
  const crashed = newKey();
  await pool.query(
    `INSERT INTO idempotency_keys (tenant, key, fingerprint, state, owner, lease_expires_at)
     VALUES ('default', $1, $2, 'in_flight', gen_random_uuid(), now() - interval '1 second')`,
    [crashed, requestFingerprint('POST', '/widgets', { name: 'crashed' })],
  );
  expect((await post(crashed, { name: 'crashed' })).status).toBe(201); // lease_taken_over

  // A lookup of a key that finished replays it; of one that never ran, fences it; a late request is refused.
  expect((await fence(key)).status).toBe(201);
  const never = newKey();
  expect((await fence(never)).status).toBe(410);
  expect((await post(never, { name: 'late' })).status).toBe(410); // fenced

  const after = await counts();
  const delta = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k as keyof typeof before]]));
  expect(delta).toEqual({
    new: 2,
    replayed: 1,
    mismatched: 1,
    in_use: 1,
    lease_taken_over: 1,
    fenced: 1,
    lookupCompleted: 1,
    lookupFenced: 1,
    lookupInUse: 0,
  });
});

test('a request the plugin refuses before the key decides (no key, a bad body) counts no outcome', async () => {
  const before = await counts();
  expect((await fetch(`${base}/widgets`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"x"}' })).status).toBe(400);
  expect((await post(newKey(), { name: 'x', extra: true })).status).toBe(400);
  expect(await counts()).toEqual(before);
});
