/**
 * The API's reads of Temporal (src/services/checkout-api/temporal-gateway.ts) against the real dev
 * server: what each look costs in server calls (the outcome recorder makes one per run in flight)
 * and what a run Temporal does not know reads as.
 */
import { Client, Connection, type WorkflowClientInterceptor } from '@temporalio/client';
import { createActivities } from '../../src/activities';
import { TemporalGateway } from '../../src/services/checkout-api/temporal-gateway';
import { sampleCheckoutInput } from '../../tools/support/samples';
import { createFakeServices } from '../support/fake-services';
import { startWorker, temporalAddress, uniqueTaskQueue, type RunningWorker } from '../support/temporal';

let connection: Connection;
let gateway: TemporalGateway;
let worker: RunningWorker;
let describes = 0;

beforeAll(async () => {
  connection = await Connection.connect({ address: temporalAddress() });
  const countDescribes: WorkflowClientInterceptor = {
    async describe(input, next) {
      describes++;
      return next(input);
    },
  };
  const client = new Client({ connection, interceptors: { workflow: [countDescribes] } });
  const taskQueue = uniqueTaskQueue('gateway');
  worker = await startWorker(taskQueue, createActivities({ services: createFakeServices() }));
  gateway = new TemporalGateway(client, taskQueue);
});

afterAll(async () => {
  await worker?.stop();
  await connection?.close();
});

test('an ended checkout is read with one describe of its run, and its result', async () => {
  const input = sampleCheckoutInput({ checkoutId: `chk_gateway_${Date.now()}` });
  await gateway.startCheckout(input);
  expect((await gateway.waitForCheckout(input.checkoutId, 30_000))?.state.status).toBe('completed');
  describes = 0;
  const ended = await gateway.endedCheckout(input.checkoutId);
  expect(ended).toMatchObject({ final: true, state: { status: 'completed', checkoutId: input.checkoutId } });
  expect(describes).toBe(1);
});

test('a run Temporal does not know reads as null, not as an error', async () => {
  await expect(gateway.endedCheckout('chk_never_started')).resolves.toBeNull();
  await expect(gateway.readCheckout('chk_never_started')).resolves.toBeNull();
  await expect(gateway.readRefund('ref_never_started')).resolves.toBeNull();
  await expect(gateway.refundResult('ref_never_started', 100)).resolves.toBeNull();
});
