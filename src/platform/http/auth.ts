/**
 * What every HTTP surface shares about credentials: routes that need none, and the bearer
 * token of the others (a service token between services, a merchant API key at the API).
 */
import type { FastifyRequest } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Served without credentials (health, docs, metrics). */
    public?: boolean;
  }
}

export function isPublicRoute(request: FastifyRequest): boolean {
  return request.routeOptions.config?.public === true;
}

/** The token of `Authorization: Bearer <token>`, if any. */
export function bearerToken(request: FastifyRequest): string | undefined {
  return /^Bearer (.+)$/i.exec(request.headers.authorization ?? '')?.[1];
}
