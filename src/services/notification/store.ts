/**
 * Outbox data access: the request side inserts within the idempotent transaction; the
 * dispatcher side claims due rows with a committed lease (claimed_by, claim_expires_at), taken
 * with FOR UPDATE SKIP LOCKED, so any number of dispatchers never send the same row
 * concurrently, and a claim does not vanish with the connection that made it.
 */
import type { Pool, PoolClient } from 'pg';
import { newId } from '../../platform/ids';
import type { IdempotencyContext } from '../../platform/idempotency/types';
import type { Notification, NotificationRequest, NotificationStatus } from './contract';
import { messageIdFor } from './message';

/** A row the dispatcher is sending; `data` is only ever rendered, never logged. */
export interface OutboxMessage {
  id: string;
  messageId: string;
  to: string;
  template: string;
  data: Record<string, unknown>;
  attempts: number;
}

interface NotificationRow {
  id: string;
  status: NotificationStatus;
  message_id: string;
  to_address: string;
  template: string;
  attempts: number;
  last_error: string | null;
  created_at: Date;
  next_attempt_at: Date;
  sent_at: Date | null;
}

const COLUMNS = 'id, status, message_id, to_address, template, attempts, last_error, created_at, next_attempt_at, sent_at';

const toNotification = (r: NotificationRow): Notification => ({
  id: r.id,
  status: r.status,
  messageId: r.message_id,
  to: r.to_address,
  template: r.template,
  attempts: r.attempts,
  lastError: r.last_error,
  createdAt: r.created_at.toISOString(),
  nextAttemptAt: r.status === 'pending' ? r.next_attempt_at.toISOString() : null,
  sentAt: r.sent_at?.toISOString() ?? null,
});

export async function enqueue(
  { tx, tenant, key }: IdempotencyContext,
  n: NotificationRequest,
): Promise<Notification> {
  const { rows } = await tx.query<NotificationRow>(
    `INSERT INTO notifications (id, tenant, idempotency_key, message_id, to_address, template, data, status)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending') RETURNING ${COLUMNS}`,
    [newId('ntf'), tenant, key, messageIdFor(tenant, key), n.to, n.template, JSON.stringify(n.data)],
  );
  return toNotification(rows[0]!);
}

export async function findNotification(pool: Pool, tenant: string, id: string): Promise<Notification | undefined> {
  const { rows } = await pool.query<NotificationRow>(`SELECT ${COLUMNS} FROM notifications WHERE id = $1 AND tenant = $2`, [id, tenant]);
  return rows[0] && toNotification(rows[0]);
}

/** Anything that runs one statement: the pool (a fresh connection per call) or a client. */
type Db = Pool | PoolClient;

export interface Claimed extends OutboxMessage {
  /** The owner of an expired claim this one replaced (a dispatcher that crashed mid-send), if any. */
  previousOwner: string | null;
}

/**
 * Claims the oldest due message for `owner` until `leaseMs` from now, in one committed
 * statement: no connection (and no transaction) is held while the message is sent, and the claim
 * survives the loss of any connection. Rows under another dispatcher's unexpired claim are
 * skipped; an expired one (its dispatcher died or lost the database for longer than the lease) is
 * claimable again. So is a row under `owner`'s own claim: a dispatcher sends one message at a
 * time, so when it claims, a claim of its own is one whose answer it never got (the connection
 * died after the commit), unless it is listed in `exclude` (accepted, its record given up).
 */
export async function claimDue(db: Db, owner: string, leaseMs: number, exclude: readonly string[] = []): Promise<Claimed | undefined> {
  const { rows } = await db.query<{
    id: string;
    message_id: string;
    to_address: string;
    template: string;
    data: Record<string, unknown>;
    attempts: number;
    previous_owner: string | null;
  }>(
    `WITH due AS (
       SELECT id, claimed_by FROM notifications
        WHERE status = 'pending' AND next_attempt_at <= now()
          AND (claim_expires_at IS NULL OR claim_expires_at <= now() OR claimed_by = $1)
          AND id <> ALL ($3::text[])
        ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED
     )
     UPDATE notifications n
        SET claimed_by = $1, claim_expires_at = now() + $2 * interval '1 millisecond'
       FROM due WHERE n.id = due.id
     RETURNING n.id, n.message_id, n.to_address, n.template, n.data, n.attempts,
               nullif(due.claimed_by, $1) AS previous_owner`,
    [owner, leaseMs, exclude],
  );
  const r = rows[0];
  return (
    r && {
      id: r.id,
      messageId: r.message_id,
      to: r.to_address,
      template: r.template,
      data: r.data,
      attempts: r.attempts,
      previousOwner: r.previous_owner,
    }
  );
}

/**
 * Records that the SMTP server accepted the message. Idempotent, and whoever claims the row now:
 * an accepted message is sent, so a retry after a lost answer (or after the claim expired) marks
 * it once and never counts the attempt twice. False when there was nothing left to mark.
 */
export async function markSent(db: Db, id: string): Promise<boolean> {
  const res = await db.query(
    `UPDATE notifications
        SET status = 'sent', attempts = attempts + 1, sent_at = now(), last_error = NULL,
            claimed_by = NULL, claim_expires_at = NULL
      WHERE id = $1 AND status = 'pending'`,
    [id],
  );
  return res.rowCount === 1;
}

/**
 * Records a failed attempt under `owner`'s claim: retried after `retryInMs`, or dead-lettered
 * when that is undefined. False when the claim is no longer `owner`'s (nothing is recorded).
 */
export async function markFailed(db: Db, id: string, owner: string, error: string, retryInMs: number | undefined): Promise<boolean> {
  const res = await db.query(
    `UPDATE notifications
        SET attempts = attempts + 1, last_error = $3,
            status = CASE WHEN $4::int IS NULL THEN 'dead' ELSE 'pending' END,
            next_attempt_at = now() + make_interval(secs => coalesce($4::int, 0) / 1000.0),
            claimed_by = NULL, claim_expires_at = NULL
      WHERE id = $1 AND claimed_by = $2 AND status = 'pending'`,
    [id, owner, error, retryInMs ?? null],
  );
  return res.rowCount === 1;
}

/**
 * Releases the claims an earlier process of the same `instance` left (it was killed mid-send),
 * so they are sent again now rather than when their lease expires. Returns how many.
 */
export async function releaseClaimsOf(db: Db, instance: string): Promise<number> {
  const res = await db.query(
    `UPDATE notifications SET claimed_by = NULL, claim_expires_at = NULL
      WHERE status = 'pending' AND starts_with(claimed_by, $1)`,
    [`${instance}/`],
  );
  return res.rowCount ?? 0;
}
