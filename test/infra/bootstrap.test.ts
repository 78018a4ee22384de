/**
 * The one process bootstrap (src/platform/bootstrap.ts) on real processes: SIGTERM drains a
 * request in flight before the process exits 0; a shutdown past SHUTDOWN_TIMEOUT_MS exits 1;
 * the worker stops through worker.shutdown() and exits 0.
 */
import { randomBytes } from 'node:crypto';
import { startStack, type Stack } from '../../tools/dev/sandbox/stack';

jest.setTimeout(120_000);

const stacks: Stack[] = [];
afterAll(async () => Promise.all(stacks.map((s) => s.stop())));

async function paymentStack(env: Record<string, string>): Promise<Stack> {
  const stack = await startStack({ only: ['payment'], env: { LOG_LEVEL: 'warn' }, envFor: { payment: env } });
  stacks.push(stack);
  return stack;
}

function charge(stack: Stack): Promise<Response> {
  return fetch(`${stack.urls.payment}/charges`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${stack.config.serviceToken}`,
      'idempotency-key': `chk_${randomBytes(8).toString('hex')}:charge`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ amount: 1999, currency: 'USD', paymentMethod: 'tok_visa', customerId: 'cus_boot' }),
  });
}

/** Resolves once the server holds the request (its answer is delayed by the `delay` fault). */
const settle = () => new Promise((r) => setTimeout(r, 500));

test('SIGTERM lets the request in flight finish, then the service exits 0', async () => {
  const stack = await paymentStack({ FAULTS: 'charge:delay=2000' });
  const answer = charge(stack);
  await settle();
  const exit = stack.process('payment')!.stop(20_000);
  const res = await answer;
  expect(res.status).toBe(201);
  await expect(exit).resolves.toEqual({ code: 0, signal: null });
});

test('a shutdown that outlasts SHUTDOWN_TIMEOUT_MS exits 1 instead of hanging', async () => {
  const stack = await paymentStack({ FAULTS: 'charge:delay=60000', SHUTDOWN_TIMEOUT_MS: '300' });
  const answer = charge(stack).catch((err: Error) => err);
  await settle();
  await expect(stack.process('payment')!.stop(20_000)).resolves.toEqual({ code: 1, signal: null });
  expect(stack.process('payment')!.tail().join('\n')).toMatch(/did not finish within 300 ms/);
  await answer;
});

test('the worker stops through worker.shutdown() and exits 0', async () => {
  const stack = await startStack({ only: ['worker'] });
  stacks.push(stack);
  const worker = stack.process('worker')!;
  await expect(worker.stop(20_000)).resolves.toEqual({ code: 0, signal: null });
  expect(worker.tail().join('\n')).toMatch(/worker stopped/);
});
