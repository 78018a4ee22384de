/**
 * Everything the checkout API asks of Temporal: start a checkout or refund workflow so that
 * a duplicate never starts a second run, read a checkout's state, wait for a terminal state.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Client,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
} from '@temporalio/client';
import { formatMoney } from '../../saga/money';
import { TERMINAL_STATUSES, type CheckoutInput, type CheckoutState, type RefundInput, type RefundState } from '../../saga/types';
import type { checkoutWorkflow } from '../../workflows/checkout';
import type { refundWorkflow } from '../../workflows/refund';
import { checkoutSearchAttributes, MerchantId } from '../../workflows/search-attributes';

export interface CheckoutSnapshot {
  state: CheckoutState;
  runId: string | null;
}

/**
 * A duplicate start must never create a second run: while a run is open the server hands back
 * the existing one (USE_EXISTING); once it closed, it refuses the id (REJECT_DUPLICATE) and we
 * read the closed run instead. The API's own Postgres record decides idempotency for the
 * client; these options keep the guarantee even if that record were lost.
 */
const SINGLE_RUN = { workflowIdConflictPolicy: 'USE_EXISTING', workflowIdReusePolicy: 'REJECT_DUPLICATE' } as const;

export class TemporalGateway {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
  ) {}

  /** Starts (or finds) the checkout run; returns its run id when the run is still open. */
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

  /** The checkout's current state, or null when Temporal no longer knows the run. */
  async readCheckout(checkoutId: string): Promise<CheckoutSnapshot | null> {
    const handle = this.client.workflow.getHandle<typeof checkoutWorkflow>(checkoutId);
    try {
      const description = await handle.describe();
      const state =
        description.status.name === 'COMPLETED'
          ? await handle.result()
          : await handle.query<CheckoutState>('getState');
      return { state, runId: description.runId };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return null;
      throw err;
    }
  }

  /** Polls until the checkout is terminal or `ms` passed; returns the last state seen. */
  async waitForCheckout(checkoutId: string, ms: number): Promise<CheckoutSnapshot | null> {
    const deadline = Date.now() + ms;
    for (let pause = 50; ; pause = Math.min(pause * 2, 500)) {
      const snapshot = await this.readCheckout(checkoutId);
      if (!snapshot || TERMINAL_STATUSES.includes(snapshot.state.status) || Date.now() + pause > deadline) return snapshot;
      await sleep(pause, undefined, { ref: false });
    }
  }

  /** Starts (or finds) a refund run and waits up to `ms` for its outcome. */
  async refund(input: RefundInput, ms: number): Promise<RefundState | null> {
    let handle;
    try {
      handle = await this.client.workflow.start<typeof refundWorkflow>('refundWorkflow', {
        ...SINGLE_RUN,
        taskQueue: this.taskQueue,
        workflowId: input.refundId,
        args: [input],
        staticSummary: `Refund ${input.amount} (minor units) of checkout ${input.checkoutId}`,
        typedSearchAttributes: [{ key: MerchantId, value: input.merchantId }],
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      handle = this.client.workflow.getHandle<typeof refundWorkflow>(input.refundId);
    }
    // Unref'd: a pending wait must not keep a shutting-down API alive.
    const timeout = sleep(ms, null, { ref: false });
    return Promise.race([handle.result(), timeout]);
  }
}
