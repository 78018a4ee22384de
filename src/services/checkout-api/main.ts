/** The checkout API process: `npm run start:api`, on the one process bootstrap. */
import { Client, type Connection } from '@temporalio/client';
import { createServiceClient, serviceClientOptions } from '../../activities/service-client';
import { prepareDatabase, runProcess } from '../../platform/bootstrap';
import { createPool } from '../../platform/db/pool';
import { connectClient } from '../../platform/temporal-connection';
import { buildApiApp, checkoutApiMigrations, serviceLookups } from './app';
import { CHECKOUT_POOL_SIZE } from './store';
import { TemporalGateway } from './temporal-gateway';

/** Left of the shutdown bound, once waits have ended, to answer (a read of each run), close Temporal and the pool. */
const WAIT_MARGIN_MS = 3_000;

runProcess({
  name: 'checkout-api',
  async start(config, log) {
    const pool = createPool(config.databaseUrls.checkout, CHECKOUT_POOL_SIZE, config.database.acquireTimeoutMs);
    let connection: Connection | undefined;
    try {
      await prepareDatabase(config.databaseUrls.checkout, pool, [checkoutApiMigrations], log);
      connection = await connectClient(config);
      const client = new Client({ connection, namespace: config.temporal.namespace });
      const services = createServiceClient(serviceClientOptions(config));
      const gateway = new TemporalGateway(client, config.temporal.taskQueue);
      const app = await buildApiApp({
        config,
        pool,
        temporal: gateway,
        ...serviceLookups(services),
      });
      await app.listen({ port: config.ports.api, host: config.binds.api });
      const temporal = connection;
      return {
        // Requests in flight (a `Prefer: wait` included) and the outcome recorder finish before
        // Temporal and the pool go. A wait still going WAIT_MARGIN_MS before the shutdown bound
        // ends there and its request answers where the checkout stands (202 while it runs).
        shutdown: async () => {
          gateway.stopWaiting(Math.max(0, config.shutdownTimeoutMs - WAIT_MARGIN_MS));
          await app.close();
          await temporal.close();
          await pool.end();
        },
      };
    } catch (err) {
      await connection?.close().catch(() => undefined);
      await pool.end().catch(() => undefined);
      throw err;
    }
  },
});
