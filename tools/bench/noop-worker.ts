/**
 * The baseline's worker process (tools/bench/checkout.ts): the no-op workflows of
 * tools/bench/workflows/noop.ts and their one activity, on its own task queue
 * (BENCH_NOOP_TASK_QUEUE; BENCH_WORKFLOW_BUNDLE: a prebuilt bundle of them), with the same settings as the checkout worker (src/worker/main.ts,
 * plus the variant in BENCH_WORKER_OPTIONS). Prints `worker ready` once polling starts.
 */
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { runProcess } from '../../src/platform/bootstrap';
import { sdkLogger } from '../../src/platform/http/logging';
import { temporalConnectionFailure } from '../../src/platform/temporal-connection';
import { workerVariant } from './support/worker-options';

runProcess({
  name: 'noop-worker',
  async start(config) {
    // As src/worker/main.ts installs it: its logger, and a Prometheus endpoint (on loopback).
    Runtime.install({
      shutdownSignals: [],
      logger: sdkLogger({ level: config.logLevel, json: config.logFormat === 'json', name: 'worker' }),
      telemetryOptions: {
        metrics: { prometheus: { bindAddress: `127.0.0.1:${Number(process.env.BENCH_NOOP_METRICS_PORT ?? 0)}`, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true } },
      },
    });
    const connection = await NativeConnection.connect(config.temporal.connection).catch((err: unknown) => {
      throw temporalConnectionFailure(config, err);
    });
    const taskQueue = process.env.BENCH_NOOP_TASK_QUEUE ?? 'bench-noop';
    const worker = await Worker.create({
      connection,
      namespace: config.temporal.namespace,
      taskQueue,
      // A bundle the benchmark built once (BENCH_WORKFLOW_BUNDLE), or webpack at start.
      ...(process.env.BENCH_WORKFLOW_BUNDLE
        ? { workflowBundle: { codePath: process.env.BENCH_WORKFLOW_BUNDLE } }
        : { workflowsPath: require.resolve('./workflows/noop') }),
      activities: { noop: async (step: number) => ({ id: `noop_${step}` }) },
      ...workerVariant(),
    });
    const running = worker.run().finally(() => connection.close());
    console.log(`worker ready: task queue "${taskQueue}"`);
    return {
      ended: running,
      shutdown: async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running;
      },
    };
  },
});
