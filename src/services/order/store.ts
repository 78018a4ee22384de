/**
 * Order data access. Writes take the idempotent request's context (its transaction, tenant and
 * key); reads are scoped to the tenant.
 *
 * Stock rows are always touched in SKU order, by reservations and releases alike, so two
 * orders sharing SKUs queue on the same first row instead of deadlocking.
 */
import type { Pool, PoolClient } from 'pg';
import { Problem } from '../../platform/http/problem';
import { newId } from '../../platform/ids';
import type { IdempotencyContext } from '../../platform/idempotency/types';
import type { Order, OrderItem, OrderRequest } from './contract';

interface OrderRow {
  id: string;
  status: Order['status'];
  customer_id: string;
  charge_id: string;
  amount: string;
  created_at: Date;
  cancelled_at: Date | null;
}

const bySku = (a: OrderItem, b: OrderItem) => (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0);

/**
 * Reserves every item with one conditional decrement each; the first that cannot be met
 * throws 409 and the plugin rolls back the decrements already made. A SKU we do not sell
 * has no stock either, so it is refused the same way (one business outcome for the saga: refund).
 */
async function reserve(tx: PoolClient, items: OrderItem[]): Promise<void> {
  for (const { sku, quantity } of [...items].sort(bySku)) {
    const { rowCount } = await tx.query('UPDATE stock SET available = available - $2 WHERE sku = $1 AND available >= $2', [
      sku,
      quantity,
    ]);
    if (!rowCount) throw new Problem('out-of-stock', `Not enough stock for ${sku}`, { sku });
  }
}

async function release(tx: PoolClient, items: OrderItem[]): Promise<void> {
  for (const { sku, quantity } of [...items].sort(bySku)) {
    await tx.query('UPDATE stock SET available = available + $2 WHERE sku = $1', [sku, quantity]);
  }
}

export async function placeOrder(
  { tx, tenant, key }: IdempotencyContext,
  o: OrderRequest,
): Promise<Order> {
  await reserve(tx, o.items);
  const amount = o.items.reduce((sum, i) => sum + i.quantity * i.unitAmount, 0);
  const id = newId('ord');
  await tx.query(
    `INSERT INTO orders (id, tenant, idempotency_key, customer_id, charge_id, amount, status)
     VALUES ($1, $2, $3, $4, $5, $6, 'created')`,
    [id, tenant, key, o.customerId, o.chargeId, amount],
  );
  await tx.query(
    `INSERT INTO order_items (order_id, sku, quantity, unit_amount)
     SELECT $1, * FROM unnest($2::text[], $3::int[], $4::bigint[])`,
    [id, o.items.map((i) => i.sku), o.items.map((i) => i.quantity), o.items.map((i) => i.unitAmount)],
  );
  return (await loadOrder(tx, tenant, id))!;
}

/**
 * Cancels an order and releases its stock, exactly once: the order row is locked, and an
 * order already cancelled (by this key or any other) is returned as it is.
 */
export async function cancelOrder({ tx, tenant, key }: IdempotencyContext, id: string): Promise<Order> {
  const { rows } = await tx.query<{ status: Order['status'] }>(
    'SELECT status FROM orders WHERE id = $1 AND tenant = $2 FOR UPDATE',
    [id, tenant],
  );
  if (!rows[0]) throw new Problem('not-found', `No order ${id}`);
  if (rows[0].status === 'created') {
    const order = (await loadOrder(tx, tenant, id))!;
    await release(tx, order.items);
    await tx.query(`UPDATE orders SET status = 'cancelled' WHERE id = $1`, [id]);
    await tx.query('INSERT INTO order_cancellations (order_id, tenant, idempotency_key) VALUES ($1, $2, $3)', [id, tenant, key]);
  }
  return (await loadOrder(tx, tenant, id))!;
}

export async function loadOrder(db: Pool | PoolClient, tenant: string, id: string): Promise<Order | undefined> {
  const { rows } = await db.query<OrderRow>(
    `SELECT o.id, o.status, o.customer_id, o.charge_id, o.amount, o.created_at, c.created_at AS cancelled_at
       FROM orders o LEFT JOIN order_cancellations c ON c.order_id = o.id
      WHERE o.id = $1 AND o.tenant = $2`,
    [id, tenant],
  );
  const r = rows[0];
  if (!r) return undefined;
  const items = await db.query<{ sku: string; quantity: number; unit_amount: string }>(
    'SELECT sku, quantity, unit_amount FROM order_items WHERE order_id = $1 ORDER BY sku',
    [id],
  );
  return {
    id: r.id,
    status: r.status,
    customerId: r.customer_id,
    chargeId: r.charge_id,
    // bigint columns come back from pg as strings; amounts are bounded far below 2^53.
    amount: Number(r.amount),
    items: items.rows.map((i) => ({ sku: i.sku, quantity: i.quantity, unitAmount: Number(i.unit_amount) })),
    createdAt: r.created_at.toISOString(),
    cancelledAt: r.cancelled_at?.toISOString() ?? null,
  };
}
