/**
 * The checkout worker of src/worker/main.ts with a settings variant on top (BENCH_WORKER_OPTIONS,
 * tools/bench/support/worker-options.ts): the same workflows, activities and connection, for the
 * tuning rounds of tools/bench/checkout.ts only. The benchmark's headline rows run src/worker/main.ts
 * itself. Also runs the saga-shaped workflows of tools/bench/workflows/saga-shape.ts (the
 * local-activity variant), which call the real activities. BENCH_WORKFLOW_BUNDLE: a prebuilt bundle of them.
 */
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../../src/activities';
import { createServiceClient, serviceClientOptions } from '../../src/activities/service-client';
import { runProcess } from '../../src/platform/bootstrap';
import { sdkLogger } from '../../src/platform/http/logging';
import { temporalConnectionFailure } from '../../src/platform/temporal-connection';
import { workerVariant } from './support/worker-options';

runProcess({
  name: 'worker',
  async start(config) {
    // As src/worker/main.ts installs it: its logger, and a Prometheus endpoint (on loopback).
    Runtime.install({
      shutdownSignals: [],
      logger: sdkLogger({ level: config.logLevel, json: config.logFormat === 'json', name: 'worker' }),
      telemetryOptions: {
        metrics: { prometheus: { bindAddress: `127.0.0.1:${config.ports.workerMetrics}`, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true } },
      },
    });
    const connection = await NativeConnection.connect(config.temporal.connection).catch((err: unknown) => {
      throw temporalConnectionFailure(config, err);
    });
    const worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue: config.temporal.taskQueue,
      ...(process.env.BENCH_WORKFLOW_BUNDLE
        ? { workflowBundle: { codePath: process.env.BENCH_WORKFLOW_BUNDLE } }
        : { workflowsPath: require.resolve('./workflows/checkout-and-saga-shape') }),
      activities: createActivities({ services: createServiceClient(serviceClientOptions(config)) }),
      shutdownGraceTime: Math.max(0, config.shutdownTimeoutMs - 2_000),
      ...workerVariant(),
    });
    const running = worker.run().finally(() => connection.close());
    console.log(`worker ready: task queue "${config.temporal.taskQueue}" (bench variant)`);
    return {
      ended: running,
      shutdown: async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running;
      },
    };
  },
});
