/**
 * The simulated card processor (docs/api.md#test-triggers): deterministic test tokens in place of a network.
 * A token is a credential: it is never logged and never stored; a charge keeps only the brand.
 */
import { Problem } from '../../platform/http/problem';
import type { PaymentMethod } from './contract';

interface Card {
  brand: string;
  /** Set for a token whose every charge is refused, with the processor's code. */
  decline?: { kind: 'card-declined' | 'insufficient-funds'; code: string };
}

const TEST_CARDS: Record<PaymentMethod, Card> = {
  tok_visa: { brand: 'visa' },
  tok_mastercard: { brand: 'mastercard' },
  tok_chargeDeclined: { brand: 'visa', decline: { kind: 'card-declined', code: 'card_declined' } },
  tok_insufficientFunds: { brand: 'visa', decline: { kind: 'insufficient-funds', code: 'insufficient_funds' } },
};

/**
 * Authorizes a payment on `token`; returns the card brand or throws the processor's refusal
 * as a 402 problem carrying a machine-readable `code` (the saga does not retry these).
 */
export function authorize(token: string): string {
  const card = (TEST_CARDS as Record<string, Card | undefined>)[token];
  // The route's schema only admits known tokens; this guards direct callers.
  if (!card) throw new Problem('validation-error', 'Unknown payment method');
  if (card.decline) throw new Problem(card.decline.kind, undefined, { code: card.decline.code });
  return card.brand;
}
