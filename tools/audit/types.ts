/**
 * The facts the audit works on (docs/api.md#invariants): plain rows read from every service database, the
 * checkout API's database, Temporal and the mailbox. Collecting them is I/O (`collect.ts`);
 * judging them is pure (`invariants.ts`), so the judgement is unit-tested with hand-made rows.
 */
import type { CheckoutStatus } from '../../src/saga/types';

/** A checkout listed in the API database, with the state Temporal (or `final_state`) gives it. */
export interface AuditCheckout {
  id: string;
  merchantId: string;
  amount: number;
  /**
   * `unknown`: neither Temporal nor `final_state` could say (counts as not terminal).
   * `terminated`: the run was ended from outside (an operator's terminate, a timeout, a failed
   * run) before it reached a final `CheckoutState`: nothing will undo what it left behind.
   */
  status: CheckoutStatus | 'unknown' | 'terminated';
  /** Why the status is `unknown`, or anything odd about the run (e.g. the workflow itself failed). */
  note?: string;
  /** Workflow start → close, when Temporal still knows the run; for run statistics only. */
  durationMs?: number;
  /**
   * When the saga began compensating (epoch ms): the time of the history event that set
   * `CheckoutStatus` to `compensating`. Read for failed checkouts while Temporal keeps the run.
   */
  compensatingSince?: number;
}

/** Every effect row records the tenant and the Idempotency-Key that created it. */
interface EffectRow {
  id: string;
  tenant: string;
  key: string;
}

export interface ChargeRecord extends EffectRow {
  amount: number;
  amountRefunded: number;
  status: string;
  /** `created_at` (epoch ms): the start of the transaction that made it, right after its key was claimed. */
  createdAt?: number;
}

export interface RefundRecord extends EffectRow {
  chargeId: string;
  amount: number;
}

export interface OrderRecord extends EffectRow {
  chargeId: string;
  status: string;
  /** `created_at` (epoch ms), as for charges. */
  createdAt?: number;
}

/** `id` is the cancelled order's id (one cancellation per order). */
export interface CancellationRecord extends EffectRow {
  orderId: string;
}

export interface NotificationRecord extends EffectRow {
  messageId: string;
  status: string;
}

/** A refund asked for through `POST /checkouts/{id}/refunds` (the API's `checkout_refunds`). */
export interface ApiRefundRecord {
  /** `rfd_…`; the payment refund it causes carries the key `rfd_…:refund`. */
  id: string;
  checkoutId: string;
  amount: number;
}

/** One message accepted by the mailbox; a second copy of a Message-ID is a second entry. */
export interface MailboxMessage {
  messageId: string | null;
}

export interface AuditInput {
  checkouts: AuditCheckout[];
  charges: ChargeRecord[];
  refunds: RefundRecord[];
  orders: OrderRecord[];
  cancellations: CancellationRecord[];
  notifications: NotificationRecord[];
  apiRefunds: ApiRefundRecord[];
  messages: MailboxMessage[];
}

export type InvariantId =
  | 'one-charge'
  | 'one-order'
  | 'one-email'
  | 'completed'
  | 'api-refund-once'
  | 'failed-compensated'
  | 'refund-matched'
  | 'cancellation-matched'
  | 'refunds-within-charge'
  | 'not-stuck'
  | 'no-orphans'
  | 'no-phantom'
  | 'nothing-left-behind';

export interface InvariantResult {
  id: InvariantId;
  /** The item of docs/api.md#invariants it belongs to, e.g. `7.1`; `extra` for checks a payments engineer adds. */
  spec: string;
  title: string;
  /** How many subjects (checkouts or rows) were checked. */
  checked: number;
  /** How many of them violate it. */
  violations: number;
}

export interface Violation {
  invariant: InvariantId;
  /** The checkout or row at fault. */
  subject: string;
  message: string;
}

export interface AuditReport {
  checkouts: number;
  terminal: number;
  invariants: InvariantResult[];
  violations: Violation[];
  /**
   * Second (third, …) copies of a Message-ID at the mailbox: possible only when the dispatcher
   * dies between SMTP acceptance and recording it; reported, not a violation (docs/api.md#invariants, 7.1).
   */
  duplicateMessageCopies: { checkoutId: string; messageId: string; copies: number }[];
  ok: boolean;
}
