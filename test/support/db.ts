/**
 * A fresh, migrated database per test file on the harness's real Postgres cluster
 * (DATABASE_URL is exported by tools/dev/sandbox/setup.ts).
 */
import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { withDatabase } from '../../src/platform/config';
import { migrate } from '../../src/platform/db/migrate';
import { createPool, ensureDatabase } from '../../src/platform/db/pool';

export function clusterUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is not set: run the tests through jest (global setup starts Postgres)');
  return url;
}

export async function freshDatabase(prefix: string, migrationDirs: string[]): Promise<{ pool: Pool; url: string }> {
  const name = `t_${prefix}_${randomBytes(4).toString('hex')}`.toLowerCase();
  await ensureDatabase(withDatabase(clusterUrl(), 'postgres'), name);
  const url = withDatabase(clusterUrl(), name);
  const pool = createPool(url, 60);
  await migrate(pool, migrationDirs);
  return { pool, url };
}
