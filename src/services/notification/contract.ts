/**
 * The notification service's contract: what `POST /notifications` accepts and what it and
 * `GET /notifications/{id}` answer. Defined once, here; the service validates with these schemas,
 * the activities send these types, and the checkout API takes its e-mail field from `to`.
 */
import { refSchema, timestampSchema } from '../../platform/http/schemas';

export const emailSchema = { type: 'string', format: 'email', maxLength: 254 } as const;
export const templateSchema = { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,63}$' } as const;
export const MAX_DATA_PROPERTIES = 50;

export interface NotificationRequest {
  to: string;
  template: string;
  /** Rendered into the e-mail, never logged. */
  data: Record<string, unknown>;
}

export const notificationRequestSchema = {
  type: 'object',
  required: ['to', 'template', 'data'],
  additionalProperties: false,
  properties: {
    to: emailSchema,
    template: templateSchema,
    // Free-form template data; the body limit bounds its size.
    data: { type: 'object', maxProperties: MAX_DATA_PROPERTIES },
  },
} as const;

/** `POST /notifications` answers 202 once the message is in the outbox. */
export interface NotificationAccepted {
  id: string;
  status: 'pending';
  messageId: string;
}

export const notificationAcceptedSchema = {
  type: 'object',
  required: ['id', 'status', 'messageId'],
  properties: { id: refSchema, status: { const: 'pending' }, messageId: { type: 'string' } },
} as const;

export type NotificationStatus = 'pending' | 'sent' | 'dead';

export interface Notification {
  id: string;
  status: NotificationStatus;
  messageId: string;
  to: string;
  template: string;
  attempts: number;
  lastError: string | null;
  createdAt: string;
  nextAttemptAt: string | null;
  sentAt: string | null;
}

export const notificationSchema = {
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
