/**
 * Process bootstrap shared by the payment, order and notification services:
 * config → database (created if missing) → migrations → app → listen → graceful shutdown.
 * Each service's `main.ts` is one call to `runService`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { loadConfig, withDatabase, type ServiceName } from '../config';
import { migrate } from '../db/migrate';
import { createPool, ensureDatabase } from '../db/pool';
import { idempotencyMigrations } from '../idempotency/plugin';
import type { ServiceDeps } from './service-app';

export interface ServiceDefinition {
  name: ServiceName;
  /** Absolute folder of the service's own SQL migrations (run after the idempotency table's). */
  migrations: string;
  buildApp(deps: ServiceDeps): Promise<FastifyInstance>;
}

/** How long shutdown may take before the process gives up waiting for in-flight requests. */
const SHUTDOWN_TIMEOUT_MS = 10_000;
/** Postgres may still be starting when a supervisor launches everything at once. */
const DB_STARTUP_ATTEMPTS = 30;

/** Creates and migrates the service database, retrying while Postgres is not yet accepting connections. */
async function prepareDatabase(url: string, pool: Pool, migrations: string[], log: (msg: string) => void): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const database = decodeURIComponent(new URL(url).pathname.slice(1));
      await ensureDatabase(withDatabase(url, 'postgres'), database);
      await migrate(pool, migrations);
      return;
    } catch (err) {
      const code = (err as { code?: string }).code;
      const transient = code === 'ECONNREFUSED' || code === '57P03'; // refused, or "the database system is starting up"
      if (!transient || attempt >= DB_STARTUP_ATTEMPTS) throw err;
      log(`database not ready (${code}), retrying`);
      await sleep(1_000);
    }
  }
}

/**
 * Stops `close` on the first SIGTERM/SIGINT; a second signal, or a shutdown that hangs,
 * exits at once. In-flight idempotent requests that are cut off lose nothing: their
 * transaction rolls back and the claim's lease lets a retry take over.
 */
export function closeOnSignal(close: () => Promise<void>, log: { info(msg: string): void; error(obj: unknown, msg: string): void }): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info(`${signal}: shutting down`);
    setTimeout(() => process.exit(1), SHUTDOWN_TIMEOUT_MS).unref();
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop).on('SIGINT', stop);
}

export async function runService(def: ServiceDefinition): Promise<void> {
  const config = loadConfig();
  const url = config.databaseUrls[def.name];
  const pool = createPool(url, 10, config.database.acquireTimeoutMs);
  try {
    await prepareDatabase(url, pool, [idempotencyMigrations, def.migrations], (msg) => process.stderr.write(`${def.name}: ${msg}\n`));
    const app = await def.buildApp({ config, pool });
    closeOnSignal(async () => {
      await app.close();
      await pool.end();
    }, app.log);
    await app.listen({ host: config.host, port: config.ports[def.name] });
  } catch (err) {
    process.stderr.write(`${def.name} failed to start: ${(err as Error).stack ?? String(err)}\n`);
    await pool.end().catch(() => undefined);
    process.exit(1);
  }
}
