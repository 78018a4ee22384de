/**
 * The checkout every test starts from (the example of docs/api.md#routes: two of SKU-1 at 19.99 USD, paid with
 * tok_visa); a test overrides only what it is about.
 */
import type { CheckoutInput } from '../../src/saga/types';

export type CheckoutRequest = Omit<CheckoutInput, 'checkoutId' | 'merchantId' | 'amount'>;

/** The body of `POST /checkouts`. */
export function sampleCheckoutRequest(over: Record<string, unknown> = {}): CheckoutRequest {
  return {
    customerId: 'cus_123',
    email: 'a@example.com',
    currency: 'USD',
    items: [{ sku: 'SKU-1', quantity: 2, unitAmount: 1999 }],
    paymentMethod: 'tok_visa',
    ...over,
  } as CheckoutRequest;
}

/** What the API starts the checkout workflow with, for the same checkout. */
export function sampleCheckoutInput(over: Partial<CheckoutInput> = {}): CheckoutInput {
  return { checkoutId: 'chk_1', merchantId: 'merchant_a', amount: 3998, ...sampleCheckoutRequest(), ...over };
}
