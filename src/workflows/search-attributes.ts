/**
 * Custom search attributes of checkout runs: they let an operator filter the Temporal Web UI
 * by status, customer, merchant or amount, and find runs whose compensation keeps failing.
 * The Temporal setup step (src/temporal-setup/setup.ts) registers them on any Temporal.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const CheckoutStatus = defineSearchAttributeKey('CheckoutStatus', SearchAttributeType.KEYWORD);
export const CustomerId = defineSearchAttributeKey('CustomerId', SearchAttributeType.KEYWORD);
export const MerchantId = defineSearchAttributeKey('MerchantId', SearchAttributeType.KEYWORD);
export const CheckoutAmount = defineSearchAttributeKey('CheckoutAmount', SearchAttributeType.INT);
export const CompensationFailing = defineSearchAttributeKey('CompensationFailing', SearchAttributeType.BOOL);

/** Every custom search attribute; the setup step (src/temporal-setup/) registers each on the namespace. */
export const SEARCH_ATTRIBUTES = [CheckoutStatus, CustomerId, MerchantId, CheckoutAmount, CompensationFailing] as const;
