/** The end-to-end stack helper on the real service processes: start, crash, restart, stop. */
import { isAlive } from '../../tools/dev/leftovers';
import { httpOk } from '../../tools/dev/wait';
import { startStack, type Stack } from '../../tools/dev/sandbox/stack';

jest.setTimeout(120_000);

let stack: Stack | undefined;
afterAll(async () => {
  await stack?.stop();
});

test('startStack runs every process on its own ports; kill9 and restart one; stop leaves nothing', async () => {
  stack = await startStack();
  for (const url of Object.values(stack.urls)) await expect(httpOk(`${url}/healthz`)).resolves.toBe(true);
  expect(stack.env.TEMPORAL_TASK_QUEUE).toBe(`checkout-${stack.id}`);

  const first = stack.process('payment')!;
  await stack.kill9('payment');
  expect(isAlive(first.pid)).toBe(false);
  await expect(httpOk(`${stack.urls.payment}/healthz`)).rejects.toThrow();

  await stack.restart('payment');
  expect(stack.process('payment')!.pid).not.toBe(first.pid);
  await expect(httpOk(`${stack.urls.payment}/healthz`)).resolves.toBe(true);

  const pids = ['mailbox', 'payment', 'order', 'notification', 'worker', 'api'].map((n) => stack!.process(n as never)!.pid);
  await stack.stop();
  stack = undefined;
  expect(pids.filter(isAlive)).toEqual([]);
});
