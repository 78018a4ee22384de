/**
 * `npm run start:temporal`: the Temporal dev server alone (SQLite file under DATA_DIR, Web UI on).
 * `--locate` only finds (or builds) the Temporal CLI and prints its path: `.ci/run` uses it so
 * the one-time build happens before the tests, not inside a test timeout.
 */
import { handleShutdown } from '../../src/platform/bootstrap';
import { loadConfig } from '../../src/platform/config';
import { locateTemporalCli } from './temporal-cli';
import { configuredDevServer, startTemporalServer } from './temporal-server';

async function main(): Promise<void> {
  const config = loadConfig();
  const cliPath = await locateTemporalCli({ cliPath: config.temporal.cliPath });
  if (process.argv.includes('--locate')) {
    console.log(cliPath);
    return;
  }
  if (!config.temporal.embedded) throw new Error(`TEMPORAL_ADDRESS=${config.temporal.address} is set: that Temporal is not started here`);
  const server = await startTemporalServer({
    ...configuredDevServer(config, cliPath),
    onLine: (line) => console.log(`temporal | ${line}`),
  });
  const shutdown = handleShutdown(server.stop, { repeatedSignal: 'wait' });
  void server.child.exited.then((exit) => {
    if (shutdown.stopping) return;
    console.error(`the Temporal dev server exited (${exit.signal ?? exit.code})`);
    process.exit(1);
  });
  console.log(`Temporal ready: ${server.address} (namespace ${config.temporal.namespace}), Web UI ${config.temporal.uiUrl}. Ctrl-C stops it.`);
}

main().catch((err: unknown) => {
  console.error(`Temporal failed to start: ${(err as Error).message}`);
  process.exit(1);
});
