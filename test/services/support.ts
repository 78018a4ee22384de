/**
 * Starts one service in-process on port 0 against a fresh database on the harness's real
 * Postgres, and calls it the way the worker does (service token, tenant, Idempotency-Key).
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Pool } from 'pg';
import { loadConfig, type Config } from '../../src/platform/config';
import type { ServiceDeps } from '../../src/platform/http/service-app';
import { idempotencyMigrations } from '../../src/platform/idempotency/plugin';
import { freshDatabase } from '../support/db';

export const SERVICE_TOKEN = 'test-service-token';

export interface CallOptions {
  key?: string;
  body?: unknown;
  tenant?: string;
  /** null sends no Authorization header. */
  token?: string | null;
}

export interface Answer<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export interface RunningService {
  app: FastifyInstance;
  pool: Pool;
  config: Config;
  base: string;
  call<T = any>(method: 'GET' | 'POST', path: string, opts?: CallOptions): Promise<Answer<T>>;
  close(): Promise<void>;
}

/** A key unique to this run, shaped like the saga's (`chk_<hex>:<step>`). */
export const newKey = (step = 'charge') => `chk_${randomBytes(8).toString('hex')}:${step}`;

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ SERVICE_TOKEN, LOG_LEVEL: 'silent', IDEMPOTENCY_PURGE_INTERVAL_MS: '0', ...env });
}

export async function startService<D extends ServiceDeps>(
  name: string,
  migrations: string,
  buildApp: (deps: D) => Promise<FastifyInstance>,
  opts: { env?: Record<string, string>; pool?: Pool; deps?: Omit<D, keyof ServiceDeps> } = {},
): Promise<RunningService> {
  const pool = opts.pool ?? (await freshDatabase(name, [idempotencyMigrations, migrations])).pool;
  const config = testConfig(opts.env);
  const app = await buildApp({ ...opts.deps, config, pool } as D);
  const base = await app.listen({ port: 0, host: '127.0.0.1' });

  async function call(method: 'GET' | 'POST', path: string, o: CallOptions = {}): Promise<Answer> {
    const headers: Record<string, string> = {};
    if (o.token !== null) headers.authorization = `Bearer ${o.token ?? SERVICE_TOKEN}`;
    if (o.tenant) headers['x-tenant-id'] = o.tenant;
    if (o.key) headers['idempotency-key'] = o.key;
    if (o.body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${base}${path}`, { method, headers, body: o.body === undefined ? undefined : JSON.stringify(o.body) });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
  }

  return {
    app,
    pool,
    config,
    base,
    call,
    async close() {
      await app.close();
      if (!opts.pool) await pool.end();
    },
  };
}

export const count = async (pool: Pool, sql: string, params: unknown[] = []) =>
  Number((await pool.query<{ n: string }>(sql, params)).rows[0]!.n);
