/**
 * The checkout API in this test process, as the API tests run it: real Postgres and the real
 * Temporal dev server with the real workflows; the three services are the in-memory fakes.
 */
import type { FastifyInstance } from 'fastify';
import type { Client } from '@temporalio/client';
import type { Pool } from 'pg';
import { createActivities } from '../../src/activities';
import { loadConfig } from '../../src/platform/config';
import { createPool } from '../../src/platform/db/pool';
import { buildApiApp, checkoutApiMigrations, serviceLookups } from '../../src/services/checkout-api/app';
import { TemporalGateway } from '../../src/services/checkout-api/temporal-gateway';
import { freshDatabase } from './db';
import { createFakeServices, type FakeServiceOptions, type FakeServices } from './fake-services';
import { connectClient, startWorker, uniqueTaskQueue } from './temporal';

export interface ApiStack {
  /** The API's own pool. */
  pool: Pool;
  app: FastifyInstance;
  base: string;
  client: Client;
  services: FakeServices;
  close(): Promise<void>;
}

export async function startApiStack(opts: {
  name: string;
  /** `key:merchant,…` */
  apiKeys: string;
  /** The API pool's size; default the test database's own pool. */
  poolSize?: number;
  services?: FakeServiceOptions;
}): Promise<ApiStack> {
  const { pool: migrated, url } = await freshDatabase(opts.name, [checkoutApiMigrations]);
  const config = loadConfig({ ...process.env, API_KEYS: opts.apiKeys, LOG_LEVEL: 'warn', CHECKOUT_OUTCOME_SWEEP_MS: '200' });
  const pool = opts.poolSize ? createPool(url, opts.poolSize, config.database.acquireTimeoutMs) : migrated;
  const { client, close: closeClient } = await connectClient();
  const services = createFakeServices(opts.services);
  const taskQueue = uniqueTaskQueue(opts.name);
  const worker = await startWorker(taskQueue, createActivities({ services }));
  const app = await buildApiApp({ config, pool, temporal: new TemporalGateway(client, taskQueue), ...serviceLookups(services) });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    pool,
    app,
    base,
    client,
    services,
    async close() {
      await app.close();
      await worker.stop();
      await closeClient();
      if (pool !== migrated) await pool.end();
      await migrated.end();
    },
  };
}
