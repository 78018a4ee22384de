/** The infrastructure global setup started is real and reachable, and the dev server got its options. */
import { Connection } from '@temporalio/client';
import { Pool } from 'pg';
import { devServerArgs, TUNED_SQLITE_PRAGMAS } from '../../tools/dev/temporal-server';
import { SEARCH_ATTRIBUTES } from '../../src/workflows/search-attributes';

test('Postgres from the harness answers on DATABASE_URL, tuned for tests', async () => {
  const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 1 });
  try {
    const { rows } = await pool.query<{ fsync: string; version: string }>(`SELECT current_setting('fsync') AS fsync, version()`);
    expect(rows[0]!.version).toMatch(/^PostgreSQL 17/);
    expect(rows[0]!.fsync).toBe('off');
  } finally {
    await pool.end();
  }
});

test('Temporal from the harness serves the namespace with the checkout search attributes', async () => {
  const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS! });
  try {
    await connection.workflowService.describeNamespace({ namespace: 'default' });
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
    expect(Object.keys(customAttributes ?? {})).toEqual(expect.arrayContaining(SEARCH_ATTRIBUTES.map((s) => s.name)));
  } finally {
    await connection.close();
  }
});

test('start-dev arguments: persistence, UI and pragmas', () => {
  const args = devServerArgs({ cliPath: 't', host: '127.0.0.1', port: 7233, uiPort: 8233, dbFile: '/d/temporal.sqlite' }).join(' ');
  expect(args).toContain('server start-dev --ip 127.0.0.1 --port 7233 --ui-port 8233 --db-filename /d/temporal.sqlite');
  for (const [k, v] of Object.entries(TUNED_SQLITE_PRAGMAS)) expect(args).toContain(`--sqlite-pragma ${k}=${v}`);
  const baseline = devServerArgs({ cliPath: 't', host: 'h', port: 1, pragmas: {} }).join(' ');
  expect(baseline).toContain('--headless');
  expect(baseline).not.toContain('--sqlite-pragma');
  expect(baseline).not.toContain('--db-filename');
});
