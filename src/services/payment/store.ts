/**
 * Payment data access. Every write takes the idempotent request's context: its transaction,
 * so the effect commits with the stored response or not at all, and its tenant and key,
 * recorded on the row for the audit. Reads are scoped to the tenant.
 */
import type { Pool } from 'pg';
import type { IdempotencyContext } from '../../platform/idempotency/types';
import { newId } from '../../platform/ids';
import { Problem } from '../../platform/http/problem';
import type { Charge, ChargeWithRefunds, Refund } from './contract';

interface ChargeRow {
  id: string;
  status: 'captured';
  amount: string;
  currency: string;
  amount_refunded: string;
  customer_id: string;
  created_at: Date;
}

// bigint columns come back from pg as strings; amounts are bounded far below 2^53.
const toCharge = (r: ChargeRow): Charge => ({
  id: r.id,
  status: r.status,
  amount: Number(r.amount),
  currency: r.currency,
  amountRefunded: Number(r.amount_refunded),
  customerId: r.customer_id,
  createdAt: r.created_at.toISOString(),
});

const CHARGE_COLUMNS = 'id, status, amount, currency, amount_refunded, customer_id, created_at';

export async function insertCharge(
  { tx, tenant, key }: IdempotencyContext,
  c: { customerId: string; amount: number; currency: string; cardBrand: string },
): Promise<Charge> {
  const { rows } = await tx.query<ChargeRow>(
    `INSERT INTO charges (id, tenant, idempotency_key, customer_id, amount, currency, card_brand, status)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'captured') RETURNING ${CHARGE_COLUMNS}`,
    [newId('ch'), tenant, key, c.customerId, c.amount, c.currency, c.cardBrand],
  );
  return toCharge(rows[0]!);
}

/**
 * Refunds `amount` of a charge (all that is left when omitted). The charge row is locked
 * FOR UPDATE, so concurrent refunds under different keys serialise on it and their sum can
 * never pass the charge; the losers get 409.
 */
export async function refundCharge({ tx, tenant, key }: IdempotencyContext, chargeId: string, amount?: number): Promise<Refund> {
  const { rows } = await tx.query<ChargeRow>(
    `SELECT ${CHARGE_COLUMNS} FROM charges WHERE id = $1 AND tenant = $2 FOR UPDATE`,
    [chargeId, tenant],
  );
  if (!rows[0]) throw new Problem('not-found', `No charge ${chargeId}`);
  const charge = toCharge(rows[0]);
  const remaining = charge.amount - charge.amountRefunded;
  const refund = amount ?? remaining;
  if (refund <= 0 || refund > remaining) {
    throw new Problem('refund-exceeds-charge', `At most ${remaining} of ${charge.amount} can still be refunded`, {
      refundable: remaining,
    });
  }
  await tx.query('UPDATE charges SET amount_refunded = amount_refunded + $2 WHERE id = $1', [chargeId, refund]);
  const inserted = await tx.query<{ id: string; created_at: Date }>(
    `INSERT INTO refunds (id, tenant, idempotency_key, charge_id, amount) VALUES ($1, $2, $3, $4, $5)
     RETURNING id, created_at`,
    [newId('re'), tenant, key, chargeId, refund],
  );
  const r = inserted.rows[0]!;
  return { id: r.id, chargeId, amount: refund, currency: charge.currency, createdAt: r.created_at.toISOString() };
}

export async function findCharge(db: Pool, tenant: string, id: string): Promise<ChargeWithRefunds | undefined> {
  const { rows } = await db.query<ChargeRow>(`SELECT ${CHARGE_COLUMNS} FROM charges WHERE id = $1 AND tenant = $2`, [id, tenant]);
  if (!rows[0]) return undefined;
  const charge = toCharge(rows[0]);
  const refunds = await db.query<{ id: string; amount: string; created_at: Date }>(
    'SELECT id, amount, created_at FROM refunds WHERE charge_id = $1 ORDER BY created_at, id',
    [id],
  );
  return {
    ...charge,
    refunds: refunds.rows.map((r) => ({
      id: r.id,
      chargeId: id,
      amount: Number(r.amount),
      currency: charge.currency,
      createdAt: r.created_at.toISOString(),
    })),
  };
}
