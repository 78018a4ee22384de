/**
 * The payment service (SPEC §4, §5): charges captured at once against simulated test cards,
 * partial refunds that never add up past the charge.
 */
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Problem } from '../../platform/http/problem';
import { amountSchema, currencySchema, idParamsSchema, refSchema, timestampSchema } from '../../platform/http/schemas';
import { buildServiceApp, tenantOf, type ServiceDeps } from '../../platform/http/service-app';
import { authorize, TEST_TOKENS } from './cards';
import { findCharge, insertCharge, refundCharge } from './store';

export const migrations = path.join(__dirname, 'migrations');

const refundSchema = {
  type: 'object',
  required: ['id', 'chargeId', 'amount', 'currency', 'createdAt'],
  properties: { id: refSchema, chargeId: refSchema, amount: amountSchema, currency: currencySchema, createdAt: timestampSchema },
} as const;

const chargeSchema = {
  type: 'object',
  required: ['id', 'status', 'amount', 'currency', 'amountRefunded', 'customerId', 'createdAt'],
  properties: {
    id: refSchema,
    status: { const: 'captured' },
    amount: amountSchema,
    currency: currencySchema,
    amountRefunded: { type: 'integer', minimum: 0 },
    customerId: refSchema,
    createdAt: timestampSchema,
  },
} as const;

interface ChargeBody {
  amount: number;
  currency: string;
  paymentMethod: string;
  customerId: string;
}

interface RefundBody {
  chargeId: string;
  /** Omitted: refund everything not yet refunded. */
  amount?: number;
}

export async function buildApp(deps: ServiceDeps): Promise<FastifyInstance> {
  const app = await buildServiceApp({ name: 'payment', ...deps });

  app.post<{ Body: ChargeBody }>(
    '/charges',
    {
      config: { idempotent: true, faultPoint: 'charge' },
      schema: {
        body: {
          type: 'object',
          required: ['amount', 'currency', 'paymentMethod', 'customerId'],
          additionalProperties: false,
          properties: {
            amount: amountSchema,
            currency: currencySchema,
            paymentMethod: { enum: TEST_TOKENS },
            customerId: refSchema,
          },
        },
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

  app.post<{ Body: RefundBody }>(
    '/refunds',
    {
      config: { idempotent: true, faultPoint: 'refund' },
      schema: {
        body: {
          type: 'object',
          required: ['chargeId'],
          additionalProperties: false,
          properties: { chargeId: refSchema, amount: amountSchema },
        },
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
          200: { ...chargeSchema, properties: { ...chargeSchema.properties, refunds: { type: 'array', items: refundSchema } } },
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
