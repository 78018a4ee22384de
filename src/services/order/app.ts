/**
 * The order service (SPEC §4, §5): orders that reserve stock atomically, cancellations that
 * release it exactly once.
 */
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Problem } from '../../platform/http/problem';
import { amountSchema, idParamsSchema, refSchema, timestampSchema } from '../../platform/http/schemas';
import { buildServiceApp, tenantOf, type ServiceDeps } from '../../platform/http/service-app';
import { cancelOrder, loadOrder, placeOrder, type OrderItem } from './store';

export const migrations = path.join(__dirname, 'migrations');

const MAX_ITEMS = 50;
const MAX_QUANTITY = 1_000;

const itemSchema = {
  type: 'object',
  required: ['sku', 'quantity', 'unitAmount'],
  additionalProperties: false,
  properties: {
    sku: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_.-]+$' },
    quantity: { type: 'integer', minimum: 1, maximum: MAX_QUANTITY },
    unitAmount: amountSchema,
  },
} as const;

const orderSchema = {
  type: 'object',
  required: ['id', 'status', 'customerId', 'chargeId', 'amount', 'items', 'createdAt', 'cancelledAt'],
  properties: {
    id: refSchema,
    status: { enum: ['created', 'cancelled'] },
    customerId: refSchema,
    chargeId: refSchema,
    amount: { type: 'integer', minimum: 1 },
    items: { type: 'array', items: itemSchema },
    createdAt: timestampSchema,
    cancelledAt: { anyOf: [timestampSchema, { type: 'null' }] },
  },
} as const;

interface OrderBody {
  customerId: string;
  chargeId: string;
  items: OrderItem[];
}

export async function buildApp(deps: ServiceDeps): Promise<FastifyInstance> {
  const app = await buildServiceApp({ name: 'order', ...deps });

  app.post<{ Body: OrderBody }>(
    '/orders',
    {
      config: { idempotent: true, faultPoint: 'order' },
      schema: {
        body: {
          type: 'object',
          required: ['customerId', 'chargeId', 'items'],
          additionalProperties: false,
          properties: {
            customerId: refSchema,
            chargeId: refSchema,
            items: { type: 'array', minItems: 1, maxItems: MAX_ITEMS, items: itemSchema },
          },
        },
        response: { 201: orderSchema },
      },
    },
    async (request, reply) => {
      const { items } = request.body;
      // One line per SKU: a second line would make "reserve N" ambiguous (JSON schema cannot say this).
      if (new Set(items.map((i) => i.sku)).size !== items.length) {
        throw new Problem('validation-error', 'Each SKU may appear in one item only');
      }
      const order = await placeOrder(request.idempotency!, request.body);
      request.log.info({ orderId: order.id, chargeId: order.chargeId, amount: order.amount }, 'order created');
      return reply.code(201).header('location', `/orders/${order.id}`).send(order);
    },
  );

  app.post<{ Params: { id: string } }>(
    '/orders/:id/cancel',
    {
      config: { idempotent: true, faultPoint: 'cancel' },
      schema: { params: idParamsSchema, response: { 200: orderSchema } },
    },
    async (request) => {
      const order = await cancelOrder(request.idempotency!, request.params.id);
      request.log.info({ orderId: order.id }, 'order cancelled');
      return order;
    },
  );

  app.get<{ Params: { id: string } }>(
    '/orders/:id',
    { schema: { params: idParamsSchema, response: { 200: orderSchema } } },
    async (request) => {
      const order = await loadOrder(deps.pool, tenantOf(request), request.params.id);
      if (!order) throw new Problem('not-found', `No order ${request.params.id}`);
      return order;
    },
  );

  return app;
}
