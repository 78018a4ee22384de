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
 * - A compensation that keeps failing keeps the history bounded: past COMPENSATION_HISTORY_LIMIT
 *   events the run continues as new with its state and what is left to undo (`resume`, the
 *   optional second argument), and the new run goes on exactly where it stopped, with the same
 *   keys. The search attributes and `getState` of the chain read as those of one run.
 */
import {
  CancellationScope,
  defineQuery,
  log,
  makeContinueAsNewFunc,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  TemporalFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { Activities } from '../activities';
import type { Charge, Notification, Order, Refund } from '../activities/types';
import { CompensationStack } from '../saga/compensation-stack';
import { classifyStepError, isRejection } from '../saga/failures';
import { stepKey, type Compensation, type KeyName, type SagaStep } from '../saga/keys';
import { chargeRequest, confirmationRequest, orderRequest, refundRequest } from '../saga/requests';
import {
  checkResume,
  compensationAction,
  compensationOf,
  compensationRoundDelayMs,
  continueAsNewDue,
  currentDetails,
  displayPaymentMethod,
  formatAmount,
  initialCheckoutState,
  stepOf,
  transition,
  updateStep,
} from '../saga/saga';
import type { CheckoutInput, CheckoutState, CheckoutStatus, CompensationResume, Failure, StepState } from '../saga/types';
import { COMPENSATION_ROUND, DELIVERY_POLL, FORWARD_STEP, NOTIFICATION_SEND } from './policies';
import * as attrs from './search-attributes';
import { searchAttributesAt, searchAttributesOf, type CheckoutSearchAttributes } from './search-attributes';

/** The checkout resource as it stands: what `GET /checkouts/{id}` shows. */
export const getStateQuery = defineQuery<CheckoutState>('getState');

const forward = proxyActivities<Activities>(FORWARD_STEP);
/** The compensations, and forward calls re-issued to learn an unknown outcome: retried in rounds. */
const compensation = proxyActivities<Activities>(COMPENSATION_ROUND);
const notification = proxyActivities<Activities>(NOTIFICATION_SEND);
const delivery = proxyActivities<Activities>(DELIVERY_POLL);

/**
 * `resume` is given only by a run of this checkout that continued as new while compensating
 * (the API starts every checkout with `input` alone).
 */
export async function checkoutWorkflow(input: CheckoutInput, resume?: CompensationResume): Promise<CheckoutState> {
  const saga = new CheckoutSaga(input, resume);

  // The steps that can be undone, each with its undo beside it. Defining one calls nothing:
  // `saga.run` below registers the undo, then takes the step.

  // 1. Charge the customer. Undone by refunding the charge in full.
  const charge = saga.compensable('charge', {
    call: (via) => chargeCustomer(input, via),
    lookup: () => lookupEffect(input, 'charge'),
    undo: async (chargeId) => {
      saga.set({ chargeId });
      const refund = await refundCharge(input, chargeId);
      saga.set({ refundId: refund.id });
      return refund.id;
    },
  });

  // 2. Create the order, reserving stock: the pivot. Once it exists the checkout only moves
  //    forward; before that, undone by cancelling the order, which releases the stock.
  const order = saga.compensable('order', {
    call: (via, chargeId: string) => createOrder(input, chargeId, via),
    lookup: () => lookupEffect(input, 'order'),
    undo: async (orderId) => {
      saga.set({ orderId });
      await cancelOrder(input, orderId);
      return orderId;
    },
  });

  // A run continued as new while compensating takes no step: it goes on undoing what the run
  // before it had not undone yet, from the round it had reached, with the same keys.
  if (resume) return compensateAndFail(saga);

  try {
    saga.moveTo('charging');
    const chargeId = (await saga.run(charge)).id;
    saga.set({ chargeId });

    saga.moveTo('ordering');
    const orderId = (await saga.run(order, chargeId)).id;
    saga.set({ orderId });
  } catch (err) {
    // Declined, out of stock, a service that stayed down, or a cancel request: undo what was done.
    if (!(err instanceof TemporalFailure)) throw err; // a bug: fail the task, let a fix replay
    saga.moveTo('compensating', classifyStepError(err).failure);
    return compensateAndFail(saga);
  }

  // 3. Confirm by e-mail: retried or dead-lettered by the notification service, never a reason to refund.
  saga.moveTo('notifying');
  await sendConfirmation(saga);
  saga.moveTo('completed');
  return saga.state;
}

/** Undoes what was done, shielded from a cancel request (it may be what caused it); then `failed`. */
async function compensateAndFail(saga: CheckoutSaga): Promise<CheckoutState> {
  await CancellationScope.nonCancellable(() => saga.compensate());
  saga.moveTo('failed');
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

/** A forward step that can be undone, as written in the workflow: its call with its compensation beside it. */
interface CompensableStep<A extends unknown[], T extends { id: string }> extends StepCompensation {
  /** The forward call, through `forward` (or `compensation`, when a run from before FENCED_LOOKUP re-issues it). */
  call: (via: Proxy, ...args: A) => Promise<T>;
}

/** A compensable step as `saga.compensable` defined it: what `saga.run` takes. */
interface DefinedStep<A extends unknown[], T extends { id: string }> extends CompensableStep<A, T> {
  name: SagaStep;
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
 * The `patched()` id of continuing a compensating run as new once its history is long
 * (COMPENSATION_HISTORY_LIMIT, src/saga/saga.ts). Asked after each failed round's pause, where
 * the old code went straight on to the next round: a replay of a run recorded before it (no
 * marker at that point) takes the old branch and schedules that round; a run that was open when
 * this was deployed records the marker at its next failed round and is bounded from there on.
 * Retire (deprecatePatch, then plain code) once no run that predates it is open.
 */
const COMPENSATION_CONTINUE_AS_NEW = 'compensation-continue-as-new';

/**
 * Holds the checkout's state; every change goes through `src/saga/saga.ts` and is published.
 * Runs the forward steps, keeps the compensation each registered, and runs those on failure.
 * In a run continued as new while compensating (`resume`), starts from the state it was handed
 * and runs the compensations that were still to do.
 */
class CheckoutSaga {
  state: CheckoutState;
  private readonly compensations = new CompensationStack<RegisteredCompensation>();
  /** The compensable steps as the workflow defined them, by step: what a resumed run undoes with. */
  private readonly defined = new Map<SagaStep, StepCompensation>();

  /**
   * Whether this run was started with its search attributes (`checkoutSearchAttributes`) and
   * upserts only what changes their meaning. Runs started before SEARCH_ATTRIBUTES_AT_START
   * upsert all five at start and at every status change, and replay exactly that.
   */
  private readonly searchAttributesAtStart: boolean;
  /** The search attributes as last set (at start, or by an upsert), to upsert only what changed. */
  private published: CheckoutSearchAttributes;

  constructor(
    readonly input: CheckoutInput,
    private readonly resume?: CompensationResume,
  ) {
    if (resume) checkResume(input, resume);
    // A continued run was started with the search attributes of this state (continueCompensating).
    this.state = resume?.state ?? initialCheckoutState(input);
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

  /** Defines a forward step with its compensation beside it; calls nothing (see `run`). */
  compensable<A extends unknown[], T extends { id: string }>(name: SagaStep, step: CompensableStep<A, T>): DefinedStep<A, T> {
    this.defined.set(name, { lookup: step.lookup, undo: step.undo });
    return { ...step, name };
  }

  /**
   * Takes a compensable step. Its compensation is registered *before* the call: a step whose
   * reply was lost may have taken effect, and must still be undone.
   */
  run<A extends unknown[], T extends { id: string }>(step: DefinedStep<A, T>, ...args: A): Promise<T> {
    const { name, lookup, undo, call } = step;
    this.compensations.push({ lookup, undo, name: compensationOf(name), step: name, reissue: () => call(compensation, ...args) });
    return this.step(name, (via) => call(via, ...args));
  }

  /** Runs a forward step, recording it as running, then succeeded, failed (rejected) or unknown. */
  async step<T extends { id: string }>(name: SagaStep, call: (via: Proxy) => Promise<T>): Promise<T> {
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
   * Runs the registered compensations, last registered first (in a continued run: those it was
   * handed, in the order handed). Each runs in rounds of a few attempts; after a failed round the
   * checkout is flagged (`compensationsFailing`, search attribute `CompensationFailing`), the
   * error is kept on the step, and the round is repeated after a growing pause — until it
   * succeeds. Nothing is skipped, nothing is swallowed. Once the history is long, the run
   * continues as new after a pause, handing over this compensation and those after it.
   */
  async compensate(): Promise<void> {
    const todo = this.resume ? this.resume.pending.map((name) => this.resumed(name)) : this.compensations.drain();
    for (const [i, registered] of todo.entries()) {
      if (compensationAction(this.stepState(registered.step)) === 'skip') continue;
      const failedBefore = this.resume && i === 0 ? this.resume.failedRounds : 0;
      for (let round = failedBefore + 1; ; round++) {
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
          if (patched(COMPENSATION_CONTINUE_AS_NEW) && continueAsNewDue(workflowInfo())) {
            await this.continueCompensating(todo.slice(i).map((c) => c.name), round);
          }
        }
      }
    }
  }

  /**
   * A compensation handed over by the run before, with the lookup and undo the workflow wrote
   * beside its step. Such a run always learns an unknown outcome by the fenced lookup (it is
   * past FENCED_LOOKUP), so it has no forward call to re-issue.
   */
  private resumed(name: Compensation): RegisteredCompensation {
    const step = [...this.defined.keys()].find((s) => compensationOf(s) === name);
    const undoing = step && this.defined.get(step);
    if (!step || !undoing) throw new Error(`no step defines the compensation ${name}`);
    const reissue = () => Promise.reject(new Error(`a continued run never re-issues ${step}: it looks its key up`));
    return { ...undoing, name, step, reissue };
  }

  /**
   * Ends this run and starts the next one of the same checkout (same workflow id, task queue and
   * type), handing it the state and the compensations still to run; `failedRounds` of the first
   * keeps the pause growing where it was. It is started with the search attributes as they stand,
   * so the chain searches as one checkout; its first task publishes the same details.
   */
  private continueCompensating(pending: Compensation[], failedRounds: number): Promise<never> {
    const resume: CompensationResume = { state: this.state, pending, failedRounds, previousRuns: (this.resume?.previousRuns ?? 0) + 1 };
    const { historyLength, continueAsNewSuggested } = workflowInfo();
    log.info('compensating run continues as new', { pending, failedRounds, historyLength, continueAsNewSuggested, runs: resume.previousRuns });
    return makeContinueAsNewFunc<typeof checkoutWorkflow>({ typedSearchAttributes: searchAttributesAt(this.state) })(this.input, resume);
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
