/**
 * The invariants of docs/api.md#invariants as a pure function: rows in, counts and violations out.
 *
 * Effects are joined to checkouts by the Idempotency-Key recorded on every effect row, never by
 * the ids the workflow remembers: the audit must catch exactly the effects the workflow does not
 * know about (a duplicate charge from a lost reply, an orphan from a lost checkout record).
 *   `chk_…:charge`, `chk_…:order`, `chk_…:notify`        forward steps of checkout `chk_…`
 *   `chk_…:charge.refund`, `chk_…:order.cancel`          its compensations
 *   `rfd_…:refund`                                        a refund the merchant asked for, whose
 *                                                         checkout is in the API's checkout_refunds
 * Invariants 1–4 are judged for checkouts in a terminal state (an in-flight checkout may
 * legitimately be half-way); invariant 5 (nothing stuck) for every checkout still under way.
 *
 * Left behind (issue 8): a checkout whose run was ended from outside (`terminated`: an operator's
 * terminate, a run timeout, a run that failed) before it reached a final state has nobody left
 * to undo what it did. Its charge must be refunded in full, or held by a live order (the run
 * ended past the pivot: the sale stands), and no live order may sit on a refunded charge; else
 * the audit names it, with what the operator does about it in docs/operations.md.
 *
 * Phantom effects (issue 8): a charge (or order) created after its checkout began compensating
 * was made by the reconciliation, not by the forward step — the customer sees a charge and its
 * refund for a payment that never happened. Judged for failed checkouts whose history Temporal
 * still has (`compensatingSince`), against the effect row's `created_at`, which is when the
 * transaction that made it began (right after its key was claimed): an original that was
 * already running when compensation began is not a phantom; one that started later is.
 */
import { messageIdFor } from '../../src/services/notification/message';
import { refundKey, stepKey, type KeyName } from '../../src/saga/keys';
import { TERMINAL_STATUSES } from '../../src/saga/types';
import type {
  AuditCheckout,
  AuditInput,
  AuditReport,
  ChargeRecord,
  InvariantId,
  InvariantResult,
  Violation,
} from './types';

/** Row titles, in the order the report prints them. */
export const INVARIANTS: ReadonlyArray<{ id: InvariantId; spec: string; title: string }> = [
  { id: 'one-charge', spec: '7.1', title: 'at most one charge per checkout' },
  { id: 'one-order', spec: '7.1', title: 'at most one order per checkout' },
  { id: 'one-email', spec: '7.1', title: 'at most one confirmation e-mail per checkout (outbox row, distinct Message-ID)' },
  { id: 'completed', spec: '7.2', title: 'completed ⇒ one captured charge, one live order on it, no compensating refund' },
  { id: 'api-refund-once', spec: '7.2', title: 'merchant refunds: one payment refund per refund key, of the asked amount' },
  { id: 'failed-compensated', spec: '7.3', title: 'failed ⇒ any charge refunded once in full, any order cancelled, no e-mail' },
  { id: 'refund-matched', spec: '7.4', title: 'every refund has a matching original charge' },
  { id: 'cancellation-matched', spec: '7.4', title: 'every cancellation has a matching original order' },
  { id: 'refunds-within-charge', spec: '7.4', title: 'refunds never exceed the charge (and match amount_refunded)' },
  { id: 'not-stuck', spec: '7.5', title: 'no checkout stuck: every checkout is terminal' },
  { id: 'no-orphans', spec: 'extra', title: 'every effect row belongs to a checkout in the API database' },
  { id: 'no-phantom', spec: 'extra', title: 'no phantom charge+refund (or order+cancel): nothing created after compensation began' },
  { id: 'nothing-left-behind', spec: 'extra', title: 'a run ended from outside (terminated) left no charge unrefunded, no order on a refunded charge' },
];

/** `chk_…:charge` → owner `chk_…`, step `charge`; undefined for a key of no known shape. */
export function parseEffectKey(key: string): { owner: string; step: string } | undefined {
  const i = key.indexOf(':');
  if (i <= 0) return undefined;
  const owner = key.slice(0, i);
  if (!/^(chk|rfd)_[0-9a-f]+$/.test(owner)) return undefined;
  return { owner, step: key.slice(i + 1) };
}

/** Groups rows by `tenant key`: effects are scoped by tenant exactly like the idempotency records. */
function byTenantKey<T extends { tenant: string; key: string }>(rows: T[]): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const row of rows) {
    const k = `${row.tenant} ${row.key}`;
    map.set(k, [...(map.get(k) ?? []), row]);
  }
  return map;
}

const isTerminal = (c: AuditCheckout) => (TERMINAL_STATUSES as readonly string[]).includes(c.status);
/** Ended from outside: no run will move it again. */
const isTerminated = (c: AuditCheckout) => c.status === 'terminated';
/** Nothing will change its effects any more (short of an operator): its rows are judged. */
const isSettled = (c: AuditCheckout) => isTerminal(c) || isTerminated(c);

export function auditInvariants(input: AuditInput): AuditReport {
  const counts = new Map<InvariantId, { checked: number; violations: number }>(
    INVARIANTS.map((i) => [i.id, { checked: 0, violations: 0 }]),
  );
  const violations: Violation[] = [];
  /** Counts one subject checked against `id`; records it as a violation when `problems` is non-empty. */
  const judge = (id: InvariantId, subject: string, problems: (string | false | undefined)[]) => {
    const c = counts.get(id)!;
    c.checked++;
    const found = problems.filter((p): p is string => typeof p === 'string');
    if (found.length === 0) return;
    c.violations++;
    violations.push({ invariant: id, subject, message: found.join('; ') });
  };

  const charges = byTenantKey(input.charges);
  const refunds = byTenantKey(input.refunds);
  const orders = byTenantKey(input.orders);
  const notifications = byTenantKey(input.notifications);
  const chargeById = new Map(input.charges.map((c) => [c.id, c]));
  const orderById = new Map(input.orders.map((o) => [o.id, o]));
  const checkoutById = new Map(input.checkouts.map((c) => [c.id, c]));
  const apiRefundById = new Map(input.apiRefunds.map((r) => [r.id, r]));
  const mailCopies = new Map<string, number>();
  for (const m of input.messages) if (m.messageId) mailCopies.set(m.messageId, (mailCopies.get(m.messageId) ?? 0) + 1);

  const duplicateMessageCopies: AuditReport['duplicateMessageCopies'] = [];
  const terminal = input.checkouts.filter(isTerminal);

  for (const checkout of input.checkouts.filter((c) => !isTerminated(c))) {
    judge('not-stuck', checkout.id, [
      !isTerminal(checkout) && `still ${checkout.status}${checkout.note ? ` (${checkout.note})` : ''}`,
    ]);
  }

  const refundedOf = (chargeId: string) => input.refunds.filter((r) => r.chargeId === chargeId).reduce((sum, r) => sum + r.amount, 0);
  for (const checkout of input.checkouts.filter(isTerminated)) {
    const { id, merchantId: tenant } = checkout;
    const how = checkout.note ? ` (${checkout.note})` : '';
    const myCharges = charges.get(`${tenant} ${stepKey(id, 'charge')}`) ?? [];
    const myOrders = orders.get(`${tenant} ${stepKey(id, 'order')}`) ?? [];
    const liveOn = (chargeId: string) => myOrders.some((o) => o.status === 'created' && o.chargeId === chargeId);
    judge('nothing-left-behind', id, [
      ...myCharges.map((charge) => {
        const refunded = refundedOf(charge.id);
        if (refunded >= charge.amount || liveOn(charge.id)) return undefined;
        return `run ended from outside${how} holding charge ${charge.id} of ${charge.amount}, refunded ${refunded}: refund it (docs/operations.md)`;
      }),
      ...myOrders.map((order) => {
        const charge = chargeById.get(order.chargeId);
        const paid = charge !== undefined && refundedOf(charge.id) < charge.amount;
        return order.status === 'created' && !paid && `run ended from outside${how} leaving order ${order.id} live on a refunded or missing charge ${order.chargeId}`;
      }),
    ]);
  }

  for (const checkout of terminal) {
    const { id, merchantId: tenant } = checkout;
    const rowsOf = <T>(map: Map<string, T[]>, step: KeyName) => map.get(`${tenant} ${stepKey(id, step)}`) ?? [];
    const myCharges = rowsOf(charges, 'charge');
    const myCompRefunds = rowsOf(refunds, 'charge.refund');
    const myOrders = rowsOf(orders, 'order');
    const myNotifications = rowsOf(notifications, 'notify');

    // 7.1 — counted by distinct Message-ID: the one derived from the notify key, plus any an
    // outbox row claims (they coincide unless something upstream broke).
    const messageIds = new Set([messageIdFor(tenant, stepKey(id, 'notify')), ...myNotifications.map((n) => n.messageId)]);
    const received = [...messageIds].filter((m) => mailCopies.has(m));
    for (const messageId of received) {
      const copies = mailCopies.get(messageId)!;
      if (copies > 1) duplicateMessageCopies.push({ checkoutId: id, messageId, copies });
    }
    judge('one-charge', id, [myCharges.length > 1 && `${myCharges.length} charges (${ids(myCharges)})`]);
    judge('one-order', id, [myOrders.length > 1 && `${myOrders.length} orders (${ids(myOrders)})`]);
    judge('one-email', id, [
      myNotifications.length > 1 && `${myNotifications.length} outbox rows (${ids(myNotifications)})`,
      received.length > 1 && `${received.length} distinct Message-IDs at the mailbox`,
    ]);

    if (checkout.status === 'completed') {
      const charge = myCharges[0];
      const live = myOrders.filter((o) => o.status === 'created');
      judge('completed', id, [
        myCharges.length !== 1 && `${myCharges.length} charges`,
        charge && charge.status !== 'captured' && `charge ${charge.id} is ${charge.status}`,
        (live.length !== 1 || myOrders.length !== 1) && `${live.length} live of ${myOrders.length} orders`,
        charge && live[0] && live[0].chargeId !== charge.id && `order ${live[0].id} is on charge ${live[0].chargeId}, not ${charge.id}`,
        myCompRefunds.length > 0 && `compensating refund ${ids(myCompRefunds)}`,
      ]);
    } else {
      const since = checkout.compensatingSince;
      if (since !== undefined) {
        const phantom = (kind: string, row: { id: string; createdAt?: number }, undone: boolean) =>
          row.createdAt !== undefined &&
          row.createdAt > since &&
          `${kind} ${row.id} created ${Math.round(row.createdAt - since)} ms after compensation began${undone ? ', then undone' : ''}`;
        judge('no-phantom', id, [
          ...myCharges.map((c) => phantom('charge', c, myCompRefunds.some((r) => r.chargeId === c.id))),
          ...myOrders.map((o) => phantom('order', o, o.status === 'cancelled')),
        ]);
      }
      judge('failed-compensated', id, [
        ...myCharges.map((charge) => {
          const undo = myCompRefunds.filter((r) => r.chargeId === charge.id);
          if (undo.length !== 1) return `charge ${charge.id} has ${undo.length} compensating refunds`;
          if (undo[0]!.amount !== charge.amount) return `charge ${charge.id} of ${charge.amount} refunded ${undo[0]!.amount}`;
          return undefined;
        }),
        ...myOrders.map((o) => o.status !== 'cancelled' && `order ${o.id} is ${o.status}`),
        myNotifications.length > 0 && `confirmation e-mail queued (${ids(myNotifications)})`,
      ]);
    }

    for (const apiRefund of input.apiRefunds.filter((r) => r.checkoutId === id)) {
      const made = refunds.get(`${tenant} ${refundKey(apiRefund.id)}`) ?? [];
      judge('api-refund-once', apiRefund.id, [
        made.length > 1 && `${made.length} payment refunds (${ids(made)})`,
        made.some((r) => r.amount !== apiRefund.amount) && `refunded ${made.map((r) => r.amount).join('+')}, asked ${apiRefund.amount}`,
      ]);
    }
  }

  // 7.4 and orphans: row by row. A row belongs to the checkout its key names (through
  // checkout_refunds for a merchant refund); rows of in-flight checkouts wait for the next audit
  // (those of a terminated one are judged: no run will touch them again).
  const ownerOf = (key: string): { checkout?: AuditCheckout; step?: string } => {
    const parsed = parseEffectKey(key);
    if (!parsed) return {};
    const checkoutId = parsed.owner.startsWith('rfd_') ? apiRefundById.get(parsed.owner)?.checkoutId : parsed.owner;
    return { checkout: checkoutId === undefined ? undefined : checkoutById.get(checkoutId), step: parsed.step };
  };
  const rowsOfEveryKind = [
    ...input.charges.map((r) => ({ kind: 'charge', ...r })),
    ...input.refunds.map((r) => ({ kind: 'refund', ...r })),
    ...input.orders.map((r) => ({ kind: 'order', ...r })),
    ...input.cancellations.map((r) => ({ kind: 'cancellation', ...r })),
    ...input.notifications.map((r) => ({ kind: 'notification', ...r })),
  ];
  for (const row of rowsOfEveryKind) {
    const { checkout } = ownerOf(row.key);
    judge('no-orphans', `${row.kind} ${row.id}`, [
      !checkout && `key ${row.key} (tenant ${row.tenant}) names no checkout in the API database`,
      checkout && checkout.merchantId !== row.tenant && `tenant ${row.tenant} is not the checkout's merchant ${checkout.merchantId}`,
    ]);
  }

  /** The charge a checkout's step `charge` created, under the checkout's tenant. */
  const chargesOf = (checkout: AuditCheckout): ChargeRecord[] => charges.get(`${checkout.merchantId} ${stepKey(checkout.id, 'charge')}`) ?? [];

  for (const refund of input.refunds) {
    const { checkout, step } = ownerOf(refund.key);
    if (!checkout || !isSettled(checkout)) continue;
    const original = chargeById.get(refund.chargeId);
    judge('refund-matched', `refund ${refund.id}`, [
      step !== 'charge.refund' && step !== 'refund' && `key ${refund.key} is not a refund key`,
      !original && `charge ${refund.chargeId} does not exist`,
      original && !chargesOf(checkout).includes(original) && `charge ${refund.chargeId} is not checkout ${checkout.id}'s charge`,
    ]);
  }

  for (const cancellation of input.cancellations) {
    const { checkout, step } = ownerOf(cancellation.key);
    if (!checkout || !isSettled(checkout)) continue;
    const original = orderById.get(cancellation.orderId);
    const ownOrders = orders.get(`${checkout.merchantId} ${stepKey(checkout.id, 'order')}`) ?? [];
    judge('cancellation-matched', `cancellation of ${cancellation.orderId}`, [
      step !== 'order.cancel' && `key ${cancellation.key} is not a cancellation key`,
      !original && `order ${cancellation.orderId} does not exist`,
      original && !ownOrders.includes(original) && `order ${cancellation.orderId} is not checkout ${checkout.id}'s order`,
      original && original.status !== 'cancelled' && `order ${original.id} is still ${original.status}`,
    ]);
  }

  const refundedSum = new Map<string, number>();
  for (const r of input.refunds) refundedSum.set(r.chargeId, (refundedSum.get(r.chargeId) ?? 0) + r.amount);
  for (const charge of input.charges) {
    const { checkout } = ownerOf(charge.key);
    if (!checkout || !isSettled(checkout)) continue;
    const sum = refundedSum.get(charge.id) ?? 0;
    judge('refunds-within-charge', `charge ${charge.id}`, [
      sum > charge.amount && `refunds add up to ${sum}, over the charge of ${charge.amount}`,
      sum !== charge.amountRefunded && `refund rows add up to ${sum} but amount_refunded is ${charge.amountRefunded}`,
    ]);
  }

  const invariants: InvariantResult[] = INVARIANTS.map((i) => ({ ...i, ...counts.get(i.id)! }));
  return {
    checkouts: input.checkouts.length,
    terminal: terminal.length,
    invariants,
    violations,
    duplicateMessageCopies,
    ok: violations.length === 0,
  };
}

const ids = (rows: { id: string }[]) => rows.map((r) => r.id).join(', ');
