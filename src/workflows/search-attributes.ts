/**
 * Custom search attributes of checkout runs: they let an operator filter the Temporal Web UI
 * by status, customer, merchant or amount, and find runs whose compensation keeps failing.
 * The dev server registers each of `SEARCH_ATTRIBUTES` at start (`--search-attribute Name=Type`).
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const CheckoutStatus = defineSearchAttributeKey('CheckoutStatus', SearchAttributeType.KEYWORD);
export const CustomerId = defineSearchAttributeKey('CustomerId', SearchAttributeType.KEYWORD);
export const MerchantId = defineSearchAttributeKey('MerchantId', SearchAttributeType.KEYWORD);
export const CheckoutAmount = defineSearchAttributeKey('CheckoutAmount', SearchAttributeType.INT);
export const CompensationFailing = defineSearchAttributeKey('CompensationFailing', SearchAttributeType.BOOL);

/** Name and CLI type (`temporal server start-dev --search-attribute Name=Type`) of each attribute. */
export const SEARCH_ATTRIBUTES: ReadonlyArray<{ name: string; cliType: 'Keyword' | 'Int' | 'Bool' }> = [
  { name: CheckoutStatus.name, cliType: 'Keyword' },
  { name: CustomerId.name, cliType: 'Keyword' },
  { name: MerchantId.name, cliType: 'Keyword' },
  { name: CheckoutAmount.name, cliType: 'Int' },
  { name: CompensationFailing.name, cliType: 'Bool' },
];
