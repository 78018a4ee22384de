/**
 * The payment service over real HTTP and real Postgres: the test cards (docs/api.md#test-triggers), refunds bounded
 * by the charge under concurrency, tenancy, and the service-token gate.
 */
import { buildApp, migrations } from '../../src/services/payment/app';
import { count, newKey, startService, type RunningService } from './support';

let svc: RunningService;

beforeAll(async () => {
  svc = await startService('payment', migrations, buildApp);
});
afterAll(async () => svc.close());

const chargeBody = (paymentMethod = 'tok_visa', amount = 100) => ({ amount, currency: 'USD', paymentMethod, customerId: 'cus_1' });

async function charge(amount = 100) {
  const res = await svc.call('POST', '/charges', { key: newKey(), body: chargeBody('tok_visa', amount) });
  expect(res.status).toBe(201);
  return res.body as { id: string };
}

describe('charges', () => {
  test('tok_visa → 201 captured; the row records tenant and key; GET shows it', async () => {
    const key = newKey();
    const res = await svc.call('POST', '/charges', { key, body: chargeBody(), tenant: 'merchant_a' });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: 'captured', amount: 100, currency: 'USD', amountRefunded: 0, customerId: 'cus_1' });
    expect(res.body.id).toMatch(/^ch_/);
    expect(res.headers.get('location')).toBe(`/charges/${res.body.id}`);
    const row = (await svc.pool.query('SELECT tenant, idempotency_key FROM charges WHERE id = $1', [res.body.id])).rows[0];
    expect(row).toEqual({ tenant: 'merchant_a', idempotency_key: key });

    const got = await svc.call('GET', `/charges/${res.body.id}`, { tenant: 'merchant_a' });
    expect(got.status).toBe(200);
    expect(got.body).toEqual({ ...res.body, refunds: [] });
    // Another tenant cannot see it.
    expect((await svc.call('GET', `/charges/${res.body.id}`, { tenant: 'merchant_b' })).status).toBe(404);
  });

  test('a retry with the same key replays the charge; no second row', async () => {
    const key = newKey();
    const first = await svc.call('POST', '/charges', { key, body: chargeBody() });
    const again = await svc.call('POST', '/charges', { key, body: chargeBody() });
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await count(svc.pool, 'SELECT count(*) AS n FROM charges WHERE idempotency_key = $1', [key])).toBe(1);
  });

  test.each([
    ['tok_chargeDeclined', 'card-declined', 'card_declined'],
    ['tok_insufficientFunds', 'insufficient-funds', 'insufficient_funds'],
  ])('%s → 402 %s with code %s, stored and replayed, no charge', async (token, kind, code) => {
    const key = newKey();
    const res = await svc.call('POST', '/charges', { key, body: chargeBody(token) });
    expect(res.status).toBe(402);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(res.body).toMatchObject({ type: expect.stringMatching(new RegExp(`/${kind}$`)), status: 402, code });
    const again = await svc.call('POST', '/charges', { key, body: chargeBody(token) });
    expect(again.status).toBe(402);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await count(svc.pool, 'SELECT count(*) AS n FROM charges WHERE idempotency_key = $1', [key])).toBe(0);
  });

  test.each([
    ['a float amount', { ...chargeBody(), amount: 10.5 }],
    ['a string amount', { ...chargeBody(), amount: '100' }],
    ['a zero amount', { ...chargeBody(), amount: 0 }],
    ['an amount over the bound', { ...chargeBody(), amount: 100_000_000 }],
    ['a lower-case currency', { ...chargeBody(), currency: 'usd' }],
    ['an unknown token', chargeBody('tok_unknown')],
    ['an extra property', { ...chargeBody(), cardNumber: '4242424242424242' }],
  ])('%s → 400 validation-error', async (_name, body) => {
    const res = await svc.call('POST', '/charges', { key: newKey(), body });
    expect(res.status).toBe(400);
    expect(res.body.type).toMatch(/validation-error$/);
  });
});

describe('refunds', () => {
  test('partial refunds add up to the charge; one more is 409; GET lists them', async () => {
    const { id } = await charge(100);
    const r1 = await svc.call('POST', '/refunds', { key: newKey('charge.refund'), body: { chargeId: id, amount: 60 } });
    expect(r1.status).toBe(201);
    expect(r1.body).toMatchObject({ chargeId: id, amount: 60, currency: 'USD' });
    expect(r1.body.id).toMatch(/^re_/);
    const over = await svc.call('POST', '/refunds', { key: newKey('charge.refund'), body: { chargeId: id, amount: 41 } });
    expect(over.status).toBe(409);
    expect(over.body).toMatchObject({ type: expect.stringMatching(/refund-exceeds-charge$/), refundable: 40 });
    // Omitting the amount refunds the rest.
    const rest = await svc.call('POST', '/refunds', { key: newKey('charge.refund'), body: { chargeId: id } });
    expect(rest.status).toBe(201);
    expect(rest.body.amount).toBe(40);
    const none = await svc.call('POST', '/refunds', { key: newKey('charge.refund'), body: { chargeId: id } });
    expect(none.status).toBe(409);

    const got = await svc.call('GET', `/charges/${id}`);
    expect(got.body.amountRefunded).toBe(100);
    expect(got.body.refunds.map((r: { amount: number }) => r.amount)).toEqual([60, 40]);
  });

  test('unknown charge → 404; a charge of another tenant is unknown too', async () => {
    expect((await svc.call('POST', '/refunds', { key: newKey('charge.refund'), body: { chargeId: 'ch_nope', amount: 1 } })).status).toBe(404);
    const { id } = await charge(100);
    const res = await svc.call('POST', '/refunds', { key: newKey('charge.refund'), body: { chargeId: id, amount: 1 }, tenant: 'other' });
    expect(res.status).toBe(404);
  });

  test('10 concurrent refunds of 30 on a charge of 100 (different keys) → exactly 3 succeed', async () => {
    const { id } = await charge(100);
    const results = await Promise.all(
      Array.from({ length: 10 }, () => svc.call('POST', '/refunds', { key: newKey('charge.refund'), body: { chargeId: id, amount: 30 } })),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(3);
    expect(statuses.filter((s) => s === 409)).toHaveLength(7);
    const { rows } = await svc.pool.query('SELECT amount_refunded FROM charges WHERE id = $1', [id]);
    expect(Number(rows[0].amount_refunded)).toBe(90);
    expect(await count(svc.pool, 'SELECT count(*) AS n FROM refunds WHERE charge_id = $1', [id])).toBe(3);
  });

  test('the same refund key sent 5 times concurrently refunds once', async () => {
    const { id } = await charge(100);
    const key = newKey('charge.refund');
    const results = await Promise.all(
      Array.from({ length: 5 }, () => svc.call('POST', '/refunds', { key, body: { chargeId: id, amount: 30 } })),
    );
    expect(results.every((r) => r.status === 201)).toBe(true);
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1);
    expect(await count(svc.pool, 'SELECT count(*) AS n FROM refunds WHERE charge_id = $1', [id])).toBe(1);
  });
});

describe('the lookup that fences a key (POST /idempotency-keys/{key}/fence)', () => {
  const lookup = (key: string, opts: { tenant?: string; token?: string | null } = {}) =>
    svc.call('POST', `/idempotency-keys/${encodeURIComponent(key)}/fence`, opts);

  test('a charge made → the charge; a key never used → 410, and the late charge is refused, nothing charged', async () => {
    const made = newKey();
    const first = await svc.call('POST', '/charges', { key: made, body: chargeBody(), tenant: 'merchant_a' });
    const found = await lookup(made, { tenant: 'merchant_a' });
    expect(found.status).toBe(201);
    expect(found.body).toEqual(first.body);

    const lost = newKey();
    const fenced = await lookup(lost, { tenant: 'merchant_a' });
    expect(fenced.status).toBe(410);
    expect(fenced.body.type).toMatch(/idempotency-key-fenced$/);
    const late = await svc.call('POST', '/charges', { key: lost, body: chargeBody(), tenant: 'merchant_a' });
    expect(late.status).toBe(410);
    expect(late.body.type).toMatch(/idempotency-key-fenced$/);
    expect(await count(svc.pool, 'SELECT count(*) AS n FROM charges WHERE idempotency_key = $1', [lost])).toBe(0);
  });

  test('needs the service token', async () => {
    for (const token of [null, 'wrong']) expect((await lookup(newKey(), { token })).status).toBe(401);
    expect(await count(svc.pool, "SELECT count(*) AS n FROM idempotency_keys WHERE state = 'fenced' AND tenant = 'default'")).toBe(0);
  });
});

describe('the service gate', () => {
  test('no token or a wrong token → 401 problem; /healthz needs none', async () => {
    for (const token of [null, 'wrong']) {
      const res = await svc.call('POST', '/charges', { key: newKey(), body: chargeBody(), token });
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
      expect(res.body.type).toMatch(/unauthorized$/);
    }
    expect((await svc.call('GET', '/charges/ch_x', { token: null })).status).toBe(401);
    expect(await count(svc.pool, "SELECT count(*) AS n FROM idempotency_keys WHERE state = 'in_flight'")).toBe(0);
    const health = await svc.call('GET', '/healthz', { token: null });
    expect(health).toMatchObject({ status: 200, body: { status: 'ok', service: 'payment' } });
  });

  test('a malformed tenant → 400; no key → 400', async () => {
    expect((await svc.call('POST', '/charges', { key: newKey(), body: chargeBody(), tenant: 'bad tenant!' })).status).toBe(400);
    const res = await svc.call('POST', '/charges', { body: chargeBody() });
    expect(res.status).toBe(400);
    expect(res.body.type).toMatch(/idempotency-key-missing$/);
  });
});
