/**
 * Outbox data access: the request side inserts within the idempotent transaction; the
 * dispatcher side claims due rows with FOR UPDATE SKIP LOCKED, so any number of dispatchers
 * (or a restarted one next to a dying one) never send the same row concurrently.
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

/** Locks the oldest due message for the caller's transaction; undefined when none is due. */
export async function claimDue(tx: PoolClient): Promise<OutboxMessage | undefined> {
  const { rows } = await tx.query<{ id: string; message_id: string; to_address: string; template: string; data: Record<string, unknown>; attempts: number }>(
    `SELECT id, message_id, to_address, template, data, attempts FROM notifications
      WHERE status = 'pending' AND next_attempt_at <= now()
      ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED`,
  );
  const r = rows[0];
  return r && { id: r.id, messageId: r.message_id, to: r.to_address, template: r.template, data: r.data, attempts: r.attempts };
}

export async function markSent(tx: PoolClient, id: string): Promise<void> {
  await tx.query(`UPDATE notifications SET status = 'sent', attempts = attempts + 1, sent_at = now(), last_error = NULL WHERE id = $1`, [id]);
}

/** Records a failed attempt: retried after `retryInMs`, or dead-lettered when that is undefined. */
export async function markFailed(tx: PoolClient, id: string, error: string, retryInMs: number | undefined): Promise<void> {
  await tx.query(
    `UPDATE notifications
        SET attempts = attempts + 1, last_error = $2,
            status = CASE WHEN $3::int IS NULL THEN 'dead' ELSE 'pending' END,
            next_attempt_at = now() + make_interval(secs => coalesce($3::int, 0) / 1000.0)
      WHERE id = $1`,
    [id, error, retryInMs ?? null],
  );
}
