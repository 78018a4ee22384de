/**
 * Activity timeouts and retry policies of the sagas, in one place.
 *
 * Every HTTP call is bounded by `HTTP_TIMEOUT_MS` (5 s by default) inside the activity, well
 * below the 10 s start-to-close timeout, so a hung service ends an attempt as a retryable
 * error instead of a timeout. Retries back off from 200 ms to at most 5 s. Business answers
 * (`NON_RETRYABLE_KINDS`) are never retried.
 */
import type { ActivityOptions, RetryPolicy } from '@temporalio/workflow';
import { NON_RETRYABLE_KINDS } from '../saga/failures';

const retry: RetryPolicy = {
  initialInterval: '200ms',
  backoffCoefficient: 2,
  maximumInterval: '5s',
  nonRetryableErrorTypes: [...NON_RETRYABLE_KINDS],
};

/**
 * Charge and order. Bounded in time, so a service that stays down fails the checkout — which
 * then compensates — instead of leaving the customer waiting forever. The bound is time, not a
 * count of attempts, and outlasts twice over the services' lease on a key (IDEMPOTENCY_LEASE_MS,
 * 30 s): a database outage can leave a claim orphaned, and the service answers
 * `idempotency-key-in-use` until its lease runs out; ten quick attempts (about 26 s) were spent
 * before it did, failing a checkout that a few more seconds would have completed.
 */
export const FORWARD_STEP: ActivityOptions = {
  startToCloseTimeout: '10s',
  scheduleToCloseTimeout: '90s',
  retry,
};

/**
 * One round of a compensation (or of re-issuing a forward call to learn its outcome). The
 * workflow repeats rounds forever with a growing pause, flagging the checkout as
 * `compensationsFailing` after the first failed round: compensations never give up, and never
 * fail silently.
 */
export const COMPENSATION_ATTEMPTS_PER_ROUND = 2;
export const COMPENSATION_ROUND: ActivityOptions = {
  startToCloseTimeout: '10s',
  retry: { ...retry, maximumAttempts: COMPENSATION_ATTEMPTS_PER_ROUND },
};

/** Handing the confirmation e-mail to the outbox: retried until the service takes it (docs/api.md#saga). */
export const NOTIFICATION_SEND: ActivityOptions = {
  startToCloseTimeout: '10s',
  retry, // no maximumAttempts: unlimited
};

/**
 * Waiting for delivery: the activity fails with `notification-pending` while the e-mail is
 * pending, so this retry policy is the polling schedule (every 1 s, slowing to every 5 s).
 */
export const DELIVERY_POLL: ActivityOptions = {
  startToCloseTimeout: '10s',
  retry: { ...retry, initialInterval: '1s', maximumInterval: '5s' }, // unlimited
};

/** A refund asked for by the merchant: retried until the payment service answers for good. */
export const REFUND: ActivityOptions = {
  startToCloseTimeout: '10s',
  retry, // no maximumAttempts: unlimited
};
