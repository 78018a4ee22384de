/** The saga's pure core: state transitions, steps, compensation decisions, error classification. */
import { ActivityFailure, ApplicationFailure, CancelledFailure, RetryState, TimeoutFailure, TimeoutType } from '@temporalio/common';
import { CompensationStack } from '../../src/saga/compensation-stack';
import { classifyStepError, isRejection } from '../../src/saga/failures';
import { stepKey } from '../../src/saga/keys';
import {
  canTransition,
  checkResume,
  COMPENSATION_HISTORY_LIMIT,
  compensationAction,
  compensationOf,
  compensationRoundDelayMs,
  continueAsNewDue,
  currentDetails,
  displayPaymentMethod,
  formatAmount,
  IllegalTransitionError,
  initialCheckoutState,
  InvalidResumeError,
  isTerminal,
  transition,
  TRANSITIONS,
  updateStep,
} from '../../src/saga/saga';
import type { CheckoutInput, CheckoutStatus, CompensationResume, StepState } from '../../src/saga/types';
import { checkoutSearchAttributes, searchAttributesAt } from '../../src/workflows/search-attributes';
import { sampleCheckoutInput } from '../../tools/support/samples';

const input: CheckoutInput = sampleCheckoutInput();

describe('state model', () => {
  test('initial state: pending, the three forward steps with their derived keys', () => {
    const state = initialCheckoutState(input);
    expect(state).toMatchObject({ status: 'pending', amount: 3998, currency: 'USD', chargeId: null, failure: null, compensationsFailing: false });
    expect(state.steps).toEqual(
      (['charge', 'order', 'notify'] as const).map((name) => ({
        name,
        key: stepKey('chk_1', name),
        status: 'pending',
        outcome: null,
        error: null,
        attempts: 0,
      })),
    );
  });

  test('the happy path and the compensation path are allowed', () => {
    const happy: CheckoutStatus[] = ['pending', 'charging', 'ordering', 'notifying', 'completed'];
    let state = initialCheckoutState(input);
    for (const to of happy.slice(1)) state = transition(state, to);
    expect(state.status).toBe('completed');

    for (const from of ['pending', 'charging', 'ordering'] as const) {
      expect(canTransition(from, 'compensating')).toBe(true);
    }
    expect(canTransition('compensating', 'failed')).toBe(true);
  });

  test('after the pivot (notifying) and in terminal states there is no way back', () => {
    expect(canTransition('notifying', 'compensating')).toBe(false);
    expect(isTerminal('completed') && isTerminal('failed')).toBe(true);
    const statuses = Object.keys(TRANSITIONS) as CheckoutStatus[];
    for (const to of statuses) {
      expect(canTransition('completed', to)).toBe(false);
      expect(canTransition('failed', to)).toBe(false);
    }
    expect(() => transition(initialCheckoutState(input), 'completed')).toThrow(IllegalTransitionError);
  });

  test('a failure is kept once set', () => {
    let state = transition(initialCheckoutState(input), 'charging');
    state = transition(state, 'compensating', { code: 'card-declined', message: 'declined' });
    state = transition(state, 'failed');
    expect(state.failure).toEqual({ code: 'card-declined', message: 'declined' });
  });

  test('updateStep patches forward steps in place and appends compensations in the order they run', () => {
    let state = initialCheckoutState(input);
    state = updateStep(state, 'charge', { status: 'succeeded', outcome: 'ch_1' });
    state = updateStep(state, 'order.cancel', { status: 'running', attempts: 1 });
    state = updateStep(state, 'charge.refund', { status: 'running', attempts: 1 });
    expect(state.steps.map((s) => [s.name, s.status])).toEqual([
      ['charge', 'succeeded'],
      ['order', 'pending'],
      ['notify', 'pending'],
      ['order.cancel', 'running'],
      ['charge.refund', 'running'],
    ]);
    expect(state.steps[4]!.key).toBe('chk_1:charge.refund');
  });

  test('updates never mutate the previous state (the query may be holding it)', () => {
    const before = initialCheckoutState(input);
    const snapshot = JSON.stringify(before);
    transition(updateStep(before, 'charge', { status: 'running' }), 'charging');
    expect(JSON.stringify(before)).toBe(snapshot);
  });
});

describe('compensation decisions', () => {
  const step = (status: StepState['status'], outcome: string | null = null): StepState => ({
    name: 'charge',
    key: 'k',
    status,
    outcome,
    error: null,
    attempts: 1,
  });

  test.each([
    ['succeeded', 'ch_1', 'undo'],
    ['succeeded', null, 'reconcile'],
    ['running', null, 'reconcile'],
    ['unknown', null, 'reconcile'],
    ['failed', null, 'skip'],
    ['pending', null, 'skip'],
  ] as const)('a %s step (outcome %s) → %s', (status, outcome, action) => {
    expect(compensationAction(step(status, outcome))).toBe(action);
  });

  test('a step that never existed needs nothing', () => {
    expect(compensationAction(undefined)).toBe('skip');
  });

  test('each compensation undoes its own step', () => {
    expect(compensationOf('charge')).toBe('charge.refund');
    expect(compensationOf('order')).toBe('order.cancel');
    expect(() => compensationOf('notify')).toThrow(/no compensation/);
  });

  test('rounds back off from 1 s, doubling, capped at a minute', () => {
    expect([1, 2, 3, 4, 7, 8, 100].map((r) => compensationRoundDelayMs(r))).toEqual([
      1_000, 2_000, 4_000, 8_000, 60_000, 60_000, 60_000,
    ]);
  });

  test('the stack runs the last registered compensation first, once', () => {
    const stack = new CompensationStack<string>();
    stack.push('charge.refund');
    stack.push('order.cancel');
    expect(stack.size).toBe(2);
    expect(stack.drain()).toEqual(['order.cancel', 'charge.refund']);
    expect(stack.drain()).toEqual([]);
  });
});

describe('continuing a compensating run as new', () => {
  test('due once the history reaches the limit, or when the server suggests it', () => {
    expect(COMPENSATION_HISTORY_LIMIT).toBe(1_000);
    expect(continueAsNewDue({ historyLength: 999, continueAsNewSuggested: false })).toBe(false);
    expect(continueAsNewDue({ historyLength: 1_000, continueAsNewSuggested: false })).toBe(true);
    expect(continueAsNewDue({ historyLength: 40, continueAsNewSuggested: true })).toBe(true);
    expect(continueAsNewDue({ historyLength: 40, continueAsNewSuggested: false }, 40)).toBe(true);
  });

  const compensating = transition(transition(initialCheckoutState(input), 'charging'), 'compensating', { code: 'out-of-stock', message: 'x' });
  const resume = (over: Partial<CompensationResume> = {}): CompensationResume => ({
    state: compensating,
    pending: ['order.cancel', 'charge.refund'],
    failedRounds: 12,
    previousRuns: 1,
    ...over,
  });

  test('a resume of this checkout, compensating, with known compensations, is accepted', () => {
    expect(() => checkResume(input, resume())).not.toThrow();
    expect(() => checkResume(input, resume({ pending: [], failedRounds: 0 }))).not.toThrow();
  });

  test.each([
    ['another checkout', { state: { ...compensating, checkoutId: 'chk_other' } }, /of checkout chk_other/],
    ['a state not compensating', { state: { ...compensating, status: 'failed' as const } }, /is failed, not compensating/],
    ['an unknown compensation', { pending: ['charge.refund', 'notify.unsend'] as never }, /unknown compensations/],
    ['a compensation twice', { pending: ['charge.refund', 'charge.refund'] as const }, /listed twice/],
    ['a negative round count', { failedRounds: -1 }, /failedRounds -1/],
  ])('a resume with %s is refused', (_, over, message) => {
    expect(() => checkResume(input, resume(over as Partial<CompensationResume>))).toThrow(InvalidResumeError);
    expect(() => checkResume(input, resume(over as Partial<CompensationResume>))).toThrow(message);
  });

  test('a continued run is started with every search attribute as the checkout stands; the API starts the first with the initial ones', () => {
    const failing = { ...compensating, compensationsFailing: true };
    expect(searchAttributesAt(failing).map(({ key, value }) => [key.name, value])).toEqual([
      ['CheckoutStatus', 'compensating'],
      ['CustomerId', 'cus_123'],
      ['MerchantId', 'merchant_a'],
      ['CheckoutAmount', 3998],
      ['CompensationFailing', true],
    ]);
    expect(checkoutSearchAttributes(input)).toEqual(searchAttributesAt(initialCheckoutState(input)));
    expect(checkoutSearchAttributes(input).map(({ key, value }) => [key.name, value])).toEqual([
      ['CheckoutStatus', 'pending'],
      ['CustomerId', 'cus_123'],
      ['MerchantId', 'merchant_a'],
      ['CheckoutAmount', 3998],
      ['CompensationFailing', false],
    ]);
  });
});

describe('classifying a step error', () => {
  const activityFailure = (cause: Error) =>
    new ActivityFailure('activity failed', 'createCharge', '1', RetryState.NON_RETRYABLE_FAILURE, 'identity', cause);

  test('a business rejection: rejected, with the problem kind as code', () => {
    const err = activityFailure(ApplicationFailure.nonRetryable('The card was declined', 'card-declined'));
    expect(isRejection(err)).toBe(true);
    expect(classifyStepError(err)).toEqual({
      outcome: 'rejected',
      cancelled: false,
      failure: { code: 'card-declined', message: 'The card was declined' },
    });
  });

  test('a business kind counts as a rejection even if the failure was not flagged non-retryable', () => {
    expect(isRejection(activityFailure(ApplicationFailure.retryable('no stock', 'out-of-stock')))).toBe(true);
  });

  test('retries exhausted on a transient error: unknown outcome', () => {
    const err = activityFailure(ApplicationFailure.retryable('payment answered 503', 'unavailable'));
    expect(classifyStepError(err)).toMatchObject({ outcome: 'unknown', cancelled: false, failure: { code: 'unavailable' } });
  });

  test('a timeout: unknown outcome', () => {
    const err = activityFailure(new TimeoutFailure('timed out', undefined, TimeoutType.START_TO_CLOSE));
    expect(classifyStepError(err)).toMatchObject({ outcome: 'unknown', failure: { code: 'timeout' } });
  });

  test('an activity cancelled in flight: unknown; never scheduled: not-sent', () => {
    expect(classifyStepError(activityFailure(new CancelledFailure('cancelled')))).toMatchObject({
      outcome: 'unknown',
      cancelled: true,
      failure: { code: 'cancelled' },
    });
    expect(classifyStepError(new CancelledFailure('cancelled'))).toMatchObject({ outcome: 'not-sent', cancelled: true });
  });
});

describe('presentation', () => {
  test.each([
    [3998, 'USD', '$39.98'],
    [5, 'usd', '$0.05'],
    [100000, 'EUR', '€1000.00'],
    [500, 'JPY', '500 JPY'],
    [1234, 'CHF', '12.34 CHF'],
    [-250, 'GBP', '-£2.50'],
  ])('%d %s → %s', (amount, currency, text) => {
    expect(formatAmount(amount, currency)).toBe(text);
  });

  test('payment methods: test tokens shown, anything else only by its last four characters', () => {
    expect(displayPaymentMethod('tok_visa')).toBe('tok_visa');
    expect(displayPaymentMethod('pm_1Nabcdefghijkl4242')).toBe('…4242');
  });

  test('current details name the status, the steps and a failing compensation', () => {
    let state = updateStep(initialCheckoutState(input), 'charge.refund', {
      status: 'running',
      error: { code: 'unavailable', message: 'payment answered 503' },
    });
    state = { ...state, status: 'compensating', compensationsFailing: true };
    const details = currentDetails(state);
    expect(details).toContain('**compensating** — $39.98 for cus_123');
    expect(details).toContain('- charge.refund: running — unavailable: payment answered 503');
    expect(details).toContain('compensation is failing');
    expect(details).not.toContain('a@example.com');
  });
});
