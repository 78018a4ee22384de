/**
 * The worker process: runs the checkout and refund workflows and their activities on the
 * `checkout` task queue (docs/api.md#processes), on the one process bootstrap (src/platform/bootstrap.ts).
 * Its shutdown is `worker.shutdown()`: polling stops, running activities get the grace time to
 * finish (an activity's HTTP call is bounded by HTTP_TIMEOUT_MS, well inside it), then the
 * connection closes.
 */
import { isIP } from 'node:net';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { createServiceClient, serviceClientOptions } from '../activities/service-client';
import { runProcess } from '../platform/bootstrap';
import { sdkLogger } from '../platform/http/logging';
import { ConfigError, localAddress, LOOPBACK, type Config } from '../platform/config';
import { temporalConnectionFailure } from '../platform/temporal-connection';

/** Left of the shutdown timeout for closing the connection after the activities drained. */
const CLOSE_MARGIN_MS = 2_000;

/**
 * Where the worker's Prometheus endpoint listens: WORKER_METRICS_HOST (loopback by default) and
 * WORKER_METRICS_PORT. The Temporal runtime serves it: the SDK's own metrics (task latencies,
 * slots, polls) and the saga's compensation attempts (src/activities/index.ts). It binds a socket
 * address, so the host must be an IP address; `localhost` means loopback.
 */
function metricsBindAddress(config: Config): string {
  const bind = config.binds.worker;
  const host = bind === 'localhost' ? LOOPBACK : bind.replace(/^\[(.*)\]$/, '$1');
  if (!isIP(host)) throw new ConfigError(`WORKER_METRICS_HOST must be an IP address (the worker's metrics endpoint binds a socket address), got "${bind}"`);
  return `${host.includes(':') ? `[${host}]` : host}:${config.ports.workerMetrics}`;
}

runProcess({
  name: 'worker',
  async start(config) {
    // Signals belong to the bootstrap, not to the SDK's own handler. Counters end in _total and
    // durations are in seconds, as Prometheus names them (temporal_workflow_task_execution_latency_seconds).
    const metricsAddress = metricsBindAddress(config);
    Runtime.install({
      shutdownSignals: [],
      logger: sdkLogger({ level: config.logLevel, json: config.logFormat === 'json', name: 'worker' }),
      telemetryOptions: {
        metrics: { prometheus: { bindAddress: metricsAddress, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true } },
      },
    });
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
      `worker ready: task queue "${config.temporal.taskQueue}" on ${config.temporal.address} (namespace ${config.temporal.namespace}); metrics at http://${localAddress(config, 'workerMetrics')}/metrics`,
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
