import { Pool } from 'pg';

/** A pool for one service database. `max` stays small: two cores, several processes, one cluster. */
export function createPool(connectionString: string, max = 10): Pool {
  const pool = new Pool({ connectionString, max, idleTimeoutMillis: 30_000 });
  // An idle client losing its connection (e.g. Postgres restarted) must not crash the process.
  pool.on('error', () => undefined);
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
