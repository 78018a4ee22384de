/**
 * The peer of tools/bench/peer.ts: the seed's design for an idempotent route — a Redis lock plus
 * double-check, as `@node-idempotency/core` does it with its Redis adapter, mounted on Fastify the
 * way its Fastify plugin mounts it (a preHandler runs `onRequest`: `SET key IN_PROGRESS NX PX ttl`,
 * or the stored record when the key exists; an onSend hook runs `onResponse` on every reply:
 * `SET key COMPLETE+response PX ttl`). The handler is the same as the plugin's (one INSERT), in its
 * own transaction, committed before the reply: the effect and the Redis record are two writes.
 *
 * The packages are not dependencies of this project: tools/bench/peer.ts installs them, pinned,
 * into PEER_MODULES_DIR and this module loads them from there.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Pool } from 'pg';
import { createBaseApp } from '../../../src/platform/http/base-app';
import { mountPlainWidgets } from '../support/widgets';

export const PEER_PACKAGES = ['@node-idempotency/core@1.0.11', '@node-idempotency/storage-adapter-redis@1.0.2'];

interface IdempotencyResponse {
  body?: unknown;
  error?: unknown;
  additional?: Record<string, unknown>;
}
interface IdempotencyParams {
  headers: Record<string, unknown>;
  path: string;
  method?: string;
  body?: Record<string, unknown>;
}
interface Idempotency {
  onRequest(req: IdempotencyParams): Promise<IdempotencyResponse | undefined>;
  onResponse(req: IdempotencyParams, res: IdempotencyResponse): Promise<void>;
}
interface IdempotencyErrorLike extends Error {
  code: string;
}

/** The HTTP answer of each library error, as @node-idempotency/shared maps them. */
const STATUS: Record<string, number> = {
  REQUEST_IN_PROGRESS: 409,
  IDEMPOTENCY_FINGERPRINT_MISSMATCH: 422,
  IDEMPOTENCY_KEY_LEN_EXEEDED: 400,
};

export async function peerApp(pool: Pool, redisUrl: string, modulesDir: string): Promise<FastifyInstance> {
  const load = createRequire(path.join(modulesDir, 'package.json'));
  const { Idempotency: IdempotencyClass, IdempotencyError } = load('@node-idempotency/core') as {
    Idempotency: new (storage: unknown, options?: unknown) => Idempotency;
    IdempotencyError: new (...args: unknown[]) => IdempotencyErrorLike;
  };
  const { RedisStorageAdapter } = load('@node-idempotency/storage-adapter-redis') as {
    RedisStorageAdapter: new (options: { url: string }) => { connect(): Promise<void>; disconnect(): Promise<void> };
  };
  const storage = new RedisStorageAdapter({ url: redisUrl });
  await storage.connect();
  const idempotency = new IdempotencyClass(storage, { enforceIdempotency: true });

  const app = createBaseApp({ log: { level: 'warn', json: true, name: 'peer' } });
  app.addHook('onClose', async () => storage.disconnect());
  const params = (request: FastifyRequest): IdempotencyParams => ({
    headers: request.headers,
    body: request.body as Record<string, unknown>,
    path: request.url,
    method: request.method,
  });

  app.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
    try {
      const stored = await idempotency.onRequest(params(request));
      if (!stored) return; // first time: the handler runs
      if (typeof stored.additional?.statusCode === 'number') void reply.status(stored.additional.statusCode);
      if (typeof stored.additional?.location === 'string') void reply.header('location', stored.additional.location);
      void reply.header('idempotent-replayed', 'true');
      return await reply.send(stored.body ?? stored.error);
    } catch (err) {
      if (err instanceof IdempotencyError) {
        if (err.code === 'REQUEST_IN_PROGRESS') void reply.header('retry-after', '1');
        return await reply.status(STATUS[err.code] ?? 500).send({ error: err.code, message: err.message });
      }
      throw err;
    }
  });
  // As the library's Fastify plugin: every reply is recorded, whatever answered it.
  app.addHook('onSend', async (request, reply, payload) => {
    const { statusCode } = reply;
    const location = reply.getHeader('location');
    const body: unknown = typeof payload === 'string' ? JSON.parse(payload) : payload;
    await idempotency.onResponse(params(request), {
      additional: { statusCode, ...(location ? { location } : {}) },
      ...(statusCode < 400 ? { body } : { error: body }),
    });
    return payload;
  });

  mountPlainWidgets(app, pool, 'peer');
  return app;
}
