/**
 * The payment service's contract: what `POST /charges` and `POST /refunds` accept and what they
 * and `GET /charges/{id}` answer. Defined once, here; the service validates with these schemas,
 * the activities send these types, and the checkout API builds its own request schema from these
 * fragments, so a checkout the payment service would refuse is refused at the API's door.
 */
import { amountSchema, currencySchema, refSchema, timestampSchema } from '../../platform/http/schemas';

/** The simulated processor's test tokens (docs/api.md#test-triggers); `cards.ts` says what each does. */
export const PAYMENT_METHODS = ['tok_visa', 'tok_mastercard', 'tok_chargeDeclined', 'tok_insufficientFunds'] as const;
export type PaymentMethod = (typeof PAYMENT_METHODS)[number];

export interface ChargeRequest {
  amount: number;
  currency: string;
  paymentMethod: string;
  customerId: string;
}

export const chargeRequestSchema = {
  type: 'object',
  required: ['amount', 'currency', 'paymentMethod', 'customerId'],
  additionalProperties: false,
  properties: {
    amount: amountSchema,
    currency: currencySchema,
    paymentMethod: { type: 'string', enum: PAYMENT_METHODS },
    customerId: refSchema,
  },
} as const;

export interface Charge {
  id: string;
  status: 'captured';
  amount: number;
  currency: string;
  amountRefunded: number;
  customerId: string;
  createdAt: string;
}

export const chargeSchema = {
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

export interface RefundRequest {
  chargeId: string;
  /** Omitted: refund everything not yet refunded. */
  amount?: number;
}

export const refundRequestSchema = {
  type: 'object',
  required: ['chargeId'],
  additionalProperties: false,
  properties: { chargeId: refSchema, amount: amountSchema },
} as const;

export interface Refund {
  id: string;
  chargeId: string;
  amount: number;
  currency: string;
  createdAt: string;
}

export const refundSchema = {
  type: 'object',
  required: ['id', 'chargeId', 'amount', 'currency', 'createdAt'],
  properties: { id: refSchema, chargeId: refSchema, amount: amountSchema, currency: currencySchema, createdAt: timestampSchema },
} as const;

/** `GET /charges/{id}`: the charge and its refunds. */
export type ChargeWithRefunds = Charge & { refunds: Refund[] };

export const chargeWithRefundsSchema = {
  ...chargeSchema,
  properties: { ...chargeSchema.properties, refunds: { type: 'array', items: refundSchema } },
} as const;
