/**
 * The worker process: runs the checkout and refund workflows and their activities on the
 * `checkout` task queue (docs/api.md#processes), on the one process bootstrap (src/platform/bootstrap.ts).
 * Its shutdown is `worker.shutdown()`: polling stops, running activities get the grace time to
 * finish (an activity's HTTP call is bounded by HTTP_TIMEOUT_MS, well inside it), then the
 * connection closes.
 */
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { createServiceClient, serviceClientOptions } from '../activities/service-client';
import { runProcess } from '../platform/bootstrap';
import { temporalConnectionFailure } from '../platform/temporal-connection';

/** Left of the shutdown timeout for closing the connection after the activities drained. */
const CLOSE_MARGIN_MS = 2_000;

runProcess({
  name: 'worker',
  async start(config) {
    // Signals belong to the bootstrap, not to the SDK's own handler.
    Runtime.install({ shutdownSignals: [] });
    const connection = await NativeConnection.connect(config.temporal.connection).catch((err: unknown) => {
      throw temporalConnectionFailure(config, err);
    });
    let worker: Worker;
    try {
      worker = await Worker.create({
        connection,
        namespace: config.temporal.namespace,
        taskQueue: config.temporal.taskQueue,
        ...(config.temporal.workflowBundlePath
          ? { workflowBundle: { codePath: config.temporal.workflowBundlePath } }
          : { workflowsPath: require.resolve('../workflows') }),
        activities: createActivities({ services: createServiceClient(serviceClientOptions(config)) }),
        shutdownGraceTime: Math.max(0, config.shutdownTimeoutMs - CLOSE_MARGIN_MS),
      });
    } catch (err) {
      await connection.close().catch(() => undefined);
      throw err;
    }
    const running = worker.run().finally(() => connection.close());
    console.log(
      `worker ready: task queue "${config.temporal.taskQueue}" on ${config.temporal.address} (namespace ${config.temporal.namespace})`,
    );
    return {
      ended: running,
      shutdown: async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running;
        console.log('worker stopped');
      },
    };
  },
});
