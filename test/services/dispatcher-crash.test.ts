/**
 * The one duplicate the outbox allows (docs/api.md#invariants): a notification process killed after the SMTP
 * server accepted a message and before the row was marked sent. On restart the row is still
 * pending, so the message goes out again, with the SAME Message-ID, which is how the mailbox
 * (and the audit) recognise and count the copy.
 *
 * The kill lands in exactly that window through the fault `send:crash=1` (src/platform/faults.ts),
 * which makes the real process SIGKILL itself there.
 * The copies are then counted the way the audit counts them (tools/audit): reported, yet one e-mail.
 */
import { randomBytes } from 'node:crypto';
import { auditInvariants } from '../../tools/audit/invariants';
import { stepKey } from '../../src/saga/keys';
import { startStack, type Stack } from '../../tools/dev/sandbox/stack';

const TENANT = 'merchant_dispatch';
let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    only: ['mailbox', 'notification'],
    env: { OUTBOX_POLL_INTERVAL_MS: '50', LOG_LEVEL: 'warn' },
    envFor: { notification: { FAULTS: 'send:crash=1' } },
  });
}, 120_000);

afterAll(async () => stack?.stop());

async function service(method: 'GET' | 'POST', path: string, opts: { key?: string; body?: unknown } = {}) {
  const res = await fetch(`${stack.urls.notification}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${stack.config.serviceToken}`,
      'x-tenant-id': TENANT,
      ...(opts.key && { 'idempotency-key': opts.key }),
      ...(opts.body !== undefined && { 'content-type': 'application/json' }),
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

async function copiesOf(messageId: string): Promise<{ count: number; messages: { messageId: string; to: string[] }[] }> {
  const res = await fetch(`${stack.urls.mailbox}/messages?${new URLSearchParams({ messageId })}`);
  return (await res.json()) as { count: number; messages: { messageId: string; to: string[] }[] };
}

async function until(probe: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('killed between SMTP acceptance and marking sent → resent after restart with the same Message-ID; the copy is counted', async () => {
  const notification = stack.process('notification')!;
  // Keyed as the saga keys its notify step, so the audit can join the e-mail to its checkout.
  const checkoutId = `chk_${randomBytes(8).toString('hex')}`;
  const key = stepKey(checkoutId, 'notify');
  const queued = await service('POST', '/notifications', {
    key,
    body: { to: 'buyer@example.com', template: 'order-confirmation', data: { orderId: 'ord_crash' } },
  });
  expect(queued.status).toBe(202);
  const { id, messageId } = queued.body as { id: string; messageId: string };

  // The dispatcher sends it, the mailbox accepts it, and the process dies before recording that.
  expect(await notification.exited).toEqual({ code: null, signal: 'SIGKILL' });
  expect((await copiesOf(messageId)).count).toBe(1);

  await stack.restart('notification', { FAULTS: '' });
  await until(async () => (await service('GET', `/notifications/${id}`)).body.status === 'sent', 'the resend to be recorded');

  const after = await service('GET', `/notifications/${id}`);
  // One recorded attempt: the crashed one never reached the database.
  expect(after.body).toMatchObject({ status: 'sent', attempts: 1, messageId });
  const copies = await copiesOf(messageId);
  expect(copies.count).toBe(2);
  expect(copies.messages).toEqual([
    expect.objectContaining({ messageId, to: ['buyer@example.com'] }),
    expect.objectContaining({ messageId, to: ['buyer@example.com'] }),
  ]);

  // The audit over this checkout: the copy is reported, and it is still one e-mail (one outbox
  // row, one distinct Message-ID), so invariant 7.1 holds.
  const report = auditInvariants({
    checkouts: [{ id: checkoutId, merchantId: TENANT, amount: 1999, status: 'completed' }],
    charges: [],
    refunds: [],
    orders: [],
    cancellations: [],
    notifications: [{ id, tenant: TENANT, key, messageId, status: after.body.status }],
    apiRefunds: [],
    messages: copies.messages,
  });
  expect(report.duplicateMessageCopies).toEqual([{ checkoutId, messageId, copies: 2 }]);
  expect(report.violations.filter((v) => v.invariant === 'one-email')).toEqual([]);
}, 60_000);
