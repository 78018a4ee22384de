/**
 * The Postgres that holds Temporal's own databases in `npm run start:cluster`: a second embedded
 * cluster under `<DATA_DIR>/temporal-postgres`, on TEMPORAL_POSTGRES_PORT. Its own cluster rather
 * than a database in the services' one, as in production, where Temporal's persistence is its own
 * server: restarting it (the chaos run does) takes Temporal down and leaves the services' data
 * alone, and the history service's load does not compete with the services for connections.
 * Runs as a child of the supervisor in its own process group, like tools/dev/postgres-main.ts.
 */
import path from 'node:path';
import { loadConfig } from '../../../src/platform/config';
import { exitWithPostmaster, startEmbeddedPostgres } from '../postgres';
import { redactUrl } from '../redact';
import { handleShutdown } from '../../../src/platform/bootstrap';

async function main(): Promise<void> {
  const config = loadConfig();
  const postgres = await startEmbeddedPostgres({
    dataDir: path.join(config.dataDir, 'temporal-postgres'),
    host: config.binds.temporalPostgres,
    port: config.ports.temporalPostgres,
    log: (line) => console.log(line),
  });
  const control = handleShutdown(postgres.stop, { repeatedSignal: 'wait' });
  exitWithPostmaster(postgres, () => control.stopping, console.error);
  console.log(`Postgres ready: ${redactUrl(postgres.url)}`);
}

main().catch((err: unknown) => {
  console.error(`Temporal's Postgres failed to start: ${(err as Error).message}`);
  process.exit(1);
});
