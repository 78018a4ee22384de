/**
 * The checkout saga's state model: pure functions from one `CheckoutState` to the next.
 *
 * The workflow holds the current state and replaces it through these functions only, so every
 * rule a reviewer cares about — which status may follow which, which key each step sends, what
 * a compensation must do with a step whose outcome is unknown — lives here and is unit tested
 * without Temporal. Nothing in this module performs I/O or reads the clock.
 */
import { COMPENSATIONS, SAGA_STEPS, stepKey, type Compensation, type KeyName, type SagaStep } from './keys';
import type { CheckoutInput, CheckoutState, CheckoutStatus, CompensationResume, Failure, StepState } from './types';
import { formatMoney } from './money';

/**
 * Allowed status transitions. `notifying` cannot go to `compensating`: the order is the saga's
 * pivot — once the customer is charged and the order exists, the checkout only moves forward
 * (the confirmation e-mail is retried or dead-lettered, never undone by a refund).
 */
export const TRANSITIONS: Readonly<Record<CheckoutStatus, readonly CheckoutStatus[]>> = {
  pending: ['charging', 'compensating'],
  charging: ['ordering', 'compensating'],
  ordering: ['notifying', 'compensating'],
  notifying: ['completed'],
  compensating: ['failed'],
  completed: [],
  failed: [],
};

export class IllegalTransitionError extends Error {
  override name = 'IllegalTransitionError';
  constructor(from: CheckoutStatus, to: CheckoutStatus) {
    super(`a checkout cannot go from ${from} to ${to}`);
  }
}

export function canTransition(from: CheckoutStatus, to: CheckoutStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export function isTerminal(status: CheckoutStatus): boolean {
  return TRANSITIONS[status].length === 0;
}

/** The compensation that undoes each forward step; `notify` has none (docs/api.md#saga). */
export const COMPENSATION_OF: Readonly<Record<SagaStep, Compensation | null>> = {
  charge: 'charge.refund',
  order: 'order.cancel',
  notify: null,
};

/** The compensation that undoes `step`; throws for a step that has none (`notify`). */
export function compensationOf(step: SagaStep): Compensation {
  const compensation = COMPENSATION_OF[step];
  if (!compensation) throw new Error(`step ${step} has no compensation`);
  return compensation;
}

function newStep(checkoutId: string, name: KeyName): StepState {
  return { name, key: stepKey(checkoutId, name), status: 'pending', outcome: null, error: null, attempts: 0 };
}

export function initialCheckoutState(input: CheckoutInput): CheckoutState {
  return {
    checkoutId: input.checkoutId,
    merchantId: input.merchantId,
    customerId: input.customerId,
    status: 'pending',
    amount: input.amount,
    currency: input.currency,
    chargeId: null,
    orderId: null,
    refundId: null,
    notificationId: null,
    notificationStatus: null,
    failure: null,
    steps: SAGA_STEPS.map((name) => newStep(input.checkoutId, name)),
    compensationsFailing: false,
  };
}

/** Moves the checkout to `to`, throwing on a transition the saga does not allow. */
export function transition(state: CheckoutState, to: CheckoutStatus, failure?: Failure): CheckoutState {
  if (!canTransition(state.status, to)) throw new IllegalTransitionError(state.status, to);
  return { ...state, status: to, failure: failure ?? state.failure };
}

export function stepOf(state: CheckoutState, name: KeyName): StepState | undefined {
  return state.steps.find((s) => s.name === name);
}

/**
 * Updates one step; a compensation's step is appended the first time it is touched, so
 * `steps` lists the forward steps and then the compensations in the order they ran.
 */
export function updateStep(state: CheckoutState, name: KeyName, patch: Partial<Omit<StepState, 'name' | 'key'>>): CheckoutState {
  const existing = stepOf(state, name);
  const steps = existing
    ? state.steps.map((s) => (s.name === name ? { ...s, ...patch } : s))
    : [...state.steps, { ...newStep(state.checkoutId, name), ...patch }];
  return { ...state, steps };
}

/**
 * What a compensation must do about its forward step:
 * - `undo`: the step succeeded and its resource id is known.
 * - `reconcile`: the call stopped without an answer (cancelled mid-flight, timed out, retries
 *   exhausted) so it may have taken effect. The compensation looks the step's idempotency key
 *   up at the service (`POST /idempotency-keys/{key}/fence`): it answers the stored result (the
 *   id to undo, or a stored rejection: nothing to undo), or, when no call ever ran under the key,
 *   closes the key so that a late original is refused — so nothing happened, and nothing will.
 *   The lookup never performs the call: no charge is made only to be refunded.
 * - `skip`: the step never ran or the service definitively rejected it; nothing took effect.
 */
export type CompensationAction = 'undo' | 'reconcile' | 'skip';

export function compensationAction(step: StepState | undefined): CompensationAction {
  switch (step?.status) {
    case 'succeeded':
      return step.outcome ? 'undo' : 'reconcile';
    case 'running':
    case 'unknown':
      return 'reconcile';
    default:
      return 'skip';
  }
}

/**
 * Delay before the next round of a compensation that failed a round: 1 s, 2 s, 4 s … capped
 * at one minute. Compensations never give up; they keep retrying in visible rounds.
 */
export function compensationRoundDelayMs(failedRounds: number, baseMs = 1_000, capMs = 60_000): number {
  return Math.min(capMs, baseMs * 2 ** Math.max(0, Math.min(failedRounds - 1, 30)));
}

/**
 * How long a compensating run's history may grow before the run continues as new, carrying a
 * `CompensationResume`; judged after each failed round's pause (the only loop of the saga
 * without a bound: the forward steps give up after about a minute, a few dozen events).
 *
 * Why a history length, and why 1,000 events:
 * - Temporal limits a run by its events (it warns at 10,240 and terminates the run at 51,200,
 *   leaving the charge unrefunded). A failed round costs about 11 events (the activity's
 *   scheduled/started/failed, the pause's timer started/fired, two workflow tasks of three), so at
 *   the one-minute pause a compensation that keeps failing would be terminated after about three
 *   days. The history length is the very thing limited, so it is what is counted, not rounds.
 * - The server also says when it would like a new run (`continueAsNewSuggested`, by default at
 *   4,096 events or 4 MB, which also covers long error messages); that is honoured too, but it is
 *   a server setting that older servers and the test server never send, so the bound is ours.
 * - Every replay (a worker restart, a run evicted from the worker's cache, a query of a run that
 *   left it) reads the whole history: at 1,000 events that is milliseconds; a run stays a
 *   readable page in the Web UI (about 90 rounds, an hour and a half at the capped pause), and a
 *   week of failing is about 110 short runs rather than one that Temporal ends.
 */
export const COMPENSATION_HISTORY_LIMIT = 1_000;

/** What a run knows of its own history (`workflowInfo()`'s fields of the same names). */
export interface HistoryGauge {
  historyLength: number;
  continueAsNewSuggested: boolean;
}

/** Whether a compensating run should hand its work to a new run (see COMPENSATION_HISTORY_LIMIT). */
export function continueAsNewDue(history: HistoryGauge, limit = COMPENSATION_HISTORY_LIMIT): boolean {
  return history.continueAsNewSuggested || history.historyLength >= limit;
}

export class InvalidResumeError extends Error {
  override name = 'InvalidResumeError';
}

/**
 * Checks that a resume belongs to this checkout and can be continued: a bug (or a hand-made
 * start) fails the workflow task, visibly, instead of compensating the wrong checkout.
 */
export function checkResume(input: CheckoutInput, resume: CompensationResume): void {
  const problems = [
    resume.state.checkoutId !== input.checkoutId && `its state is of checkout ${resume.state.checkoutId}`,
    resume.state.status !== 'compensating' && `its state is ${resume.state.status}, not compensating`,
    resume.pending.some((c) => !(COMPENSATIONS as readonly string[]).includes(c)) && `unknown compensations in ${resume.pending.join(', ')}`,
    new Set(resume.pending).size !== resume.pending.length && `a compensation listed twice in ${resume.pending.join(', ')}`,
    !(Number.isInteger(resume.failedRounds) && resume.failedRounds >= 0) && `failedRounds ${resume.failedRounds}`,
  ].filter((p): p is string => typeof p === 'string');
  if (problems.length) throw new InvalidResumeError(`cannot resume checkout ${input.checkoutId}: ${problems.join('; ')}`);
}

/** The workflow's name for the one money formatter (src/saga/money.ts). */
export { formatMoney as formatAmount } from './money';

/** A payment method as shown in summaries: test tokens as they are, anything else by its last four characters. */
export function displayPaymentMethod(paymentMethod: string): string {
  return /^tok_[A-Za-z]{1,40}$/.test(paymentMethod) ? paymentMethod : `…${paymentMethod.slice(-4)}`;
}

/** The workflow's "current details" for the Temporal UI (markdown): status, steps, failing compensations. */
export function currentDetails(state: CheckoutState): string {
  const lines = [`**${state.status}** — ${formatMoney(state.amount, state.currency)} for ${state.customerId}`];
  if (state.failure) lines.push(`failure: \`${state.failure.code}\` ${state.failure.message}`);
  for (const s of state.steps) {
    const error = s.error && s.status !== 'succeeded' ? ` — ${s.error.code}: ${s.error.message}` : '';
    lines.push(`- ${s.name}: ${s.status}${s.outcome ? ` (${s.outcome})` : ''}${error}`);
  }
  if (state.compensationsFailing) lines.push('', '⚠ a compensation is failing and being retried');
  return lines.join('\n');
}
