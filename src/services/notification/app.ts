/**
 * The notification service (docs/api.md#notification-service): `POST /notifications` only commits an outbox row with
 * the idempotency key and answers 202; the dispatcher running in the same process sends it.
 */
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Problem } from '../../platform/http/problem';
import { idParamsSchema } from '../../platform/http/schemas';
import { buildServiceApp, tenantOf, type ServiceDeps } from '../../platform/http/service-app';
import {
  notificationAcceptedSchema,
  notificationRequestSchema,
  notificationSchema,
  type NotificationAccepted,
  type NotificationRequest,
} from './contract';
import { OutboxDispatcher } from './dispatcher';
import { enqueue, findNotification } from './store';

export const migrations = path.join(__dirname, 'migrations');

export interface NotificationAppDeps extends ServiceDeps {
  /** Run the outbox dispatcher in this process (default true; tests may drive it themselves). */
  dispatch?: boolean;
}

export async function buildApp({ dispatch = true, ...deps }: NotificationAppDeps): Promise<FastifyInstance> {
  const app = await buildServiceApp({ name: 'notification', ...deps });

  if (dispatch) {
    const { outbox, smtpUrl, faults, faultsSeed } = deps.config;
    const dispatcher = new OutboxDispatcher(deps.pool, { ...outbox, smtpUrl, faults, faultsSeed }, app.log);
    app.addHook('onReady', async () => dispatcher.start());
    app.addHook('onClose', async () => dispatcher.stop());
  }

  app.post<{ Body: NotificationRequest }>(
    '/notifications',
    {
      config: { idempotent: true, faultPoint: 'notify' },
      schema: {
        body: notificationRequestSchema,
        response: { 202: notificationAcceptedSchema },
      },
    },
    async (request, reply) => {
      const n = await enqueue(request.idempotency!, request.body);
      request.log.info({ notificationId: n.id, messageId: n.messageId, template: n.template }, 'notification queued');
      const accepted: NotificationAccepted = { id: n.id, status: 'pending', messageId: n.messageId };
      return reply.code(202).header('location', `/notifications/${n.id}`).send(accepted);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/notifications/:id',
    { schema: { params: idParamsSchema, response: { 200: notificationSchema } } },
    async (request) => {
      const n = await findNotification(deps.pool, tenantOf(request), request.params.id);
      if (!n) throw new Problem('not-found', `No notification ${request.params.id}`);
      return n;
    },
  );

  return app;
}
