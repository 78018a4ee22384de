/**
 * The payment service (docs/api.md#payment-service, #test-triggers): charges captured at once against simulated test cards,
 * partial refunds that never add up past the charge.
 */
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Problem } from '../../platform/http/problem';
import { idParamsSchema } from '../../platform/http/schemas';
import { buildServiceApp, tenantOf, type ServiceDeps } from '../../platform/http/service-app';
import { authorize } from './cards';
import {
  chargeRequestSchema,
  chargeSchema,
  chargeWithRefundsSchema,
  refundRequestSchema,
  refundSchema,
  type ChargeRequest,
  type RefundRequest,
} from './contract';
import { findCharge, insertCharge, refundCharge } from './store';

export const migrations = path.join(__dirname, 'migrations');

export async function buildApp(deps: ServiceDeps): Promise<FastifyInstance> {
  const app = await buildServiceApp({ name: 'payment', ...deps });

  app.post<{ Body: ChargeRequest }>(
    '/charges',
    {
      config: { idempotent: true, faultPoint: 'charge' },
      schema: {
        body: chargeRequestSchema,
        response: { 201: chargeSchema },
      },
    },
    async (request, reply) => {
      const { amount, currency, paymentMethod, customerId } = request.body;
      const cardBrand = authorize(paymentMethod);
      const charge = await insertCharge(request.idempotency!, { amount, currency, customerId, cardBrand });
      request.log.info({ chargeId: charge.id, amount, currency }, 'charge captured');
      return reply.code(201).header('location', `/charges/${charge.id}`).send(charge);
    },
  );

  app.post<{ Body: RefundRequest }>(
    '/refunds',
    {
      config: { idempotent: true, faultPoint: 'refund' },
      schema: {
        body: refundRequestSchema,
        response: { 201: refundSchema },
      },
    },
    async (request, reply) => {
      const refund = await refundCharge(request.idempotency!, request.body.chargeId, request.body.amount);
      request.log.info({ refundId: refund.id, chargeId: refund.chargeId, amount: refund.amount }, 'refund created');
      return reply.code(201).send(refund);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/charges/:id',
    {
      schema: {
        params: idParamsSchema,
        response: {
          200: chargeWithRefundsSchema,
        },
      },
    },
    async (request) => {
      const charge = await findCharge(deps.pool, tenantOf(request), request.params.id);
      if (!charge) throw new Problem('not-found', `No charge ${request.params.id}`);
      return charge;
    },
  );

  return app;
}
