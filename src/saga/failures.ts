/**
 * How the saga reads an error from a service call.
 *
 * Activities turn each answer into a Temporal failure (`src/activities/service-client.ts`): a
 * definitive business rejection is a non-retryable `ApplicationFailure` whose `type` is the
 * problem kind; anything transient is retryable. Here the workflow side classifies what came
 * back once Temporal stopped retrying. Pure: only failure classes from `@temporalio/common`.
 */
import { ApplicationFailure, CancelledFailure, TimeoutFailure } from '@temporalio/common';
import type { ProblemKind } from '../platform/http/problem';
import type { Failure } from './types';

/**
 * Answers after which retrying the same request can never succeed, and nothing took effect
 * (docs/api.md#idempotency: business errors are stored and replayed like a success). Also the activities'
 * `nonRetryableErrorTypes`, so a retry policy never re-sends them even if a failure was
 * mis-flagged.
 */
export const NON_RETRYABLE_KINDS = [
  'card-declined',
  'insufficient-funds',
  'out-of-stock',
  'refund-exceeds-charge',
  'invalid-state',
  'not-found',
  'validation-error',
  'idempotency-key-missing',
  'idempotency-key-invalid',
  'idempotency-key-reused',
  'idempotency-key-fenced',
  'payload-too-large',
  'unsupported-media-type',
] as const satisfies readonly ProblemKind[];

/** Failure code of a checkout ended by a cancel request. */
export const CANCELLED = 'cancelled';

/**
 * - `rejected`: the service answered "no" for good; the step took no effect.
 * - `unknown`: no definitive answer (cancelled in flight, timed out, retries exhausted); it may
 *   have taken effect.
 * - `not-sent`: the workflow was already cancelled when the call was due, so it was never scheduled.
 * `cancelled` says whether the workflow itself is being cancelled.
 */
export interface StepError {
  outcome: 'rejected' | 'unknown' | 'not-sent';
  cancelled: boolean;
  failure: Failure;
}

function causes(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e: unknown = err; e && chain.length < 10; e = (e as { cause?: unknown }).cause) chain.push(e);
  return chain;
}

export function isRejection(err: unknown): boolean {
  const app = causes(err).find((e): e is ApplicationFailure => e instanceof ApplicationFailure);
  if (!app) return false;
  return app.nonRetryable || (NON_RETRYABLE_KINDS as readonly string[]).includes(app.type ?? '');
}

export function classifyStepError(err: unknown): StepError {
  const chain = causes(err);
  if (chain.some((e) => e instanceof CancelledFailure)) {
    // A bare CancelledFailure comes from scheduling in an already-cancelled scope: nothing was
    // sent. Wrapped in an ActivityFailure it means the activity was cancelled, maybe in flight.
    const outcome = err instanceof CancelledFailure ? 'not-sent' : 'unknown';
    return { outcome, cancelled: true, failure: { code: CANCELLED, message: 'The checkout was cancelled' } };
  }
  const app = chain.find((e): e is ApplicationFailure => e instanceof ApplicationFailure);
  if (app && isRejection(err)) {
    return { outcome: 'rejected', cancelled: false, failure: { code: app.type ?? 'rejected', message: app.message } };
  }
  const deepest = chain[chain.length - 1];
  const message = deepest instanceof Error ? deepest.message : String(deepest);
  const code = app?.type ?? (chain.some((e) => e instanceof TimeoutFailure) ? 'timeout' : 'unavailable');
  return { outcome: 'unknown', cancelled: false, failure: { code, message } };
}
