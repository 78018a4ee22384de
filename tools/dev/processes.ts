/**
 * The application processes of docs/api.md#processes and how each is started and known to be ready; shared by
 * `npm start` (tools/dev/start.ts) and the sandbox stack of tests and chaos (tools/dev/sandbox/stack.ts).
 *
 * Readiness: an HTTP process is ready when `GET /healthz` on its configured port answers 2xx.
 * The worker has no port; it is ready when it prints a line containing `worker ready` (it does so
 * after Worker.create() succeeded, i.e. it reached Temporal and bundled its workflows, and just
 * before worker.run() starts polling).
 */
import path from 'node:path';
import { loadConfig, localAddress, portEnv, type Config } from '../../src/platform/config';
import { describeExit, ExitedError, spawnChild, type ChildHandle } from './child';
import { httpOk, waitUntil } from './wait';

export const ROOT = path.resolve(__dirname, '..', '..');

export type ProcessName = 'mailbox' | 'payment' | 'order' | 'notification' | 'worker' | 'api';

export interface ProcessSpec {
  /** A process of PROCESSES, or a numbered replica of one (`worker-2`). */
  name: ProcessName | `${ProcessName}-${number}`;
  /** Entry file, relative to the repository root (or absolute). */
  entry: string;
  /** The port whose /healthz tells readiness; absent for the worker. */
  port?: keyof Config['ports'];
  /** Env of this process on top of the system's (a replica's own port). */
  env?: Record<string, string>;
}

export const WORKER_READY_LINE = /worker ready/i;

/** In start order; `npm start` starts them concurrently and waits for all. */
export const PROCESSES: readonly (ProcessSpec & { name: ProcessName })[] = [
  { name: 'mailbox', entry: 'tools/dev/mailbox/main.ts', port: 'mailboxHttp' },
  { name: 'payment', entry: 'src/services/payment/main.ts', port: 'payment' },
  { name: 'order', entry: 'src/services/order/main.ts', port: 'order' },
  { name: 'notification', entry: 'src/services/notification/main.ts', port: 'notification' },
  { name: 'worker', entry: 'src/worker/main.ts' },
  { name: 'api', entry: 'src/services/checkout-api/main.ts', port: 'api' },
];

/**
 * The production shape of `npm run start:cluster`: every process of PROCESSES, the worker and
 * the checkout API twice each (the second API on ports.apiReplica, the second worker's metrics
 * on ports.workerMetricsReplica), all on one Temporal task
 * queue and one API database, as replicas behind a load balancer would be.
 */
export function clusterProcesses(config: Config): ProcessSpec[] {
  return PROCESSES.flatMap((spec): ProcessSpec[] => {
    if (spec.name === 'worker') {
      // Each worker's metrics endpoint on its own port: the second on ports.workerMetricsReplica.
      return [
        { ...spec, name: 'worker-1' },
        { ...spec, name: 'worker-2', env: { [portEnv('workerMetrics')]: String(config.ports.workerMetricsReplica) } },
      ];
    }
    if (spec.name === 'api') {
      return [
        { ...spec, name: 'api-1' },
        { ...spec, name: 'api-2', env: { [portEnv('api')]: String(config.ports.apiReplica), API_URL: `http://${localAddress(config, 'apiReplica')}` } },
      ];
    }
    return [spec];
  });
}

export function processSpec(name: ProcessName): ProcessSpec {
  const spec = PROCESSES.find((p) => p.name === name);
  if (!spec) throw new Error(`unknown process ${name}`);
  return spec;
}

export interface StartProcessOptions {
  env: NodeJS.ProcessEnv;
  onLine?: (line: string) => void;
  detached?: boolean;
  readyTimeoutMs?: number;
  /** Called right after spawn, before readiness: lets the caller record the pid for clean-up. */
  onSpawn?: (child: ChildHandle) => void;
}

/**
 * Spawns `node --import tsx <entry>` (one Node process per service, rather than the `tsx` CLI
 * which adds a wrapper process) and resolves once it is ready. If it exits or times out first,
 * it is stopped and the error carries its last output lines.
 */
export async function startProcess(spec: ProcessSpec, opts: StartProcessOptions): Promise<ChildHandle> {
  const env = { ...opts.env, ...spec.env };
  const child = spawnChild(spec.name, process.execPath, ['--import', 'tsx', path.resolve(ROOT, spec.entry)], {
    env,
    cwd: ROOT,
    detached: opts.detached,
    onLine: opts.onLine,
  });
  opts.onSpawn?.(child);
  const died = child.exited.then((e): never => {
    throw new ExitedError(`${spec.name} exited (${describeExit(e)}) before it was ready`);
  });
  const timeoutMs = opts.readyTimeoutMs ?? 60_000;
  try {
    if (spec.port) {
      const config = loadConfig(env);
      const url = `http://${localAddress(config, spec.port)}/healthz`;
      await waitUntil(() => httpOk(url), { what: `${spec.name} at ${url}`, timeoutMs, intervalMs: 150, abort: died });
    } else {
      await Promise.race([child.waitForLine(WORKER_READY_LINE), died, timeout(timeoutMs, `${spec.name} to print "worker ready"`)]);
    }
  } catch (err) {
    await child.stop(2_000);
    const tail = child.tail().slice(-15).join('\n');
    throw new Error(`${(err as Error).message}${tail ? `\n--- last output of ${spec.name} ---\n${tail}` : ''}`);
  }
  return child;
}

function timeout(ms: number, what: string): Promise<never> {
  return new Promise((_, reject) => {
    setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms).unref();
  });
}
