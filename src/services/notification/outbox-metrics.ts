/**
 * The outbox as gauges on the notification service's `/metrics`, read from its database at each
 * scrape: how many messages wait to be sent, how long the oldest of them has waited, and how many
 * are dead-lettered. Every instance reports the same database-wide values (aggregate with max).
 *
 * One short, bounded statement per scrape, however many gauges ask (they share it): a count and
 * a min over the pending rows (the dispatcher's partial index holds exactly those) and a count of
 * the dead ones (their own partial index, migrations/003), under a 2 s statement timeout. When the
 * database cannot answer, the gauges read NaN for that scrape rather than a stale or zero depth.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Pool } from 'pg';
import { Gauge, type Registry } from 'prom-client';

export const OUTBOX_STATEMENT_TIMEOUT_MS = 2_000;

interface OutboxSample {
  pending: number;
  oldestPendingAgeSeconds: number;
  dead: number;
}

const SAMPLE_SQL = `BEGIN;
SET LOCAL statement_timeout = ${OUTBOX_STATEMENT_TIMEOUT_MS};
SELECT p.pending, COALESCE(p.oldest_age, 0) AS oldest_age, d.dead
  FROM (SELECT count(*)::int AS pending, EXTRACT(EPOCH FROM now() - min(created_at))::float8 AS oldest_age
          FROM notifications WHERE status = 'pending') p,
       (SELECT count(*)::int AS dead FROM notifications WHERE status = 'dead') d;
COMMIT;`;

/** Reads the outbox's depth, oldest pending age and dead letters in one statement. */
export async function sampleOutbox(pool: Pool): Promise<OutboxSample> {
  const client = await pool.connect();
  try {
    const results = (await client.query(SAMPLE_SQL)) as unknown as { rows: { pending: number; oldest_age: number; dead: number }[] }[];
    const row = results[2]!.rows[0]!;
    client.release();
    return { pending: row.pending, oldestPendingAgeSeconds: row.oldest_age, dead: row.dead };
  } catch (err) {
    // A statement that failed left the transaction aborted: this connection is not given back as is.
    client.release(err as Error);
    throw err;
  }
}

export function registerOutboxMetrics(registry: Registry, pool: Pool, log: FastifyBaseLogger): void {
  let inFlight: Promise<OutboxSample | undefined> | undefined;
  // One query per scrape: the gauges are collected concurrently and share whichever is running.
  const sample = () =>
    (inFlight ??= sampleOutbox(pool)
      .catch((err: unknown) => {
        log.warn({ err }, 'could not read the outbox for /metrics');
        return undefined;
      })
      .finally(() => {
        inFlight = undefined;
      }));
  const gauge = (name: string, help: string, read: (s: OutboxSample) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const s = await sample();
        this.set(s ? read(s) : Number.NaN);
      },
    });
  gauge('outbox_pending_messages', 'Messages in the outbox waiting to be sent (pending, retries included)', (s) => s.pending);
  gauge(
    'outbox_oldest_pending_age_seconds',
    'Age of the oldest pending message in the outbox (0 when none is pending)',
    (s) => s.oldestPendingAgeSeconds,
  );
  gauge('outbox_dead_letter_messages', 'Messages dead-lettered after their send attempts were used up (status dead)', (s) => s.dead);
}
