import { Pool } from 'pg';

/** A pool for one service database. `max` stays small: two cores, several processes, one cluster. */
export function createPool(connectionString: string, max = 10): Pool {
  const pool = new Pool({ connectionString, max, idleTimeoutMillis: 30_000 });
  // A client losing its connection (Postgres restarted or shutting down) must not crash the
  // process: idle clients report to the pool, checked-out ones (a transaction held across an
  // SMTP send, say) to themselves. The query in progress still rejects, so callers see it.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
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
