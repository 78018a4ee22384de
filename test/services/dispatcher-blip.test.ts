/**
 * A database blip right after the SMTP server accepted a message must not send a second copy
 * (issue 8, item 9). The mailbox is real (SMTP, its JSONL record); the blip is real too: the
 * moment the mailbox has recorded a message, the dispatcher's next database statement finds its
 * backend terminated (pg_terminate_backend), whichever pooled connection it runs on.
 *
 * The one copy the outbox still allows is a crash of the process in that window
 * (docs/api.md#invariants, test/services/dispatcher-crash.test.ts), never a blip the living
 * process can ride out.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Pool, PoolClient } from 'pg';
import { withDatabase } from '../../src/platform/config';
import { createPool } from '../../src/platform/db/pool';
import { buildApp, migrations, type NotificationAppDeps } from '../../src/services/notification/app';
import { OutboxDispatcher, type DispatcherOptions } from '../../src/services/notification/dispatcher';
import { startMailbox, type Mailbox } from '../../tools/dev/mailbox/mailbox';
import type { ReceivedMessage } from '../../tools/dev/mailbox/store';
import { eventually } from '../support/eventually';
import { newKey, startService, type RunningService } from './support';

let mailbox: Mailbox;
let svc: RunningService;
let admin: Pool;
let dbUrl: string;
const pools: Pool[] = [];
let dataDir: string;
const dispatchers: OutboxDispatcher[] = [];
/** Called once the mailbox has durably recorded a message, before it answers 250 to the sender. */
let onAccepted: ((m: ReceivedMessage) => void) | undefined;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mailbox-blip-'));
  mailbox = await startMailbox({ dataDir, host: '127.0.0.1', smtpPort: 0, httpPort: 0, logLevel: 'silent' });
  const append = mailbox.store.append.bind(mailbox.store);
  mailbox.store.append = async (m) => {
    await append(m);
    onAccepted?.(m);
  };
  // The service's own dispatcher stays off: each test runs dispatchers on pools it controls.
  svc = await startService<NotificationAppDeps>('notification', migrations, buildApp, { deps: { dispatch: false } });
  const db = (await svc.pool.query<{ db: string }>('SELECT current_database() AS db')).rows[0]!.db;
  dbUrl = withDatabase(process.env.DATABASE_URL!, db);
  admin = createPool(dbUrl, 2);
});

afterEach(async () => {
  onAccepted = undefined;
  await Promise.all(dispatchers.splice(0).map((d) => d.stop()));
  await Promise.all(pools.splice(0).map((p) => p.end()));
});

afterAll(async () => {
  await svc?.close();
  await admin?.end();
  await mailbox?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

/**
 * A pool of its own on the service's database, whose statements a blip can hit: a hit statement
 * first has its connection's backend terminated, as a Postgres restart or a dropped network
 * would. Both the pool's own `query` and clients from `connect()` go through it.
 */
function blippyPool() {
  const pool = createPool(dbUrl, 4);
  pools.push(pool);
  /**
   * `next`: how many of the coming statements are hit; `until`: every statement before then;
   * `lose`: how many of the coming statements run (and commit) and then lose their answer.
   */
  const blip = { next: 0, until: 0, lose: 0, statements: 0 };
  const wrapped = new WeakSet<PoolClient>();
  const instrument = (client: PoolClient): PoolClient => {
    if (wrapped.has(client)) return client;
    wrapped.add(client);
    const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
    (client as unknown as { query: unknown }).query = async (...args: unknown[]) => {
      const pid = (client as unknown as { processID: number }).processID;
      if (blip.next > 0 || Date.now() < blip.until) {
        blip.next = Math.max(0, blip.next - 1);
        blip.statements += 1;
        await admin.query('SELECT pg_terminate_backend($1, 5000)', [pid]);
      } else if (blip.lose > 0) {
        blip.lose -= 1;
        blip.statements += 1;
        await query(...args);
        await admin.query('SELECT pg_terminate_backend($1, 5000)', [pid]);
        throw new Error('Connection terminated unexpectedly');
      }
      return query(...args);
    };
    return client;
  };
  const connect = async () => instrument(await pool.connect());
  const proxy = {
    connect,
    async query(...args: unknown[]) {
      const client = await connect();
      try {
        const result = await (client.query as (...a: unknown[]) => Promise<unknown>)(...args);
        client.release();
        return result;
      } catch (err) {
        client.release(err as Error);
        throw err;
      }
    },
  };
  return { pool: proxy as unknown as Pool, blip };
}

function dispatcher(pool: Pool, over: Partial<DispatcherOptions> = {}): OutboxDispatcher {
  const d = new OutboxDispatcher(
    pool,
    { ...svc.config.outbox, pollIntervalMs: 50, smtpUrl: `smtp://127.0.0.1:${mailbox.smtpPort}`, ...over },
    process.env.DEBUG_BLIP ? (console as any) : svc.app.log,
  );
  dispatchers.push(d);
  return d;
}

async function queue(to: string) {
  const res = await svc.call('POST', '/notifications', {
    key: newKey('notify'),
    tenant: 'merchant_blip',
    body: { to, template: 'order-confirmation', data: { orderId: 'ord_blip' } },
  });
  expect(res.status).toBe(202);
  return res.body as { id: string; messageId: string };
}

const rowOf = async (id: string) =>
  (await admin.query<{ status: string; attempts: number }>('SELECT status, attempts FROM notifications WHERE id = $1', [id])).rows[0]!;
const copiesOf = (messageId: string) => mailbox.store.list({ messageId }).length;
/** Long enough for a dispatcher polling every 50 ms to have sent anything it was going to. */
const settle = () => new Promise((r) => setTimeout(r, 1_500));

test('the connection dies right after SMTP acceptance → recorded sent on a fresh one, exactly one copy', async () => {
  const { pool, blip } = blippyPool();
  const n = await queue('blip-once@example.com');
  onAccepted = (m) => {
    if (m.messageId !== n.messageId) return;
    onAccepted = undefined; // once: a resend (the bug) must not be blipped again
    blip.next = 1; // the first statement after acceptance only, whatever the dispatcher runs next
  };
  dispatcher(pool).start();

  await eventually(async () => (await rowOf(n.id)).status === 'sent');
  await settle();
  expect(blip.statements).toBeGreaterThanOrEqual(1);
  expect(copiesOf(n.messageId)).toBe(1);
  expect(await rowOf(n.id)).toEqual({ status: 'sent', attempts: 1 });
});

test('every connection dies for 1.5 s after acceptance while a second dispatcher polls → still one copy', async () => {
  const { pool, blip } = blippyPool();
  const n = await queue('blip-long@example.com');
  const second = dispatcher(svc.pool);
  onAccepted = (m) => {
    if (m.messageId !== n.messageId) return;
    onAccepted = undefined;
    blip.until = Date.now() + 1_500;
    // The healthy dispatcher runs through the whole blip: it must leave the accepted message alone.
    second.start();
  };
  dispatcher(pool).start();

  await eventually(async () => (await rowOf(n.id)).status === 'sent');
  await settle();
  expect(blip.statements).toBeGreaterThanOrEqual(2);
  expect(copiesOf(n.messageId)).toBe(1);
  expect(await rowOf(n.id)).toEqual({ status: 'sent', attempts: 1 });
});

test('a claim whose dispatcher is gone: its own instance releases it at start, any other waits out the lease', async () => {
  const mine = await queue('left-by-me@example.com');
  const theirs = await queue('left-by-another@example.com');
  const claim = (id: string, owner: string, leaseMs: number) =>
    admin.query(`UPDATE notifications SET claimed_by = $2, claim_expires_at = now() + $3 * interval '1 millisecond' WHERE id = $1`, [
      id,
      owner,
      leaseMs,
    ]);
  // As a process killed mid-send leaves them: one by an earlier process of this instance, one by another instance.
  await claim(mine.id, 'notification@blip-host:1/earlier-process', 600_000);
  await claim(theirs.id, 'notification@other-host:1/dead-process', 2_000);
  const leaseEnds = Date.now() + 2_000;

  dispatcher(svc.pool, { instance: 'notification@blip-host:1' }).start();
  await eventually(async () => (await rowOf(mine.id)).status === 'sent', 1_500);
  expect((await rowOf(theirs.id)).status).toBe('pending');

  await eventually(async () => (await rowOf(theirs.id)).status === 'sent', 10_000);
  expect(Date.now()).toBeGreaterThanOrEqual(leaseEnds - 100);
  expect([copiesOf(mine.messageId), copiesOf(theirs.messageId)]).toEqual([1, 1]);
});

test.each([
  ['the claim', 'lose the answer of the first statement (the claim)', 0],
  ['markSent', 'lose the answer of the first statement after acceptance (markSent)', 1],
])('%s commits but its answer is lost → sent once, recorded once, without waiting for the lease', async (_what, _how, after) => {
  const { pool, blip } = blippyPool();
  const n = await queue(`lost-answer-${after}@example.com`);
  if (after === 0) blip.lose = 1;
  else {
    onAccepted = (m) => {
      if (m.messageId !== n.messageId) return;
      onAccepted = undefined;
      blip.lose = 1;
    };
  }
  const started = Date.now();
  dispatcher(pool).start();

  await eventually(async () => (await rowOf(n.id)).status === 'sent', 5_000);
  expect(Date.now() - started).toBeLessThan(5_000); // the claim's lease is two minutes
  await settle();
  expect(blip.statements).toBe(1);
  expect(copiesOf(n.messageId)).toBe(1);
  expect(await rowOf(n.id)).toEqual({ status: 'sent', attempts: 1 });
});
