/**
 * A database connection dropped under a checked-out client (Postgres restarted, or the backend
 * terminated) must surface as a failed query, never as an unhandled 'error' that kills the process.
 */
import { createPool } from '../../src/platform/db/pool';
import { clusterUrl } from '../support/db';

test('a terminated connection of a checked-out client fails its next query and nothing else', async () => {
  const pool = createPool(clusterUrl(), 2);
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);
  process.on('uncaughtException', onUncaught);
  try {
    const client = await pool.connect();
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    await pool.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
    await new Promise((r) => setTimeout(r, 200)); // let the termination notice arrive while idle
    await expect(client.query('SELECT 1')).rejects.toThrow();
    client.release(true);
    expect(uncaught).toEqual([]);
    expect((await pool.query('SELECT 1 AS ok')).rows[0].ok).toBe(1);
  } finally {
    process.off('uncaughtException', onUncaught);
    await pool.end();
  }
});
