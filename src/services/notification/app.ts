/**
 * The notification service (SPEC §4): `POST /notifications` only commits an outbox row with
 * the idempotency key and answers 202; the dispatcher running in the same process sends it.
 */
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Problem } from '../../platform/http/problem';
import { idParamsSchema, refSchema, timestampSchema } from '../../platform/http/schemas';
import { buildServiceApp, tenantOf, type ServiceDeps } from '../../platform/http/service-app';
import { OutboxDispatcher } from './dispatcher';
import { enqueue, findNotification } from './store';

export const migrations = path.join(__dirname, 'migrations');

export interface NotificationAppDeps extends ServiceDeps {
  /** Run the outbox dispatcher in this process (default true; tests may drive it themselves). */
  dispatch?: boolean;
}

interface NotificationBody {
  to: string;
  template: string;
  data: Record<string, unknown>;
}

const notificationSchema = {
  type: 'object',
  required: ['id', 'status', 'messageId', 'to', 'template', 'attempts', 'lastError', 'createdAt', 'nextAttemptAt', 'sentAt'],
  properties: {
    id: refSchema,
    status: { enum: ['pending', 'sent', 'dead'] },
    messageId: { type: 'string' },
    to: { type: 'string' },
    template: { type: 'string' },
    attempts: { type: 'integer' },
    lastError: { type: ['string', 'null'] },
    createdAt: timestampSchema,
    nextAttemptAt: { anyOf: [timestampSchema, { type: 'null' }] },
    sentAt: { anyOf: [timestampSchema, { type: 'null' }] },
  },
} as const;

export async function buildApp({ dispatch = true, ...deps }: NotificationAppDeps): Promise<FastifyInstance> {
  const app = await buildServiceApp({ name: 'notification', ...deps });

  if (dispatch) {
    const { outbox, smtpUrl, faults, faultsSeed } = deps.config;
    const dispatcher = new OutboxDispatcher(deps.pool, { ...outbox, smtpUrl, faults, faultsSeed }, app.log);
    app.addHook('onReady', async () => dispatcher.start());
    app.addHook('onClose', async () => dispatcher.stop());
  }

  app.post<{ Body: NotificationBody }>(
    '/notifications',
    {
      config: { idempotent: true, faultPoint: 'notify' },
      schema: {
        body: {
          type: 'object',
          required: ['to', 'template', 'data'],
          additionalProperties: false,
          properties: {
            to: { type: 'string', format: 'email', maxLength: 254 },
            template: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,63}$' },
            // Free-form template data; the body limit bounds its size.
            data: { type: 'object', maxProperties: 50 },
          },
        },
        response: {
          202: {
            type: 'object',
            required: ['id', 'status', 'messageId'],
            properties: { id: refSchema, status: { const: 'pending' }, messageId: { type: 'string' } },
          },
        },
      },
    },
    async (request, reply) => {
      const n = await enqueue(request.idempotency!, request.body);
      request.log.info({ notificationId: n.id, messageId: n.messageId, template: n.template }, 'notification queued');
      return reply.code(202).header('location', `/notifications/${n.id}`).send({ id: n.id, status: 'pending', messageId: n.messageId });
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
