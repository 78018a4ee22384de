/**
 * The checkout API's business series, on its `/metrics`: checkouts started, completed and failed
 * (by failure code), and what a checkout's or refund's key decided in the API's own record.
 *
 * Counted where the API's record changes, so each checkout counts once however many requests,
 * retries, replicas or outcome sweeps see it:
 *  - started: when the record first notes that Temporal confirmed its run (`markCheckoutStarted`);
 *  - completed / failed: when the record takes the run's outcome (`recordCheckoutOutcome` changed
 *    the row), whoever got there first: a request that waited, a GET, or the outcome sweep for
 *    runs nobody waited for (so a run that ends unobserved is counted by the next sweep, seconds
 *    to a few minutes later). A run ended from outside (terminated, timed out) counts as failed
 *    with code `run-terminated`.
 * The worker cannot count outcomes as reliably: a workflow must not have side effects, and a
 * terminated run runs no code at all.
 */
import { Counter, type Registry } from 'prom-client';
import { idempotencyOutcomes, type IdempotencyOutcome } from '../../platform/http/metrics';
import type { CheckoutOutcome } from './store';

export interface CheckoutMetrics {
  /** The record noted its run's start for the first time. */
  started(): void;
  /** The record took this outcome (only once per checkout). */
  ended(outcome: CheckoutOutcome): void;
  /** What a key decided in the API's own record: new, replayed or mismatched. */
  idempotency(route: string, outcome: Extract<IdempotencyOutcome, 'new' | 'replayed' | 'mismatched'>): void;
}

export function checkoutMetrics(registry: Registry): CheckoutMetrics {
  const started = new Counter({
    name: 'checkout_started_total',
    help: 'Checkouts whose workflow run was started (counted once per checkout, when the record confirms the start)',
    registers: [registry],
  });
  const completed = new Counter({
    name: 'checkout_completed_total',
    help: 'Checkouts that completed (counted once, when the record takes the outcome)',
    registers: [registry],
  });
  const failed = new Counter({
    name: 'checkout_failed_total',
    help: 'Checkouts that failed, by failure code (card-declined, out-of-stock, …; run-terminated for a run ended from outside)',
    labelNames: ['code'],
    registers: [registry],
  });
  const keys = idempotencyOutcomes(registry);
  return {
    started: () => started.inc(),
    ended: (outcome) => {
      if (outcome.status === 'completed') completed.inc();
      else failed.inc({ code: outcome.failure?.code ?? 'unknown' });
    },
    idempotency: (route, outcome) => keys.inc({ route, outcome }),
  };
}
