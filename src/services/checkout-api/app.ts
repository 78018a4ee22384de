/**
 * The checkout API (docs/api.md#routes): the shop-facing HTTP entry. It authenticates merchants,
 * keeps its own record of every checkout and refund per merchant and key (store.ts: the record,
 * not Temporal, decides what a key means; docs/api.md#idempotency), starts one workflow per
 * checkout and reads checkouts back from that record or from Temporal.
 *
 * No request holds a database connection while it waits: each database step is one short
 * statement on the pool, and waiting for a checkout is Temporal's long poll on the run's result.
 */
import path from 'node:path';
import swagger from '@fastify/swagger';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Pool } from 'pg';
import type { ServiceClient } from '../../activities/service-client';
import type { Config } from '../../platform/config';
import { databaseReady } from '../../platform/db/pool';
import { bearerToken, isPublicRoute } from '../../platform/http/auth';
import { createBaseApp } from '../../platform/http/base-app';
import metrics from '../../platform/http/metrics';
import { Problem } from '../../platform/http/problem';
import { requestFingerprint } from '../../platform/idempotency/fingerprint';
import { idempotencyKeyOf, REPLAYED_HEADER } from '../../platform/idempotency/plugin';
import { checkoutIdFor, refundIdFor } from '../../saga/keys';
import { orderTotal } from '../../saga/money';
import { initialCheckoutState } from '../../saga/saga';
import type { CheckoutInput, NotificationStatus, RefundState } from '../../saga/types';
import { checkoutRequestProblem, type CheckoutRefundRequest, type CheckoutRequest } from './contract';
import { OutcomeRecorder } from './outcome-recorder';
import { checkoutMetrics } from './metrics';
import { createCheckoutSchema, createRefundSchema, getCheckoutSchema, getRefundSchema } from './schemas';
import * as store from './store';
import type { CheckoutOutcome, CheckoutRecord, RefundRecord } from './store';
import type { CheckoutSnapshot, TemporalGateway } from './temporal-gateway';

/** The API database's own tables. */
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

const isFinal = (status: CheckoutOutcome['status']) => status === 'completed' || status === 'failed' || status === 'terminated';

export async function buildApiApp(deps: ApiDeps): Promise<FastifyInstance> {
  const { config, pool, temporal } = deps;
  const app = createBaseApp({ log: { level: config.logLevel, json: config.logFormat === 'json', name: 'checkout-api' } });

  await app.register(swagger, {
    openapi: {
      info: { title: 'Checkout saga API', version: '1.0.0', description: 'Start and read checkouts (docs/api.md).' },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
      security: [{ apiKey: [] }],
    },
  });
  await app.register(metrics, { service: 'checkout-api' });
  const counts = checkoutMetrics(app.metrics);

  app.decorateRequest('merchantId', '');
  app.addHook('onRequest', async (request) => {
    if (isPublicRoute(request)) return;
    const token = bearerToken(request);
    const merchantId = token ? config.apiKeys.get(token) : undefined;
    if (!merchantId) throw new Problem('unauthorized', 'Send Authorization: Bearer <api key>');
    request.merchantId = merchantId;
  });

  const recorder = new OutcomeRecorder({
    pool,
    temporal,
    intervalMs: config.checkoutRecord.outcomeSweepIntervalMs,
    retentionMs: config.checkoutRecord.retentionMs,
    log: app.log,
    recorded: counts.ended,
  });
  app.addHook('onReady', async () => recorder.start());
  app.addHook('onClose', async () => recorder.stop());

  /** The key is checked before the body, so a request without one is refused whatever it carries. */
  const requireKey = async (request: FastifyRequest) => void idempotencyKeyOf(request);

  const ui = (workflowId: string, runId: string | null) =>
    `${config.temporal.uiUrl}/namespaces/${config.temporal.namespace}/workflows/${workflowId}${runId ? `/${runId}` : ''}/history`;

  function render(record: CheckoutRecord, state: CheckoutOutcome, runId: string | null) {
    const shownRunId = runId ?? record.runId;
    return {
      id: record.id,
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
      createdAt: record.createdAt.toISOString(),
      temporal: { workflowId: record.id, runId: shownRunId, url: ui(record.id, shownRunId) },
    };
  }

  async function loadCheckout(id: string, merchantId: string): Promise<CheckoutRecord> {
    const record = await store.findCheckout(pool, id, merchantId);
    if (!record) throw new Problem('not-found', `No checkout ${id}`);
    return record;
  }

  /**
   * The checkout as it stands: its recorded outcome once it has one; else Temporal's view (waiting
   * up to `waitSeconds` for the end), recording the outcome when it is final. A record whose run
   * was never confirmed started shows its accepted request, `pending`.
   */
  async function current(record: CheckoutRecord, waitSeconds?: number): Promise<CheckoutSnapshot> {
    if (record.outcome) return { state: record.outcome, runId: record.runId, final: true };
    let snapshot: CheckoutSnapshot | null;
    try {
      snapshot = waitSeconds ? await temporal.waitForCheckout(record.id, waitSeconds * 1000) : await temporal.readCheckout(record.id);
    } catch (err) {
      throw new Problem('unavailable', `Could not read the checkout from Temporal: ${(err as Error).message}`);
    }
    if (!snapshot) {
      if (!record.startedAt && record.input) return { state: initialCheckoutState(record.input), runId: null, final: false };
      throw new Problem('unavailable', 'The checkout is not visible in Temporal yet; retry');
    }
    if (snapshot.final && (await store.recordCheckoutOutcome(pool, record.id, snapshot.state))) counts.ended(snapshot.state);
    return snapshot;
  }

  /** 202 while running; with Prefer: wait, 201 once completed and 200 once it ended otherwise. */
  function answer(request: FastifyRequest, reply: FastifyReply, record: CheckoutRecord, { state, runId }: CheckoutSnapshot) {
    const wait = preferredWaitSeconds(request.headers.prefer);
    if (wait !== undefined) reply.header('Preference-Applied', `wait=${wait}`);
    const code = wait === undefined || !isFinal(state.status) ? 202 : state.status === 'completed' ? 201 : 200;
    reply.code(code).header('location', `/checkouts/${record.id}`);
    return render(record, state, runId);
  }

  /**
   * Starts the record's run unless Temporal already confirmed one: a known key never starts a run
   * again. The run gets the request the record holds, so a retry can never change what is charged.
   */
  async function ensureStarted(request: FastifyRequest, record: CheckoutRecord): Promise<string | null> {
    if (record.startedAt) return record.runId;
    if (!record.input) throw new Error(`checkout ${record.id} has neither a run nor its request`);
    let runId: string | null;
    try {
      runId = await temporal.startCheckout(record.input);
    } catch (err) {
      request.log.error({ err, checkoutId: record.id }, 'could not start the checkout workflow');
      throw new Problem('unavailable', 'Could not start the checkout; retry with the same Idempotency-Key');
    }
    // The run exists now. Should this update not land, the next request's start finds the same run.
    const first = await store.markCheckoutStarted(pool, record.id, runId).catch((err: unknown) => {
      request.log.warn({ err, checkoutId: record.id }, 'could not record that the run started; the next request confirms it');
      return false;
    });
    if (first) counts.started();
    return runId;
  }

  app.post<{ Body: CheckoutRequest }>(
    '/checkouts',
    {
      schema: createCheckoutSchema,
      preValidation: requireKey,
      // What the schema cannot say, refused before anything is recorded: nothing is stored or started.
      preHandler: async (request) => {
        const problem = checkoutRequestProblem(request.body);
        if (problem) throw new Problem('validation-error', problem);
      },
    },
    async (request, reply) => {
      const body = request.body;
      const merchantId = request.merchantId;
      const id = checkoutIdFor(merchantId, idempotencyKeyOf(request));
      const fingerprint = requestFingerprint('POST', '/checkouts', body);
      const input: CheckoutInput = { checkoutId: id, merchantId, amount: orderTotal(body.items), ...body };

      // 1. The record first, with the request the run will be started with.
      const { record, created } = await store.recordCheckout(pool, { id, merchantId, fingerprint, input });
      if (record.fingerprint !== fingerprint) {
        counts.idempotency('/checkouts', 'mismatched');
        throw new Problem('idempotency-key-reused', 'This Idempotency-Key was already used with a different request');
      }
      counts.idempotency('/checkouts', created ? 'new' : 'replayed');
      if (!created) reply.header(REPLAYED_HEADER, 'true');

      // 2. Then the run, once per key.
      const wasStarted = record.startedAt !== null;
      const runId = await ensureStarted(request, record);

      // 3. The checkout as it stands, waited on within this request's own Prefer: wait. A fresh
      // run needs no read (it has just begun). The run exists and its record holds: nothing may
      // fail this request now, so a read that fails answers 202 with the state the run began with.
      const wait = preferredWaitSeconds(request.headers.prefer);
      const begun: CheckoutSnapshot = { state: initialCheckoutState(record.input ?? input), runId, final: false };
      if (wait === undefined && !wasStarted) return answer(request, reply, record, begun);
      const snapshot = await current({ ...record, runId: record.runId ?? runId }, wait).catch((err: unknown) => {
        request.log.warn({ err, checkoutId: record.id }, 'could not read the checkout; answering with the state it began with');
        return begun;
      });
      return answer(request, reply, record, snapshot);
    },
  );

  /**
   * The checkout with its confirmation e-mail's delivery as the outbox reports it now: the
   * checkout completes once the outbox accepted the e-mail (docs/confirmation-email.md), so a
   * `pending` e-mail is looked up; if the notification service does not answer, it stays `pending`.
   */
  async function withDelivery(state: CheckoutOutcome, merchantId: string): Promise<CheckoutOutcome> {
    if (!state.notificationId || state.notificationStatus !== 'pending') return state;
    try {
      const { status } = await deps.getNotification(merchantId, state.notificationId);
      return { ...state, notificationStatus: status };
    } catch {
      return state;
    }
  }

  app.get<{ Params: { id: string } }>('/checkouts/:id', { schema: getCheckoutSchema }, async (request) => {
    const record = await loadCheckout(request.params.id, request.merchantId);
    const { state, runId } = await current(record);
    return render(record, await withDelivery(state, request.merchantId), runId);
  });

  function renderRefund(refund: RefundRecord, state: RefundState | null) {
    return {
      id: refund.id,
      checkoutId: refund.checkoutId,
      chargeId: refund.chargeId ?? state?.chargeId ?? null,
      amount: refund.amount,
      status: state?.status ?? 'pending',
      paymentRefundId: state?.paymentRefundId ?? null,
      failure: state?.failure ?? null,
    };
  }

  /** A refund that ended `failed` answers as the payment service refused it, now and on every replay. */
  function refusal(state: RefundState): Problem {
    return new Problem(state.failure?.code === 'refund-exceeds-charge' ? 'refund-exceeds-charge' : 'invalid-state', state.failure?.message);
  }

  app.post<{ Params: { id: string }; Body: CheckoutRefundRequest }>(
    '/checkouts/:id/refunds',
    { schema: createRefundSchema, preValidation: requireKey },
    async (request, reply) => {
      const checkout = await loadCheckout(request.params.id, request.merchantId);
      const refundId = refundIdFor(checkout.id, idempotencyKeyOf(request));
      const fingerprint = requestFingerprint('POST', `/checkouts/${checkout.id}/refunds`, request.body ?? {});

      let refund = await store.findRefund(pool, refundId, checkout.id);
      let created = false;
      if (!refund) {
        const { state } = await current(checkout);
        if (state.status !== 'completed' || !state.chargeId) {
          throw new Problem('invalid-state', `Only a completed checkout can be refunded; this one is ${state.status}`);
        }
        const chargeId = state.chargeId;
        let amount = request.body?.amount;
        if (amount === undefined) {
          const charge = await deps.getCharge(request.merchantId, chargeId).catch((err: unknown) => {
            throw new Problem('unavailable', `Could not read the charge to refund the rest: ${(err as Error).message}`);
          });
          amount = charge.amount - charge.amountRefunded;
          if (amount <= 0) throw new Problem('refund-exceeds-charge', 'The charge is already fully refunded');
        }
        // A concurrent first request under the same key may have recorded it meanwhile: one record wins.
        ({ record: refund, created } = await store.recordRefund(pool, { id: refundId, checkoutId: checkout.id, fingerprint, chargeId, amount }));
      } else {
        reply.header(REPLAYED_HEADER, 'true');
      }
      if (refund.fingerprint !== null && refund.fingerprint !== fingerprint) {
        counts.idempotency('/checkouts/:id/refunds', 'mismatched');
        throw new Problem('idempotency-key-reused', 'This Idempotency-Key was already used with a different refund request');
      }
      counts.idempotency('/checkouts/:id/refunds', created ? 'new' : 'replayed');

      let result = refund.result;
      if (!result) {
        if (!refund.startedAt) {
          try {
            await temporal.startRefund({
              refundId,
              checkoutId: checkout.id,
              merchantId: request.merchantId,
              chargeId: refund.chargeId!,
              amount: refund.amount,
              currency: checkout.input?.currency,
            });
          } catch (err) {
            request.log.error({ err, refundId }, 'could not start the refund workflow');
            throw new Problem('unavailable', 'Could not start the refund; retry with the same Idempotency-Key');
          }
          await store.markRefundStarted(pool, refundId);
        }
        result = await temporal.refundResult(refundId, REFUND_WAIT_MS).catch(() => null);
        if (result) await store.recordRefundResult(pool, refundId, result);
      }
      if (result?.status === 'failed') throw refusal(result);
      reply.code(result?.status === 'succeeded' ? 201 : 202).header('location', `/checkouts/${checkout.id}/refunds/${refundId}`);
      return renderRefund(refund, result);
    },
  );

  app.get<{ Params: { id: string; refundId: string } }>('/checkouts/:id/refunds/:refundId', { schema: getRefundSchema }, async (request) => {
    const checkout = await loadCheckout(request.params.id, request.merchantId);
    const refund = await store.findRefund(pool, request.params.refundId, checkout.id);
    if (!refund) throw new Problem('not-found', `No refund ${request.params.refundId} of checkout ${checkout.id}`);
    let state = refund.result;
    if (!state && refund.startedAt) {
      const read = await temporal.readRefund(refund.id).catch((err: unknown) => {
        throw new Problem('unavailable', `Could not read the refund from Temporal: ${(err as Error).message}`);
      });
      if (read?.final) await store.recordRefundResult(pool, refund.id, read.state);
      state = read?.state ?? null;
    }
    return renderRefund(refund, state);
  });

  app.get('/healthz', { config: { public: true, probe: true }, schema: { hide: true } }, async () => {
    // Ready means able to serve: the database answers within the acquire bound.
    if (!(await databaseReady(pool, config.database.acquireTimeoutMs))) throw new Problem('unavailable', 'The database cannot be reached');
    return { status: 'ok' };
  });
  app.get('/docs', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());

  return app;
}
