/**
 * A refund the merchant asked for (`POST /checkouts/{id}/refunds`); workflow id = `refundId`.
 *
 * One payment call with the refund's own key (`refundKey`), so a retried request reaches the
 * same refund. The payment service keeps partial refunds within the charge under any
 * concurrency; when one would exceed it, the refund ends `failed` (`refund-exceeds-charge`).
 * Money movement the merchant asked for is not abandoned half-way: the call runs shielded from
 * cancellation and is retried until the service answers for good.
 */
import { CancellationScope, defineQuery, proxyActivities, setHandler, TemporalFailure } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { classifyStepError } from '../saga/failures';
import { refundKey } from '../saga/keys';
import { refundRequest } from '../saga/requests';
import { formatAmount } from '../saga/saga';
import type { RefundInput, RefundState } from '../saga/types';
import { REFUND } from './policies';

export const getRefundStateQuery = defineQuery<RefundState>('getState');

const { refundCharge } = proxyActivities<Activities>(REFUND);

export async function refundWorkflow(input: RefundInput): Promise<RefundState> {
  let state: RefundState = {
    refundId: input.refundId,
    checkoutId: input.checkoutId,
    chargeId: input.chargeId,
    amount: input.amount,
    status: 'refunding',
    paymentRefundId: null,
    key: refundKey(input.refundId),
    failure: null,
  };
  setHandler(getRefundStateQuery, () => state);

  try {
    const refund = await CancellationScope.nonCancellable(() =>
      refundCharge.executeWithOptions({ summary: `Refund ${input.currency ? formatAmount(input.amount, input.currency) : `${input.amount} (minor units)`} of charge ${input.chargeId}` }, [
        {
          merchantId: input.merchantId,
          idempotencyKey: state.key,
          request: refundRequest(input.chargeId, input.amount),
        },
      ]),
    );
    state = { ...state, status: 'succeeded', paymentRefundId: refund.id };
  } catch (err) {
    if (!(err instanceof TemporalFailure)) throw err;
    state = { ...state, status: 'failed', failure: classifyStepError(err).failure };
  }
  return state;
}
