/**
 * `npm run temporal:setup` (and the `temporal-setup` container of docker-compose.yml): the one
 * Temporal setup step against the Temporal the environment configures (TEMPORAL_ADDRESS,
 * TEMPORAL_NAMESPACE, TEMPORAL_TLS_*, TEMPORAL_API_KEY…). Waits up to TEMPORAL_SETUP_TIMEOUT_MS
 * (default 120 s) for a frontend that is still starting, then exits 0 once the namespace and the
 * search attributes are in place.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../platform/config';
import { connectClient } from '../platform/temporal-connection';
import { ensureTemporalSetup } from './setup';

async function main(): Promise<void> {
  const config = loadConfig();
  const deadline = Date.now() + config.temporal.setupTimeoutMs;
  for (;;) {
    try {
      const connection = await connectClient(config);
      try {
        const report = await ensureTemporalSetup(connection, config.temporal.namespace, { log: (m) => console.log(`temporal-setup: ${m}`) });
        const changed = report.namespaceCreated || report.searchAttributesAdded.length > 0;
        console.log(`temporal-setup: namespace ${config.temporal.namespace} ready${changed ? '' : ' (nothing to change)'}`);
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      if (Date.now() > deadline) throw err;
      console.log(`temporal-setup: not yet (${(err as Error).message.split('\n')[0]}); retrying`);
      await sleep(2_000);
    }
  }
}

main().catch((err: unknown) => {
  console.error(`temporal-setup failed: ${(err as Error).message}`);
  process.exit(1);
});
