/**
 * The checkout API's request contract, built from the services' contracts: every field of a
 * checkout is the fragment of the service that will receive it, so a checkout the payment, order
 * or notification service would refuse is refused here, at the door, with nothing started.
 * `test/contracts` generates API-valid checkouts and checks each against every service's schema.
 */
import { CURRENCIES, formatMoney, orderTotal } from '../../saga/money';
import { notificationRequestSchema } from '../notification/contract';
import { orderItemsProblem, orderRequestSchema, type OrderItem } from '../order/contract';
import { chargeRequestSchema, refundRequestSchema } from '../payment/contract';

/** The body of `POST /checkouts`. */
export interface CheckoutRequest {
  customerId: string;
  email: string;
  /** ISO 4217 code, e.g. `USD`. */
  currency: string;
  items: OrderItem[];
  /** A payment token, e.g. `tok_visa` (docs/api.md#test-triggers). */
  paymentMethod: string;
}

const charge = chargeRequestSchema.properties;

export const checkoutRequestSchema = {
  type: 'object',
  required: ['customerId', 'email', 'currency', 'items', 'paymentMethod'],
  additionalProperties: false,
  properties: {
    // Sent to the payment service and the order service; both take the same reference format.
    customerId: charge.customerId,
    email: notificationRequestSchema.properties.to,
    // The payment service takes any ISO 4217 shape; the API only currencies it can total and show.
    currency: { ...charge.currency, enum: Object.keys(CURRENCIES) },
    items: orderRequestSchema.properties.items,
    paymentMethod: charge.paymentMethod,
  },
} as const;

/** A checkout's total is one charge: its bounds are the payment service's. */
export const CHECKOUT_TOTAL = { minimum: charge.amount.minimum, maximum: charge.amount.maximum } as const;

/**
 * What the schema cannot say about a checkout: the order service's rule on its items, and a
 * total (quantity × unit amount, summed) the payment service can charge. The refusal's detail,
 * or undefined when the checkout is acceptable.
 */
export function checkoutRequestProblem(request: CheckoutRequest): string | undefined {
  const itemsProblem = orderItemsProblem(request.items);
  if (itemsProblem) return itemsProblem;
  const total = orderTotal(request.items);
  if (total < CHECKOUT_TOTAL.minimum || total > CHECKOUT_TOTAL.maximum) {
    const [min, max] = [CHECKOUT_TOTAL.minimum, CHECKOUT_TOTAL.maximum].map((a) => formatMoney(a, request.currency));
    return `The total must be between ${min} and ${max}`;
  }
  return undefined;
}

/** The body of `POST /checkouts/{id}/refunds`. */
export interface CheckoutRefundRequest {
  /** Omitted: refund the rest of the charge. */
  amount?: number;
}

export const checkoutRefundRequestSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { amount: { ...refundRequestSchema.properties.amount, description: 'omit to refund the rest' } },
} as const;
