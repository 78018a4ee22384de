/**
 * The checkout saga's state model: pure functions from one `CheckoutState` to the next.
 *
 * The workflow holds the current state and replaces it through these functions only, so every
 * rule a reviewer cares about — which status may follow which, which key each step sends, what
 * a compensation must do with a step whose outcome is unknown — lives here and is unit tested
 * without Temporal. Nothing in this module performs I/O or reads the clock.
 */
import { SAGA_STEPS, stepKey, type Compensation, type KeyName, type SagaStep } from './keys';
import type { CheckoutInput, CheckoutState, CheckoutStatus, Failure, StepState } from './types';
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
