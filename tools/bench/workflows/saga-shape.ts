/**
 * The checkout's three service calls and nothing else — charge, order, confirmation e-mail, with
 * the saga's keys, requests, summaries and forward retry policy — as normal activities
 * (`sagaShapeWorkflow`) or as local activities (`localSagaShapeWorkflow`): the local-activity
 * variant of tools/bench/checkout.ts measures what local activities would save on the real
 * services, apart from everything else the saga does.
 */
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../../../src/activities';
import { stepKey, type KeyName } from '../../../src/saga/keys';
import { chargeRequest, confirmationRequest, orderRequest } from '../../../src/saga/requests';
import type { CheckoutInput } from '../../../src/saga/types';
import { FORWARD_STEP } from '../../../src/workflows/policies';

const remote = proxyActivities<Activities>(FORWARD_STEP);
const local = proxyLocalActivities<Activities>({ startToCloseTimeout: FORWARD_STEP.startToCloseTimeout, retry: FORWARD_STEP.retry });

type Proxy = typeof remote | typeof local;

async function threeCalls(input: CheckoutInput, via: Proxy): Promise<string[]> {
  const call = (name: KeyName) => ({ merchantId: input.merchantId, idempotencyKey: stepKey(input.checkoutId, name) });
  const charge = await via.createCharge.executeWithOptions({ summary: `Charge ${input.amount} ${input.currency} to ${input.customerId}` }, [
    { ...call('charge'), request: chargeRequest(input) },
  ]);
  const order = await via.createOrder.executeWithOptions({ summary: `Create order for ${input.customerId} (charge ${charge.id})` }, [
    { ...call('order'), request: orderRequest(input, charge.id) },
  ]);
  const sent = await via.sendNotification.executeWithOptions({ summary: `Send order confirmation to ${input.customerId}` }, [
    { ...call('notify'), request: confirmationRequest(input, order.id) },
  ]);
  return [charge.id, order.id, sent.id];
}

export async function sagaShapeWorkflow(input: CheckoutInput): Promise<string[]> {
  return threeCalls(input, remote);
}

export async function localSagaShapeWorkflow(input: CheckoutInput): Promise<string[]> {
  return threeCalls(input, local);
}
