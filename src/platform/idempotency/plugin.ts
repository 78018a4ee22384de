/**
 * The idempotency plugin shared by every service and the checkout API (docs/api.md#idempotency).
 *
 * A route opts in with `config: { idempotent: true }`. For such a route:
 *  - preValidation: the Idempotency-Key header is required and well-formed (400 otherwise);
 *    schema validation runs next, so a bad request is rejected before any record exists;
 *  - right before the handler (a wrapper the plugin puts around each such route's handler):
 *    the key is claimed atomically, scoped by tenant, against a fingerprint of the
 *    request. A finished key replays its stored response; a different request under the key
 *    gets 422; a key in flight elsewhere is waited on (bounded), then 409 + Retry-After.
 *    On a claim, a transaction is opened and handed to the handler as `request.idempotency.tx`;
 *  - onSend: the outcome decides what commits. 2xx/3xx: the handler's effects and the stored
 *    response commit in ONE transaction. 4xx (a business answer such as a decline): effects are
 *    rolled back, the answer is stored and will be replayed. 5xx: everything is rolled back and
 *    the claim released, so a retry runs the handler again; so is a 400 the handler itself
 *    raises (a body that passed the schema but not the business rules).
 * Requests the plugin itself rejects (400/401/409/410/422) never change a stored record.
 *
 * With `fenceRoute`, the plugin also mounts `POST /idempotency-keys/{key}/fence`, the lookup of
 * a caller who lost an answer (the saga reconciling a step whose reply never came):
 *  - the key finished → its stored response, replayed as the original request would get it
 *    (`Idempotent-Replayed: true`): 201 with the charge, or the stored 402 decline;
 *  - no request ever ran under it → the key is closed with a tombstone and the answer is
 *    410 `idempotency-key-fenced`; every later request under the key (a late original, a
 *    retry) gets that same 410 and is never executed;
 *  - a request is in flight → waited for like a duplicate (bounded), then 409 + Retry-After.
 * So "410" means, for good: it did not happen and it will not happen.
 *
 * Each request's decision is counted on the app's `/metrics` (when the metrics plugin is
 * registered) as `idempotency_requests_total{route, outcome}`, outcome one of new, replayed,
 * mismatched, in_use, lease_taken_over, fenced; fence lookups as `idempotency_fence_lookups_total{result}`.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import path from 'node:path';
import type { PoolClient } from 'pg';
import { Counter } from 'prom-client';
import { idempotencyOutcomes, type IdempotencyOutcome } from '../http/metrics';
import { Problem } from '../http/problem';
import { IDEMPOTENCY_KEY_PATTERN, requestFingerprint } from './fingerprint';
import * as store from './store';
import type { IdempotencyOptions } from './types';

export type { IdempotencyOptions, IdempotencyContext, StoredResponse } from './types';
export { purgeExpired } from './store';

/** Absolute folder of the plugin's SQL migrations; every service migrates it with its own. */
export const idempotencyMigrations = path.join(__dirname, 'migrations');

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
export const REPLAYED_HEADER = 'Idempotent-Replayed';
/**
 * Answers that are not stored: they say the request itself was unacceptable (bad input, a
 * mismatch with an earlier request found by the handler,
 * bad credentials, too many requests), so a corrected retry under the same key must run.
 */
const UNSTORED_STATUSES = new Set([400, 401, 403, 408, 413, 415, 422, 429]);

/** Response headers worth replaying; anything else (dates, connection, rate limits) is per response. */
const REPLAYED_HEADERS = ['content-type', 'location'];

interface Claim {
  tenant: string;
  key: string;
  owner: string;
  tx: PoolClient;
  settled: boolean;
}

const claims = new WeakMap<FastifyRequest, Claim>();

const NEVER_RAN = 'No request ran under this Idempotency-Key before a lookup closed it; none ever will';

function isIdempotent(request: FastifyRequest): boolean {
  return request.routeOptions.config?.idempotent === true;
}

export function idempotencyKeyOf(request: FastifyRequest): string {
  const raw = request.headers[IDEMPOTENCY_KEY_HEADER];
  if (raw === undefined || raw === '') throw new Problem('idempotency-key-missing');
  if (typeof raw !== 'string' || !IDEMPOTENCY_KEY_PATTERN.test(raw)) {
    throw new Problem('idempotency-key-invalid', 'Idempotency-Key must be 1-255 printable ASCII characters');
  }
  return raw;
}

function replay(reply: FastifyReply, response: store.StoredResponse): FastifyReply {
  for (const [name, value] of Object.entries(response.headers)) reply.header(name, value);
  return reply.code(response.status).header(REPLAYED_HEADER, 'true').send(response.body);
}

async function idempotencyPlugin(app: FastifyInstance, opts: IdempotencyOptions): Promise<void> {
  const { pool } = opts;
  app.decorateRequest('idempotency', null);

  // On the app's /metrics when the metrics plugin is registered (every service registers it first).
  const outcomes = app.hasDecorator('metrics') ? idempotencyOutcomes(app.metrics) : undefined;
  const count = (request: FastifyRequest, outcome: IdempotencyOutcome) =>
    outcomes?.inc({ route: request.routeOptions.url ?? 'unmatched', outcome });
  const fenceLookups = app.hasDecorator('metrics')
    ? new Counter({
        name: 'idempotency_fence_lookups_total',
        help: 'Lookups of a key whose answer was lost (POST /idempotency-keys/{key}/fence), by result: completed, fenced, in_use',
        labelNames: ['result'],
        registers: [app.metrics],
      })
    : undefined;

  app.addHook('preValidation', async (request) => {
    if (isIdempotent(request)) idempotencyKeyOf(request);
  });

  /**
   * Runs right before an idempotent handler: claims the key and opens the transaction, or
   * answers itself (replay, 422, 409). True when the handler should run.
   */
  async function begin(request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
    const key = idempotencyKeyOf(request);
    const tenant = opts.tenantOf(request);
    const fingerprint = requestFingerprint(request.method, request.url.split('?')[0]!, request.body);

    const result = await store.claim(pool, { tenant, key, fingerprint, leaseMs: opts.leaseMs, waitMs: opts.waitMs });
    switch (result.kind) {
      case 'replay': {
        count(request, 'replayed');
        replay(reply, result.response);
        return false;
      }
      case 'mismatch':
        count(request, 'mismatched');
        throw new Problem('idempotency-key-reused', 'This Idempotency-Key was already used with a different request');
      case 'fenced':
        count(request, 'fenced');
        throw new Problem('idempotency-key-fenced', NEVER_RAN);
      case 'busy':
        count(request, 'in_use');
        throw new Problem('idempotency-key-in-use', 'Retry after the original request finishes', {}, {
          'Retry-After': String(result.retryAfterSeconds),
        });
      case 'claimed':
        break;
    }

    let tx: PoolClient | undefined;
    try {
      tx = await pool.connect();
      if (!(await store.beginWithClaimLocked(tx, tenant, key, result.owner))) {
        count(request, 'in_use');
        throw new Problem('idempotency-key-in-use', 'The claim on this key was taken over', {}, { 'Retry-After': '1' });
      }
    } catch (err) {
      if (tx) {
        await tx.query('ROLLBACK').catch(() => undefined);
        tx.release();
      }
      await store.release(pool, tenant, key, result.owner).catch(() => undefined);
      throw err instanceof Problem ? err : new Problem('unavailable', 'The database is unavailable');
    }
    if (result.takeover) request.log.warn({ key }, 'took over an expired idempotency claim');
    count(request, result.takeover ? 'lease_taken_over' : 'new');
    claims.set(request, { tenant, key, owner: result.owner, tx, settled: false });
    request.idempotency = { tenant, key, tx };
    return true;
  }

  // The claim runs inside a wrapper around the route's handler, not in a preHandler hook: a hook
  // that answers (a replay) only stops Fastify from running the handler once the response is
  // fully written, and a slow onSend hook (a delayed reply) would let the handler run anyway.
  app.addHook('onRoute', (route) => {
    if (route.config?.idempotent !== true) return;
    const handler = route.handler;
    route.handler = async function idempotentHandler(this: FastifyInstance, request, reply) {
      if (!(await begin(request, reply))) return reply;
      return handler.call(this, request, reply);
    };
  });

  app.addHook('onSend', async (request, reply, payload) => {
    const claim = claims.get(request);
    if (!claim || claim.settled) return payload;
    claim.settled = true;
    const { tx, tenant, key, owner } = claim;
    const status = reply.statusCode;
    let released = false;
    try {
      if (status >= 500 || UNSTORED_STATUSES.has(status)) {
        await tx.query('ROLLBACK');
        await store.release(tx, tenant, key, owner);
        return payload;
      }
      const response: store.StoredResponse = {
        status,
        headers: storedHeaders(reply),
        body: typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : '',
      };
      try {
        // A business refusal: undo whatever the handler wrote, keep only the answer.
        if (status >= 400) await store.rollbackAndComplete(tx, tenant, key, owner, response);
        else await store.completeAndCommit(tx, tenant, key, owner, response);
      } catch (err) {
        if ((err as { code?: string }).code !== store.CLAIM_LOST) throw err;
        await tx.query('ROLLBACK');
        return failReply(reply, new Problem('idempotency-key-in-use', 'The claim on this key was lost; retry', {}, { 'Retry-After': '1' }));
      }
      return payload;
    } catch (err) {
      // Commit (or rollback) failed: nothing took effect. Free the key for the retry — after
      // giving the broken connection back: a request never holds one connection while it
      // waits for another (with the pool exhausted, that is how every request stops).
      request.log.error({ err, key }, 'idempotent commit failed');
      await tx.query('ROLLBACK').catch(() => undefined);
      tx.release(err as Error);
      released = true;
      await store.release(pool, tenant, key, owner).catch(() => undefined);
      return failReply(reply, new Problem('unavailable', 'The request could not be committed; retry'));
    } finally {
      if (!released) tx.release();
    }
  });

  // A request that ended without a reply passing onSend (e.g. the client went away mid-way)
  // must not keep its transaction or claim.
  app.addHook('onResponse', async (request) => {
    const claim = claims.get(request);
    if (!claim || claim.settled) return;
    claim.settled = true;
    await claim.tx.query('ROLLBACK').catch(() => undefined);
    claim.tx.release();
    await store.release(pool, claim.tenant, claim.key, claim.owner).catch(() => undefined);
  });

  if (opts.fenceRoute) {
    app.post<{ Params: { key: string } }>(
      '/idempotency-keys/:key/fence',
      { schema: { params: { type: 'object', required: ['key'], properties: { key: { type: 'string' } } } } },
      async (request, reply) => {
        const { key } = request.params;
        if (!IDEMPOTENCY_KEY_PATTERN.test(key)) {
          throw new Problem('idempotency-key-invalid', 'The key must be 1-255 printable ASCII characters');
        }
        const result = await store.fence(pool, { tenant: opts.tenantOf(request), key, waitMs: opts.waitMs });
        fenceLookups?.inc({ result: result.kind === 'busy' ? 'in_use' : result.kind });
        switch (result.kind) {
          case 'completed':
            return replay(reply, result.response);
          case 'fenced':
            throw new Problem('idempotency-key-fenced', NEVER_RAN);
          case 'busy':
            throw new Problem('idempotency-key-in-use', 'A request under this key is still in progress', {}, {
              'Retry-After': String(result.retryAfterSeconds),
            });
        }
      },
    );
  }

  if (opts.purgeIntervalMs > 0) {
    const timer = setInterval(() => {
      store.purgeExpired(pool, opts.retentionMs).then(
        (n) => n > 0 && app.log.info({ purged: n }, 'purged expired idempotency keys'),
        (err: unknown) => app.log.warn({ err }, 'idempotency purge failed'),
      );
    }, opts.purgeIntervalMs);
    timer.unref();
    app.addHook('onClose', async () => clearInterval(timer));
  }
}

function storedHeaders(reply: FastifyReply): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of REPLAYED_HEADERS) {
    const value = reply.getHeader(name);
    if (value !== undefined) headers[name] = String(value);
  }
  return headers;
}

/** Rewrites an already-serialised reply in onSend into a problem answer. */
function failReply(reply: FastifyReply, problem: Problem): string {
  reply.code(problem.status).type('application/problem+json');
  for (const [name, value] of Object.entries(problem.headers)) reply.header(name, value);
  reply.removeHeader('location');
  return JSON.stringify(problem.toJSON());
}

export default fp(idempotencyPlugin, { name: 'idempotency', fastify: '5.x' });
