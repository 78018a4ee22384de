/**
 * The idempotency record's state machine, in SQL. No check-then-act: every transition is one
 * conditional statement whose row count (or, for `complete`, whose raise) says whether this
 * caller won.
 *
 *   (none) --claim--> in_flight(owner, lease) --complete--> done(response)
 *                         |  \--release (transient failure)--> (none)
 *                         \--takeover (lease expired AND holder's transaction gone)--> in_flight(new owner)
 *   (none) --fence--> fenced (a tombstone: the key never ran and now never will)
 *   in_flight --fence (lease expired AND holder's transaction gone)--> fenced
 *   done, fenced --purge (older than retention)--> (none)
 *
 * `fence` is the lookup of a caller who lost an answer and must learn the outcome without
 * causing it: a finished key gives its stored response, a key that never ran is closed, so a
 * late original arriving afterwards is refused (`claim` answers `fenced`) instead of executed.
 * Fence and claim race on the same `INSERT … ON CONFLICT` of the primary key, so exactly one
 * of them wins: never both a tombstone and an effect.
 *
 * While a holder runs its handler it keeps the record row locked in its transaction
 * (`beginWithClaimLocked`). A takeover therefore succeeds only when the lease has expired *and*
 * the holder's transaction is gone (crashed process, dropped connection): an alive-but-slow
 * holder is never raced, and if it loses its claim anyway its `complete` finds no row, raises,
 * and nothing of its transaction commits.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import { escapeLiteral, type Pool, type PoolClient, type QueryResult } from 'pg';
import type { StoredResponse } from './types';

export type { StoredResponse };


export type ClaimResult =
  | { kind: 'claimed'; owner: string; takeover: boolean }
  | { kind: 'replay'; response: StoredResponse }
  | { kind: 'mismatch' }
  | { kind: 'fenced' }
  | { kind: 'busy'; retryAfterSeconds: number };

export interface ClaimRequest {
  tenant: string;
  key: string;
  fingerprint: string;
  leaseMs: number;
  waitMs: number;
}

interface RecordRow {
  fingerprint: string;
  state: 'in_flight' | 'done' | 'fenced';
  lease_ms_left: number | null;
  response_status: number | null;
  response_headers: Record<string, string> | null;
  response_body: string | null;
}

/**
 * One round trip that inserts the key's row (tenant $1, key $2, then `columns` from `values`)
 * unless the key has one, and reads the row that holds the key: `inserted` says whether this
 * statement made it. The read sees the statement's snapshot, so a row a racing request commits a
 * moment later can be missing; callers then try again.
 */
function insertOrRead(columns: string, values: string): string {
  return `WITH ins AS (
         INSERT INTO idempotency_keys (tenant, key, ${columns}) VALUES ($1, $2, ${values})
         ON CONFLICT (tenant, key) DO NOTHING
         RETURNING true AS inserted
       )
       SELECT (SELECT inserted FROM ins) AS inserted,
              k.fingerprint, k.state, k.response_status, k.response_headers, k.response_body,
              (extract(epoch FROM k.lease_expires_at - now()) * 1000)::int AS lease_ms_left
         FROM (SELECT 1) AS one
         LEFT JOIN idempotency_keys k ON k.tenant = $1 AND k.key = $2`;
}

/**
 * The statements every idempotent request runs, as named (prepared) statements: Postgres parses
 * and plans each once per connection instead of at every request (bench:plugin measured the
 * planning of the claim's CTE as a good part of the plugin's own Postgres CPU).
 */
const STATEMENTS = {
  claim: {
    name: 'idempotency-claim',
    text: insertOrRead('fingerprint, state, owner, lease_expires_at', "$3, 'in_flight', $4, now() + $5 * interval '1 millisecond'"),
  },
  fence: { name: 'idempotency-fence', text: insertOrRead('fingerprint, state, completed_at', "'', 'fenced', now()") },
  release: { name: 'idempotency-release', text: 'DELETE FROM idempotency_keys WHERE tenant = $1 AND key = $2 AND owner = $3' },
} as const;

const LOCK_NOT_AVAILABLE = '55P03';
export async function claim(pool: Pool, req: ClaimRequest): Promise<ClaimResult> {
  const deadline = Date.now() + req.waitMs;
  let pollMs = 10;
  for (;;) {
    const owner = randomUUID();
    // One round trip: claim the key, or read the record that holds it.
    const { rows } = await pool.query<RecordRow & { inserted: boolean | null }>({
      ...STATEMENTS.claim,
      values: [req.tenant, req.key, req.fingerprint, owner, req.leaseMs],
    });
    if (rows[0]?.inserted) return { kind: 'claimed', owner, takeover: false };

    const row = rows[0]?.fingerprint === null ? undefined : rows[0];
    if (row) {
      // A lookup closed this key before any request ran under it: refused, whatever the body.
      if (row.state === 'fenced') return { kind: 'fenced' };
      // A different request under a used key is rejected without touching the record, even
      // while the original is in flight: the original's outcome must not depend on it.
      if (row.fingerprint !== req.fingerprint) return { kind: 'mismatch' };
      if (row.state === 'done') return { kind: 'replay', response: storedResponse(row) };
      const remaining = deadline - Date.now();
      if ((row.lease_ms_left ?? 0) <= 0 && remaining > 0) {
        const took = await takeover(pool, req, owner, remaining);
        if (took) return { kind: 'claimed', owner, takeover: true };
      }
      if (Date.now() >= deadline) {
        return { kind: 'busy', retryAfterSeconds: Math.max(1, Math.ceil((row.lease_ms_left ?? 0) / 1000)) };
      }
    }
    // No row: the holder released its claim after a transient failure; loop and claim it.
    await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())));
    pollMs = Math.min(pollMs * 2, 200);
  }
}

function storedResponse(row: RecordRow): StoredResponse {
  return { status: row.response_status!, headers: row.response_headers ?? {}, body: row.response_body ?? '' };
}

/** Takes over an expired claim; blocks (bounded) while the old holder's transaction still lives. */
function takeover(pool: Pool, req: ClaimRequest, owner: string, waitMs: number): Promise<boolean> {
  return updateExpiredClaim(pool, req.tenant, req.key, waitMs, `owner = $3, lease_expires_at = now() + $4 * interval '1 millisecond'`, [
    owner,
    req.leaseMs,
  ]);
}

/**
 * Applies `set` to an in-flight record whose lease has expired. The UPDATE waits (at most
 * `waitMs`) for the row lock the holder keeps for its transaction's lifetime, so it succeeds
 * only once that transaction is gone: an alive-but-slow holder is never raced.
 */
async function updateExpiredClaim(
  pool: Pool,
  tenant: string,
  key: string,
  waitMs: number,
  set: string,
  params: unknown[],
): Promise<boolean> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT set_config('lock_timeout', $1, true)`, [`${Math.max(1, Math.floor(waitMs))}ms`]);
    const res = await client.query(
      `UPDATE idempotency_keys SET ${set}
        WHERE tenant = $1 AND key = $2 AND state = 'in_flight' AND lease_expires_at <= now()`,
      [tenant, key, ...params],
    );
    await client.query('COMMIT');
    return res.rowCount === 1;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    if ((err as { code?: string }).code === LOCK_NOT_AVAILABLE) return false;
    throw err;
  } finally {
    client.release();
  }
}

/**
 * A text as an SQL literal, for the statements sent together in one round trip below (the simple
 * query protocol that carries several statements has no parameters). pg's `escapeLiteral` doubles
 * quotes and backslashes; a NUL cannot be part of a query text, and is never in what is sent
 * here: keys and tenants are printable ASCII, owners UUIDs, a stored body serialised JSON.
 */
function literal(text: string): string {
  if (text.includes('\0')) throw new Error('a NUL character cannot be sent in a query text');
  return escapeLiteral(text);
}

/** The results of a query text of several statements, one per statement. */
async function statements(db: PoolClient, ...sql: string[]): Promise<QueryResult[]> {
  return (await db.query(sql.join('; '))) as unknown as QueryResult[];
}

/*
 * Each request through the plugin pays for its round trips to Postgres (on a loopback connection
 * the send is most of a statement's cost: bench:plugin), so the handler's transaction is opened
 * with the claim's lock, and committed with the stored response, each in one round trip.
 */

/**
 * Opens the handler's transaction and locks the claim row in it, in one round trip: the lock is
 * held for the transaction's lifetime (proof of liveness for would-be takers). False if the claim
 * was lost meanwhile; the transaction is open either way.
 */
export async function beginWithClaimLocked(tx: PoolClient, tenant: string, key: string, owner: string): Promise<boolean> {
  const [, lock] = await statements(
    tx,
    'BEGIN',
    `SELECT 1 FROM idempotency_keys WHERE tenant = ${literal(tenant)} AND key = ${literal(key)} AND owner = ${literal(owner)} FOR UPDATE`,
  );
  return lock?.rowCount === 1;
}

/** The claim was no longer ours when the response was to be stored (SQLSTATE of 003_idempotency_complete.sql). */
export const CLAIM_LOST = 'IK001';

function completeCall(tenant: string, key: string, owner: string, response: StoredResponse): string {
  const args = [tenant, key, owner, String(response.status), JSON.stringify(response.headers), response.body].map(literal);
  return `SELECT idempotency_complete(${args.join(', ')})`;
}

/**
 * Stores the response under the claim and commits the handler's transaction with it, in one round
 * trip. Throws (code CLAIM_LOST) if the claim is no longer ours, and then nothing is committed:
 * the transaction is aborted and must be rolled back.
 */
export async function completeAndCommit(tx: PoolClient, tenant: string, key: string, owner: string, response: StoredResponse): Promise<void> {
  await statements(tx, completeCall(tenant, key, owner, response), 'COMMIT');
}

/**
 * A business refusal: rolls the handler's effects back and stores only the answer under the claim,
 * in one round trip. Throws (code CLAIM_LOST) if the claim is no longer ours.
 */
export async function rollbackAndComplete(tx: PoolClient, tenant: string, key: string, owner: string, response: StoredResponse): Promise<void> {
  await statements(tx, 'ROLLBACK', completeCall(tenant, key, owner, response));
}

/** Drops our claim after a transient failure, so the next retry runs the handler again. */
export async function release(db: Pool | PoolClient, tenant: string, key: string, owner: string): Promise<void> {
  await db.query({ ...STATEMENTS.release, values: [tenant, key, owner] });
}

/** Deletes records older than the retention; their keys are new again. Returns how many. */
export async function purgeExpired(pool: Pool, retentionMs: number): Promise<number> {
  const res = await pool.query(
    `DELETE FROM idempotency_keys
      WHERE created_at < now() - $1 * interval '1 millisecond'
        AND (state IN ('done', 'fenced') OR lease_expires_at < now())`,
    [retentionMs],
  );
  return res.rowCount ?? 0;
}

export type FenceResult =
  | { kind: 'completed'; response: StoredResponse }
  | { kind: 'fenced' }
  | { kind: 'busy'; retryAfterSeconds: number };

export interface FenceRequest {
  tenant: string;
  key: string;
  /** How long to wait for a request in flight under the key, as a duplicate would. */
  waitMs: number;
}

/**
 * Looks a key up without ever causing its effect, and closes it if it never ran:
 * - finished (`done`): its stored response, whatever it was (a success or a stored refusal);
 * - never ran (no record) or fenced before: a tombstone is recorded (or found), and every
 *   request under the key from now on is refused by `claim`;
 * - in flight: waited for (bounded by `waitMs`), like a duplicate; a holder whose lease
 *   expired and whose transaction is gone (it crashed before committing anything) is fenced
 *   in its place; a live one past the bound gives `busy`.
 */
export async function fence(pool: Pool, req: FenceRequest): Promise<FenceResult> {
  const deadline = Date.now() + req.waitMs;
  let pollMs = 10;
  for (;;) {
    const { rows } = await pool.query<RecordRow & { inserted: boolean | null }>({ ...STATEMENTS.fence, values: [req.tenant, req.key] });
    const row = rows[0];
    if (row?.inserted || row?.state === 'fenced') return { kind: 'fenced' };
    if (row?.state === 'done') return { kind: 'completed', response: storedResponse(row) };
    if (row?.state === 'in_flight') {
      const remaining = deadline - Date.now();
      if ((row.lease_ms_left ?? 0) <= 0 && remaining > 0) {
        const closed = await updateExpiredClaim(
          pool,
          req.tenant,
          req.key,
          remaining,
          `state = 'fenced', owner = NULL, lease_expires_at = NULL, completed_at = now()`,
          [],
        );
        if (closed) return { kind: 'fenced' };
      }
      if (Date.now() >= deadline) {
        return { kind: 'busy', retryAfterSeconds: Math.max(1, Math.ceil((row.lease_ms_left ?? 0) / 1000)) };
      }
    }
    // In flight, or released by a holder that failed transiently (no row): look again.
    await sleep(Math.min(pollMs, Math.max(0, deadline - Date.now())));
    pollMs = Math.min(pollMs * 2, 200);
  }
}
