/**
 * Temporal for tests: a client and workers on the harness's real dev server
 * (TEMPORAL_ADDRESS from tools/dev/sandbox/setup.ts), with the workflow bundle built once
 * per jest worker process.
 */
import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';

export function temporalAddress(): string {
  const address = process.env.TEMPORAL_ADDRESS;
  if (!address) throw new Error('TEMPORAL_ADDRESS is not set: run the tests through jest (global setup starts Temporal)');
  return address;
}

/** The bundle global setup built once for the whole run (WORKFLOW_BUNDLE_PATH). */
export function workflowBundle(): { codePath: string } {
  const codePath = process.env.WORKFLOW_BUNDLE_PATH;
  if (!codePath) throw new Error('WORKFLOW_BUNDLE_PATH is not set: run the tests through jest (global setup bundles the workflows)');
  return { codePath };
}

export const uniqueTaskQueue = (name: string) => `${name}-${randomBytes(4).toString('hex')}`;

export async function connectClient(): Promise<{ client: Client; close: () => Promise<void> }> {
  const connection = await Connection.connect({ address: temporalAddress() });
  return { client: new Client({ connection }), close: () => connection.close() };
}

export interface RunningWorker {
  taskQueue: string;
  stop(): Promise<void>;
}

export async function startWorker(taskQueue: string, activities: object): Promise<RunningWorker> {
  const connection = await NativeConnection.connect({ address: temporalAddress() });
  const worker = await Worker.create({ connection, taskQueue, workflowBundle: workflowBundle(), activities });
  const running = worker.run();
  return {
    taskQueue,
    async stop() {
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
}

/**
 * How many runs a visibility query finds. Visibility lags behind starts and search-attribute
 * updates, so a count of 0 is re-read for up to 10 s unless `expectSome` is false.
 */
export async function countRuns(client: Client, query: string, { expectSome = true } = {}): Promise<number> {
  for (const deadline = Date.now() + 10_000; ; ) {
    let n = 0;
    for await (const _ of client.workflow.list({ query })) n++;
    if (n > 0 || !expectSome || Date.now() > deadline) return n;
    await new Promise((r) => setTimeout(r, 200));
  }
}
