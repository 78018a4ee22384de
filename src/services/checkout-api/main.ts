/** The checkout API process: `npm run start:api`, on the one process bootstrap. */
import { Client, type Connection } from '@temporalio/client';
import { createServiceClient, serviceClientOptions } from '../../activities/service-client';
import { prepareDatabase, runProcess } from '../../platform/bootstrap';
import { createPool } from '../../platform/db/pool';
import { connectClient } from '../../platform/temporal-connection';
import { buildApiApp, checkoutApiMigrations, serviceLookups } from './app';
import { CHECKOUT_POOL_SIZE } from './store';
import { TemporalGateway } from './temporal-gateway';

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
      const app = await buildApiApp({
        config,
        pool,
        temporal: new TemporalGateway(client, config.temporal.taskQueue),
        ...serviceLookups(services),
      });
      await app.listen({ port: config.ports.api, host: config.binds.api });
      const temporal = connection;
      return {
        // Requests in flight (a `Prefer: wait` included) and the outcome recorder finish before
        // Temporal and the pool go.
        shutdown: async () => {
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
