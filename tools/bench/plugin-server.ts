/**
 * The process of tools/bench/plugin.ts: one small handler — insert one row in a transaction,
 * answer 201 with it — mounted twice in this one process, on the base app every service starts
 * from (src/platform/http/base-app.ts):
 *  - PLAIN_PORT: without the idempotency plugin, the handler opening and committing its own
 *    transaction;
 *  - IDEMPOTENT_PORT: with the plugin (the services' settings), the handler writing through the
 *    plugin's transaction, which commits the row with the stored response; plus
 *    `GET /widgets/:id`, a bare primary-key read of the same service (what a replay is held to).
 * With PEER_REDIS_URL, also the peer design of tools/bench/peer/redis-lock.ts on PEER_PORT.
 * IDEMPOTENCY_LEASE_MS shortens the plugin's lease (the crashed-holder case of tools/bench/peer.ts).
 * Every pool has the services' size (10). Prints `listening` once all listen.
 */
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { migrate } from '../../src/platform/db/migrate';
import { createPool } from '../../src/platform/db/pool';
import { createBaseApp } from '../../src/platform/http/base-app';
import { Problem } from '../../src/platform/http/problem';
import idempotency, { idempotencyMigrations } from '../../src/platform/idempotency/plugin';
import { insertWidget, mountPlainWidgets, widgetBodySchema, type Widget } from './support/widgets';

const POOL_SIZE = 10;
const LOG = { level: 'warn', json: true, name: 'plugin-bench' };

async function plainApp(pool: Pool): Promise<FastifyInstance> {
  const app = createBaseApp({ log: LOG });
  mountPlainWidgets(app, pool, 'bench');
  return app;
}

async function idempotentApp(pool: Pool): Promise<FastifyInstance> {
  const app = createBaseApp({ log: LOG });
  await app.register(idempotency, {
    pool,
    retentionMs: 24 * 60 * 60 * 1000,
    leaseMs: Number(process.env.IDEMPOTENCY_LEASE_MS ?? 30_000),
    waitMs: 5_000,
    purgeIntervalMs: 0,
    tenantOf: () => 'bench',
  });
  app.post<{ Body: Widget }>('/widgets', { config: { idempotent: true }, schema: { body: widgetBodySchema } }, async (request, reply) => {
    const { tx, tenant, key } = request.idempotency!;
    const widget = await insertWidget(tx, tenant, key, request.body);
    reply.code(201).header('location', `/widgets/${widget.id}`);
    return widget;
  });
  app.get<{ Params: { id: string } }>('/widgets/:id', async (request) => {
    const { rows } = await pool.query<{ id: string; name: string }>('SELECT id, name FROM bench_widgets WHERE id = $1', [request.params.id]);
    if (!rows[0]) throw new Problem('not-found', `No widget ${request.params.id}`);
    return rows[0];
  });
  return app;
}

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL!;
  const pools = [createPool(url, POOL_SIZE), createPool(url, POOL_SIZE)];
  await migrate(pools[0]!, [idempotencyMigrations, path.join(__dirname, 'plugin-migrations')]);
  const apps: [FastifyInstance, string][] = [
    [await plainApp(pools[0]!), process.env.PLAIN_PORT!],
    [await idempotentApp(pools[1]!), process.env.IDEMPOTENT_PORT!],
  ];
  if (process.env.PEER_REDIS_URL) {
    const { peerApp } = await import('./peer/redis-lock');
    apps.push([await peerApp(createPool(url, POOL_SIZE), process.env.PEER_REDIS_URL, process.env.PEER_MODULES_DIR!), process.env.PEER_PORT!]);
  }
  for (const [app, port] of apps) await app.listen({ host: '127.0.0.1', port: Number(port) });
  process.stdout.write('listening\n');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
