/**
 * The data of the checkout saga: what a workflow is started with, what its `getState` query
 * and its result return, and what the checkout API shows as the checkout resource.
 *
 * Plain JSON-serialisable types only (they travel through Temporal payloads); no runtime code,
 * so this module is safe in the workflow sandbox, the API and the tests alike.
 * Amounts are integers in minor units (cents) everywhere; optional facts are `null` rather
 * than absent, so a JSON reader always sees every field.
 */
import type { CheckoutRequest } from '../services/checkout-api/contract';
import type { OrderItem } from '../services/order/contract';
import type { Compensation, KeyName } from './keys';

/** One line of a checkout: the order service's item. */
export type LineItem = OrderItem;

/** What the checkout API starts `checkoutWorkflow` with (the accepted request); the workflow id is `checkoutId`. */
export interface CheckoutInput extends CheckoutRequest {
  checkoutId: string;
  merchantId: string;
  /** The total the API computed from `items`, in minor units. */
  amount: number;
}

/**
 * pending → charging → ordering → notifying → completed, or (from any step before
 * completion) → compensating → failed. See `src/saga/saga.ts` for the transition table.
 */
export type CheckoutStatus =
  | 'pending'
  | 'charging'
  | 'ordering'
  | 'notifying'
  | 'completed'
  | 'compensating'
  | 'failed';

export const TERMINAL_STATUSES: readonly CheckoutStatus[] = ['completed', 'failed'];

/**
 * - `running`: the call is in flight (or being retried).
 * - `succeeded`: the service answered with the effect; `outcome` holds the resource id.
 * - `failed`: the service answered with a definitive business rejection; nothing took effect.
 * - `unknown`: the call stopped without an answer (cancelled, timed out, retries exhausted):
 *    it may or may not have taken effect. The compensation resolves it (see `src/saga/saga.ts`).
 * - `skipped`: a compensation that found nothing to undo.
 */
export type StepStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'unknown' | 'skipped';

/** A machine-readable reason (a problem kind such as `card-declined`, or `cancelled`) and a message. */
export interface Failure {
  code: string;
  message: string;
}

export interface StepState {
  /** A forward step (`charge`, `order`, `notify`) or a compensation (`charge.refund`, `order.cancel`). */
  name: KeyName;
  /** The idempotency key this step sends downstream (`src/saga/keys.ts`). */
  key: string;
  status: StepStatus;
  /** Id of the resource the step created (charge, order, refund, notification), once known. */
  outcome: string | null;
  /** Last error seen; kept while a compensation keeps failing, so it is never swallowed. */
  error: Failure | null;
  /** Rounds of attempts so far (compensations are retried in rounds; see the workflow). */
  attempts: number;
}

/** Delivery state of the confirmation e-mail as last seen from the notification service. */
export type NotificationStatus = 'pending' | 'sent' | 'dead' | 'rejected' | 'unknown';

/** What `getState` returns, what the workflow completes with, and what `GET /checkouts/{id}` shows. */
export interface CheckoutState {
  checkoutId: string;
  merchantId: string;
  customerId: string;
  status: CheckoutStatus;
  amount: number;
  currency: string;
  chargeId: string | null;
  orderId: string | null;
  /** The compensating refund, when the charge was undone. */
  refundId: string | null;
  notificationId: string | null;
  notificationStatus: NotificationStatus | null;
  failure: Failure | null;
  /** Forward steps in order, then compensations in the order they ran. */
  steps: StepState[];
  /** True while some compensation has failed a round and is still being retried. */
  compensationsFailing: boolean;
}

/**
 * What a checkout run that is compensating hands the run it continues as new with (the optional
 * second argument of `checkoutWorkflow`): the checkout as it stands and what the compensation
 * stack still has to do. The next run takes no forward step; it goes on undoing exactly where
 * this one stopped, with the same derived keys (they depend on the checkout id and the step
 * name only, never on the run).
 */
export interface CompensationResume {
  /** The checkout as the previous run left it: `compensating`, with every step as it stood. */
  state: CheckoutState;
  /** The compensations still to run, in the order they run; the first is the one whose rounds were failing. */
  pending: Compensation[];
  /** Rounds the first of them has failed so far: the next run goes on with the next round and the same growing pause. */
  failedRounds: number;
  /** Runs of this checkout before the one this starts (1 for the first continued run). */
  previousRuns: number;
}

/** What the checkout API starts `refundWorkflow` with (`POST /checkouts/{id}/refunds`); id = `refundId`. */
export interface RefundInput {
  refundId: string;
  checkoutId: string;
  merchantId: string;
  chargeId: string;
  amount: number;
  /** The checkout's currency; for summaries only (the charge fixes the currency). */
  currency?: string;
}

export type RefundStatus = 'pending' | 'refunding' | 'succeeded' | 'failed';

export interface RefundState {
  refundId: string;
  checkoutId: string;
  chargeId: string;
  amount: number;
  status: RefundStatus;
  /** The payment service's refund id, once it exists. */
  paymentRefundId: string | null;
  key: string;
  failure: Failure | null;
}
