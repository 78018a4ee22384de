/**
 * Route schemas of the checkout API. They validate requests (Fastify/ajv) and generate the
 * OpenAPI document at /docs, so the docs cannot drift from what is enforced. The request bodies
 * come from the API's contract (`contract.ts`), itself built from the services' contracts.
 */
import { checkoutRefundRequestSchema, checkoutRequestSchema } from './contract';

const problem = {
  type: 'object',
  description: 'RFC 9457 problem details (application/problem+json)',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
  },
} as const;

const idempotencyKeyHeader = {
  type: 'object',
  properties: {
    'idempotency-key': { type: 'string', description: '1–255 printable ASCII characters, unique per checkout' },
    prefer: { type: 'string', description: 'wait=N (N ≤ 30): wait up to N seconds for a terminal state' },
  },
} as const;

const failure = {
  type: ['object', 'null'],
  properties: { code: { type: 'string' }, message: { type: 'string' } },
} as const;

export const checkoutResource = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    status: {
      enum: ['pending', 'charging', 'ordering', 'notifying', 'completed', 'compensating', 'failed', 'terminated'],
      description: '`terminated`: the run was ended from outside (an operator) before its own end; see failure',
    },
    amount: { type: 'integer', description: 'total in minor units' },
    currency: { type: 'string' },
    customerId: { type: 'string' },
    chargeId: { type: ['string', 'null'] },
    orderId: { type: ['string', 'null'] },
    refundId: { type: ['string', 'null'] },
    notification: {
      type: 'object',
      properties: { id: { type: ['string', 'null'] }, status: { type: ['string', 'null'] } },
    },
    failure,
    compensationsFailing: { type: 'boolean' },
    steps: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          key: { type: 'string' },
          status: { type: 'string' },
          outcome: { type: ['string', 'null'] },
          error: failure,
          attempts: { type: 'integer' },
        },
      },
    },
    createdAt: { type: 'string' },
    temporal: {
      type: 'object',
      properties: { workflowId: { type: 'string' }, runId: { type: ['string', 'null'] }, url: { type: 'string' } },
    },
  },
} as const;

export const createCheckoutSchema = {
  summary: 'Start a checkout',
  tags: ['checkouts'],
  headers: idempotencyKeyHeader,
  body: checkoutRequestSchema,
  response: {
    200: { description: 'Waited on (Prefer: wait): failed, or terminated', ...checkoutResource },
    201: { description: 'Waited on (Prefer: wait): completed', ...checkoutResource },
    202: { description: 'Accepted (or, for the same key again, the checkout as it stands): the saga is running', ...checkoutResource },
    '4xx': problem,
  },
} as const;

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^chk_[0-9a-f]{40}$' } },
} as const;

export const getCheckoutSchema = {
  summary: 'Read a checkout',
  tags: ['checkouts'],
  params: idParams,
  response: { 200: checkoutResource, '4xx': problem },
} as const;

export const refundResource = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    checkoutId: { type: 'string' },
    chargeId: { type: 'string' },
    amount: { type: 'integer' },
    status: { enum: ['pending', 'refunding', 'succeeded', 'failed'] },
    paymentRefundId: { type: ['string', 'null'] },
    failure,
  },
} as const;

export const createRefundSchema = {
  summary: 'Refund part or all of a completed checkout',
  tags: ['refunds'],
  headers: idempotencyKeyHeader,
  params: idParams,
  body: checkoutRefundRequestSchema,
  response: { 201: refundResource, 202: refundResource, '4xx': problem },
} as const;

export const getRefundSchema = {
  summary: 'Read a refund of a checkout',
  tags: ['refunds'],
  params: {
    type: 'object',
    required: ['id', 'refundId'],
    properties: { ...idParams.properties, refundId: { type: 'string', pattern: '^rfd_[0-9a-f]{40}$' } },
  },
  response: { 200: refundResource, '4xx': problem },
} as const;
