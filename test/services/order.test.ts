/**
 * The order service over real HTTP and real Postgres: atomic stock reservation, the
 * out-of-stock trigger (docs/api.md#test-triggers), cancellation releasing stock exactly once, no oversell under contention.
 */
import { buildApp, migrations } from '../../src/services/order/app';
import { count, newKey, startService, type RunningService } from './support';

let svc: RunningService;

beforeAll(async () => {
  svc = await startService('order', migrations, buildApp);
});
afterAll(async () => svc.close());

const stock = async (sku: string) => Number((await svc.pool.query('SELECT available FROM stock WHERE sku = $1', [sku])).rows[0].available);
const setStock = (sku: string, n: number) => svc.pool.query('UPDATE stock SET available = $2 WHERE sku = $1', [sku, n]);
const orderBody = (items: { sku: string; quantity: number; unitAmount?: number }[]) => ({
  customerId: 'cus_1',
  chargeId: 'ch_1',
  items: items.map((i) => ({ unitAmount: 1999, ...i })),
});
const place = (body: unknown, key = newKey('order')) => svc.call('POST', '/orders', { key, body });

test('an order reserves its stock and records tenant and key; GET shows it', async () => {
  const [s1, s2] = [await stock('SKU-1'), await stock('SKU-2')];
  const key = newKey('order');
  const res = await place(orderBody([{ sku: 'SKU-2', quantity: 1, unitAmount: 500 }, { sku: 'SKU-1', quantity: 2 }]), key);
  expect(res.status).toBe(201);
  expect(res.body).toMatchObject({ status: 'created', customerId: 'cus_1', chargeId: 'ch_1', amount: 2 * 1999 + 500, cancelledAt: null });
  expect(res.body.items).toEqual([
    { sku: 'SKU-1', quantity: 2, unitAmount: 1999 },
    { sku: 'SKU-2', quantity: 1, unitAmount: 500 },
  ]);
  expect([await stock('SKU-1'), await stock('SKU-2')]).toEqual([s1 - 2, s2 - 1]);
  const row = (await svc.pool.query('SELECT tenant, idempotency_key FROM orders WHERE id = $1', [res.body.id])).rows[0];
  expect(row).toEqual({ tenant: 'default', idempotency_key: key });
  expect((await svc.call('GET', `/orders/${res.body.id}`)).body).toEqual(res.body);
  expect((await svc.call('GET', '/orders/ord_nope')).status).toBe(404);
});

test.each([
  ['the OUT-OF-STOCK sku', [{ sku: 'SKU-1', quantity: 1 }, { sku: 'OUT-OF-STOCK', quantity: 1 }]],
  ['a quantity above stock', [{ sku: 'SKU-1', quantity: 1 }, { sku: 'SKU-LOW', quantity: 999 }]],
  ['an unknown sku', [{ sku: 'SKU-1', quantity: 1 }, { sku: 'NO-SUCH-SKU', quantity: 1 }]],
])('%s → 409 out-of-stock; nothing reserved, no order', async (_name, items) => {
  const before = await stock('SKU-1');
  const key = newKey('order');
  const res = await place(orderBody(items), key);
  expect(res.status).toBe(409);
  expect(res.body.type).toMatch(/out-of-stock$/);
  expect(await stock('SKU-1')).toBe(before);
  expect(await count(svc.pool, 'SELECT count(*) AS n FROM orders WHERE idempotency_key = $1', [key])).toBe(0);
});

test('invalid bodies → 400: no items, duplicate sku, zero quantity, extra property', async () => {
  for (const body of [
    orderBody([]),
    orderBody([{ sku: 'SKU-1', quantity: 1 }, { sku: 'SKU-1', quantity: 2 }]),
    orderBody([{ sku: 'SKU-1', quantity: 0 }]),
    { ...orderBody([{ sku: 'SKU-1', quantity: 1 }]), note: 'x' },
  ]) {
    const res = await place(body);
    expect(res.status).toBe(400);
    expect(res.body.type).toMatch(/validation-error$/);
  }
});

test('cancel releases stock once: a second cancel (any key) returns the cancelled order', async () => {
  const before = await stock('SKU-3');
  const { body: order } = await place(orderBody([{ sku: 'SKU-3', quantity: 4 }]));
  expect(await stock('SKU-3')).toBe(before - 4);

  const cancelKey = newKey('order.cancel');
  const cancelled = await svc.call('POST', `/orders/${order.id}/cancel`, { key: cancelKey, body: {} });
  expect(cancelled.status).toBe(200);
  expect(cancelled.body).toMatchObject({ id: order.id, status: 'cancelled', cancelledAt: expect.any(String) });
  expect(await stock('SKU-3')).toBe(before);

  const replay = await svc.call('POST', `/orders/${order.id}/cancel`, { key: cancelKey, body: {} });
  expect(replay.headers.get('idempotent-replayed')).toBe('true');
  const other = await svc.call('POST', `/orders/${order.id}/cancel`, { key: newKey('order.cancel') });
  expect(other.status).toBe(200);
  expect(other.body.status).toBe('cancelled');
  expect(await stock('SKU-3')).toBe(before);
  const row = (await svc.pool.query('SELECT tenant, idempotency_key FROM order_cancellations WHERE order_id = $1', [order.id])).rows;
  expect(row).toEqual([{ tenant: 'default', idempotency_key: cancelKey }]);
});

test('concurrent cancels under different keys release stock once', async () => {
  const before = await stock('SKU-4');
  const { body: order } = await place(orderBody([{ sku: 'SKU-4', quantity: 3 }]));
  const results = await Promise.all(
    Array.from({ length: 8 }, () => svc.call('POST', `/orders/${order.id}/cancel`, { key: newKey('order.cancel'), body: {} })),
  );
  expect(results.every((r) => r.status === 200 && r.body.status === 'cancelled')).toBe(true);
  expect(await stock('SKU-4')).toBe(before);
  expect(await count(svc.pool, 'SELECT count(*) AS n FROM order_cancellations WHERE order_id = $1', [order.id])).toBe(1);
});

test('cancelling an unknown order → 404', async () => {
  expect((await svc.call('POST', '/orders/ord_nope/cancel', { key: newKey('order.cancel'), body: {} })).status).toBe(404);
});

test('concurrent reservations never oversell: 20 orders of 1 on a stock of 7 → 7 succeed', async () => {
  await setStock('SKU-LOW', 7);
  const results = await Promise.all(Array.from({ length: 20 }, () => place(orderBody([{ sku: 'SKU-LOW', quantity: 1 }]))));
  expect(results.filter((r) => r.status === 201)).toHaveLength(7);
  expect(results.filter((r) => r.status === 409)).toHaveLength(13);
  expect(await stock('SKU-LOW')).toBe(0);
});

test('orders sharing SKUs in opposite orders do not deadlock', async () => {
  const results = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      place(orderBody(i % 2 ? [{ sku: 'SKU-1', quantity: 1 }, { sku: 'SKU-5', quantity: 1 }] : [{ sku: 'SKU-5', quantity: 1 }, { sku: 'SKU-1', quantity: 1 }])),
    ),
  );
  expect(results.map((r) => r.status)).toEqual(Array(10).fill(201));
});
