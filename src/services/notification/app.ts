/**
 * The notification service (docs/api.md#notification-service): `POST /notifications` only commits an outbox row with
 * the idempotency key and answers 202; the dispatcher running in the same process sends it.
 */
import os from 'node:os';
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
import { registerOutboxMetrics } from './outbox-metrics';
import { enqueue, findNotification } from './store';

export const migrations = path.join(__dirname, 'migrations');

export interface NotificationAppDeps extends ServiceDeps {
  /** Run the outbox dispatcher in this process (default true; tests may drive it themselves). */
  dispatch?: boolean;
}

export async function buildApp({ dispatch = true, ...deps }: NotificationAppDeps): Promise<FastifyInstance> {
  const app = await buildServiceApp({ name: 'notification', ...deps });
  registerOutboxMetrics(app.metrics, deps.pool, app.log);

  if (dispatch) {
    const { outbox, smtpUrl, faults, faultsSeed, ports } = deps.config;
    // The host and the service's port name this instance: two live processes cannot hold both,
    // and a restarted one holds them again, so it can release the claims its predecessor left.
    const instance = `notification@${os.hostname()}:${ports.notification}`;
    const dispatcher = new OutboxDispatcher(deps.pool, { ...outbox, smtpUrl, faults, faultsSeed, instance }, app.log);
    // Once listening: a process that cannot bind the port (another holds it, and with it the
    // instance name) never starts a dispatcher, so it never releases the live one's claims.
    app.addHook('onListen', async () => dispatcher.start());
    // preClose, before the server gives up its port: a successor on the same port must not
    // start (and release this instance's claims) while the message in hand is still being sent.
    app.addHook('preClose', async () => dispatcher.stop());
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
