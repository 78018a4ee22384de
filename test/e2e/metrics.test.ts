/**
 * The business series on the real stack (API, worker, payment, order, notification, mailbox),
 * read from each process's `/metrics` after known traffic: checkouts started, completed and
 * failed by code, compensation attempts (a refund that fails until the payment service is
 * restarted without its fault), idempotency outcomes at the API's record and at the services'
 * plugin, the outbox gauges and dead letters, and the worker's own Temporal SDK metrics on its
 * Prometheus endpoint. Last, every metric name docs/grafana-dashboard.json queries is one of the
 * names these endpoints export.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client as PgClient } from 'pg';
import { DEV_API_KEY, DEV_MERCHANT } from '../../src/platform/config';
import { chargeRequest } from '../../src/saga/requests';
import { startStack, type Stack } from '../../tools/dev/sandbox/stack';
import { sampleCheckoutInput, sampleCheckoutRequest } from '../../tools/support/samples';
import { apiCaller } from '../support/api-client';
import { eventually } from '../support/eventually';
import { dashboardExprs, metricNamesOf, scrape, total, value, type Sample } from '../support/prometheus';

let stack: Stack;
/** Every series name any endpoint exported during this file (the dashboard test reads it). */
const exported = new Set<string>();

beforeAll(async () => {
  stack = await startStack({
    // A bounced e-mail is dead-lettered after 3 quick attempts; the refund fails until payment restarts.
    env: { OUTBOX_MAX_ATTEMPTS: '3', OUTBOX_BACKOFF_BASE_MS: '100', OUTBOX_BACKOFF_MAX_MS: '200', LOG_LEVEL: 'warn' },
    envFor: { payment: { FAULTS: 'refund:before=1' } },
  });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

type Endpoint = 'api' | 'payment' | 'order' | 'notification' | 'worker';

async function metrics(endpoint: Endpoint): Promise<Sample[]> {
  const base = endpoint === 'worker' ? `http://127.0.0.1:${stack.config.ports.workerMetrics}` : stack.urls[endpoint];
  const samples = await scrape(`${base}/metrics`);
  for (const s of samples) exported.add(s.name);
  return samples;
}

const body = (over: Record<string, unknown> = {}) =>
  sampleCheckoutRequest({ email: `buyer-${randomBytes(3).toString('hex')}@example.com`, ...over });

const call = apiCaller(() => stack.urls.api, DEV_API_KEY);

async function checkout(payload: Record<string, unknown>, { key = `m-${randomBytes(6).toString('hex')}`, wait = true } = {}) {
  return { ...(await call('POST', '/checkouts', { key, body: payload, prefer: wait ? 'wait=30' : undefined })), key };
}

async function getCheckout(id: string): Promise<Record<string, any>> {
  const res = await fetch(`${stack.urls.api}/checkouts/${id}`, { headers: { authorization: `Bearer ${DEV_API_KEY}` } });
  return (await res.json()) as Record<string, any>;
}

/** A call to a service as the worker makes it. */
function service(base: string, route: string, key?: string, payload?: unknown) {
  return fetch(`${base}${route}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${stack.config.serviceToken}`,
      'x-tenant-id': DEV_MERCHANT,
      'content-type': 'application/json',
      ...(key ? { 'idempotency-key': key } : {}),
    },
    body: JSON.stringify(payload ?? {}),
  });
}

const compensations = (samples: Sample[], result: 'succeeded' | 'failed') =>
  total(samples, 'checkout_compensation_attempts_total', { compensation: 'charge.refund', result });

test('a refund that keeps failing counts failed compensation attempts, then one that succeeded; the checkout counts as failed: out-of-stock', async () => {
  const [api0, worker0] = [await metrics('api'), await metrics('worker')];

  const started = await checkout(body({ items: [{ sku: 'OUT-OF-STOCK', quantity: 1, unitAmount: 500 }] }), { wait: false });
  expect(started.status).toBe(202);
  // The payment service refuses every refund (503 before anything happens): rounds of two attempts fail.
  await eventually(async () => compensations(await metrics('worker'), 'failed') - compensations(worker0, 'failed') >= 2, 30_000);
  expect((await getCheckout(started.body.id)).compensationsFailing).toBe(true);

  await stack.restart('payment', { FAULTS: '' });
  const failed = await eventually(async () => {
    const c = await getCheckout(started.body.id);
    return c.status === 'failed' ? c : undefined;
  }, 30_000);
  expect(failed.failure.code).toBe('out-of-stock');

  // The outcome counts when the record takes it: once the run has closed (a query can show
  // `failed` a moment before), at the next read of the checkout or the outcome recorder's look.
  await eventually(async () => {
    await getCheckout(started.body.id);
    return total(await metrics('api'), 'checkout_failed_total', { code: 'out-of-stock' }) - total(api0, 'checkout_failed_total', { code: 'out-of-stock' }) === 1;
  }, 30_000);
  const [api1, worker1, payment1] = [await metrics('api'), await metrics('worker'), await metrics('payment')];
  expect(compensations(worker1, 'succeeded') - compensations(worker0, 'succeeded')).toBe(1);
  expect(compensations(worker1, 'failed') - compensations(worker0, 'failed')).toBeGreaterThanOrEqual(2);
  expect(total(api1, 'checkout_started_total') - total(api0, 'checkout_started_total')).toBe(1);
  expect(total(api1, 'checkout_failed_total', { code: 'out-of-stock' }) - total(api0, 'checkout_failed_total', { code: 'out-of-stock' })).toBe(1);
  expect(total(api1, 'checkout_completed_total') - total(api0, 'checkout_completed_total')).toBe(0);
  // The restarted payment service counted the refund that ran (the refused ones never reached a key).
  expect(total(payment1, 'idempotency_requests_total', { route: '/refunds', outcome: 'new' })).toBe(1);
}, 90_000);

test('completed, declined, replayed, mismatched and bounced checkouts and a fenced key move exactly their counters', async () => {
  const before = Object.fromEntries(
    await Promise.all((['api', 'payment', 'order', 'notification'] as const).map(async (e) => [e, await metrics(e)] as const)),
  ) as Record<Exclude<Endpoint, 'worker'>, Sample[]>;
  const delta = async (endpoint: Exclude<Endpoint, 'worker'>, name: string, labels: Record<string, string> = {}) =>
    total(await metrics(endpoint), name, labels) - total(before[endpoint], name, labels);

  const paid = body();
  const completed = await checkout(paid);
  expect(completed.status).toBe(201);
  const declined = await checkout(body({ paymentMethod: 'tok_chargeDeclined' }));
  expect(declined.body.failure.code).toBe('card-declined');
  const replay = await checkout(paid, { key: completed.key });
  expect(replay.status).toBe(201);
  expect(replay.headers.get('idempotent-replayed')).toBe('true');
  const mismatch = await checkout(body(), { key: completed.key });
  expect(mismatch.status).toBe(422);
  const bounced = await checkout(body({ email: `nobody-${randomBytes(3).toString('hex')}@bounce.test` }));
  expect(bounced.body.status).toBe('completed');
  // A lookup fences a key no request ran under; a late request under it is refused for good.
  const fencedKey = `m-fenced-${randomBytes(4).toString('hex')}`;
  expect((await service(stack.urls.payment, `/idempotency-keys/${fencedKey}/fence`)).status).toBe(410);
  expect((await service(stack.urls.payment, '/charges', fencedKey, chargeRequest(sampleCheckoutInput()))).status).toBe(410);

  // The API: each checkout once, by its outcome; its record's idempotency outcomes.
  expect(await delta('api', 'checkout_started_total')).toBe(3);
  expect(await delta('api', 'checkout_completed_total')).toBe(2);
  expect(await delta('api', 'checkout_failed_total', { code: 'card-declined' })).toBe(1);
  expect(await delta('api', 'checkout_failed_total')).toBe(1);
  expect(await delta('api', 'idempotency_requests_total', { route: '/checkouts', outcome: 'new' })).toBe(3);
  expect(await delta('api', 'idempotency_requests_total', { route: '/checkouts', outcome: 'replayed' })).toBe(1);
  expect(await delta('api', 'idempotency_requests_total', { route: '/checkouts', outcome: 'mismatched' })).toBe(1);
  // A GET of a recorded checkout counts nothing again.
  await getCheckout(completed.body.id);
  expect(await delta('api', 'checkout_completed_total')).toBe(2);

  // The services' plugin: one new key per call the saga made, the fenced key refused.
  expect(await delta('payment', 'idempotency_requests_total', { route: '/charges', outcome: 'new' })).toBe(3);
  expect(await delta('payment', 'idempotency_requests_total', { route: '/charges', outcome: 'fenced' })).toBe(1);
  expect(await delta('payment', 'idempotency_fence_lookups_total', { result: 'fenced' })).toBe(1);
  expect(await delta('order', 'idempotency_requests_total', { route: '/orders', outcome: 'new' })).toBe(2);
  expect(await delta('notification', 'idempotency_requests_total', { route: '/notifications', outcome: 'new' })).toBe(2);
  for (const e of ['payment', 'order', 'notification'] as const) {
    for (const outcome of ['replayed', 'mismatched', 'in_use', 'lease_taken_over']) {
      expect(await delta(e, 'idempotency_requests_total', { outcome })).toBe(0);
    }
  }

  // The bounced e-mail ends dead-lettered.
  await eventually(async () => (await delta('notification', 'outbox_dead_letter_messages')) === 1, 20_000);
}, 90_000);

test('the outbox gauges report the pending depth and the age of the oldest pending message', async () => {
  // Nothing left to send once the e-mails above went out or died.
  await eventually(async () => value(await metrics('notification'), 'outbox_pending_messages') === 0, 20_000);
  expect(value(await metrics('notification'), 'outbox_oldest_pending_age_seconds')).toBe(0);

  // A message that has waited two minutes and is not due for an hour: the dispatcher leaves it alone.
  const db = new PgClient({ connectionString: stack.config.databaseUrls.notification });
  await db.connect();
  try {
    const id = `ntf_metrics_${randomBytes(4).toString('hex')}`;
    await db.query(
      `INSERT INTO notifications (id, tenant, idempotency_key, message_id, to_address, template, data, status, next_attempt_at, created_at)
       VALUES ($1, $2, $1, $1 || '@metrics.test', 'late@example.com', 'order-confirmation', '{}', 'pending', now() + interval '1 hour', now() - interval '120 seconds')`,
      [id, DEV_MERCHANT],
    );
    const samples = await metrics('notification');
    expect(value(samples, 'outbox_pending_messages')).toBe(1);
    expect(value(samples, 'outbox_oldest_pending_age_seconds')).toBeGreaterThanOrEqual(120);
    expect(value(samples, 'outbox_oldest_pending_age_seconds')).toBeLessThan(180);
    await db.query('DELETE FROM notifications WHERE id = $1', [id]);
    expect(value(await metrics('notification'), 'outbox_pending_messages')).toBe(0);
  } finally {
    await db.end();
  }
});

test("the worker's Prometheus endpoint carries the Temporal SDK's task latencies and slots", async () => {
  const samples = await metrics('worker');
  expect(total(samples, 'temporal_workflow_task_execution_latency_seconds_count')).toBeGreaterThan(0);
  expect(total(samples, 'temporal_activity_execution_latency_seconds_count')).toBeGreaterThan(0);
  expect(total(samples, 'temporal_workflow_task_schedule_to_start_latency_seconds_count')).toBeGreaterThan(0);
  expect(samples.some((s) => s.name === 'temporal_worker_task_slots_available' && s.labels.worker_type === 'WorkflowWorker')).toBe(true);
  expect(samples.some((s) => s.name === 'temporal_worker_task_slots_used')).toBe(true);
  // Tagged with the stack's own task queue, so a dashboard can tell workers of several queues apart.
  expect(samples.some((s) => s.labels.task_queue === stack.env.TEMPORAL_TASK_QUEUE)).toBe(true);
});

test('every metric name docs/grafana-dashboard.json queries is one the system exports', async () => {
  for (const e of ['api', 'payment', 'order', 'notification', 'worker'] as const) await metrics(e);
  const dashboard = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'grafana-dashboard.json'), 'utf8'));
  const queried = new Set(dashboardExprs(dashboard).flatMap(({ expr }) => metricNamesOf(expr)));
  expect(queried.size).toBeGreaterThan(10);
  expect([...queried].filter((name) => !exported.has(name))).toEqual([]);
});
