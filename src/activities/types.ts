/**
 * Request and response shapes of the payment, order and notification services (SPEC §4), as
 * the activities send and receive them. Types only: the workflow imports them with `import type`.
 */
import type { LineItem } from '../saga/types';

/** Every mutating call names its tenant and carries the key derived for its saga step. */
export interface ServiceCall {
  merchantId: string;
  idempotencyKey: string;
}

export interface ChargeRequest {
  amount: number;
  currency: string;
  paymentMethod: string;
  customerId: string;
}

export interface Charge {
  id: string;
  status: string;
  amount: number;
  currency: string;
  amountRefunded: number;
  customerId: string;
}

export interface RefundRequest {
  chargeId: string;
  amount: number;
}

export interface Refund {
  id: string;
  chargeId: string;
  amount: number;
}

export interface OrderRequest {
  customerId: string;
  items: LineItem[];
  chargeId: string;
}

export interface Order {
  id: string;
  status: 'created' | 'cancelled';
}

export interface NotificationRequest {
  to: string;
  template: string;
  data: Record<string, unknown>;
}

export interface Notification {
  id: string;
  status: 'pending' | 'sent' | 'dead';
  messageId?: string;
  attempts?: number;
}
