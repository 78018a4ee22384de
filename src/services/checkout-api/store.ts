/**
 * The checkout API's own records: one row per checkout and per merchant refund, keyed by the id
 * derived from the merchant and the client's Idempotency-Key (src/saga/keys.ts).
 *
 * These rows, not Temporal, decide what a key means (docs/api.md#idempotency): a record is written
 * before its run is started and holds the request the run is started with; once the start is
 * confirmed the key never starts a run again; the outcome is recorded when the run ends, so reads
 * outlive Temporal's retention. Every function is one short statement on the pool: no request
 * holds a connection, let alone a transaction, while it waits on Temporal or on another connection.
 */
import type { Pool } from 'pg';
import type { CheckoutInput, CheckoutState, RefundState } from '../../saga/types';

/**
 * Connections of the API's pool. Enough for the short statements of many concurrent requests;
 * no request holds one while it waits, so load beyond it queues briefly, then answers 503.
 */
export const CHECKOUT_POOL_SIZE = 20;

/** When the outcome recorder first looks at a started run (a Postgres interval). */
const FIRST_OUTCOME_LOOK = '10 seconds';

/**
 * What `GET /checkouts/{id}` shows: the saga's state, or — set by the API, never by the workflow —
 * `terminated` when the run was ended from outside (an operator's terminate, a timeout) before it
 * reached its own end; effects it made may be left behind (docs/operations.md).
 */
export type CheckoutOutcome = Omit<CheckoutState, 'status'> & { status: CheckoutState['status'] | 'terminated' };

export interface CheckoutRecord {
  id: string;
  merchantId: string;
  fingerprint: string;
  /** The accepted request the run is (or will be) started with; null for records older than it. */
  input: CheckoutInput | null;
  createdAt: Date;
  /** Set once Temporal confirmed the start: from then on the key never starts a run again. */
  startedAt: Date | null;
  runId: string | null;
  /** The outcome, once the run ended (recorded from its result). */
  outcome: CheckoutOutcome | null;
}

interface CheckoutRow {
  id: string;
  merchant_id: string;
  fingerprint: string;
  input: CheckoutInput | null;
  created_at: Date;
  started_at: Date | null;
  run_id: string | null;
  final_state: CheckoutOutcome | null;
}

const CHECKOUT_COLUMNS = 'id, merchant_id, fingerprint, input, created_at, started_at, run_id, final_state';

function checkoutRecord(row: CheckoutRow): CheckoutRecord {
  return {
    id: row.id,
    merchantId: row.merchant_id,
    fingerprint: row.fingerprint,
    input: row.input,
    createdAt: row.created_at,
    startedAt: row.started_at,
    runId: row.run_id,
    outcome: row.final_state,
  };
}

/**
 * Records a new checkout, or finds the one its key already has: `created` tells which. The insert
 * commits on its own before any run is started, so a run never exists without its record.
 */
export async function recordCheckout(
  pool: Pool,
  checkout: { id: string; merchantId: string; fingerprint: string; input: CheckoutInput },
): Promise<{ record: CheckoutRecord; created: boolean }> {
  const { input } = checkout;
  const inserted = await pool.query<CheckoutRow>(
    `INSERT INTO checkouts (id, merchant_id, fingerprint, customer_id, amount, currency, input)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING RETURNING ${CHECKOUT_COLUMNS}`,
    [checkout.id, checkout.merchantId, checkout.fingerprint, input.customerId, input.amount, input.currency, input],
  );
  if (inserted.rows[0]) return { record: checkoutRecord(inserted.rows[0]), created: true };
  // The id is derived from the merchant, so the row found is this merchant's.
  const existing = await findCheckout(pool, checkout.id, checkout.merchantId);
  if (!existing) throw new Error(`checkout ${checkout.id} conflicted on insert but is not there`);
  return { record: existing, created: false };
}

/** The merchant's checkout; another merchant's is indistinguishable from none. */
export async function findCheckout(pool: Pool, id: string, merchantId: string): Promise<CheckoutRecord | null> {
  const { rows } = await pool.query<CheckoutRow>(`SELECT ${CHECKOUT_COLUMNS} FROM checkouts WHERE id = $1 AND merchant_id = $2`, [
    id,
    merchantId,
  ]);
  return rows[0] ? checkoutRecord(rows[0]) : null;
}

/**
 * Temporal confirmed the run: the key never starts one again. True when this call was the first
 * to note it (`checkout_started_total` counts each checkout once).
 */
export async function markCheckoutStarted(pool: Pool, id: string, runId: string | null): Promise<boolean> {
  const { rowCount } = await pool.query(
    // The outcome recorder's first look comes after FIRST_OUTCOME_LOOK: most runs end, and are
    // recorded by the request waiting on them, before it.
    `UPDATE checkouts SET started_at = now(), run_id = COALESCE(run_id, $2), next_check_at = now() + interval '${FIRST_OUTCOME_LOOK}'
      WHERE id = $1 AND started_at IS NULL`,
    [id, runId],
  );
  if (rowCount) return true;
  // Noted before (without a run id when that start found the run already there): keep the id now known.
  if (runId !== null) await pool.query('UPDATE checkouts SET run_id = $2 WHERE id = $1 AND run_id IS NULL', [id, runId]);
  return false;
}

/**
 * Records the run's outcome once; later reads answer from it, whatever Temporal still keeps.
 * True when this call recorded it (the outcome counters count each checkout once).
 */
export async function recordCheckoutOutcome(pool: Pool, id: string, outcome: CheckoutOutcome): Promise<boolean> {
  const { rowCount } = await pool.query('UPDATE checkouts SET final_state = $2, finished_at = now() WHERE id = $1 AND final_state IS NULL', [
    id,
    outcome,
  ]);
  return rowCount === 1;
}

/**
 * Started checkouts without an outcome that are due for a look, claimed for a while so replicas of
 * the API share the work: each is due again after a pause that grows with its age (2 s up to
 * 5 min), far inside Temporal's retention, so a run nobody waited for is recorded soon after it ends.
 */
export async function claimUnfinishedCheckouts(pool: Pool, limit: number): Promise<{ id: string }[]> {
  const { rows } = await pool.query<{ id: string }>(
    `UPDATE checkouts SET next_check_at = now() + LEAST(interval '5 minutes', GREATEST(interval '2 seconds', (now() - started_at) / 4))
     WHERE id IN (SELECT id FROM checkouts WHERE final_state IS NULL AND started_at IS NOT NULL AND next_check_at <= now()
                  ORDER BY next_check_at LIMIT $1 FOR UPDATE SKIP LOCKED)
     RETURNING id`,
    [limit],
  );
  return rows;
}

// ---- merchant refunds -----------------------------------------------------------------------

export interface RefundRecord {
  id: string;
  checkoutId: string;
  fingerprint: string | null;
  chargeId: string | null;
  amount: number;
  startedAt: Date | null;
  result: RefundState | null;
}

interface RefundRow {
  id: string;
  checkout_id: string;
  fingerprint: string | null;
  charge_id: string | null;
  amount: string;
  started_at: Date | null;
  result: RefundState | null;
}

const REFUND_COLUMNS = 'id, checkout_id, fingerprint, charge_id, amount, started_at, result';

function refundRecord(row: RefundRow): RefundRecord {
  return {
    id: row.id,
    checkoutId: row.checkout_id,
    fingerprint: row.fingerprint,
    chargeId: row.charge_id,
    amount: Number(row.amount),
    startedAt: row.started_at,
    result: row.result,
  };
}

/** Records a refund as accepted (its amount fixed), or finds the one its key already has. */
export async function recordRefund(
  pool: Pool,
  refund: { id: string; checkoutId: string; fingerprint: string; chargeId: string; amount: number },
): Promise<{ record: RefundRecord; created: boolean }> {
  const inserted = await pool.query<RefundRow>(
    `INSERT INTO checkout_refunds (id, checkout_id, fingerprint, charge_id, amount) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (id) DO NOTHING RETURNING ${REFUND_COLUMNS}`,
    [refund.id, refund.checkoutId, refund.fingerprint, refund.chargeId, refund.amount],
  );
  if (inserted.rows[0]) return { record: refundRecord(inserted.rows[0]), created: true };
  const existing = await findRefund(pool, refund.id, refund.checkoutId);
  if (!existing) throw new Error(`refund ${refund.id} conflicted on insert but is not there`);
  return { record: existing, created: false };
}

/** The refund of that checkout (whose merchant the caller has checked). */
export async function findRefund(pool: Pool, id: string, checkoutId: string): Promise<RefundRecord | null> {
  const { rows } = await pool.query<RefundRow>(`SELECT ${REFUND_COLUMNS} FROM checkout_refunds WHERE id = $1 AND checkout_id = $2`, [
    id,
    checkoutId,
  ]);
  return rows[0] ? refundRecord(rows[0]) : null;
}

export async function markRefundStarted(pool: Pool, id: string): Promise<void> {
  await pool.query(
    `UPDATE checkout_refunds SET started_at = now(), next_check_at = now() + interval '${FIRST_OUTCOME_LOOK}' WHERE id = $1 AND started_at IS NULL`,
    [id],
  );
}

export async function recordRefundResult(pool: Pool, id: string, result: RefundState): Promise<void> {
  await pool.query('UPDATE checkout_refunds SET result = $2, finished_at = now() WHERE id = $1 AND result IS NULL', [id, result]);
}

/** Started refunds without a result that are due for a look (as `claimUnfinishedCheckouts`). */
export async function claimUnfinishedRefunds(pool: Pool, limit: number): Promise<{ id: string; checkoutId: string }[]> {
  const { rows } = await pool.query<{ id: string; checkout_id: string }>(
    `UPDATE checkout_refunds SET next_check_at = now() + LEAST(interval '5 minutes', GREATEST(interval '2 seconds', (now() - started_at) / 4))
     WHERE id IN (SELECT id FROM checkout_refunds WHERE result IS NULL AND started_at IS NOT NULL AND next_check_at <= now()
                  ORDER BY next_check_at LIMIT $1 FOR UPDATE SKIP LOCKED)
     RETURNING id, checkout_id`,
    [limit],
  );
  return rows.map((r) => ({ id: r.id, checkoutId: r.checkout_id }));
}

// ---- retention ------------------------------------------------------------------------------

/**
 * Forgets checkouts (and their refunds) whose outcome was recorded longer than `retentionMs` ago:
 * from then on their keys are new again. Unfinished checkouts are never purged. Batched, so a
 * large backlog never holds one long transaction.
 */
export async function purgeCheckouts(pool: Pool, retentionMs: number, batch = 1_000): Promise<number> {
  let purged = 0;
  for (;;) {
    const { rowCount } = await pool.query(
      `WITH expired AS (
         SELECT id FROM checkouts WHERE final_state IS NOT NULL AND finished_at < now() - $1 * interval '1 millisecond' LIMIT $2
       ), refunds AS (
         DELETE FROM checkout_refunds WHERE checkout_id IN (SELECT id FROM expired)
       )
       DELETE FROM checkouts WHERE id IN (SELECT id FROM expired)`,
      [retentionMs, batch],
    );
    purged += rowCount ?? 0;
    if ((rowCount ?? 0) < batch) return purged;
  }
}
