/**
 * The handler every idempotency benchmark mounts (tools/bench/plugin-server.ts with and without
 * the plugin, tools/bench/peer/redis-lock.ts behind the peer's lock): one INSERT in a transaction.
 */
import type { FastifyInstance } from 'fastify';
import type { Pool, PoolClient } from 'pg';

export const widgetBodySchema = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 50 },
    note: { type: 'string', maxLength: 200 },
    /** A slow handler: waits this long inside its transaction (the crashed-holder case). */
    delayMs: { type: 'integer', minimum: 0, maximum: 60_000 },
  },
} as const;

export interface Widget {
  name: string;
  note?: string;
  delayMs?: number;
}

/** The handler's work: one INSERT on the transaction it is given. */
export async function insertWidget(tx: PoolClient, tenant: string, key: string, body: Widget) {
  const { rows } = await tx.query<{ id: string }>('INSERT INTO bench_widgets (tenant, key, name) VALUES ($1, $2, $3) RETURNING id', [
    tenant,
    key,
    body.name,
  ]);
  if (body.delayMs) await new Promise((r) => setTimeout(r, body.delayMs));
  return { id: rows[0]!.id, name: body.name };
}

/** `POST /widgets` with no idempotency of its own: the handler opens and commits its own transaction. */
export function mountPlainWidgets(app: FastifyInstance, pool: Pool, tenant: string): void {
  app.post<{ Body: Widget }>('/widgets', { schema: { body: widgetBodySchema } }, async (request, reply) => {
    const tx = await pool.connect();
    try {
      await tx.query('BEGIN');
      const widget = await insertWidget(tx, tenant, String(request.headers['idempotency-key'] ?? ''), request.body);
      await tx.query('COMMIT');
      reply.code(201).header('location', `/widgets/${widget.id}`);
      return widget;
    } catch (err) {
      await tx.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      tx.release();
    }
  });
}
