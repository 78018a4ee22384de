/**
 * The Fastify instance every internal service (payment, order, notification) starts from: the
 * base app (strict validation, body limit, problem+json) plus service-token authentication,
 * tenancy, metrics, idempotency and fault injection, so all three behave alike.
 *
 * Hook order matters and is fixed here: authentication and tenant checks (onRequest) come
 * first, so an unauthenticated caller can neither claim a key nor trip a fault; the
 * idempotency plugin next; the faults plugin last, so its onSend runs after the commit.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { Pool } from 'pg';
import type { Config } from '../config';
import { databaseReady } from '../db/pool';
import faults from '../faults';
import idempotency, { type IdempotencyOptions } from '../idempotency/plugin';
import { bearerToken, isPublicRoute } from './auth';
import { createBaseApp } from './base-app';
import metrics from './metrics';
import { Problem } from './problem';
import { isTenantId, TENANT_ID_RULE } from '../tenant';

/** What every service's `buildApp` is given; tests pass their own pool and config. */
export interface ServiceDeps {
  config: Config;
  pool: Pool;
  /**
   * Replaces the shared idempotency plugin. No product entry point passes one: it exists for the
   * audit's negative control, a deliberately broken plugin that only a test entry point
   * registers (test/fixtures/no-idempotency/).
   */
  idempotencyPlugin?: FastifyPluginAsync<IdempotencyOptions>;
}

export interface ServiceAppOptions extends ServiceDeps {
  name: string;
}

export const TENANT_HEADER = 'x-tenant-id';
export const DEFAULT_TENANT = 'default';

/** The tenant a request acts for. Validated in onRequest, so handlers can trust it. */
export function tenantOf(request: FastifyRequest): string {
  const raw = request.headers[TENANT_HEADER];
  return typeof raw === 'string' && raw !== '' ? raw : DEFAULT_TENANT;
}

/** Constant-time comparison; hashing first makes the lengths equal, as timingSafeEqual needs. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

export async function buildServiceApp({ name, config, pool, idempotencyPlugin = idempotency }: ServiceAppOptions): Promise<FastifyInstance> {
  const app = createBaseApp({ log: { level: config.logLevel, json: config.logFormat === 'json', name } });

  app.addHook('onRequest', async (request) => {
    if (isPublicRoute(request)) return;
    const token = bearerToken(request);
    if (token === undefined || !sameSecret(token, config.serviceToken)) {
      throw new Problem('unauthorized', 'A valid service token is required', {}, { 'WWW-Authenticate': 'Bearer' });
    }
    const tenant = request.headers[TENANT_HEADER];
    if (tenant !== undefined && (typeof tenant !== 'string' || !isTenantId(tenant))) {
      throw new Problem('validation-error', `X-Tenant-Id must be ${TENANT_ID_RULE}`);
    }
  });

  await app.register(metrics, { service: name });
  await app.register(idempotencyPlugin, { pool, ...config.idempotency, tenantOf, fenceRoute: true });
  await app.register(faults, { spec: config.faults, seed: config.faultsSeed });

  app.get(
    '/healthz',
    {
      config: { public: true, probe: true },
      schema: {
        response: {
          200: {
            type: 'object',
            properties: { status: { const: 'ok' }, service: { type: 'string' } },
          },
        },
      },
    },
    async () => {
      // Ready means able to serve: the database answers within the acquire bound.
      if (!(await databaseReady(pool, config.database.acquireTimeoutMs))) {
        throw new Problem('unavailable', 'The database cannot be reached');
      }
      return { status: 'ok' as const, service: name };
    },
  );

  return app;
}
