/**
 * The Temporal test environment for workflow tests: the real dev server the test harness
 * started (TEMPORAL_ADDRESS, with the project's search attributes registered).
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { temporalAddress, workflowBundle } from '../support/temporal';
import type { FakeServices } from './fake-services';

export function createTestEnv(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createFromExistingServer({ address: temporalAddress(), namespace: process.env.TEMPORAL_NAMESPACE });
}

/**
 * A worker of the real workflow bundle on `env` and `taskQueue`, running `services`' fake
 * activities; resolves with its stop (shutdown, then the end of its run).
 */
export async function startWorkflowWorker(env: TestWorkflowEnvironment, taskQueue: string, services: FakeServices): Promise<() => Promise<void>> {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: workflowBundle(),
    activities: services.activities(),
  });
  const running = worker.run();
  return async () => {
    worker.shutdown();
    await running;
  };
}
