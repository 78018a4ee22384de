/**
 * The checkout API (SPEC §3): the shop-facing HTTP entry. It authenticates merchants, makes
 * `POST /checkouts` idempotent per merchant and key (the shared plugin, on the API's own
 * database), starts one workflow per checkout and reads checkouts back from Temporal.
 */
import path from 'node:path';
import swagger from '@fastify/swagger';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Pool } from 'pg';
import type { ServiceClient } from '../../activities/service-client';
import type { Config } from '../../platform/config';
import { bearerToken, isPublicRoute } from '../../platform/http/auth';
import { createBaseApp } from '../../platform/http/base-app';
import metrics from '../../platform/http/metrics';
import { Problem } from '../../platform/http/problem';
import idempotency, { type StoredResponse } from '../../platform/idempotency/plugin';
import { requestFingerprint } from '../../platform/idempotency/fingerprint';
import { checkoutIdFor, refundIdFor } from '../../saga/keys';
import { orderTotal } from '../../saga/money';
import { initialCheckoutState } from '../../saga/saga';
import type { CheckoutInput, CheckoutState, NotificationStatus } from '../../saga/types';
import { checkoutRequestProblem, type CheckoutRefundRequest, type CheckoutRequest } from './contract';
import { createCheckoutSchema, createRefundSchema, getCheckoutSchema } from './schemas';
import type { CheckoutSnapshot, TemporalGateway } from './temporal-gateway';

/** The API database's own tables, migrated after the idempotency plugin's. */
export const checkoutApiMigrations = path.join(__dirname, 'migrations');

export interface ApiDeps {
  config: Config;
  pool: Pool;
  temporal: TemporalGateway;
  /** Reads a charge from the payment service (to refund "the rest"). */
  getCharge: (merchantId: string, chargeId: string) => Promise<{ amount: number; amountRefunded: number }>;
  /** Reads the confirmation e-mail's delivery from the notification service (its outbox owns it). */
  getNotification: (merchantId: string, notificationId: string) => Promise<{ status: NotificationStatus }>;
}

declare module 'fastify' {
  interface FastifyRequest {
    merchantId: string;
  }
}

/** A GET of a checkout waits at most this long for the e-mail's delivery; past it, the e-mail shows as pending. */
const DELIVERY_LOOKUP_TIMEOUT_MS = 1_000;

/** The reads the API makes of the services, over the one service client. */
export function serviceLookups(services: ServiceClient): Pick<ApiDeps, 'getCharge' | 'getNotification'> {
  const get = <T>(service: 'payment' | 'notification', path: string, tenantId: string, signal?: AbortSignal) =>
    services.call<T>(service, { method: 'GET', path, tenantId, signal });
  return {
    getCharge: (merchantId, chargeId) => get('payment', `/charges/${encodeURIComponent(chargeId)}`, merchantId),
    getNotification: (merchantId, notificationId) =>
      get('notification', `/notifications/${encodeURIComponent(notificationId)}`, merchantId, AbortSignal.timeout(DELIVERY_LOOKUP_TIMEOUT_MS)),
  };
}

/** How long a refund request waits for the payment service's answer before answering 202. */
const REFUND_WAIT_MS = 10_000;
const MAX_PREFER_WAIT_S = 30;

/** `Prefer: wait=N` (RFC 7240), capped at 30 s; undefined when absent. */
export function preferredWaitSeconds(prefer: string | string[] | undefined): number | undefined {
  const header = Array.isArray(prefer) ? prefer.join(',') : prefer;
  const match = header?.match(/(?:^|[,;\s])wait=(\d+)/i);
  return match ? Math.min(Number(match[1]), MAX_PREFER_WAIT_S) : undefined;
}

export async function buildApiApp(deps: ApiDeps): Promise<FastifyInstance> {
  const { config, pool, temporal } = deps;
  const app = createBaseApp({ log: { level: config.logLevel, json: config.logFormat === 'json', name: 'checkout-api' } });

  await app.register(swagger, {
    openapi: {
      info: { title: 'Checkout saga API', version: '1.0.0', description: 'Start and read checkouts (SPEC §3).' },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
      security: [{ apiKey: [] }],
    },
  });
  await app.register(metrics, { service: 'checkout-api' });

  app.decorateRequest('merchantId', '');
  app.addHook('onRequest', async (request) => {
    if (isPublicRoute(request)) return;
    const token = bearerToken(request);
    const merchantId = token ? config.apiKeys.get(token) : undefined;
    if (!merchantId) throw new Problem('unauthorized', 'Send Authorization: Bearer <api key>');
    request.merchantId = merchantId;
  });

  await app.register(idempotency, { pool, ...config.idempotency, tenantOf: (request) => request.merchantId });

  const ui = (workflowId: string, runId: string | null) =>
    `${config.temporal.uiUrl}/namespaces/${config.temporal.namespace}/workflows/${workflowId}${runId ? `/${runId}` : ''}/history`;

  function render(state: CheckoutState, runId: string | null, createdAt: Date) {
    return {
      id: state.checkoutId,
      status: state.status,
      amount: state.amount,
      currency: state.currency,
      customerId: state.customerId,
      chargeId: state.chargeId,
      orderId: state.orderId,
      refundId: state.refundId,
      notification: { id: state.notificationId, status: state.notificationStatus },
      failure: state.failure,
      compensationsFailing: state.compensationsFailing,
      steps: state.steps,
      createdAt: createdAt.toISOString(),
      temporal: { workflowId: state.checkoutId, runId, url: ui(state.checkoutId, runId) },
    };
  }

  interface CheckoutRow {
    id: string;
    merchant_id: string;
    fingerprint: string;
    customer_id: string;
    amount: string;
    currency: string;
    created_at: Date;
    final_state: CheckoutState | null;
  }

  async function loadRow(id: string, merchantId: string): Promise<CheckoutRow> {
    const { rows } = await pool.query<CheckoutRow>('SELECT * FROM checkouts WHERE id = $1 AND merchant_id = $2', [id, merchantId]);
    // Another merchant's checkout is indistinguishable from none.
    if (!rows[0]) throw new Problem('not-found', `No checkout ${id}`);
    return rows[0];
  }

  /** The checkout as Temporal sees it now; the stored final state once Temporal forgot it. */
  async function snapshotOf(row: CheckoutRow, waitSeconds?: number): Promise<CheckoutSnapshot> {
    if (row.final_state) return { state: row.final_state, runId: null };
    let snapshot: CheckoutSnapshot | null;
    try {
      snapshot = waitSeconds ? await temporal.waitForCheckout(row.id, waitSeconds * 1000) : await temporal.readCheckout(row.id);
    } catch (err) {
      throw new Problem('unavailable', `Could not read the checkout from Temporal: ${(err as Error).message}`);
    }
    if (!snapshot) throw new Problem('unavailable', 'The checkout is not visible in Temporal yet; retry');
    if (snapshot.state.status === 'completed' || snapshot.state.status === 'failed') {
      await pool.query('UPDATE checkouts SET final_state = $2 WHERE id = $1 AND final_state IS NULL', [row.id, snapshot.state]);
    }
    return snapshot;
  }

  /** 202 while running; with Prefer: wait, 201 once completed and 200 once failed. */
  function answer(request: FastifyRequest, reply: FastifyReply, row: CheckoutRow, { state, runId }: CheckoutSnapshot) {
    const wait = preferredWaitSeconds(request.headers.prefer);
    if (wait !== undefined) reply.header('Preference-Applied', `wait=${wait}`);
    const code = wait === undefined ? 202 : state.status === 'completed' ? 201 : state.status === 'failed' ? 200 : 202;
    reply.code(code).header('location', `/checkouts/${row.id}`);
    return render(state, runId, row.created_at);
  }

  app.post<{ Body: CheckoutRequest }>(
    '/checkouts',
    {
      schema: createCheckoutSchema,
      // What the schema cannot say, refused before the key is claimed: nothing is stored or started.
      preHandler: async (request) => {
        const problem = checkoutRequestProblem(request.body);
        if (problem) throw new Problem('validation-error', problem);
      },
      config: {
        idempotent: true,
        // A replay answers with the same checkout as it is now, so a client retrying with
        // `Prefer: wait` sees the outcome rather than the snapshot taken at creation.
        idempotentReplay: async (request: FastifyRequest, reply: FastifyReply, stored: StoredResponse) => {
          const { id } = JSON.parse(stored.body) as { id: string };
          const row = await loadRow(id, request.merchantId);
          return reply.send(answer(request, reply, row, await snapshotOf(row, preferredWaitSeconds(request.headers.prefer))));
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const amount = orderTotal(body.items);
      const { tx, key } = request.idempotency!;
      const merchantId = request.merchantId;
      const id = checkoutIdFor(merchantId, key);
      const fingerprint = requestFingerprint('POST', '/checkouts', body);

      // The checkout record outlives the idempotency record: a key whose record was purged
      // still maps onto its checkout, and a different body under it is still a 422.
      const inserted = await tx.query<CheckoutRow>(
        `INSERT INTO checkouts (id, merchant_id, fingerprint, customer_id, amount, currency)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING RETURNING *`,
        [id, merchantId, fingerprint, body.customerId, amount, body.currency],
      );
      const row = inserted.rows[0] ?? (await tx.query<CheckoutRow>('SELECT * FROM checkouts WHERE id = $1', [id])).rows[0]!;
      if (row.fingerprint !== fingerprint) {
        throw new Problem('idempotency-key-reused', 'This Idempotency-Key was already used with a different request');
      }

      const input: CheckoutInput = { checkoutId: id, merchantId, amount, ...body };
      let runId: string | null;
      try {
        runId = await temporal.startCheckout(input);
      } catch (err) {
        request.log.error({ err, checkoutId: id }, 'could not start the checkout workflow');
        throw new Problem('unavailable', 'Could not start the checkout; retry with the same Idempotency-Key');
      }
      // Once the run exists nothing may fail this request: a 5xx would roll back the checkout
      // record while the run goes on. So a failed wait still answers 202 with the initial state.
      let snapshot: CheckoutSnapshot = { state: initialCheckoutState(input), runId };
      const wait = preferredWaitSeconds(request.headers.prefer);
      if (wait !== undefined) snapshot = await snapshotOf(row, wait).catch(() => snapshot);
      return answer(request, reply, row, snapshot);
    },
  );

  /**
   * The checkout with its confirmation e-mail's delivery as the outbox reports it now: the
   * checkout completes once the outbox accepted the e-mail (docs/confirmation-email.md), so a
   * `pending` e-mail is looked up; if the notification service does not answer, it stays `pending`.
   */
  async function withDelivery(state: CheckoutState, merchantId: string): Promise<CheckoutState> {
    if (!state.notificationId || state.notificationStatus !== 'pending') return state;
    try {
      const { status } = await deps.getNotification(merchantId, state.notificationId);
      return { ...state, notificationStatus: status };
    } catch {
      return state;
    }
  }

  app.get<{ Params: { id: string } }>('/checkouts/:id', { schema: getCheckoutSchema }, async (request) => {
    const row = await loadRow(request.params.id, request.merchantId);
    const { state, runId } = await snapshotOf(row);
    return render(await withDelivery(state, request.merchantId), runId, row.created_at);
  });

  app.post<{ Params: { id: string }; Body: CheckoutRefundRequest }>(
    '/checkouts/:id/refunds',
    { schema: createRefundSchema, config: { idempotent: true } },
    async (request, reply) => {
      const row = await loadRow(request.params.id, request.merchantId);
      const { state } = await snapshotOf(row);
      if (state.status !== 'completed' || !state.chargeId) {
        throw new Problem('invalid-state', `Only a completed checkout can be refunded; this one is ${state.status}`);
      }
      const chargeId = state.chargeId;
      let amount = request.body?.amount;
      if (amount === undefined) {
        const charge = await deps.getCharge(request.merchantId, chargeId);
        amount = charge.amount - charge.amountRefunded;
        if (amount <= 0) throw new Problem('refund-exceeds-charge', 'The charge is already fully refunded');
      }
      const { tx, key } = request.idempotency!;
      const refundId = refundIdFor(row.id, key);
      await tx.query('INSERT INTO checkout_refunds (id, checkout_id, amount) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING', [
        refundId,
        row.id,
        amount,
      ]);
      const result = await temporal.refund({ refundId, checkoutId: row.id, merchantId: request.merchantId, chargeId, amount }, REFUND_WAIT_MS);
      if (result?.status === 'failed') {
        throw new Problem(result.failure?.code === 'refund-exceeds-charge' ? 'refund-exceeds-charge' : 'invalid-state', result.failure?.message);
      }
      reply.code(result?.status === 'succeeded' ? 201 : 202).header('location', `/checkouts/${row.id}/refunds/${refundId}`);
      return {
        id: refundId,
        checkoutId: row.id,
        chargeId,
        amount,
        status: result?.status ?? 'pending',
        paymentRefundId: result?.paymentRefundId ?? null,
        failure: result?.failure ?? null,
      };
    },
  );

  app.get('/healthz', { config: { public: true, probe: true }, schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/docs', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());

  return app;
}
