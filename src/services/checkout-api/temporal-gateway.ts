/**
 * Everything the checkout API asks of Temporal: start a checkout or refund workflow so that a
 * duplicate never starts a second run, read where a run stands, and wait for its end.
 *
 * Waiting is Temporal's own long poll on the run's result (no query loop: a query of an open run
 * is a workflow task on a worker), and costs the API no database connection.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Client,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
} from '@temporalio/client';
import { formatMoney } from '../../saga/money';
import type { CheckoutInput, CheckoutState, RefundInput, RefundState } from '../../saga/types';
import type { checkoutWorkflow } from '../../workflows/checkout';
import type { refundWorkflow } from '../../workflows/refund';
import { checkoutSearchAttributes, MerchantId } from '../../workflows/search-attributes';
import type { CheckoutOutcome } from './store';

/** A checkout's state as Temporal has it now; `final` once the run has ended. */
export interface CheckoutSnapshot {
  state: CheckoutOutcome;
  runId: string | null;
  final: boolean;
}

/**
 * A duplicate start must never create a second run: while a run is open the server hands back
 * the existing one (USE_EXISTING); once it closed, it refuses the id (REJECT_DUPLICATE). The API's
 * own record decides whether to start at all (src/services/checkout-api/store.ts); these options
 * keep two concurrent first requests, or a start retried after a lost reply, on one run.
 */
const SINGLE_RUN = { workflowIdConflictPolicy: 'USE_EXISTING', workflowIdReusePolicy: 'REJECT_DUPLICATE' } as const;

const CLOSED_ABNORMALLY = new Set(['TERMINATED', 'TIMED_OUT', 'FAILED', 'CANCELLED']);

/**
 * The outcome of a run that was ended from outside before it reached its own end: the state it
 * had reached, marked `terminated`, saying what that means for the customer's money.
 */
function interrupted(state: CheckoutState, how: string): CheckoutOutcome {
  const leftBehind = [state.chargeId && `charge ${state.chargeId}`, state.orderId && `order ${state.orderId}`].filter(Boolean);
  return {
    ...state,
    status: 'terminated',
    failure: {
      code: 'run-terminated',
      message:
        `The workflow run was ${how.toLowerCase().replace('_', ' ')} while the checkout was ${state.status}; ` +
        (leftBehind.length ? `${leftBehind.join(' and ')} may be left behind: see docs/operations.md` : 'nothing had been charged'),
    },
  };
}

export class TemporalGateway {
  /** Aborted by `stopWaiting`: every wait, in progress or to come, ends at once. */
  private readonly stopped = new AbortController();

  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
  ) {}

  /**
   * For a shutdown: after `afterMs`, every wait still in progress (and any that starts later)
   * ends, and its request answers with where the checkout stands (202 while it runs; the client
   * reads it later, at any replica). A `Prefer: wait` may ask for 30 s, longer than the shutdown
   * may take: this keeps every request in flight answered before the process's bound cuts it off.
   */
  stopWaiting(afterMs = 0): void {
    setTimeout(() => this.stopped.abort(), afterMs).unref();
  }

  /** Starts (or finds) the checkout run; its run id, or null when a closed run already had the id. */
  async startCheckout(input: CheckoutInput): Promise<string | null> {
    try {
      const handle = await this.client.workflow.start<typeof checkoutWorkflow>('checkoutWorkflow', {
        ...SINGLE_RUN,
        taskQueue: this.taskQueue,
        workflowId: input.checkoutId,
        args: [input],
        staticSummary: `Checkout ${formatMoney(input.amount, input.currency)} for ${input.customerId} (${input.items.length} item${input.items.length === 1 ? '' : 's'})`,
        staticDetails: `merchant ${input.merchantId} · ${input.items.map((i) => `${i.quantity}× ${i.sku}`).join(', ')}`,
        typedSearchAttributes: checkoutSearchAttributes(input),
      });
      return handle.firstExecutionRunId;
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return null;
      throw err;
    }
  }

  /**
   * The checkout as it stands: the result of an ended run, the `getState` query of an open one,
   * the last state (marked `terminated`) of one ended from outside; null when Temporal does not
   * know the run (never started, or forgotten after its retention).
   */
  readCheckout(checkoutId: string): Promise<CheckoutSnapshot | null> {
    return unlessUnknown(async () => {
      const handle = this.client.workflow.getHandle<typeof checkoutWorkflow>(checkoutId);
      return this.snapshot(handle, await handle.describe());
    });
  }

  /**
   * The checkout's state if its run has ended, else null — without a query of an open run (each
   * is a workflow task on a worker): what the outcome recorder asks of every run it looks at.
   */
  endedCheckout(checkoutId: string): Promise<CheckoutSnapshot | null> {
    return unlessUnknown(async () => {
      const handle = this.client.workflow.getHandle<typeof checkoutWorkflow>(checkoutId);
      const description = await handle.describe();
      const status = description.status.name;
      return status === 'COMPLETED' || CLOSED_ABNORMALLY.has(status) ? this.snapshot(handle, description) : null;
    });
  }

  /** The checkout's snapshot from its run's description (one describe per look). */
  private async snapshot(handle: WorkflowHandle<typeof checkoutWorkflow>, description: WorkflowExecutionDescription): Promise<CheckoutSnapshot> {
    const status = description.status.name;
    const runId = description.runId;
    if (status === 'COMPLETED') return { state: await handle.result(), runId, final: true };
    if (CLOSED_ABNORMALLY.has(status)) {
      // A closed run still answers queries (a worker replays it): the state it had reached.
      const last = await this.client.workflow.getHandle<typeof checkoutWorkflow>(handle.workflowId, runId).query<CheckoutState>('getState');
      return { state: interrupted(last, status), runId, final: true };
    }
    return { state: await handle.query<CheckoutState>('getState'), runId, final: false };
  }

  /**
   * Waits up to `ms` for the run to end, on its result (followed across continue-as-new); then, if
   * it is still open, reads where it stands. Null when Temporal does not know the run.
   */
  async waitForCheckout(checkoutId: string, ms: number): Promise<CheckoutSnapshot | null> {
    const handle = this.client.workflow.getHandle<typeof checkoutWorkflow>(checkoutId);
    try {
      const state = await this.resultWithin(() => handle.result(), ms);
      if (state) return { state, runId: null, final: true };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return null;
      // Ended from outside (terminated, timed out): read what it had reached.
      if (!(err instanceof WorkflowFailedError)) throw err;
    }
    return this.readCheckout(checkoutId);
  }

  /**
   * A run's result if it ends within `ms`, else null. The long poll behind it is cancelled when
   * the time is up, so a client that stops waiting leaves no request running behind it.
   */
  private async resultWithin<T>(result: () => Promise<T>, ms: number): Promise<T | null> {
    const abort = new AbortController();
    try {
      return await Promise.race([
        this.client.withAbortSignal(abort.signal, result),
        // The time is up, or the process is stopping (stopWaiting): either way, no result yet.
        sleep(ms, null, { signal: AbortSignal.any([abort.signal, this.stopped.signal]), ref: false }).catch(() => null),
      ]);
    } finally {
      abort.abort();
    }
  }

  /** Starts (or finds) the refund run. */
  async startRefund(input: RefundInput): Promise<void> {
    try {
      await this.client.workflow.start<typeof refundWorkflow>('refundWorkflow', {
        ...SINGLE_RUN,
        taskQueue: this.taskQueue,
        workflowId: input.refundId,
        args: [input],
        staticSummary: `Refund ${input.currency ? formatMoney(input.amount, input.currency) : `${input.amount} (minor units)`} of checkout ${input.checkoutId}`,
        typedSearchAttributes: [{ key: MerchantId, value: input.merchantId }],
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }

  /** The refund's result once its run ended, waiting up to `ms`; null while it runs or when Temporal does not know it. */
  refundResult(refundId: string, ms: number): Promise<RefundState | null> {
    const handle = this.client.workflow.getHandle<typeof refundWorkflow>(refundId);
    return unlessUnknown(() => this.resultWithin(() => handle.result(), ms));
  }

  /** The refund's result if its run has ended, else null (no query of an open run). */
  endedRefund(refundId: string): Promise<{ state: RefundState; final: true } | null> {
    const handle = this.client.workflow.getHandle<typeof refundWorkflow>(refundId);
    return unlessUnknown(async () => {
      const { status } = await handle.describe();
      return status.name === 'COMPLETED' ? { state: await handle.result(), final: true as const } : null;
    });
  }

  /** The refund as it stands, without waiting: its result once ended, else its `getState` query. */
  readRefund(refundId: string): Promise<{ state: RefundState; final: boolean } | null> {
    const handle = this.client.workflow.getHandle<typeof refundWorkflow>(refundId);
    return unlessUnknown(async () => {
      const { status } = await handle.describe();
      if (status.name === 'COMPLETED') return { state: await handle.result(), final: true };
      return { state: await handle.query<RefundState>('getState'), final: false };
    });
  }
}

/** `read`'s answer, or null when Temporal does not know the run (never started, or forgotten after its retention). */
async function unlessUnknown<T>(read: () => Promise<T | null>): Promise<T | null> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
}
