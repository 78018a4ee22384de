/**
 * The checkout saga: charge the customer, create the order, e-mail the confirmation.
 *
 * - Every call carries the key derived for its step (`src/saga/keys.ts`), so retries, worker
 *   crashes and replays reach each service with the same key and take effect at most once.
 * - Each step is written with its compensation beside it (`saga.step(name, call, { undo })`),
 *   registered *before* the call. On a decline, an out-of-stock order, a service that stays
 *   down, or a cancel request, the registered compensations run in reverse order, shielded from
 *   cancellation, each retried until it succeeds.
 * - Whether a compensation undoes, reconciles or skips its step is decided in one place,
 *   `compensationAction` (src/saga/saga.ts): a forward call that stopped without an answer has
 *   an unknown outcome, learned by a lookup of its key that never performs it (the service's
 *   fence: a call that never ran is closed for good, so a late original cannot charge).
 * - The order is the pivot: once it exists the checkout only moves forward. The e-mail is
 *   retried or dead-lettered by the notification service and never causes a refund.
 * - The result is always the final `CheckoutState`, `completed` or `failed` — also after a
 *   cancel request, which ends `failed` with failure code `cancelled` (a business outcome the
 *   API can read from the result, rather than a workflow error without one).
 */
import {
  CancellationScope,
  defineQuery,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  TemporalFailure,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { Activities } from '../activities';
import type { Charge, Notification, Order, Refund } from '../activities/types';
import { CompensationStack } from '../saga/compensation-stack';
import { classifyStepError, isRejection } from '../saga/failures';
import { stepKey, type Compensation, type KeyName, type SagaStep } from '../saga/keys';
import { chargeRequest, confirmationRequest, orderRequest, refundRequest } from '../saga/requests';
import {
  compensationAction,
  compensationOf,
  compensationRoundDelayMs,
  currentDetails,
  displayPaymentMethod,
  formatAmount,
  initialCheckoutState,
  stepOf,
  transition,
  updateStep,
} from '../saga/saga';
import type { CheckoutInput, CheckoutState, CheckoutStatus, Failure, StepState } from '../saga/types';
import { COMPENSATION_ROUND, DELIVERY_POLL, FORWARD_STEP, NOTIFICATION_SEND } from './policies';
import * as attrs from './search-attributes';
import { searchAttributesOf, type CheckoutSearchAttributes } from './search-attributes';

/** The checkout resource as it stands: what `GET /checkouts/{id}` shows. */
export const getStateQuery = defineQuery<CheckoutState>('getState');

const forward = proxyActivities<Activities>(FORWARD_STEP);
/** The compensations, and forward calls re-issued to learn an unknown outcome: retried in rounds. */
const compensation = proxyActivities<Activities>(COMPENSATION_ROUND);
const notification = proxyActivities<Activities>(NOTIFICATION_SEND);
const delivery = proxyActivities<Activities>(DELIVERY_POLL);

export async function checkoutWorkflow(input: CheckoutInput): Promise<CheckoutState> {
  const saga = new CheckoutSaga(input);

  try {
    // 1. Charge the customer. Undone by refunding the charge in full.
    saga.moveTo('charging');
    const charge = await saga.step('charge', (via) => chargeCustomer(input, via), {
      lookup: () => lookupEffect(input, 'charge'),
      undo: async (chargeId) => {
        saga.set({ chargeId });
        const refund = await refundCharge(input, chargeId);
        saga.set({ refundId: refund.id });
        return refund.id;
      },
    });
    saga.set({ chargeId: charge.id });

    // 2. Create the order, reserving stock: the pivot. Once it exists the checkout only moves
    //    forward; before that, undone by cancelling the order, which releases the stock.
    saga.moveTo('ordering');
    const order = await saga.step('order', (via) => createOrder(input, charge.id, via), {
      lookup: () => lookupEffect(input, 'order'),
      undo: async (orderId) => {
        saga.set({ orderId });
        await cancelOrder(input, orderId);
        return orderId;
      },
    });
    saga.set({ orderId: order.id });
  } catch (err) {
    // Declined, out of stock, a service that stayed down, or a cancel request: undo what was done.
    if (!(err instanceof TemporalFailure)) throw err; // a bug: fail the task, let a fix replay
    saga.moveTo('compensating', classifyStepError(err).failure);
    await CancellationScope.nonCancellable(() => saga.compensate());
    saga.moveTo('failed');
    return saga.state;
  }

  // 3. Confirm by e-mail: retried or dead-lettered by the notification service, never a reason to refund.
  saga.moveTo('notifying');
  await sendConfirmation(saga);
  saga.moveTo('completed');
  return saga.state;
}

// ---- the service calls ----------------------------------------------------------------------

/** Activities as proxied with one retry policy: `forward` for the steps, `compensation` for undoing them. */
type Proxy = typeof forward;

function callFor(input: CheckoutInput, name: KeyName) {
  return { merchantId: input.merchantId, idempotencyKey: stepKey(input.checkoutId, name) };
}

/** The charge request. (Runs opened before the fenced lookup re-issue it unchanged to reconcile.) */
function chargeCustomer(input: CheckoutInput, via: Proxy): Promise<Charge> {
  const { amount, currency, paymentMethod, customerId } = input;
  return via.createCharge.executeWithOptions(
    { summary: `Charge ${formatAmount(amount, currency)} to ${customerId} (${displayPaymentMethod(paymentMethod)})` },
    [{ ...callFor(input, 'charge'), request: chargeRequest(input) }],
  );
}

/**
 * What the step's call did, learned without doing it: the service answers from its idempotency
 * record and fences a key that never ran, so "not performed" (`idempotency-key-fenced`, a
 * rejection) stays true.
 */
function lookupEffect(input: CheckoutInput, step: 'charge' | 'order'): Promise<{ id: string }> {
  const call = callFor(input, step);
  const activity = step === 'charge' ? compensation.lookupCharge : compensation.lookupOrder;
  return activity.executeWithOptions({ summary: `Look up the ${step} under ${call.idempotencyKey} (fences it if it never ran)` }, [call]);
}

function refundCharge(input: CheckoutInput, chargeId: string): Promise<Refund> {
  const { amount, currency } = input;
  return compensation.refundCharge.executeWithOptions(
    { summary: `Refund ${formatAmount(amount, currency)} of charge ${chargeId}` },
    [{ ...callFor(input, 'charge.refund'), request: refundRequest(chargeId, amount) }],
  );
}

function createOrder(input: CheckoutInput, chargeId: string, via: Proxy): Promise<Order> {
  const units = input.items.reduce((n, item) => n + item.quantity, 0);
  return via.createOrder.executeWithOptions(
    { summary: `Create order of ${units} item(s) for ${input.customerId} (charge ${chargeId})` },
    [{ ...callFor(input, 'order'), request: orderRequest(input, chargeId) }],
  );
}

function cancelOrder(input: CheckoutInput, orderId: string): Promise<Order> {
  return compensation.cancelOrder.executeWithOptions({ summary: `Cancel order ${orderId}` }, [
    { ...callFor(input, 'order.cancel'), orderId },
  ]);
}

// ---- after the pivot ------------------------------------------------------------------------

/**
 * Hands the confirmation e-mail to the notification service's outbox. Once the outbox has
 * accepted it (committed with its key), the checkout is done: the outbox sends it, retries it
 * and dead-letters it on its own schedule, and `GET /checkouts/{id}` reads its delivery from
 * the notification service (docs/confirmation-email.md says why the checkout does not wait).
 * Whatever happens here — a rejection, a service that stays down, a cancel request — is
 * recorded and the checkout still completes: the e-mail is never a reason to refund.
 */
async function sendConfirmation(saga: CheckoutSaga): Promise<void> {
  const { input } = saga;
  try {
    const sent = await saga.step('notify', () =>
      notification.sendNotification.executeWithOptions({ summary: `Send order confirmation to ${input.customerId}` }, [
        {
          ...callFor(input, 'notify'),
          request: confirmationRequest(input, saga.state.orderId),
        },
      ]),
    );
    saga.set({ notificationId: sent.id, notificationStatus: sent.status });
    // Accepted by the outbox is what the checkout needs: the outbox owns delivery from here.
    if (patched(COMPLETE_ON_OUTBOX_ACCEPTANCE)) return;
    const delivered = await awaitDelivery(input, sent.id);
    if (delivered) saga.set({ notificationStatus: delivered.status });
    else log.warn('confirmation e-mail not delivered in time; the checkout completes, the outbox keeps trying', { notificationId: sent.id });
  } catch (err) {
    if (!(err instanceof TemporalFailure)) throw err;
    const { outcome, failure } = classifyStepError(err);
    log.warn('confirmation e-mail not confirmed; the checkout completes regardless', { failure });
    if (!saga.state.notificationId && outcome !== 'not-sent') {
      saga.set({ notificationStatus: outcome === 'rejected' ? 'rejected' : 'unknown' });
    }
  }
}

/**
 * The `patched()` id of completing once the outbox accepted the e-mail. Runs started before it
 * went on to wait for delivery (`awaitDelivery`, with or without its bound); a replay of them,
 * or a worker picking one up mid-flight, issues exactly that again. Once no such run is open and
 * test/replay/histories/v1 and v2 are retired, `awaitDelivery`, the `awaitNotificationDelivery`
 * activity and DELIVERY_POLL go with the old branch.
 */
const COMPLETE_ON_OUTBOX_ACCEPTANCE = 'complete-on-outbox-acceptance';

/**
 * Runs started before COMPLETE_ON_OUTBOX_ACCEPTANCE only. How long a checkout waits for its confirmation e-mail to be sent or dead-lettered. Past it,
 * the checkout completes with `notificationStatus: 'pending'`: the outbox keeps sending on its
 * own schedule either way, so the bound changes no e-mail — it only stops a mail path that is
 * down for hours (or an outbox row that never resolves) from holding the customer's checkout in
 * `notifying`, and its poll activity retrying, without end.
 */
export const DELIVERY_WAIT_LIMIT = '1 hour';

/**
 * The `patched()` id of that bound. Runs started before it recorded the poll activity with no
 * timer beside it; a replay of them (or a worker picking one up mid-flight) must issue exactly
 * that again, so they keep the unbounded wait. Once no such run is open and their histories
 * (test/replay/histories/v1) are retired, this becomes `deprecatePatch`, then goes.
 */
const BOUNDED_DELIVERY_WAIT = 'bounded-delivery-wait';

/** Runs started before COMPLETE_ON_OUTBOX_ACCEPTANCE only. The e-mail once sent or dead-lettered; undefined if that took longer than DELIVERY_WAIT_LIMIT. */
async function awaitDelivery(input: CheckoutInput, notificationId: string): Promise<Notification | undefined> {
  const poll = () =>
    delivery.awaitNotificationDelivery.executeWithOptions({ summary: `Wait for delivery of ${notificationId}` }, [
      { merchantId: input.merchantId, notificationId },
    ]);
  if (!patched(BOUNDED_DELIVERY_WAIT)) return poll();
  const scope = new CancellationScope();
  return scope.run(async () => {
    try {
      const limit = sleep(DELIVERY_WAIT_LIMIT).then(() => undefined);
      return await Promise.race([limit, poll()]);
    } finally {
      scope.cancel(); // the loser: the timer (usually), or the poll once the limit has passed
    }
  });
}

// ---- the saga's state, its steps and their compensations -------------------------------------

type Facts = Partial<
  Pick<CheckoutState, 'chargeId' | 'orderId' | 'refundId' | 'notificationId' | 'notificationStatus'>
>;

/** Undoes a forward step, given the id of what it created; resolves with the id of what the undo created. */
type Undo = (outcome: string) => Promise<string>;

/** How a step's compensation learns an unknown outcome and undoes a known one, written beside the step. */
interface StepCompensation {
  /** What the step created, without creating it; a rejection when it never ran. */
  lookup: () => Promise<{ id: string }>;
  undo: Undo;
}

/** A compensation as registered beside its forward step: the step, how to learn its outcome, how to undo it. */
interface RegisteredCompensation extends StepCompensation {
  name: Compensation;
  step: SagaStep;
  /** Runs recorded before FENCED_LOOKUP learn an unknown outcome by re-issuing the forward call. */
  reissue: () => Promise<{ id: string }>;
}

/**
 * The `patched()` id of the fenced lookup. Runs recorded before it reconciled by re-issuing the
 * forward call (which performs it if it never ran: a charge refunded at once); replaying them
 * must schedule that same activity. Retire with the history sets that predate it (v1, v2).
 */
const FENCED_LOOKUP = 'fenced-lookup';

/**
 * Holds the checkout's state; every change goes through `src/saga/saga.ts` and is published.
 * Runs the forward steps, keeps the compensation each registered, and runs those on failure.
 */
class CheckoutSaga {
  state: CheckoutState;
  private readonly compensations = new CompensationStack<RegisteredCompensation>();

  /**
   * Whether this run was started with its search attributes (`checkoutSearchAttributes`) and
   * upserts only what changes their meaning. Runs started before SEARCH_ATTRIBUTES_AT_START
   * upsert all five at start and at every status change, and replay exactly that.
   */
  private readonly searchAttributesAtStart: boolean;
  /** The search attributes as last set (at start, or by an upsert), to upsert only what changed. */
  private published: CheckoutSearchAttributes;

  constructor(readonly input: CheckoutInput) {
    this.state = initialCheckoutState(input);
    this.published = searchAttributesOf(this.state);
    this.searchAttributesAtStart = patched(SEARCH_ATTRIBUTES_AT_START);
    setHandler(getStateQuery, () => this.state);
    this.publish(true);
  }

  moveTo(status: CheckoutStatus, failure?: Failure): void {
    this.state = transition(this.state, status, failure);
    this.publish(true);
  }

  set(facts: Facts): void {
    this.state = { ...this.state, ...facts };
    this.publish(false);
  }

  stepState(name: KeyName): StepState | undefined {
    return stepOf(this.state, name);
  }

  updateStep(name: KeyName, patch: Parameters<typeof updateStep>[2]): void {
    this.state = updateStep(this.state, name, patch);
    this.publish(false);
  }

  setCompensationsFailing(failing: boolean): void {
    if (this.state.compensationsFailing === failing) return;
    this.state = { ...this.state, compensationsFailing: failing };
    this.publish(true);
  }

  /**
   * Runs a forward step, recording it as running, then succeeded, failed (rejected) or unknown.
   * Its compensation, if it has one, is registered *before* the call: a step whose reply was
   * lost may have taken effect, and must still be undone.
   */
  async step<T extends { id: string }>(name: SagaStep, call: (via: Proxy) => Promise<T>, compensated?: StepCompensation): Promise<T> {
    if (compensated) this.compensations.push({ ...compensated, name: compensationOf(name), step: name, reissue: () => call(compensation) });
    this.updateStep(name, { status: 'running', attempts: (this.stepState(name)?.attempts ?? 0) + 1 });
    try {
      const result = await call(forward);
      this.updateStep(name, { status: 'succeeded', outcome: result.id, error: null });
      return result;
    } catch (err) {
      const { outcome, failure } = classifyStepError(err);
      const status = outcome === 'rejected' ? 'failed' : outcome === 'not-sent' ? 'pending' : 'unknown';
      this.updateStep(name, { status, error: failure });
      throw err;
    }
  }

  /**
   * Runs the registered compensations, last registered first. Each runs in rounds of a few
   * attempts; after a failed round the checkout is flagged (`compensationsFailing`, search
   * attribute `CompensationFailing`), the error is kept on the step, and the round is repeated
   * after a growing pause — until it succeeds. Nothing is skipped, nothing is swallowed.
   */
  async compensate(): Promise<void> {
    for (const registered of this.compensations.drain()) {
      if (compensationAction(this.stepState(registered.step)) === 'skip') continue;
      for (let round = 1; ; round++) {
        this.updateStep(registered.name, { status: 'running', attempts: round });
        try {
          const forwardOutcome = await this.outcomeOf(registered);
          const outcome = forwardOutcome ? await registered.undo(forwardOutcome) : null;
          this.updateStep(registered.name, { status: outcome ? 'succeeded' : 'skipped', outcome, error: null });
          this.setCompensationsFailing(false);
          break;
        } catch (err) {
          const { failure } = classifyStepError(err);
          log.warn('compensation failed a round; retrying', { compensation: registered.name, round, failure });
          this.updateStep(registered.name, { error: failure });
          this.setCompensationsFailing(true);
          await sleep(compensationRoundDelayMs(round));
        }
      }
    }
  }

  /**
   * The id of what a compensation's forward step created, or null if it took no effect, as
   * `compensationAction` decides. An unknown outcome is resolved by the step's lookup: the
   * service answers from its record (the id, or the stored refusal), or fences a key that never
   * ran and answers `idempotency-key-fenced` — a rejection: nothing to undo, and nothing can
   * happen later under that key.
   */
  private async outcomeOf({ step: name, lookup, reissue }: RegisteredCompensation): Promise<string | null> {
    const step = this.stepState(name);
    switch (compensationAction(step)) {
      case 'undo':
        return step?.outcome ?? null;
      case 'skip':
        return null;
      case 'reconcile':
        try {
          const { id } = await (patched(FENCED_LOOKUP) ? lookup() : reissue());
          this.updateStep(name, { status: 'succeeded', outcome: id, error: null });
          return id;
        } catch (err) {
          if (!isRejection(err)) throw err;
          this.updateStep(name, { status: 'failed', error: classifyStepError(err).failure });
          return null;
        }
    }
  }

  /**
   * Details (the Web UI's current details) change with everything. Search attributes change
   * with the status and the failing flag only, and in runs started with them only when their
   * meaning changes (`searchAttributesOf`): each upsert is a command and a billable action.
   */
  private publish(statusOrFlagChanged: boolean): void {
    if (statusOrFlagChanged) {
      if (this.searchAttributesAtStart) this.upsertChangedSearchAttributes();
      else upsertSearchAttributes(allSearchAttributes(this.state));
    }
    setCurrentDetails(currentDetails(this.state));
  }

  private upsertChangedSearchAttributes(): void {
    const next = searchAttributesOf(this.state);
    const changed: SearchAttributeUpdatePair[] = [];
    if (next.status !== this.published.status) changed.push({ key: attrs.CheckoutStatus, value: next.status });
    if (next.compensationFailing !== this.published.compensationFailing) {
      changed.push({ key: attrs.CompensationFailing, value: next.compensationFailing });
    }
    this.published = next;
    if (changed.length > 0) upsertSearchAttributes(changed);
  }
}

/** The upsert of runs started before SEARCH_ATTRIBUTES_AT_START: all five, every time. */
function allSearchAttributes(state: CheckoutState): SearchAttributeUpdatePair[] {
  return [
    { key: attrs.CheckoutStatus, value: state.status },
    { key: attrs.CustomerId, value: state.customerId },
    { key: attrs.MerchantId, value: state.merchantId },
    { key: attrs.CheckoutAmount, value: state.amount },
    { key: attrs.CompensationFailing, value: state.compensationsFailing },
  ];
}

/**
 * The `patched()` id of setting the search attributes when the run is started and upserting
 * only their changes of meaning. Once no run that predates it is open and
 * test/replay/histories/v1 and v2 are retired, `allSearchAttributes` goes with the old branch.
 */
const SEARCH_ATTRIBUTES_AT_START = 'search-attributes-at-start';
