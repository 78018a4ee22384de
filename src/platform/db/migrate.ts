/**
 * The one migration runner. Each database's schema is a list of folders of numbered `.sql`
 * files (e.g. the shared idempotency table plus the service's own tables); each file runs once,
 * inside a transaction, recorded in `schema_migrations`. An advisory lock makes concurrent starts
 * of the same service safe.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Pool } from 'pg';

const MIGRATION_LOCK = 727_001;

export interface Migration {
  id: string;
  sql: string;
}

export function readMigrations(dirs: string[]): Migration[] {
  return dirs.flatMap((dir) =>
    fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.sql'))
      .sort()
      .map((f) => ({ id: `${path.basename(dir)}/${f}`, sql: fs.readFileSync(path.join(dir, f), 'utf8') })),
  );
}

export async function migrate(pool: Pool, dirs: string[]): Promise<string[]> {
  const migrations = readMigrations(dirs);
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const done = new Set((await client.query<{ id: string }>('SELECT id FROM schema_migrations')).rows.map((r) => r.id));
    for (const m of migrations) {
      if (done.has(m.id)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (id) VALUES ($1)', [m.id]);
        await client.query('COMMIT');
        applied.push(m.id);
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${m.id} failed: ${(err as Error).message}`);
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    client.release();
  }
  return applied;
}
