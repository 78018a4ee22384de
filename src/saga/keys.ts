/**
 * Idempotency-key derivation: the pure heart of "at most once".
 *
 * From the merchant and the key the client sent, we derive a checkout id (which is also the
 * Temporal workflow id) and from it one downstream key per saga step and per compensation.
 * Keys depend only on (merchant, client key, step name): never on run id, attempt number or
 * activity sequence ids, so a retry, a worker crash, a workflow reset or a code change that
 * re-orders activities all send the very same key to the service, which deduplicates it.
 *
 * This module must stay deterministic and free of Node APIs: it runs inside the workflow
 * sandbox as well as in the API. SHA-256 comes from @noble/hashes (pure JS).
 */
import { sha256 } from '@noble/hashes/sha256';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils';

/** Forward steps of the checkout saga, in order. */
export const SAGA_STEPS = ['charge', 'order', 'notify'] as const;
export type SagaStep = (typeof SAGA_STEPS)[number];

/** Compensations, named after the step they undo. */
export const COMPENSATIONS = ['charge.refund', 'order.cancel'] as const;
export type Compensation = (typeof COMPENSATIONS)[number];

export type KeyName = SagaStep | Compensation;

/** Longest key the services accept (docs/api.md#idempotency: 1–255 printable ASCII). */
export const MAX_KEY_LENGTH = 255;

/** Digest of length-prefixed parts, so ("a:b","c") and ("a","b:c") never collide. */
function digest(domain: string, ...parts: string[]): string {
  const framed = [domain, ...parts].map((p) => `${utf8ToBytes(p).length}:${p}`).join('|');
  return bytesToHex(sha256(utf8ToBytes(framed)));
}

/**
 * The checkout id for a merchant's idempotency key; also the workflow id, so a duplicate
 * request maps onto the same workflow whatever the API's own idempotency record says.
 */
export function checkoutIdFor(merchantId: string, clientKey: string): string {
  return `chk_${digest('checkout', merchantId, clientKey).slice(0, 40)}`;
}

/** The key a saga step or compensation sends downstream, e.g. `chk_…:charge.refund`. */
export function stepKey(checkoutId: string, name: KeyName): string {
  return `${checkoutId}:${name}`;
}

/** (merchant, client key, step) → downstream key: the composition the saga relies on. */
export function deriveKey(merchantId: string, clientKey: string, name: KeyName): string {
  return stepKey(checkoutIdFor(merchantId, clientKey), name);
}

/**
 * A refund asked for through `POST /checkouts/{id}/refunds`: its id (also its workflow id)
 * and the key it sends to the payment service, both from the checkout and the refund's own
 * client key, so a mobile app retrying a refund reaches the same refund.
 */
export function refundIdFor(checkoutId: string, refundClientKey: string): string {
  return `rfd_${digest('refund', checkoutId, refundClientKey).slice(0, 40)}`;
}

export function refundKey(refundId: string): string {
  return `${refundId}:refund`;
}
