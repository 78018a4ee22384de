/** The audit of docs/api.md#invariants judged on hand-made rows: a clean world passes, each kind of breakage is caught. */
import { auditInvariants, parseEffectKey } from '../../tools/audit/invariants';
import { formatAuditReport } from '../../tools/audit/report';
import type { AuditInput, InvariantId } from '../../tools/audit/types';
import { messageIdFor } from '../../src/services/notification/message';

const M = 'merchant_a';
const OK = 'chk_0001'; // completed
const DECLINED = 'chk_0002'; // failed before any charge
const NO_STOCK = 'chk_0003'; // failed after the charge: refunded
const REFUNDED = 'chk_0004'; // completed, then partly refunded by the merchant
const RFD = 'rfd_00aa';
const T0 = Date.UTC(2026, 10, 29, 12);

/** A consistent run: one of each test-trigger outcome (docs/api.md#test-triggers), every effect where it belongs. */
function cleanWorld(): AuditInput {
  return {
    checkouts: [
      { id: OK, merchantId: M, amount: 1000, status: 'completed' },
      { id: DECLINED, merchantId: M, amount: 500, status: 'failed' },
      { id: NO_STOCK, merchantId: M, amount: 700, status: 'failed', compensatingSince: T0 + 2_000 },
      { id: REFUNDED, merchantId: M, amount: 900, status: 'completed' },
    ],
    charges: [
      { id: 'ch_1', tenant: M, key: `${OK}:charge`, amount: 1000, amountRefunded: 0, status: 'captured' },
      { id: 'ch_3', tenant: M, key: `${NO_STOCK}:charge`, amount: 700, amountRefunded: 700, status: 'captured', createdAt: T0 },
      { id: 'ch_4', tenant: M, key: `${REFUNDED}:charge`, amount: 900, amountRefunded: 300, status: 'captured' },
    ],
    refunds: [
      { id: 're_3', tenant: M, key: `${NO_STOCK}:charge.refund`, chargeId: 'ch_3', amount: 700 },
      { id: 're_4', tenant: M, key: `${RFD}:refund`, chargeId: 'ch_4', amount: 300 },
    ],
    orders: [
      { id: 'ord_1', tenant: M, key: `${OK}:order`, chargeId: 'ch_1', status: 'created' },
      { id: 'ord_4', tenant: M, key: `${REFUNDED}:order`, chargeId: 'ch_4', status: 'created' },
    ],
    cancellations: [],
    notifications: [
      { id: 'ntf_1', tenant: M, key: `${OK}:notify`, messageId: messageIdFor(M, `${OK}:notify`), status: 'sent' },
      { id: 'ntf_4', tenant: M, key: `${REFUNDED}:notify`, messageId: messageIdFor(M, `${REFUNDED}:notify`), status: 'dead' },
    ],
    apiRefunds: [{ id: RFD, checkoutId: REFUNDED, amount: 300 }],
    messages: [{ messageId: messageIdFor(M, `${OK}:notify`) }, { messageId: '<from-another-stack@x>' }],
  };
}

function violated(input: AuditInput): Partial<Record<InvariantId, number>> {
  const report = auditInvariants(input);
  return Object.fromEntries(report.invariants.filter((i) => i.violations > 0).map((i) => [i.id, i.violations]));
}

test('a clean run passes every invariant, and each was actually checked', () => {
  const report = auditInvariants(cleanWorld());
  expect(report.violations).toEqual([]);
  expect(report.ok).toBe(true);
  const checked = Object.fromEntries(report.invariants.map((i) => [i.id, i.checked]));
  expect(checked).toEqual({
    'one-charge': 4,
    'one-order': 4,
    'one-email': 4,
    completed: 2,
    'api-refund-once': 1,
    'failed-compensated': 2,
    'refund-matched': 2,
    'cancellation-matched': 0,
    'refunds-within-charge': 3,
    'not-stuck': 4,
    'no-orphans': 9,
    'no-phantom': 1,
    'nothing-left-behind': 0,
  });
});

test('a second charge under the same key (a lost reply retried without idempotency)', () => {
  const world = cleanWorld();
  world.charges.push({ id: 'ch_1b', tenant: M, key: `${OK}:charge`, amount: 1000, amountRefunded: 0, status: 'captured' });
  expect(violated(world)).toEqual({ 'one-charge': 1, completed: 1 });
  expect(auditInvariants(world).violations[0]).toEqual({ invariant: 'one-charge', subject: OK, message: '2 charges (ch_1, ch_1b)' });
});

test('a second order, and a second outbox row with its own Message-ID at the mailbox', () => {
  const world = cleanWorld();
  world.orders.push({ id: 'ord_1b', tenant: M, key: `${OK}:order`, chargeId: 'ch_1', status: 'created' });
  world.notifications.push({ id: 'ntf_1b', tenant: M, key: `${OK}:notify`, messageId: '<other@x>', status: 'sent' });
  world.messages.push({ messageId: '<other@x>' });
  expect(violated(world)).toEqual({ 'one-order': 1, 'one-email': 1, completed: 1 });
  expect(auditInvariants(world).violations.find((v) => v.invariant === 'one-email')!.message).toBe(
    '2 outbox rows (ntf_1, ntf_1b); 2 distinct Message-IDs at the mailbox',
  );
});

test('a second copy of the same Message-ID is reported apart, not as a second e-mail', () => {
  const world = cleanWorld();
  world.messages.push({ messageId: messageIdFor(M, `${OK}:notify`) });
  const report = auditInvariants(world);
  expect(report.ok).toBe(true);
  expect(report.duplicateMessageCopies).toEqual([{ checkoutId: OK, messageId: messageIdFor(M, `${OK}:notify`), copies: 2 }]);
});

test('completed but compensated, or with a cancelled order, or the order on another charge', () => {
  const world = cleanWorld();
  world.refunds.push({ id: 're_1', tenant: M, key: `${OK}:charge.refund`, chargeId: 'ch_1', amount: 1000 });
  world.charges[0]!.amountRefunded = 1000;
  world.orders[1]!.status = 'cancelled';
  world.cancellations.push({ id: 'ord_4', orderId: 'ord_4', tenant: M, key: `${REFUNDED}:order.cancel` });
  const report = auditInvariants(world);
  expect(violated(world)).toEqual({ completed: 2 });
  expect(report.violations.map((v) => v.message)).toEqual(['compensating refund re_1', '0 live of 1 orders']);

  const other = cleanWorld();
  other.orders[0]!.chargeId = 'ch_4';
  expect(auditInvariants(other).violations.map((v) => v.message)).toEqual(['order ord_1 is on charge ch_4, not ch_1']);
});

test('completed without a charge or without an order', () => {
  const world = cleanWorld();
  world.charges.shift();
  world.orders.shift();
  world.notifications.shift();
  expect(auditInvariants(world).violations).toEqual([
    { invariant: 'completed', subject: OK, message: '0 charges; 0 live of 0 orders' },
  ]);
});

test('failed after a charge: never refunded, refunded twice, or refunded in part; order left live; e-mail sent', () => {
  const never = cleanWorld();
  never.refunds.shift();
  never.charges[1]!.amountRefunded = 0;
  expect(auditInvariants(never).violations.map((v) => v.message)).toEqual(['charge ch_3 has 0 compensating refunds']);

  const twice = cleanWorld();
  twice.refunds.push({ id: 're_3b', tenant: M, key: `${NO_STOCK}:charge.refund`, chargeId: 'ch_3', amount: 700 });
  expect(violated(twice)).toEqual({ 'failed-compensated': 1, 'refunds-within-charge': 1 });
  expect(auditInvariants(twice).violations.map((v) => v.message)).toEqual([
    'charge ch_3 has 2 compensating refunds',
    'refunds add up to 1400, over the charge of 700; refund rows add up to 1400 but amount_refunded is 700',
  ]);

  const partly = cleanWorld();
  partly.refunds[0]!.amount = 200;
  partly.charges[1]!.amountRefunded = 200;
  expect(auditInvariants(partly).violations.map((v) => v.message)).toEqual(['charge ch_3 of 700 refunded 200']);

  const live = cleanWorld();
  live.orders.push({ id: 'ord_3', tenant: M, key: `${NO_STOCK}:order`, chargeId: 'ch_3', status: 'created' });
  live.notifications.push({ id: 'ntf_3', tenant: M, key: `${NO_STOCK}:notify`, messageId: '<n3@x>', status: 'sent' });
  expect(auditInvariants(live).violations.map((v) => v.message)).toEqual([
    'order ord_3 is created; confirmation e-mail queued (ntf_3)',
  ]);
});

test('a phantom: the charge (or order) of a failed checkout created after compensation began, then undone', () => {
  const world = cleanWorld();
  world.charges[1]!.createdAt = T0 + 2_500; // made by the reconciliation, 500 ms into compensating
  world.orders.push({ id: 'ord_3', tenant: M, key: `${NO_STOCK}:order`, chargeId: 'ch_3', status: 'cancelled', createdAt: T0 + 3_000 });
  world.cancellations.push({ id: 'ord_3', orderId: 'ord_3', tenant: M, key: `${NO_STOCK}:order.cancel` });
  expect(violated(world)).toEqual({ 'no-phantom': 1 });
  expect(auditInvariants(world).violations[0]!.message).toBe(
    'charge ch_3 created 500 ms after compensation began, then undone; order ord_3 created 1000 ms after compensation began, then undone',
  );
  expect(formatAuditReport(auditInvariants(world))).toMatch(/no phantom charge\+refund.*\s1\s+1\n/);

  // Created before compensation began (the forward step's own effect): not a phantom. Unknown start: not judged.
  world.charges[1]!.createdAt = T0 + 1_999;
  world.orders.pop();
  world.cancellations.pop();
  expect(auditInvariants(world).ok).toBe(true);
  world.checkouts[2]!.compensatingSince = undefined;
  expect(auditInvariants(world).invariants.find((i) => i.id === 'no-phantom')!.checked).toBe(0);
});

test('a cancelled order of a failed checkout is fine; a cancellation without its order is not', () => {
  const world = cleanWorld();
  world.orders.push({ id: 'ord_3', tenant: M, key: `${NO_STOCK}:order`, chargeId: 'ch_3', status: 'cancelled' });
  world.cancellations.push({ id: 'ord_3', orderId: 'ord_3', tenant: M, key: `${NO_STOCK}:order.cancel` });
  expect(auditInvariants(world).ok).toBe(true);

  world.cancellations.push({ id: 'ord_9', orderId: 'ord_9', tenant: M, key: `${DECLINED}:order.cancel` });
  world.cancellations.push({ id: 'ord_1', orderId: 'ord_1', tenant: M, key: `${NO_STOCK}:order.cancel` });
  expect(auditInvariants(world).violations.map((v) => [v.invariant, v.message])).toEqual([
    ['cancellation-matched', 'order ord_9 does not exist'],
    ['cancellation-matched', `order ord_1 is not checkout ${NO_STOCK}'s order; order ord_1 is still created`],
  ]);
});

test("a refund of another checkout's charge, and a merchant refund made twice", () => {
  const world = cleanWorld();
  world.refunds[0]!.chargeId = 'ch_1';
  world.refunds.push({ id: 're_4b', tenant: M, key: `${RFD}:refund`, chargeId: 'ch_4', amount: 300 });
  const report = auditInvariants(world);
  expect(report.violations.map((v) => [v.invariant, v.subject, v.message])).toEqual([
    ['failed-compensated', NO_STOCK, 'charge ch_3 has 0 compensating refunds'],
    ['api-refund-once', RFD, '2 payment refunds (re_4, re_4b)'],
    ['refund-matched', 'refund re_3', `charge ch_1 is not checkout ${NO_STOCK}'s charge`],
    ['refunds-within-charge', 'charge ch_1', 'refund rows add up to 700 but amount_refunded is 0'],
    ['refunds-within-charge', 'charge ch_3', 'refund rows add up to 0 but amount_refunded is 700'],
    ['refunds-within-charge', 'charge ch_4', 'refund rows add up to 600 but amount_refunded is 300'],
  ]);
});

test('stuck checkouts are violations; their half-done effects wait for a later audit', () => {
  const world = cleanWorld();
  world.checkouts.push({ id: 'chk_0005', merchantId: M, amount: 100, status: 'charging' });
  world.checkouts.push({ id: 'chk_0006', merchantId: M, amount: 100, status: 'unknown', note: 'not found in Temporal' });
  world.charges.push({ id: 'ch_5', tenant: M, key: 'chk_0005:charge', amount: 100, amountRefunded: 0, status: 'captured' });
  world.charges.push({ id: 'ch_5b', tenant: M, key: 'chk_0005:charge', amount: 100, amountRefunded: 0, status: 'captured' });
  const report = auditInvariants(world);
  expect(report.terminal).toBe(4);
  expect(report.violations).toEqual([
    { invariant: 'not-stuck', subject: 'chk_0005', message: 'still charging' },
    { invariant: 'not-stuck', subject: 'chk_0006', message: 'still unknown (not found in Temporal)' },
  ]);
});

test('a run terminated from outside while holding a charge is named; one that left nothing behind is not', () => {
  const world = cleanWorld();
  const LEFT = 'chk_0007'; // terminated while compensating: charged, the refund never made
  const SETTLED = 'chk_0008'; // terminated, then an operator's refund covered the charge
  const SOLD = 'chk_0009'; // terminated past the pivot: charged and ordered, the sale stands
  const NOTHING = 'chk_000a'; // terminated before anything was charged
  const ORDER_ONLY = 'chk_000b'; // its charge refunded but its order still live
  world.checkouts.push(
    { id: LEFT, merchantId: M, amount: 700, status: 'terminated', note: 'workflow TERMINATED' },
    { id: SETTLED, merchantId: M, amount: 300, status: 'terminated', note: 'recorded terminated by the API' },
    { id: SOLD, merchantId: M, amount: 200, status: 'terminated', note: 'workflow TIMED_OUT' },
    { id: NOTHING, merchantId: M, amount: 100, status: 'terminated', note: 'workflow TERMINATED' },
    { id: ORDER_ONLY, merchantId: M, amount: 400, status: 'terminated', note: 'workflow TERMINATED' },
  );
  world.charges.push(
    { id: 'ch_7', tenant: M, key: `${LEFT}:charge`, amount: 700, amountRefunded: 0, status: 'captured' },
    { id: 'ch_8', tenant: M, key: `${SETTLED}:charge`, amount: 300, amountRefunded: 300, status: 'captured' },
    { id: 'ch_9', tenant: M, key: `${SOLD}:charge`, amount: 200, amountRefunded: 0, status: 'captured' },
    { id: 'ch_b', tenant: M, key: `${ORDER_ONLY}:charge`, amount: 400, amountRefunded: 400, status: 'captured' },
  );
  world.refunds.push(
    { id: 're_8', tenant: M, key: `${SETTLED}:charge.refund`, chargeId: 'ch_8', amount: 300 },
    { id: 're_b', tenant: M, key: `${ORDER_ONLY}:charge.refund`, chargeId: 'ch_b', amount: 400 },
  );
  world.orders.push(
    { id: 'ord_9', tenant: M, key: `${SOLD}:order`, chargeId: 'ch_9', status: 'created' },
    { id: 'ord_b', tenant: M, key: `${ORDER_ONLY}:order`, chargeId: 'ch_b', status: 'created' },
  );

  const report = auditInvariants(world);
  expect(report.violations).toEqual([
    {
      invariant: 'nothing-left-behind',
      subject: LEFT,
      message: 'run ended from outside (workflow TERMINATED) holding charge ch_7 of 700, refunded 0: refund it (docs/operations.md)',
    },
    {
      invariant: 'nothing-left-behind',
      subject: ORDER_ONLY,
      message: 'run ended from outside (workflow TERMINATED) leaving order ord_b live on a refunded or missing charge ch_b',
    },
  ]);
  // Judged once each, by this invariant, not also as stuck; their rows are judged like a finished checkout's.
  expect(report.invariants.find((i) => i.id === 'nothing-left-behind')).toMatchObject({ checked: 5, violations: 2 });
  expect(report.invariants.find((i) => i.id === 'not-stuck')).toMatchObject({ checked: 4, violations: 0 });
  expect(report.invariants.find((i) => i.id === 'refunds-within-charge')!.checked).toBe(3 + 4);
  expect(formatAuditReport(report)).toContain(`nothing-left-behind  ${LEFT}: run ended from outside`);

  // A partial refund is still a charge left behind.
  world.refunds.push({ id: 're_7', tenant: M, key: `${LEFT}:charge.refund`, chargeId: 'ch_7', amount: 500 });
  world.charges.find((c) => c.id === 'ch_7')!.amountRefunded = 500;
  expect(auditInvariants(world).violations[0]!.message).toContain('holding charge ch_7 of 700, refunded 500');
  // Refunded in full (by the reset run's compensation, or by hand): nothing left behind.
  world.refunds.at(-1)!.amount = 700;
  world.charges.find((c) => c.id === 'ch_7')!.amountRefunded = 700;
  expect(auditInvariants(world).violations.map((v) => v.subject)).toEqual([ORDER_ONLY]);
});

test('effects of no checkout, or under another tenant, are orphans', () => {
  const world = cleanWorld();
  world.charges.push({ id: 'ch_x', tenant: M, key: 'chk_ffff:charge', amount: 1, amountRefunded: 0, status: 'captured' });
  world.orders.push({ id: 'ord_x', tenant: 'merchant_b', key: `${OK}:order`, chargeId: 'ch_1', status: 'created' });
  world.notifications.push({ id: 'ntf_x', tenant: M, key: 'free-form-key', messageId: '<x@x>', status: 'sent' });
  expect(auditInvariants(world).violations.map((v) => [v.invariant, v.subject])).toEqual([
    ['no-orphans', 'charge ch_x'],
    ['no-orphans', 'order ord_x'],
    ['no-orphans', 'notification ntf_x'],
  ]);
});

test('parseEffectKey', () => {
  expect(parseEffectKey('chk_ab12:charge.refund')).toEqual({ owner: 'chk_ab12', step: 'charge.refund' });
  expect(parseEffectKey('rfd_ab12:refund')).toEqual({ owner: 'rfd_ab12', step: 'refund' });
  expect(parseEffectKey('abc')).toBeUndefined();
  expect(parseEffectKey('xyz_12:charge')).toBeUndefined();
});

test('the printed report: a row per invariant with checked and violations, then the violations', () => {
  const world = cleanWorld();
  world.charges.push({ id: 'ch_1b', tenant: M, key: `${OK}:charge`, amount: 1000, amountRefunded: 0, status: 'captured' });
  const text = formatAuditReport(auditInvariants(world));
  expect(text).toMatch(/7\.1\s+at most one charge per checkout\s+4\s+1/);
  expect(text).toMatch(/7\.5\s+no checkout stuck.*\s+4\s+0/);
  expect(text).toContain(`one-charge  ${OK}: 2 charges (ch_1, ch_1b)`);
  expect(text).toMatch(/FAILED: 2 violation/);
  expect(formatAuditReport(auditInvariants(cleanWorld()))).toMatch(/OK: no violations/);
});
