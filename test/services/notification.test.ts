/**
 * The notification service with its dispatcher and the dev mailbox, all real: outbox row →
 * SMTP → mailbox with the derived Message-ID; a bounce dead-letters after the bound.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startMailbox, type Mailbox } from '../../tools/dev/mailbox/mailbox';
import { buildApp, migrations } from '../../src/services/notification/app';
import { OutboxDispatcher } from '../../src/services/notification/dispatcher';
import { messageIdFor } from '../../src/services/notification/message';
import { count, newKey, startService, type RunningService } from './support';

const MAX_ATTEMPTS = 3;
let mailbox: Mailbox;
let svc: RunningService;
let dataDir: string;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailbox-'));
  mailbox = await startMailbox({ dataDir, host: '127.0.0.1', smtpPort: 0, httpPort: 0, logLevel: 'silent' });
  svc = await startService('notification', migrations, buildApp, {
    env: {
      SMTP_URL: `smtp://127.0.0.1:${mailbox.smtpPort}`,
      OUTBOX_POLL_INTERVAL_MS: '50',
      OUTBOX_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
      OUTBOX_BACKOFF_BASE_MS: '50',
      OUTBOX_BACKOFF_MAX_MS: '200',
    },
  });
});
afterAll(async () => {
  await svc.close();
  await mailbox.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const notify = (to: string, key = newKey('notify'), tenant = 'merchant_a') =>
  svc.call('POST', '/notifications', { key, tenant, body: { to, template: 'order-confirmation', data: { orderId: 'ord_1', amount: 3998 } } });

async function until<T>(probe: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function messages(query: Record<string, string>) {
  const res = await fetch(`${mailbox.httpUrl}/messages?${new URLSearchParams(query)}`);
  return ((await res.json()) as { messages: { messageId: string; to: string[]; subject: string }[] }).messages;
}

test('202 with the derived Message-ID; the dispatcher delivers it to the mailbox once', async () => {
  const key = newKey('notify');
  const res = await notify('buyer@example.com', key);
  expect(res.status).toBe(202);
  expect(res.body).toEqual({ id: expect.stringMatching(/^ntf_/), status: 'pending', messageId: messageIdFor('merchant_a', key) });
  expect(res.body.messageId).toMatch(/^<[0-9a-f]{64}@checkout-saga\.local>$/);
  const row = (await svc.pool.query('SELECT tenant, idempotency_key FROM notifications WHERE id = $1', [res.body.id])).rows[0];
  expect(row).toEqual({ tenant: 'merchant_a', idempotency_key: key });

  const sent = await until(
    () => svc.call('GET', `/notifications/${res.body.id}`, { tenant: 'merchant_a' }),
    (r) => r.body.status === 'sent',
  );
  expect(sent.body).toMatchObject({ status: 'sent', attempts: 1, lastError: null, sentAt: expect.any(String), messageId: res.body.messageId });

  // A retry of the request replays; it does not enqueue a second e-mail.
  const again = await notify('buyer@example.com', key);
  expect(again.headers.get('idempotent-replayed')).toBe('true');
  expect(again.body).toEqual(res.body);
  await new Promise((r) => setTimeout(r, 300));
  const received = await messages({ messageId: res.body.messageId });
  expect(received).toHaveLength(1);
  expect(received[0]).toMatchObject({ to: ['buyer@example.com'], subject: 'Your order is confirmed' });
});

test('the Message-ID depends on tenant and key only', () => {
  expect(messageIdFor('a', 'k')).toBe(messageIdFor('a', 'k'));
  expect(messageIdFor('a', 'k')).not.toBe(messageIdFor('b', 'k'));
  expect(messageIdFor('a:b', 'c')).not.toBe(messageIdFor('a', 'b:c'));
});

test('an address @bounce.test is refused by the mailbox, retried, then dead-lettered after the bound', async () => {
  const res = await notify('someone@bounce.test');
  expect(res.status).toBe(202);
  const dead = await until(
    () => svc.call('GET', `/notifications/${res.body.id}`, { tenant: 'merchant_a' }),
    (r) => r.body.status === 'dead',
  );
  expect(dead.body).toMatchObject({ status: 'dead', attempts: MAX_ATTEMPTS, sentAt: null, nextAttemptAt: null });
  expect(dead.body.lastError).toMatch(/550/);
  expect(await messages({ to: 'someone@bounce.test' })).toHaveLength(0);
});

test('two dispatchers on one outbox never send a message twice (SKIP LOCKED)', async () => {
  const second = new OutboxDispatcher(svc.pool, { ...svc.config.outbox, smtpUrl: svc.config.smtpUrl }, svc.app.log);
  second.start();
  try {
    const ids = await Promise.all(Array.from({ length: 12 }, (_, i) => notify(`many${i}@example.com`).then((r) => r.body)));
    await until(
      () => count(svc.pool, "SELECT count(*) AS n FROM notifications WHERE id = ANY($1) AND status = 'sent'", [ids.map((n) => n.id)]),
      (n) => n === ids.length,
    );
    for (const n of ids) expect(await messages({ messageId: n.messageId })).toHaveLength(1);
  } finally {
    await second.stop();
  }
});

test('hostile free-form data → 400 problem+json with nothing queued, never a 500 (the saga retries 500s forever)', async () => {
  const raw = async (data: string) => {
    const key = newKey('notify');
    const res = await fetch(`${svc.base}/notifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${svc.config.serviceToken}`, 'idempotency-key': key, 'content-type': 'application/json' },
      body: `{"to":"a@example.com","template":"order-confirmation","data":${data}}`,
    });
    const rows = await count(svc.pool, 'SELECT count(*)::int AS n FROM notifications WHERE idempotency_key = $1', [key]);
    return { status: res.status, type: res.headers.get('content-type'), rows };
  };
  const deep = `{"a":${'{"b":'.repeat(9_000)}1${'}'.repeat(9_000)}}`; // 54 KB, inside the body limit
  for (const data of [deep, '{"note":"a\\u0000b"}', '{"orderNumber":12345678901234567890}']) {
    expect(await raw(data)).toEqual({ status: 400, type: expect.stringMatching(/application\/problem\+json/), rows: 0 });
  }
});

test('bad requests → 400; unknown notification → 404', async () => {
  for (const body of [
    { to: 'not-an-address', template: 'order-confirmation', data: {} },
    { to: 'a@example.com', template: 'Bad Template', data: {} },
    { to: 'a@example.com', template: 'order-confirmation' },
  ]) {
    expect((await svc.call('POST', '/notifications', { key: newKey('notify'), body })).status).toBe(400);
  }
  expect((await svc.call('GET', '/notifications/ntf_nope')).status).toBe(404);
});

test('a NUL character anywhere in the template data → 400 problem, nothing queued (Postgres jsonb cannot hold it)', async () => {
  for (const data of [{ note: 'a\u0000b' }, { items: [{ sku: { deep: '\u0000' } }] }, { 'na\u0000me': 1 }]) {
    const key = newKey('notify');
    const res = await svc.call('POST', '/notifications', { key, body: { to: 'a@example.com', template: 'order-confirmation', data } });
    expect([res.status, res.body.type]).toEqual([400, expect.stringMatching(/validation-error$/)]);
    expect(await count(svc.pool, 'SELECT count(*) AS n FROM notifications WHERE idempotency_key = $1', [key])).toBe(0);
  }
});
