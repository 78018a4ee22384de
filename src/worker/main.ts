/**
 * The worker process: runs the checkout and refund workflows and their activities on the
 * `checkout` task queue (SPEC §2). Configured by env through `loadConfig()`; stops gracefully
 * on SIGINT/SIGTERM (in-flight activities finish, then the process exits).
 */
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { createServiceClient, serviceClientOptions } from '../activities/service-client';
import { loadConfig } from '../platform/config';
import { temporalConnectionFailure } from '../platform/temporal-connection';

async function main(): Promise<void> {
  const config = loadConfig();
  Runtime.install({ shutdownSignals: ['SIGINT', 'SIGTERM'] });

  const connection = await NativeConnection.connect(config.temporal.connection).catch((err: unknown) => {
    throw temporalConnectionFailure(config, err);
  });
  try {
    const worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      ...(config.temporal.workflowBundlePath
        ? { workflowBundle: { codePath: config.temporal.workflowBundlePath } }
        : { workflowsPath: require.resolve('../workflows') }),
      activities: createActivities({ services: createServiceClient(serviceClientOptions(config)) }),
    });
    const running = worker.run();
    console.log(
      `worker ready: task queue "${config.temporal.taskQueue}" on ${config.temporal.address} (namespace ${config.temporal.namespace})`,
    );
    await running;
    console.log('worker stopped');
  } finally {
    await connection.close();
  }
}

main().catch((err) => {
  console.error('worker failed', err);
  process.exit(1);
});
