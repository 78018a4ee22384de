/** The checkout API process: `npm run start:api`. */
import { Client } from '@temporalio/client';
import { createServiceClient, serviceClientOptions } from '../../activities/service-client';
import { loadConfig } from '../../platform/config';
import { migrate } from '../../platform/db/migrate';
import { createPool } from '../../platform/db/pool';
import { connectClient } from '../../platform/temporal-connection';
import { idempotencyMigrations } from '../../platform/idempotency/plugin';
import { buildApiApp, checkoutApiMigrations } from './app';
import { TemporalGateway } from './temporal-gateway';

async function main(): Promise<void> {
  const config = loadConfig();
  const pool = createPool(config.databaseUrls.checkout, 20, config.database.acquireTimeoutMs);
  await migrate(pool, [idempotencyMigrations, checkoutApiMigrations]);
  const connection = await connectClient(config);
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const services = createServiceClient(serviceClientOptions(config));

  const app = await buildApiApp({
    config,
    pool,
    temporal: new TemporalGateway(client, config.temporal.taskQueue),
    getCharge: (merchantId, chargeId) =>
      services.call('payment', { method: 'GET', path: `/charges/${encodeURIComponent(chargeId)}`, tenantId: merchantId }),
  });
  await app.listen({ port: config.ports.api, host: config.host });

  const stop = async () => {
    await app.close();
    await connection.close();
    await pool.end();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((err) => {
  console.error('checkout API failed to start:', err);
  process.exit(1);
});
