/**
 * The start of the payment, order and notification services, on the one process bootstrap
 * (../bootstrap.ts): database (created if missing) → migrations → app → listen; shutdown drains
 * in-flight requests (fastify close), then ends the pool. Each service's `main.ts` is one call.
 */
import type { FastifyInstance } from 'fastify';
import type { ServiceName } from '../config';
import { prepareDatabase, runProcess } from '../bootstrap';
import { createPool } from '../db/pool';
import { idempotencyMigrations } from '../idempotency/plugin';
import type { ServiceDeps } from './service-app';

export interface ServiceDefinition {
  name: ServiceName;
  /** Absolute folder of the service's own SQL migrations (run after the idempotency table's). */
  migrations: string;
  buildApp(deps: ServiceDeps): Promise<FastifyInstance>;
}

export function runService(def: ServiceDefinition): void {
  runProcess({
    name: def.name,
    async start(config, log) {
      const url = config.databaseUrls[def.name];
      const pool = createPool(url, 10, config.database.acquireTimeoutMs);
      try {
        await prepareDatabase(url, pool, [idempotencyMigrations, def.migrations], log);
        const app = await def.buildApp({ config, pool });
        await app.listen({ host: config.binds[def.name], port: config.ports[def.name] });
        return {
          shutdown: async () => {
            await app.close();
            await pool.end();
          },
        };
      } catch (err) {
        await pool.end().catch(() => undefined);
        throw err;
      }
    },
  });
}
