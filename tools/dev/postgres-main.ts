/**
 * `npm run start:postgres`: Postgres alone, as configured (the embedded cluster under DATA_DIR,
 * or DATABASE_URL's server), with every service database created. Ctrl-C stops it.
 */
import { loadConfig } from '../../src/platform/config';
import { exitWithPostmaster, startPostgres } from './postgres';
import { redactUrl } from './redact';
import { handleShutdown } from '../../src/platform/bootstrap';

async function main(): Promise<void> {
  const config = loadConfig();
  const postgres = await startPostgres(config, (line) => console.log(`postgres | ${line}`));
  const control = handleShutdown(postgres.stop, { repeatedSignal: 'wait' });
  exitWithPostmaster(postgres, () => control.stopping, console.error);
  // Passwords never printed (the embedded cluster's is `postgres`; an external one is the operator's).
  console.log(`Postgres ready: ${redactUrl(postgres.url)}`);
  for (const [name, url] of Object.entries(config.databaseUrls)) console.log(`  ${name.padEnd(12)} ${redactUrl(url)}`);
  console.log(config.embeddedPostgres ? 'Ctrl-C stops it.' : '(external server: nothing to stop; Ctrl-C exits)');
}

main().catch((err: unknown) => {
  console.error(`Postgres failed to start: ${(err as Error).message}`);
  process.exit(1);
});
