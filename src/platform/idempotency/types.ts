import type { FastifyRequest } from 'fastify';
import type { Pool, PoolClient } from 'pg';

export interface IdempotencyOptions {
  pool: Pool;
  /** A completed key is replayed for this long, then purged and new again. */
  retentionMs: number;
  /** An in-flight claim older than this may be taken over (its holder is presumed dead). */
  leaseMs: number;
  /** How long a duplicate waits for the in-flight original before answering 409. */
  waitMs: number;
  /** How often expired keys are purged; 0 disables the scheduled purge. */
  purgeIntervalMs: number;
  /**
   * Mounts `POST /idempotency-keys/{key}/fence` (see the plugin): the lookup a caller who lost
   * an answer uses to learn the outcome without causing it. For services called by the saga;
   * the route is protected by whatever authenticates the app's other routes.
   */
  fenceRoute?: boolean;
  /** The caller a key belongs to: the same key from two tenants is two requests. */
  tenantOf: (request: FastifyRequest) => string;
}

/** A finished request's answer, as stored and replayed. */
export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** What an idempotent handler gets on `request.idempotency`. */
export interface IdempotencyContext {
  tenant: string;
  key: string;
  /**
   * An open transaction. The handler's database effects MUST go through it: it commits
   * together with the stored response, or not at all.
   */
  tx: PoolClient;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Marks a mutating route: Idempotency-Key required, effects committed with the response. */
    idempotent?: boolean;
  }
  interface FastifyRequest {
    idempotency: IdempotencyContext | null;
  }
}
