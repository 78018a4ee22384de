import { Pool } from 'pg';
import { DEFAULT_DB_ACQUIRE_TIMEOUT_MS } from '../config';

/**
 * A pool for one service database. `max` stays small: two cores, several processes, one cluster.
 *
 * Every pool has an acquire timeout: a request that cannot get a connection within it (pool
 * exhausted, database unreachable) fails with an error `isDatabaseUnavailable` recognises, which
 * every HTTP surface answers with 503 + Retry-After. Without it an exhausted pool queues forever.
 */
export function createPool(connectionString: string, max = 10, acquireTimeoutMs = DEFAULT_DB_ACQUIRE_TIMEOUT_MS): Pool {
  const pool = new Pool({ connectionString, max, idleTimeoutMillis: 30_000, connectionTimeoutMillis: acquireTimeoutMs });
  // A client losing its connection (Postgres restarted or shutting down) must not crash the
  // process: idle clients report to the pool, checked-out ones (a transaction held across an
  // SMTP send, say) to themselves. The query in progress still rejects, so callers see it.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/**
 * Readiness: true when the database answers a trivial query within `timeoutMs` (acquiring a
 * connection included). A hung server or an exhausted pool is "not ready", not a hung probe.
 */
export async function databaseReady(pool: Pool, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([pool.query('SELECT 1').then(() => true, () => false), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Creates a database if it does not exist (CREATE DATABASE cannot run in a transaction or IF NOT EXISTS). */
export async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const pool = new Pool({ connectionString: adminUrl, max: 1 });
  try {
    const { rowCount } = await pool.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) {
      await pool.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`).catch((err: { code?: string }) => {
        if (err.code !== '42P04') throw err; // created concurrently by another process
      });
    }
  } finally {
    await pool.end();
  }
}
