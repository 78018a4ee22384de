/**
 * Jest global setup: one real Postgres cluster and one Temporal dev server for the whole run,
 * on free ports in a fresh temp folder, so tests never touch (or collide with) `npm start`.
 * Everything a test needs is exported through process.env, which jest workers inherit.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../../src/platform/config';
import { startEmbeddedPostgres } from '../postgres';
import { redactUrl } from '../redact';
import { locateTemporalCli } from '../temporal-cli';
import { startTemporalServer } from '../temporal-server';
import { freePorts } from '../wait';
import { writeWorkflowBundle } from '../workflow-bundle';
import { HARNESS, type HarnessState } from './state';

const TEST_SERVICE_TOKEN = 'test-service-token';

export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const log = (m: string) => process.stderr.write(`[harness] ${m}\n`);
  const host = '127.0.0.1';
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'checkout-saga-test-'));
  const [pgPort, temporalPort] = await freePorts(2, host);
  const cliPath = await locateTemporalCli({ cliPath: loadConfig().temporal.cliPath, log });

  const [postgres, temporal, bundle] = await Promise.allSettled([
    startEmbeddedPostgres({ dataDir, host, port: pgPort, fast: true, log: (l) => log(`postgres: ${l}`) }),
    // In memory and headless: nothing to keep, nothing to look at. Not detached, so a Ctrl-C
    // on jest reaches it like it reaches jest.
    startTemporalServer({ cliPath, host, port: temporalPort, detached: false }),
    writeWorkflowBundle(path.join(dataDir, 'workflow-bundle.js')),
  ]);
  const state: HarnessState = {
    dataDir,
    postgres: postgres.status === 'fulfilled' ? postgres.value : undefined,
    temporal: temporal.status === 'fulfilled' ? temporal.value : undefined,
  };
  (globalThis as Record<string, unknown>)[HARNESS] = state;
  const failure = [postgres, temporal, bundle].find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) {
    const { default: teardown } = await import('./teardown');
    await teardown();
    throw failure.reason;
  }

  Object.assign(process.env, {
    HOST: host,
    DATA_DIR: dataDir,
    DATABASE_URL: state.postgres!.url,
    POSTGRES_PORT: String(pgPort),
    TEMPORAL_ADDRESS: state.temporal!.address,
    TEMPORAL_PORT: String(temporalPort),
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_CLI_PATH: cliPath,
    SERVICE_TOKEN: TEST_SERVICE_TOKEN,
    WORKFLOW_BUNDLE_PATH: (bundle as PromiseFulfilledResult<string>).value,
  });
  log(`Postgres ${redactUrl(state.postgres!.url)} and Temporal ${state.temporal!.address} ready in ${Date.now() - started} ms (data ${dataDir})`);
}
