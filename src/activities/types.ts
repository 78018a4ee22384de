/**
 * What the activities send and receive: the services' own contracts (`src/services/<name>/contract.ts`),
 * re-exported for the workflow, which imports them with `import type`.
 */
export type { Charge, ChargeRequest, Refund, RefundRequest } from '../services/payment/contract';
export type { Order, OrderRequest } from '../services/order/contract';
export type { Notification, NotificationAccepted, NotificationRequest } from '../services/notification/contract';

/** Every mutating call names its tenant and carries the key derived for its saga step. */
export interface ServiceCall {
  merchantId: string;
  idempotencyKey: string;
}
