/**
 * The order service (docs/api.md#order-service, #test-triggers): orders that reserve stock atomically, cancellations that
 * release it exactly once.
 */
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Problem } from '../../platform/http/problem';
import { idParamsSchema } from '../../platform/http/schemas';
import { buildServiceApp, tenantOf, type ServiceDeps } from '../../platform/http/service-app';
import { orderItemsProblem, orderRequestSchema, orderSchema, type OrderRequest } from './contract';
import { cancelOrder, loadOrder, placeOrder } from './store';

export const migrations = path.join(__dirname, 'migrations');

export async function buildApp(deps: ServiceDeps): Promise<FastifyInstance> {
  const app = await buildServiceApp({ name: 'order', ...deps });

  app.post<{ Body: OrderRequest }>(
    '/orders',
    {
      config: { idempotent: true, faultPoint: 'order' },
      schema: {
        body: orderRequestSchema,
        response: { 201: orderSchema },
      },
    },
    async (request, reply) => {
      const problem = orderItemsProblem(request.body.items);
      if (problem) throw new Problem('validation-error', problem);
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
