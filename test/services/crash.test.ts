/**
 * docs/api.md#idempotency "a holder that crashed mid-request" and docs/api.md#faults "survive kill -9", on a real payment process:
 * the process is SIGKILLed while its charge is inside the idempotent transaction, and the
 * retry under the same key, on a restarted process, captures the charge exactly once.
 *
 * The request is held in place deterministically with no test hook in the service: the test
 * takes an ACCESS EXCLUSIVE lock on `charges`, so the handler blocks on its INSERT after it has
 * claimed the key and locked the claim row, and the test waits until Postgres shows it waiting.
 */
import { Pool } from 'pg';
import { startStack, type Stack } from '../../tools/dev/sandbox/stack';
import { count, newKey } from './support';

/** Short, so the retry may take the dead holder's claim over soon after the restart. */
const LEASE_MS = 1_000;
const TENANT = 'merchant_crash';

let stack: Stack;
let db: Pool;

beforeAll(async () => {
  stack = await startStack({ only: ['payment'], env: { IDEMPOTENCY_LEASE_MS: String(LEASE_MS), LOG_LEVEL: 'warn' } });
  db = new Pool({ connectionString: stack.config.databaseUrls.payment, max: 3 });
}, 120_000);

afterAll(async () => {
  await db?.end();
  await stack?.stop();
});

const body = { amount: 1250, currency: 'EUR', paymentMethod: 'tok_visa', customerId: 'cus_crash' };

function charge(key: string) {
  return fetch(`${stack.urls.payment}/charges`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${stack.config.serviceToken}`,
      'x-tenant-id': TENANT,
      'idempotency-key': key,
      'content-type': 'application/json',
    },
    body: JSON.stringify(body),
  });
}

/** Resolves once some backend waits for a lock on `charges`: the handler is stuck mid-transaction. */
async function untilBlockedOnCharges(timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await count(db, `SELECT count(*) AS n FROM pg_locks WHERE relation = 'charges'::regclass AND NOT granted`)) === 0) {
    if (Date.now() > deadline) throw new Error('the charge request never reached its INSERT');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('SIGKILL mid-request → the retry on a restarted process takes the claim over and charges once', async () => {
  const key = newKey();
  const charges = () => count(db, 'SELECT count(*) AS n FROM charges WHERE tenant = $1 AND idempotency_key = $2', [TENANT, key]);

  const blocker = await db.connect();
  let inFlight: Promise<unknown>;
  try {
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE charges IN ACCESS EXCLUSIVE MODE');
    // The lost reply: the caller sees the connection drop, as the worker's activity would.
    inFlight = charge(key).then(
      (res) => `answered ${res.status}`,
      () => 'connection lost',
    );
    await untilBlockedOnCharges();
    const claim = await db.query('SELECT state, owner FROM idempotency_keys WHERE tenant = $1 AND key = $2', [TENANT, key]);
    expect(claim.rows).toEqual([{ state: 'in_flight', owner: expect.any(String) }]);

    await stack.kill9('payment');
  } finally {
    // Released after the kill: the orphaned backend may now run its INSERT, but its client is
    // gone, so no COMMIT ever comes and Postgres rolls it back when it notices.
    await blocker.query('COMMIT');
    blocker.release();
  }
  expect(await inFlight).toBe('connection lost');
  expect(await charges()).toBe(0);

  await stack.restart('payment');
  const tookOver = stack.process('payment')!.waitForLine(/took over an expired idempotency claim/);

  const retry = await charge(key);
  expect(retry.status).toBe(201);
  expect(retry.headers.get('idempotent-replayed')).toBeNull();
  const captured = (await retry.json()) as { id: string; status: string; amount: number };
  expect(captured).toMatchObject({ id: expect.stringMatching(/^ch_/), status: 'captured', amount: body.amount });
  await tookOver; // the claim the dead process held was taken over, not found free
  expect(await charges()).toBe(1);

  const replay = await charge(key);
  expect(replay.status).toBe(201);
  expect(replay.headers.get('idempotent-replayed')).toBe('true');
  expect(await replay.json()).toEqual(captured);
  expect(await charges()).toBe(1);
}, 60_000);
