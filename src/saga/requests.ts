/**
 * The bodies the checkout saga sends the services, built from the checkout alone. Pure, so the
 * workflow and the contract test (`test/contracts`) build the very same bodies, and the test can
 * prove that every checkout the API accepts is one each service accepts. A body must stay the same
 * across retries and reconciliation (same key, same body, same answer), so nothing here may read
 * the clock, a counter or anything but its arguments.
 */
import type { CheckoutRequest } from '../services/checkout-api/contract';
import type { NotificationRequest } from '../services/notification/contract';
import type { OrderRequest } from '../services/order/contract';
import type { ChargeRequest, RefundRequest } from '../services/payment/contract';
import type { CheckoutInput } from './types';

export const CONFIRMATION_TEMPLATE = 'order-confirmation';

export function chargeRequest({ amount, currency, paymentMethod, customerId }: CheckoutInput): ChargeRequest {
  return { amount, currency, paymentMethod, customerId };
}

export function orderRequest({ customerId, items }: CheckoutRequest, chargeId: string): OrderRequest {
  return { customerId, items, chargeId };
}

export function refundRequest(chargeId: string, amount: number): RefundRequest {
  return { chargeId, amount };
}

/** The confirmation e-mail: what the customer bought, rendered by the notification service. */
export function confirmationRequest(input: CheckoutInput, orderId: string | null): NotificationRequest {
  return {
    to: input.email,
    template: CONFIRMATION_TEMPLATE,
    data: { checkoutId: input.checkoutId, orderId, amount: input.amount, currency: input.currency, items: input.items },
  };
}
