/**
 * Custom search attributes of checkout runs: they let an operator filter the Temporal Web UI
 * by status, customer, merchant or amount, and find runs whose compensation keeps failing.
 * The Temporal setup step (src/temporal-setup/setup.ts) registers them on any Temporal.
 *
 * They are set when the run is started (`checkoutSearchAttributes`, by the API) and the workflow
 * upserts them only when their meaning changes (`searchAttributesOf`): an upsert is a command in
 * the run's history and a billable action, so the status is searchable as `pending` (in
 * progress), `compensating`, `completed` or `failed`; which step a run is at is in its details.
 */
import { defineSearchAttributeKey, SearchAttributeType, type SearchAttributePair } from '@temporalio/common';
import { initialCheckoutState } from '../saga/saga';
import type { CheckoutInput, CheckoutState } from '../saga/types';

export const CheckoutStatus = defineSearchAttributeKey('CheckoutStatus', SearchAttributeType.KEYWORD);
export const CustomerId = defineSearchAttributeKey('CustomerId', SearchAttributeType.KEYWORD);
export const MerchantId = defineSearchAttributeKey('MerchantId', SearchAttributeType.KEYWORD);
export const CheckoutAmount = defineSearchAttributeKey('CheckoutAmount', SearchAttributeType.INT);
export const CompensationFailing = defineSearchAttributeKey('CompensationFailing', SearchAttributeType.BOOL);

/** Every custom search attribute; the setup step (src/temporal-setup/) registers each on the namespace. */
export const SEARCH_ATTRIBUTES = [CheckoutStatus, CustomerId, MerchantId, CheckoutAmount, CompensationFailing] as const;

/** The values the search attributes a run changes stand for. */
export interface CheckoutSearchAttributes {
  status: CheckoutState['status'];
  compensationFailing: boolean;
}

/** In-progress statuses (charging, ordering, notifying) all search as `pending`. */
export function searchAttributesOf(state: CheckoutState): CheckoutSearchAttributes {
  const inProgress = state.status === 'charging' || state.status === 'ordering' || state.status === 'notifying';
  return { status: inProgress ? 'pending' : state.status, compensationFailing: state.compensationsFailing };
}

/** What a checkout run is started with: every attribute, as the new run stands. */
export function checkoutSearchAttributes(input: CheckoutInput): SearchAttributePair[] {
  return searchAttributesAt(initialCheckoutState(input));
}

/**
 * Every attribute as they stand for `state`: what a run is started with, by the API (the initial
 * state) or by a compensating run continuing as new (its state), so the continued run searches
 * exactly as the run it continues.
 */
export function searchAttributesAt(state: CheckoutState): SearchAttributePair[] {
  const { status, compensationFailing } = searchAttributesOf(state);
  return [
    { key: CheckoutStatus, value: status },
    { key: CustomerId, value: state.customerId },
    { key: MerchantId, value: state.merchantId },
    { key: CheckoutAmount, value: state.amount },
    { key: CompensationFailing, value: compensationFailing },
  ];
}
